"""The chapters' learning material: every number an exercise's solution (or a summary) states is
computed here, so a stated answer cannot be wrong; the drafts have the structure the book needs
(objectives, key-idea figure, summary, ≥ 4 exercises with collapsed solutions) and link only to
glossary terms that exist.

The material was drafted in ``chapters/_drafts/NN_learning.md`` and has since moved into the
notebooks (the folder is gone); the lookups below read any draft there is and, for a label no
draft holds, the notebooks' markdown, so these tests follow the text wherever it is.
"""
import json
import math
import pathlib
import re
from fractions import Fraction

import pytest
import torch
from scipy import stats
from torch import nn

import mnlab
from mnlab import analyze
from mnlab.diagrams import CHAPTERS, DIAGRAMS, chapter_diagrams
from mnlab.models import make_divisible, reparameterize
from mnlab.models.efficientnet_lite import SCALING, efficientnet_lite
from mnlab.models.layers import InvertedResidual
from mnlab.models.mobilenet_v2 import BOTTLENECKS
from mnlab.papers import figure

ROOT = pathlib.Path(__file__).resolve().parents[1]
DRAFTS = sorted((ROOT / "chapters" / "_drafts").glob("0[1-7]_learning.md"))
GLOSSARY = ROOT / "chapters" / "glossary.md"


def _normalize(text: str) -> str:
    """Markdown/LaTeX as a reader sees the numbers: ``$3{,}612{,}672$`` → ``3,612,672``."""
    text = text.replace("{,}", ",").replace("−", "-").replace("$", "")
    return re.sub(r"\s+", " ", text)


def _notebook_markdown(nb: pathlib.Path) -> str:
    cells = json.loads(nb.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def _sources() -> list[str]:
    texts = [p.read_text() for p in DRAFTS]
    for nb in sorted((ROOT / "chapters").glob("0*.ipynb")):
        texts.append(_notebook_markdown(nb))
    return texts


def notebook(chapter) -> pathlib.Path:
    """Chapter ``chapter``'s notebook (``4`` is 04_…, ``"4b"`` is 04b_…)."""
    return next((ROOT / "chapters").glob(f"0{chapter}_*.ipynb"))


def glued(chapter, name: str) -> str:
    """The text a chapter's ``{glue:text}`name``` shows, as stored in its executed notebook."""
    for cell in json.loads(notebook(chapter).read_text())["cells"]:
        for output in cell.get("outputs", []):
            if output.get("metadata", {}).get("scrapbook", {}).get("name") == name:
                return output["data"]["application/papermill.record/text/plain"].strip("'")
    raise AssertionError(f"chapter {chapter} glues no {name!r}")


def chapter_text(chapter) -> str:
    """Chapter ``chapter``'s learning material: its draft while there is one, else the markdown of
    its notebook (where the draft was moved)."""
    drafts = [p for p in DRAFTS if p.name.startswith(f"0{chapter}_")]
    if drafts:
        return drafts[0].read_text()
    return _notebook_markdown(notebook(chapter))


def solution(label: str) -> str:
    """The text of the ``{solution}`` block for exercise ``label``, wherever it is."""
    for text in _sources():
        match = re.search(r":::\{solution\} " + re.escape(label) + r"\n(.*?)\n:::\n", text + "\n", re.S)
        if match:
            return match.group(1)
    raise AssertionError(f"no solution for exercise {label!r} in the drafts or the notebooks")


def draft(chapter: int) -> str:
    """A chapter's whole learning material: for the numbers an exercise's statement gives."""
    return chapter_text(chapter)


def section(chapter: int, heading: str) -> str:
    text = chapter_text(chapter)
    match = re.search(rf"^## {heading}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"chapter {chapter}: no section {heading!r}"
    return match.group(1)


def states(text: str, *expected) -> None:
    """Every ``expected`` value is stated in ``text`` (math markup and line breaks ignored)."""
    text = _normalize(text)
    for value in expected:
        assert str(value) in text, f"{value!r} not stated in:\n{text[:600]}"


def glossary_terms() -> set[str]:
    body = GLOSSARY.read_text().split("```{glossary}", 1)[1].split("```", 1)[0]
    return {line.strip().lower() for line in body.splitlines()
            if line.strip() and not line.startswith((" ", ":"))}


# ------------------------------------------------------------------ structure


def test_every_chapter_has_its_material_once():
    """A draft is deleted when it is moved: a chapter has a draft or its notebook has the material."""
    for chapter in CHAPTERS:
        drafted = any(p.name.startswith(f"0{chapter}_") for p in DRAFTS)
        assert drafted != ("## What you will learn" in _notebook_markdown(notebook(chapter))), chapter


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_draft_has_objectives_key_idea_summary_and_exercises(chapter):
    text = chapter_text(chapter)
    objectives = [l for l in section(chapter, "What you will learn").splitlines() if l.startswith("- ")]
    summary = [l for l in section(chapter, "Summary").splitlines() if l.startswith("- ")]
    assert 3 <= len(objectives) <= 5 and 5 <= len(summary) <= 8, (len(objectives), len(summary))
    key = next(iter(chapter_diagrams(chapter)))
    assert re.search(rf"```{{figure}} \.\./figures/{key}\.svg\n:name: fig-ch{chapter}-key-idea", text)
    for name in re.findall(r"```\{figure\} \.\./figures/(\w+)\.svg", text):
        assert chapter in DIAGRAMS[name].chapters and (ROOT / "figures" / f"{name}.svg").exists(), name
    exercises = re.findall(r":::\{exercise\}.*\n:label: (\S+)\n", text)
    solutions = re.findall(r":::\{solution\} (\S+)\n:class: dropdown\n", text)
    assert len(exercises) >= 4 and exercises == solutions
    assert all(label.startswith(f"ex-ch{chapter}-") for label in exercises)


def test_exercise_labels_are_unique():
    labels = [l for p in DRAFTS for l in re.findall(r":label: (\S+)", p.read_text())]
    assert len(labels) == len(set(labels))


def test_glossary_has_twenty_terms_and_every_term_link_resolves():
    terms = glossary_terms()
    assert len(terms) >= 20
    for must in ("macs", "flops", "nbval", "deploy form", "onednn", "kendall's tau", "nbn", "h-swish",
                 "netadapt", "roofline", "arithmetic intensity", "int8 per-channel quantization",
                 "onnx runtime", "xnnpack", "executorch", "litert"):
        assert must in terms, must
    for name, text in [*((c, chapter_text(c)) for c in CHAPTERS), ("glossary", GLOSSARY.read_text())]:
        for role in re.findall(r"\{term\}`([^`]+)`", text):
            target = re.search(r"<([^>]+)>", role)
            assert (target.group(1) if target else role).lower() in terms, (name, role)


# ------------------------------------------------------------------ chapter 1


def test_ch1_first_layer():
    layer = analyze(mnlab.create_model("mobilenet_v1").features[1], (1, 32, 112, 112)).layers
    dw, pw = layer[layer.kind.str.startswith("depthwise")].macs.item(), layer[layer.kind == "conv 1×1"].macs.item()
    standard = 112 * 112 * 32 * 64 * 9
    assert (dw, pw) == (112 * 112 * 32 * 9, 112 * 112 * 32 * 64)
    states(solution("ex-ch1-first-layer"), f"{dw:,}", f"{pw:,}", f"{standard:,}", f"{dw + pw:,}",
           f"{standard / (dw + pw):.2f}")
    assert standard / (dw + pw) == pytest.approx(1 / (1 / 64 + 1 / 9))


def test_ch1_weights_threshold_kernel():
    states(solution("ex-ch1-weights"), f"{32 * 9:,}", f"{32 * 64:,}", f"{32 * 9 + 32 * 64:,}", f"{32 * 64 * 9:,}",
           f"{32 * 64 * 9 / (32 * 9 + 32 * 64):.2f}")
    threshold = 1 / (Fraction(1, 8) - Fraction(1, 9))
    assert threshold == 72 and 1 / (Fraction(1, 72) + Fraction(1, 9)) == 8
    states(solution("ex-ch1-threshold"), "N \\ge 72", "1/72")
    states(solution("ex-ch1-kernel5"), f"{1 / (1 / 512 + 1 / 25):.2f}")
    states(section(1, "Summary"), "72 output channels", "2.2 FLOPs per", "55.5")


def test_ch1_intensity_matches_the_counter():
    from mnlab.models.layers import DepthwiseSeparable
    rows = analyze(DepthwiseSeparable(512, 512), (1, 512, 14, 14)).layers
    dw, pw = rows.iloc[0], rows[rows.kind == "conv 1×1"].iloc[0]
    act = 14 * 14 * 512 * 4
    assert (dw.bytes_read, dw.bytes_written, pw.bytes_read) == (act + 512 * 9 * 4, act, act + 512 * 512 * 4)
    states(solution("ex-ch1-intensity"), f"{act:,}", f"{512 * 9 * 4:,}", f"{2 * dw.macs:,}",
           f"{dw.bytes_read + dw.bytes_written:,}", f"{dw.intensity:.1f} FLOPs per byte",
           f"{pw.bytes_read:,}", f"{pw.flops:,}", f"{pw.intensity:.1f} FLOPs per byte")


# ------------------------------------------------------------------ chapter 2


def test_ch2_first_conv_and_table2():
    total = analyze(mnlab.create_model("mobilenet_v1").eval(), 224).totals["macs"]
    first = 112 * 112 * 32 * 27
    printed = [figure(f"mobilenet_v1/table2/{k}/madds_pct").value for k in ("conv 1×1", "depthwise 3×3", "linear")]
    transposed = figure("mobilenet_v1/table2/conv 3×3/madds_pct_transposed")
    assert f"{100 * first / total:.2f}%" == transposed.printed
    text = solution("ex-ch2-first-conv")
    states(text, f"{first:,}", f"{total:,}", transposed.printed, figure("mobilenet_v1/table2/conv 3×3/madds_pct").printed,
           f"{sum(printed) + transposed.value:.2f}%", f"{sum(printed) + figure('mobilenet_v1/table2/conv 3×3/madds_pct').value:.2f}%")
    states(section(2, "Summary"), "1.19%", "1.91%", f"{sum(printed) + transposed.value:.2f}%")


def test_ch2_alpha_rho_and_budget():
    full = analyze(mnlab.create_model("mobilenet_v1").eval(), 224).totals["macs"]
    half = analyze(mnlab.create_model("mobilenet_v1", width_mult=0.5).eval(), 224).totals["macs"]
    states(draft(2), f"costs {14 * 14 * 512 * 512:,} MACs at", f"has {full:,} MACs")
    states(solution("ex-ch2-alpha-layer"), f"{14 * 14 * 256 * 256:,}", f"{full:,}", f"{half:,}", f"{half / full:.3f}")
    at160 = analyze(mnlab.create_model("mobilenet_v1").eval(), 160)
    fc = 1024 * 1000
    assert at160.totals["macs"] == (full - fc) * 160 ** 2 // 224 ** 2 + fc
    states(solution("ex-ch2-rho"), f"{fc:,}", f"{at160.totals['macs']:,}", f"{at160.totals['params']:,}")
    thin = analyze(mnlab.create_model("mobilenet_v1", width_mult=0.75).eval(), 224).totals["macs"]
    a, b = figure("mobilenet_v1/table6/0.75/top1"), figure("mobilenet_v1/table7/160/top1")
    states(solution("ex-ch2-budget"), f"{thin:,}", a.printed, f"{at160.totals['macs']:,}", b.printed,
           f"{a.value - b.value:.1f} points")


# ------------------------------------------------------------------ chapter 3


def test_ch3_block_costs():
    model = mnlab.create_model("mobilenet_v2").eval()
    block = analyze(model.features[3], (1, 24, 56, 56)).totals["macs"]
    assert block == 56 * 56 * 24 * 6 * (24 + 9 + 24)
    states(solution("ex-ch3-block-macs"), f"{block:,}", f"{56 * 56 * 24 * 144:,}", f"{56 * 56 * 144 * 9:,}")
    parts = [112 * 112 * 16 * 96, 56 * 56 * 96 * 9, 56 * 56 * 96 * 24]
    assert analyze(model.features[2], (1, 16, 112, 112)).totals["macs"] == sum(parts)
    states(solution("ex-ch3-stride2"), *(f"{p:,}" for p in parts), f"{sum(parts):,}")
    wide, thin = 112 * 112 * 96 * 2, 56 * 56 * 24 * 2
    states(solution("ex-ch3-memory"), f"{wide:,}", f"{thin:,}", f"{wide // thin} times")


def test_ch3_parameters_and_block_count():
    weights = {}
    for width in ("1.0", "1.4"):
        report = analyze(mnlab.create_model("mobilenet_v2", width_mult=float(width)).eval(), 224)
        weights[width] = int(report.layers[report.layers.kind != "batchnorm"].params.sum())
        assert round(weights[width] / 1e6, 2) == figure(f"mobilenet_v2/tf_slim/{width}/params").value / 1e6
    states(solution("ex-ch3-params"), f"{weights['1.0']:,}", f"{weights['1.4']:,}",
           figure("mobilenet_v2/tf_slim/1.0/params").printed, figure("mobilenet_v2/tf_slim/1.4/params").printed,
           figure("mobilenet_v2/1.0/params").printed, figure("mobilenet_v2/1.4/params").printed)
    states(section(3, "Summary"), f"{weights['1.0'] / 1e6:.2f}M")
    model = mnlab.create_model("mobilenet_v2")
    blocks = [b for b in model.features if isinstance(b, InvertedResidual)]
    assert len(blocks) == sum(n for _, _, n, _ in BOTTLENECKS)
    states(solution("ex-ch3-nineteen"), f"= {len(blocks)} bottleneck blocks",
           f"{sum(b.use_residual for b in blocks)} shortcuts", figure("mobilenet_v2/sec4/bottleneck_layers").printed)


def test_ch3_manifold_threshold():
    from mnlab.studies import v2
    error = v2.relu_manifold(dims=(2, 4, 6, 8, 10, 15), trials=20, seed=0).summary.readout_error
    first = min(n for n in error.index if (error.loc[n:] < 0.05).all())
    states(solution("ex-ch3-manifold"), f"from n = {first} on")


# ------------------------------------------------------------------ chapter 4


def test_ch4_se_and_last_stage():
    block = mnlab.create_model("mobilenet_v3_large").features[14]
    se = block.block.se
    se_macs = se.reduce.in_channels * se.reduce.out_channels + se.expand.in_channels * se.expand.out_channels
    total = analyze(block, (1, 160, 7, 7)).totals["macs"]
    states(solution("ex-ch4-se-macs"), f"{se.reduce.in_channels * se.reduce.out_channels:,}", f"{se_macs:,}",
           f"{100 * se_macs / total:.1f}%", f"{7 * 7 * 960:,}")
    states(draft(4), f"the block's {total:,}")
    original = 49 * (160 * 960 + 960 * 9 + 960 * 320 + 320 * 1280) + 1280 * 1000
    efficient = 49 * 160 * 960 + 960 * 1280 + 1280 * 1000
    states(solution("ex-ch4-last-stage"), f"{original:,}", f"{efficient:,}", f"{original - efficient:,}")
    states(section(4, "Summary"), f"{(original - efficient) / 1e6:.1f}M",
           figure("mobilenet_v3/sec5.1/last_stage/madds_saved").printed)


def test_ch4_activations_stem_and_reward():
    x = torch.tensor([-3.0, 1.0])
    hswish, swish = nn.functional.hardswish(x), nn.functional.silu(x)
    grid = torch.linspace(-6, 6, 120001)
    gap = (nn.functional.hardswish(grid) - nn.functional.silu(grid)).abs()
    assert grid[gap.argmax()].item() == pytest.approx(-3, abs=1e-3)
    states(solution("ex-ch4-hswish"), f"{hswish[1]:.3f}", f"{swish[1]:.3f}", f"{swish[0]:.3f}", f"{gap.max():.3f}")
    states(section(4, "Summary"), f"{gap.max():.3f}")
    states(solution("ex-ch4-stem"), f"{112 * 112 * 32 * 27:,}", f"{112 * 112 * 16 * 27:,}")
    w1, w2 = -figure("mnasnet/sec3/w").value, -figure("mobilenet_v3/sec4.1/w").value
    states(solution("ex-ch4-reward"), f"{1.1 ** w1:.5f}", f"{1.1 ** w2:.5f}", f"{100 * (1 / 1.1 ** w1 - 1):.2f}%",
           f"{100 * (1 / 1.1 ** w2 - 1):.2f}%")


# ------------------------------------------------------------------ chapter 5


def _lite_macs(width=1.0, depth=1.0, resolution=224) -> int:
    return analyze(efficientnet_lite(width_mult=width, depth=depth).eval(), resolution).totals["macs"]


def test_ch5_repeats_constraint_and_prediction():
    lite4 = SCALING["efficientnet_lite4"]
    repeats = [1] + [math.ceil(lite4.depth * n) for n in (2, 2, 3, 3, 4)] + [1]
    blocks = [m for m in mnlab.create_model("efficientnet_lite4").features
              if isinstance(m, InvertedResidual) or type(m).__name__ == "DepthwiseSeparable"]
    assert sum(repeats) == len(blocks)
    states(solution("ex-ch5-repeats"), ", ".join(map(str, repeats)), f"{sum(repeats)} blocks")
    a, b, g = (figure(f"efficientnet/sec4/{k}").value for k in ("alpha", "beta", "gamma"))
    states(solution("ex-ch5-constraint"), f"{a * b * b * g * g:.2f}", f"{(a * b * b * g * g) ** 3:.2f}")
    lite0_macs, lite4_macs = _lite_macs(), _lite_macs(lite4.width, lite4.depth, lite4.resolution)
    predicted = lite4.depth * lite4.width ** 2 * (lite4.resolution / 224) ** 2
    assert make_divisible(112 * 1.4, 8) == 160 and make_divisible(192 * 1.4, 8) == 272
    states(solution("ex-ch5-lite4-ratio"), f"{predicted:.2f}", f"{lite0_macs:,}", f"{lite4_macs:,}",
           f"{lite4_macs / lite0_macs:.2f}")


def test_ch5_int8_and_se():
    states(solution("ex-ch5-int8-scale"), f"{6 / 255:.4f}", f"{6 / 255 / 2:.4f}", f"{20.28 / 255:.4f}",
           f"{20.28 / 6:.1f} times")
    plain, se = analyze(efficientnet_lite().eval(), 224).totals, analyze(efficientnet_lite(squeeze_excite=True).eval(), 224).totals
    states(solution("ex-ch5-se"), f"{se['params'] / plain['params'] - 1:.1%}", f"{plain['params']:,}",
           f"{se['params']:,}", f"{se['macs'] / plain['macs'] - 1:.2%}")


def test_ch5_doubling_experiment():
    base = _lite_macs()
    ratio = lambda **kw: _lite_macs(**kw) / base  # noqa: E731
    b, a = figure("efficientnet/sec4/beta").value, figure("efficientnet/sec4/alpha").value
    states(solution("ex-ch5-double"), f"{ratio(width=1.45):.3f}", f"{ratio(resolution=312):.3f}",
           f"{ratio(depth=2.0):.3f}", f"{ratio(depth=2.1):.2f}", f"{ratio(width=b, depth=a, resolution=256):.3f}",
           f"{ratio(width=b, depth=a, resolution=258):.2f}")


# ------------------------------------------------------------------ chapter 6


def test_ch6_bn_fold():
    bn = nn.BatchNorm2d(1, eps=0.0).eval()
    with torch.no_grad():
        bn.weight.fill_(3.0), bn.bias.fill_(1.0), bn.running_mean.fill_(2.0), bn.running_var.fill_(4.0)
    x = torch.tensor([[[[0.0]], ]]), torch.tensor([[[[1.0]], ]])
    bias, slope = bn(x[0]).item(), (bn(x[1]) - bn(x[0])).item()
    states(solution("ex-ch6-bn-fold"), f"multiplied by {slope:g}", f"= {bias:g}.")


def test_ch6_block_counts():
    s0 = mnlab.create_model("mobileone_s0").eval()
    dw, pw = s0.features[2][2], s0.features[2][3]
    params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    c = dw.in_channels
    assert params(dw) == 4 * (c * 9 + 2 * c) + (c + 2 * c) + 2 * c
    states(solution("ex-ch6-block-params"), f"{c * 9 + 2 * c:,}", f"{4 * (c * 9 + 2 * c):,}", f"{3 * c:,}",
           f"{params(dw):,}", f"{params(reparameterize(dw)):,}")
    train, fused = analyze(pw, (1, c, 28, 28)).totals["macs"], analyze(reparameterize(pw), (1, c, 28, 28)).totals["macs"]
    assert train == 4 * fused == 4 * 28 * 28 * c * c
    states(solution("ex-ch6-pw-macs"), f"{fused:,}", f"{train:,}")


def test_ch6_rank_correlations_and_identity():
    macs, latency = [1, 2, 3, 4], [1, 3, 2, 4]
    rho, tau = stats.spearmanr(macs, latency).statistic, stats.kendalltau(macs, latency).statistic
    states(solution("ex-ch6-kendall"), f"= {rho:g}.", f"= {tau:.3f}")
    from mnlab.models import MobileOneBlock
    block = MobileOneBlock(2, 2, 3, branches=1).eval()
    block.scale = None                          # keep the identity branch alone (BN at its defaults)
    with torch.no_grad():
        block.conv_branches[0][0].weight.zero_()
    kernel, _ = block.fused_kernel_and_bias()
    assert kernel.shape == (2, 2, 3, 3)
    states(solution("ex-ch6-identity"), f"{int((kernel != 0).sum())} nonzero entries of {kernel.numel()}")


# ------------------------------------------------------------------ chapter 7


def test_ch7_pareto_roofline_and_rates():
    models = {"P": (10, 70), "Q": (12, 72), "R": (15, 71), "S": (20, 75), "T": (22, 74)}
    front = [m for m, (ms, top1) in models.items()
             if not any(o_ms <= ms and o_top1 >= top1 and (o_ms, o_top1) != (ms, top1) for o_ms, o_top1 in models.values())]
    states(solution("ex-ch7-pareto"), f"{', '.join(front[:-1])} and {front[-1]} are on the front")
    peak, bandwidth = 100, 20
    states(solution("ex-ch7-roofline"), f"= {peak // bandwidth} FLOPs per byte", f"= {min(peak, 2.2 * bandwidth):g} GFLOP/s",
           f"= {min(peak, 55.5 * bandwidth):g} GFLOP/s")
    states(solution("ex-ch7-gmacs"), f"= {0.3 / 0.0075:g} GMAC/s", f"= {0.6 / 0.010:g} GMAC/s")


# ------------------------------------------------------------------ chapter 4b (answers glued by the notebook)


def test_ch4b_predictor_and_filters_by_hand():
    """The stated hand counts equal the models' parameters, and the glued answers are those counts."""
    from mnlab.models.detection import ssd
    from mnlab.studies.backbones import V2_RECIPE, segmenter
    c4 = ssd("mobilenet_v2", **V2_RECIPE).class_head[0]
    by_hand = 9 * 576 + 2 * 576 + 576 * 243 + 243
    assert sum(p.numel() for p in c4.parameters()) == by_hand
    assert glued("4b", "ch4b_ex_c4_params") == f"{by_hand:,}"
    assert glued("4b", "ch4b_ex_c4_regular") == f"{9 * 576 * 243 + 243:,}"
    states(solution("ex-ch4b-predictor"), "Depthwise 9 · 576, BatchNorm 2 · 576, then 576 · 243 + 243",
           "9 · 576 · 243 + 243")
    heads = {n: sum(p.numel() for p in segmenter(n).head.parameters()) for n in (7, 8)}
    assert heads[7] - heads[8] == 2 * 480 * 128 + 2 * 128 + 128 * 19
    assert glued("4b", "ch4b_ex_f_params") == glued("4b", "ch4b_ex_f_hand") == f"{heads[7] - heads[8]:,}"
    states(solution("ex-ch4b-filters"), "gain 480 · 128 weights, the branch's BatchNorm 2 · 128", "128 · 19")


def test_ch4b_output_stride_and_torchvision():
    from mnlab.models.detection import ssd, ssdlite320_mobilenet_v3_large
    from mnlab.models.segmentation import deeplabv3
    os8 = analyze(deeplabv3("mobilenet_v2", output_stride=8, aspp=False).eval(), 513).totals
    os16 = analyze(deeplabv3("mobilenet_v2", aspp=False).eval(), 513).totals
    assert os8["params"] == os16["params"]
    assert glued("4b", "ch4b_ex_os8_x") == f"{os8['macs'] / os16['macs']:.2f}"
    params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    tv = ssd("mobilenet_v3_large", reduced_tail="detection", num_classes=91)
    assert params(tv) == params(ssdlite320_mobilenet_v3_large()) and glued("4b", "ch4b_tv_ssd_params") == f"{params(tv):,}"
    three = ssd("mobilenet_v3_large", reduced_tail="detection", num_classes=91, anchors=(3, 6, 6, 6, 6, 6))
    assert glued("4b", "ch4b_tv_ssd_v3r") == f"{params(three):,}"


# ------------------------------------------------------------------ chapter 8


def test_ch8_fusion_by_hand():
    """The solution names the nine ops and four kernels; the splitter finds exactly those."""
    from mnlab.analysis.kernels import fusion
    groups = fusion(analyze(InvertedResidual(24, 24, 144, 1).eval(), (1, 24, 56, 56)))
    assert [len(ops) for _, ops in groups] == [3, 3, 2, 1]
    assert glued(8, "ch8_ex_ops") == "9" and glued(8, "ch8_ex_kernels") == "4"
    states(solution("ex-ch8-fusion"), "1×1 conv, BatchNorm, ReLU6, depthwise 3×3 conv, BatchNorm, ReLU6, 1×1 conv, "
           "BatchNorm, add", "the expansion (conv + BN + ReLU6), the depthwise (conv + BN + ReLU6), the projection "
           "(conv + BN; it is linear) and the add")
