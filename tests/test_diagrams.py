"""The diagrams say what the models say: every labelled number, width and branch count is checked
against the model (or a hand count), and ``make figures`` writes the same bytes on every run."""
import os
import pathlib
import subprocess
import sys

import pytest
from torch import nn

from mnlab.analysis import analyze
from mnlab.diagrams import CHAPTERS, DIAGRAMS, chapter_diagrams, render, render_all
from mnlab.diagrams import heads, lineage, mobileone, residual, runtime, scaling, separable
from mnlab.diagrams.style import millions
from mnlab.diagrams.read import layers
from mnlab.models import mobilenet_v2, mobilenet_v3_large, mobileone_s0, mobileone_s1
from mnlab.models.efficientnet_lite import SCALING, efficientnet_lite
from mnlab.models.layers import DepthwiseSeparable, InvertedResidual, conv_bn_act

ROOT = pathlib.Path(__file__).resolve().parents[1]


def by_gid(fig) -> dict:
    """Every artist with a gid, by gid (a gid used several times maps to a list)."""
    found: dict = {}
    for ax in fig.axes:
        for artist in [*ax.patches, *ax.lines]:
            gid = artist.get_gid()
            if gid:
                found.setdefault(gid, []).append(artist)
    return {gid: artists[0] if len(artists) == 1 else artists for gid, artists in found.items()}


def texts(fig) -> str:
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts)


def test_every_chapter_has_two_diagrams_and_one_key_idea():
    assert CHAPTERS == (1, 2, 3, 4, "4b", 5, 6, 7, 8)
    for chapter in CHAPTERS:
        shown = chapter_diagrams(chapter)
        assert len(shown) >= 2, chapter
        first = next(iter(shown.values()))
        assert first.key_idea and first.chapters[0] == chapter, chapter
        assert sum(d.key_idea and d.chapters[0] == chapter for d in shown.values()) == 1


def test_bad_names_and_chapters_raise():
    with pytest.raises(ValueError, match="unknown diagram 'nope'"):
        render("nope")
    with pytest.raises(ValueError, match="chapter must be one of 1, 2, 3, 4, 4b, 5, 6, 7, 8, got 9"):
        chapter_diagrams(9)
    with pytest.raises(ValueError, match="got '4c'"):
        chapter_diagrams("4c")
    with pytest.raises(ValueError, match="module must be an nn.Module"):
        layers("conv", (1, 3, 8, 8))


def test_figures_folder_holds_every_diagram():
    on_disk = {p.stem for p in (ROOT / "figures").glob("*.svg")}
    assert set(DIAGRAMS) <= on_disk, set(DIAGRAMS) - on_disk


def test_make_figures_is_deterministic(tmp_path):
    """Same SVG bytes from a fresh process with another hash seed as from this one; no date inside."""
    here = render_all(tmp_path / "here")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    subprocess.run([sys.executable, "-m", "mnlab.diagrams", str(tmp_path / "there")], check=True, env=env,
                   capture_output=True, timeout=600)
    for path in here:
        data = path.read_bytes()
        assert data == (tmp_path / "there" / path.name).read_bytes(), path.name
        assert b"<dc:date>" not in data and data.startswith(b"<?xml")


def test_layers_reads_shapes_bn_and_activations():
    conv, = layers(conv_bn_act(8, 16, 3, stride=2, activation=nn.ReLU6), (1, 8, 10, 10))
    assert (conv.kind, conv.in_channels, conv.out_channels, conv.kernel, conv.stride, conv.size) == \
        ("conv", 8, 16, 3, 2, 5)
    assert conv.batchnorm and conv.activation == "ReLU6" and conv.macs == 5 * 5 * 16 * 8 * 9
    dw, pw = layers(DepthwiseSeparable(8, 4, linear_pointwise=True), (1, 8, 6, 6))
    assert (dw.kind, dw.macs, dw.params) == ("depthwise", 6 * 6 * 8 * 9, 8 * 9)
    assert (pw.kind, pw.activation, pw.label) == ("pointwise", None, "1×1 conv, 8→4")


def test_convolution_kinds_labels_the_hand_counted_macs():
    shown = texts(separable.convolution_kinds())
    for macs in (3 * 3 * 512 * 512 * 14 * 14, 3 * 3 * 512 * 14 * 14, 512 * 512 * 14 * 14):
        assert f"{macs:,} MACs" in shown
    assert f"{(3 * 3 * 512 + 512 * 512) * 14 * 14:,} MACs" in shown


def test_separable_cost_bars_are_to_scale():
    gids = by_gid(separable.separable_cost())
    standard = gids["cost:macs:standard"].get_width()
    assert gids["cost:macs:pointwise"].get_width() / standard == pytest.approx(1 / 9)
    assert gids["cost:macs:depthwise"].get_width() / standard == pytest.approx(1 / 512)
    assert gids["cost:params:pointwise"].get_width() / gids["cost:params:standard"].get_width() == \
        pytest.approx(512 * 512 / (9 * 512 * 512))


def test_inverted_residual_widths_are_the_models_channels():
    block = mobilenet_v2().features[residual.V2_BLOCK].block
    channels = [block.expand[0].in_channels, block.expand[0].out_channels, block.depthwise[0].out_channels,
                block.project[0].out_channels]
    assert channels == [24, 144, 144, 24]
    fig = residual.inverted_residual()
    gids = by_gid(fig)
    widths = [gids[f"inverted:tensor:{i}"].get_width() for i in range(4)]
    for w, c in zip(widths, channels):
        assert w / widths[1] == pytest.approx(c / channels[1])
    classic = [gids[f"classic:tensor:{i}"].get_width() for i in range(4)]   # the same widths, mirrored
    assert classic == pytest.approx([widths[1], widths[0], widths[0], widths[1]])
    assert gids["inverted:tensor:3"].get_hatch() and not gids["inverted:tensor:2"].get_hatch()
    assert not gids["classic:tensor:3"].get_hatch()
    assert "linear bottleneck" in texts(fig) and "BN · linear" in texts(fig)


def test_v2_network_draws_every_block_to_scale():
    model = mobilenet_v2()
    blocks = [m for m in model.features if isinstance(m, InvertedResidual)]
    gids = by_gid(residual.v2_network())
    assert sum(g.startswith("v2:out:") for g in gids) == len(blocks) == 17
    for i, b in enumerate(blocks):
        hidden = b.block.depthwise[0].out_channels
        out = b.block.project[0].out_channels
        assert gids[f"v2:out:{i}"].get_height() / gids[f"v2:hidden:{i}"].get_height() == pytest.approx(out / hidden)


def test_v3_block_shows_se_at_a_quarter_and_h_swish():
    block = mobilenet_v3_large().features[residual.V3_BLOCK].block
    fig = residual.v3_block()
    shown, gids = texts(fig), by_gid(fig)
    assert block.se.reduce.out_channels == block.expand[0].out_channels // 4 == 240
    assert f"{block.expand[0].out_channels}→{block.se.reduce.out_channels}, ReLU" in shown
    assert "h-sigmoid" in shown and "BN · h-swish" in shown and "v3:se" in gids
    assert gids["v3:tensor:1"].get_width() / gids["v3:tensor:0"].get_width() == pytest.approx(960 / 160)


def test_v3_last_stage_counts_match_a_hand_count():
    original = 7 * 7 * (160 * 960 + 960 * 9 + 960 * 320 + 320 * 1280) + 1280 * 1000
    efficient = 7 * 7 * 160 * 960 + 960 * 1280 + 1280 * 1000
    shown = texts(residual.v3_last_stage())
    assert f"saves {(original - efficient) / 1e6:.1f}M" in shown
    assert f"{original / 1e6:.1f}M\nMACs" in shown and f"{efficient / 1e6:.1f}M\nMACs" in shown


def test_compound_scaling_draws_the_scaling_tables_networks():
    lite0, lite4 = SCALING["efficientnet_lite0"], SCALING["efficientnet_lite4"]
    nets = {n.name: n for n in scaling.scaling_networks()}
    assert (nets["compound"].width, nets["compound"].depth, nets["compound"].resolution) == \
        (lite4.width, lite4.depth, lite4.resolution)
    gids = by_gid(scaling.compound_scaling())
    for name, net in nets.items():
        model = efficientnet_lite(width_mult=net.width, depth=net.depth)
        blocks = [m for m in model.features if isinstance(m, (InvertedResidual, DepthwiseSeparable))]
        assert sum(g.startswith(f"{name}:block:") for g in gids) == len(blocks)
    assert len(nets["baseline"].block_channels) == 1 + 2 + 2 + 3 + 3 + 4 + 1            # B0's repeats
    assert len(nets["deeper"].block_channels) == 1 + 4 + 4 + 6 + 6 + 8 + 1              # ceil(1.8 n), ends fixed
    widest = [gids[f"wider:block:{j}"].get_width() for j in range(16)]
    assert max(widest) / gids["baseline:block:15"].get_width() == pytest.approx(448 / 320)
    assert gids["compound:input"].get_width() / gids["baseline:input"].get_width() == \
        pytest.approx(lite4.resolution / lite0.resolution)


def test_lite_block_removes_se_and_swish():
    fig = scaling.lite_block()
    gids, shown = by_gid(fig), texts(fig)
    assert "b0:se" in gids and "lite:se" not in gids
    assert "BN · swish" in shown and "BN · ReLU6" in shown and "240→10, swish" in shown


def test_mobileone_block_draws_the_blocks_branches():
    dw, pw = mobileone_s0().features[2][2], mobileone_s0().features[2][3]
    gids = by_gid(mobileone.mobileone_block())
    assert sum(g.startswith("dw:branch:conv:") for g in gids) == len(dw.conv_branches) == 4
    assert sum(g.startswith("pw:branch:conv:") for g in gids) == len(pw.conv_branches) == 4
    assert {"dw:branch:scale", "dw:branch:identity", "pw:branch:identity", "dw:fused", "pw:fused"} <= set(gids)
    assert "pw:branch:scale" not in gids                      # a 1×1 block has no 1×1 scale branch
    s1 = [gid for gid, _ in mobileone.branches(mobileone_s1().features[2][2])]
    assert s1 == ["conv:0", "scale", "identity"]


def test_mobileone_variants_are_the_papers_widths():
    expected = {"S0": [48, 128, 256, 1024], "S1": [96, 192, 512, 1280], "S2": [96, 256, 640, 2048],
                "S3": [128, 320, 768, 2048], "S4": [192, 448, 896, 2048]}   # int(64, 128, 256, 512 × α)
    gids = by_gid(mobileone.mobileone_variants())
    for name, widths in expected.items():
        assert [gids[f"{name}:stage:{s}"].get_height() for s in range(1, 5)] == widths


def test_width_resolution_reads_the_multipliers():
    fig = separable.width_resolution()
    gids = by_gid(fig)
    assert max(gids["alpha:0.5"].get_ydata()) == 512 and max(gids["alpha:1.0"].get_ydata()) == 1024
    assert gids["rho:160"].get_ydata()[0] == 80 and gids["rho:224"].get_ydata()[-1] == 7


def test_lineage_years_come_from_references_bib():
    years = lineage.bib_years()
    assert years["howard2017mobilenets"] == 2017 and years["vasu2023mobileone"] == 2022   # arXiv 2206
    assert years["efficientnetlite2020"] == 2020 and years["qin2024mobilenetv4"] == 2024
    assert {p.key for p in lineage.PAPERS} <= set(years)
    gids = by_gid(lineage.lineage())
    shown = {g.split(":", 1)[1] for g in gids if g.startswith("paper:")}
    assert shown == {p.key for p in lineage.PAPERS if years[p.key] <= 2022}
    x = {key: gids[f"paper:{key}"].get_x() for key in shown}
    assert x["howard2017mobilenets"] < x["sandler2018mobilenetv2"] < x["howard2019searching"] \
        < x["efficientnetlite2020"] < x["ding2021repvgg"] < x["vasu2023mobileone"]
    later = {g for g in by_gid(lineage.lineage(2019, 2024)) if g.startswith("paper:")}
    assert "paper:qin2024mobilenetv4" in later and "paper:howard2017mobilenets" not in later


def test_ssdlite_head_draws_the_detectors_six_maps():
    """V2 + SSDLite at 320: C4 at stride 16 (20²), C5 at 32 (10²), stride-2 3×3 extras 5², 3², 2², 1²;
    3 boxes per position on map 1, 6 elsewhere; 81 scores (V2 Table 5/6's recipe)."""
    from mnlab.models.detection import ssd
    from mnlab.studies.backbones import V2_RECIPE
    maps, totals = heads.ssdlite_maps()
    assert [(m.channels, m.size) for m in maps] == [(576, 20), (1280, 10), (512, 5), (256, 3), (256, 2), (128, 1)]
    assert [m.source for m in maps][:2] == ["C4", "C5"]
    assert [m.class_outputs for m in maps] == [3 * 81] + [6 * 81] * 5 and maps[0].box_outputs == 3 * 4
    assert totals["boxes"] == 3 * 20 ** 2 + 6 * (10 ** 2 + 5 ** 2 + 3 ** 2 + 2 ** 2 + 1) == 2034
    model = ssd("mobilenet_v2", **V2_RECIPE)
    head = analyze(model, 320).totals["macs"] - analyze(model.backbone, 320).totals["macs"]
    assert totals["head_macs"] == head
    assert maps[0].predictor_macs == 2 * (20 * 20 * 576 * 9) + 20 * 20 * 576 * (243 + 12)   # dw twice, both 1×1s
    fig = heads.ssdlite_head()
    gids, shown = by_gid(fig), texts(fig)
    sides = [gids[f"ssdlite:map:{i}"].get_width() for i in range(6)]
    assert sides == pytest.approx([s / 20 * sides[0] for s in (20, 10, 5, 3, 2, 1)])
    assert f"{totals['boxes']:,} default boxes" in shown and f"{millions(head)} MACs" in shown
    assert "× 81 = 486 scores" in shown and "× 4 = 12 offsets" in shown


def test_lraspp_head_reads_row_8_at_the_cityscapes_crop():
    """V3-Large RF2 at 1025 × 2049: C5 (480 wide after RF2) at output stride 16 is 65 × 129, the
    stride-8 skip 129 × 257; the head is four 1×1 convolutions."""
    from mnlab.models.segmentation import lraspp
    rows = heads.lraspp_rows()
    cbr, gate = rows["head.cbr.0:conv2d"], rows["head.scale.1:conv2d"]
    assert cbr["in"] == (1, 480, 65, 129) and rows["head.low_classifier:conv2d"]["in"] == (1, 120, 129, 257)
    assert cbr["macs"] == 65 * 129 * 480 * 128 and gate["macs"] == 480 * 128
    assert rows["output:interpolate"]["out"] == (1, 19, 1025, 2049)
    model = lraspp("mobilenet_v3_large", reduced_tail="segmentation")
    convs = sum(isinstance(m, nn.Conv2d) for m in model.head.modules())
    shown = texts(heads.lraspp_head())
    assert convs == 4 and f"the whole head is {convs} convolutions" in shown
    assert f"{millions(cbr['macs'])} MACs" in shown and "61,440 MACs" in shown and "BN · ReLU" in shown


def test_kernel_fusion_groups_every_op_of_both_blocks():
    fig = runtime.kernel_fusion()
    gids, shown = by_gid(fig), texts(fig)
    for prefix, n_ops, n_kernels in [("v2", 3 + 3 + 2 + 1, 4), ("v3", 3 + 3 + 6 + 2 + 1, 5)]:
        assert sum(g.startswith(f"{prefix}:op:") for g in gids) == n_ops
        assert sum(g.startswith(f"{prefix}:kernel:") for g in gids) == n_kernels
        assert f"{n_ops} ops → {n_kernels} kernels" in shown
    assert "squeeze-and-excite, 960\n(squeeze to 240, ReLU, h-sigmoid)" in shown
    assert "1×1 conv 24→144\n+ BN folded, ReLU6" in shown and "1×1 conv 144→24\n+ BN folded" in shown


def test_latency_predictors_counts_mobilenet_v2_by_hand():
    """MobileNetV2's ops: stem conv-BN-ReLU6, block 1 without expansion (5 ops), 16 blocks of 8,
    10 adds, the last conv (3), pool, classifier = 151; kernels 1 + 17 + 17 + 16 + 10 + 1 + 1 + 1 = 64."""
    from mnlab.analysis.predict import KernelModel, LookupTable, MacsLinear, Roofline
    seen = runtime.predicted_network()
    assert len(seen["ops"]) == 3 + 5 + 16 * 8 + 10 + 3 + 1 + 1 == 151
    assert len(seen["kernels"]) == 1 + 17 + 17 + 16 + 10 + 1 + 1 + 1 == 64
    fig = runtime.latency_predictors()
    gids, shown = by_gid(fig), texts(fig)
    assert sum(g.startswith("ops:") for g in gids) == 151 and sum(g.startswith("kernels:") for g in gids) == 64
    assert "34 pointwise, 17 depthwise, 10 elementwise, 1 conv, 1 pool, 1 linear" in shown
    assert f"one number: {millions(analyze(mobilenet_v2().eval(), 224).totals['macs'])} MACs" in shown
    for predictor in (MacsLinear, Roofline, LookupTable, KernelModel):
        assert predictor.name in shown
