"""mnlab.studies.v2: the MobileNetV2 chapter's block costs, Table 2 and 3, Figure 1, the small
Figure 6 ablation, chunked (memory-efficient) inference and the expansion sweep."""
import pathlib

import numpy as np
import pandas as pd
import pytest
import torch

import mnlab
from mnlab.analysis import analyze
from mnlab.models import toys
from mnlab.models.layers import InvertedResidual
from mnlab.models.mobilenet_v2 import BOTTLENECKS
from mnlab.papers import figure
from mnlab.plots import v2 as v2_plots
from mnlab.studies import v2, v2_memory
from mnlab.studies.blocks import describe_blocks
from mnlab.training import digits
from mnlab.studies.mobileone import randomize_batchnorm_


@pytest.fixture(scope="module")
def model():
    return mnlab.create_model("mobilenet_v2").eval()


# --------------------------------------------------------------------------- the block


def test_bottleneck_macs_is_the_papers_formula_at_stride_1():
    h, w, d, t, d2, k = 14, 14, 64, 6, 96, 3
    assert v2.bottleneck_macs(h, w, d, t, d2, k) == h * w * d * t * (d + k * k + d2)


def test_bottleneck_macs_stride_2_and_no_expansion():
    # stride 2: expansion at 112², depthwise and projection at 56²
    assert v2.bottleneck_macs(112, 112, 16, 6, 24, 3, 2) == 112 * 112 * 16 * 96 + 56 * 56 * 96 * (9 + 24)
    # t = 1: no expansion layer
    assert v2.bottleneck_macs(112, 112, 32, 1, 16) == 112 * 112 * 32 * (9 + 16)


@pytest.mark.parametrize("kwargs", [dict(h=0), dict(d_in=2.5), dict(t=0.5), dict(stride=True)])
def test_bottleneck_macs_rejects_bad_input(kwargs):
    args = dict(h=8, w=8, d_in=8, t=6, d_out=8, k=3, stride=1) | kwargs
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        v2.bottleneck_macs(**args)


def test_block_costs_agree_with_the_counter_for_every_block(model):
    costs = v2.block_costs(model)
    assert len(costs) == 17 and costs.agree.all()
    # the blocks hold all but the stem, the last conv and the classifier
    total = analyze(model, 224).totals["macs"]
    assert 0.85 * total < costs.counted.sum() < total


def test_architecture_table_is_table_2(model):
    table = v2.architecture_table(model)
    assert v2.spec_from_table(table) == BOTTLENECKS
    assert table.Input.tolist()[:3] == ["224² × 3", "112² × 32", "112² × 16"]
    assert table.iloc[-3].tolist() == ["7² × 320", "conv2d 1×1", "-", "1280", "1", "1"]
    assert table.iloc[-2].Operator == "avgpool 7×7"
    assert table.iloc[-1].c == "1000"


def test_architecture_table_follows_width_and_expansion():
    table = v2.architecture_table(mnlab.create_model("mobilenet_v2", width_mult=0.5, expansion=4).eval())
    rows = v2.spec_from_table(table)
    assert [r[0] for r in rows] == [1, 4, 4, 4, 4, 4, 4]
    assert [r[1] for r in rows] == [8, 16, 16, 32, 48, 80, 160]


def test_describe_blocks_reads_modules(model):
    blocks = describe_blocks(model)
    assert blocks.operator.tolist() == ["conv2d"] + ["bneck"] * 17 + ["conv2d"]
    assert blocks.nl.tolist() == ["RE6"] * 19
    assert blocks.residual.sum() == 10
    assert blocks.macs.sum() + 1280 * 1000 == analyze(model, 224).totals["macs"]


# --------------------------------------------------------------------------- Figure 1


def test_relu_manifold_is_seeded_and_shaped():
    a = v2.relu_manifold((2, 30), n_points=200, trials=3, seed=1)
    b = v2.relu_manifold((2, 30), n_points=200, trials=3, seed=1)
    pd.testing.assert_frame_equal(a.errors, b.errors)
    assert list(a.summary.index) == [2, 30]
    assert set(a.reconstructions) == {2, 30} and a.reconstructions[2].shape == (200, 2)


def test_relu_manifold_low_dimensions_lose_the_spiral():
    study = v2.relu_manifold((2, 3, 15, 30), trials=10)
    s = study.summary
    assert s.readout_error[2] > 0.3 and s.readout_error[3] > 0.3
    assert s.readout_error[15] < 0.05 and s.readout_error[30] < 0.01
    assert s.shape_error[30] < s.shape_error[2]
    # T⁺ReLU(Tx) ≈ x / 2 for large n: ReLU keeps half the coordinates on average
    assert 1.6 < s.scale[30] < 2.2


def test_relu_manifold_rejects_bad_dims():
    with pytest.raises(ValueError, match="dims"):
        v2.relu_manifold((2, 0))
    with pytest.raises(ValueError, match="trials"):
        v2.relu_manifold((2,), trials=0)


def test_plot_relu_manifold_has_one_panel_per_n():
    fig = v2_plots.plot_relu_manifold(v2.relu_manifold((2, 5), n_points=100, trials=1))
    assert len(fig.axes) == 3


# --------------------------------------------------------------------------- Figure 6, small


def test_toy_variants_share_their_layers_and_shortcut_count():
    params = set()
    for name, kwargs in toys.ABLATION_VARIANTS.items():
        torch.manual_seed(0)
        model = toys.ToyMobileNetV2(**kwargs)
        params.add(sum(p.numel() for p in model.parameters()))
        assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
        assert model.shortcuts == (0 if kwargs["shortcut"] == "none" else 4)
    assert len(params) == 1


def test_toy_shortcut_between_expansions_joins_wide_tensors():
    model = toys.ToyMobileNetV2(shortcut="expansion").eval()
    seen = []
    model.expand[1].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    model(torch.zeros(1, 1, 8, 8))
    assert seen[0][1] == 8 * 6   # the expansion, 6× the bottleneck, is what gets added


def test_toy_rejects_unknown_shortcut():
    with pytest.raises(ValueError, match="shortcut"):
        toys.ToyMobileNetV2(shortcut="everywhere")


def test_train_variant_tiny_run_learns_and_is_deterministic():
    small = digits().head(512, 200)
    threads = torch.get_num_threads()
    first = v2.train_variant("linear bottleneck", 0, small, epochs=4)
    again = v2.train_variant("linear bottleneck", 0, small, epochs=4)
    pd.testing.assert_frame_equal(first, again)
    assert torch.get_num_threads() == threads
    assert list(first.columns) == ["variant", "seed", "epoch", "train_loss", "test_loss", "test_acc"]
    assert first.train_loss.is_monotonic_decreasing
    assert first.test_loss.iloc[-1] < first.test_loss.iloc[0]
    assert first.test_acc.iloc[-1] > 20   # percent: above chance (10) after four short epochs


def test_train_variant_rejects_unknown_variant():
    with pytest.raises(ValueError, match="variant"):
        v2.train_variant("sigmoid bottleneck", 0, digits().head(8, 8))


def test_stored_ablation_reads_and_checks_the_cache(tmp_path, monkeypatch):
    fake = pd.DataFrame([{"variant": v, "seed": s, "epoch": e, "train_loss": 1.0, "test_loss": 1.0,
                          "test_acc": 0.9 + 0.01 * s} for v in toys.ABLATION_VARIANTS for s in (0, 1) for e in (1, 2)])
    path = tmp_path / "ablation.csv"
    fake.to_csv(path, index=False)
    table = v2.stored_ablation(path, False, seeds=(0, 1), epochs=2)
    assert len(table) == len(fake)
    with pytest.raises(ValueError, match="remeasure"):
        v2.stored_ablation(path, False, seeds=(0, 1, 2), epochs=2)
    calls = []
    monkeypatch.setattr(v2, "run_ablation", lambda *a, **k: calls.append(k) or fake)
    v2.stored_ablation(path, True, seeds=(0, 1), epochs=2)
    assert calls == [{"epochs": 2}]


def test_ablation_summary_pairs_seeds():
    fake = pd.DataFrame([{"variant": v, "seed": s, "epoch": 1, "train_loss": 1.0, "test_loss": 1.0,
                          "test_acc": 0.9 + 0.01 * s - (0.05 if v == "ReLU6 bottleneck" else 0)}
                         for v in toys.ABLATION_VARIANTS for s in (0, 1, 2)])
    summary = v2.ablation_summary(fake)
    assert summary.loc["ReLU6 bottleneck", "vs linear (mean)"] == pytest.approx(-0.05)
    assert summary.loc["ReLU6 bottleneck", "vs linear (std)"] == pytest.approx(0, abs=1e-12)
    assert summary.loc["linear bottleneck", "mean"] == pytest.approx(0.91)


def test_stored_ablation_in_the_book_is_complete():
    table = v2.stored_ablation(pathlib.Path(__file__).parents[1] / "chapters" / "data" / "v2_ablation.csv", False)
    assert set(table.variant) == set(toys.ABLATION_VARIANTS)


# --------------------------------------------------------------------------- Table 3 and memory


def test_table3_maxima_are_the_papers():
    v1, mv2 = v2_memory.table3("mobilenet_v1"), v2_memory.table3("mobilenet_v2")
    assert round(v1.max_kb, -2) == figure("mobilenet_v2/table3/mobilenet_v1/max_memory_kb").value
    assert round(mv2.max_kb, -2) == figure("mobilenet_v2/table3/mobilenet_v2/max_memory_kb").value
    with pytest.raises(ValueError, match="name"):
        v2_memory.table3("mobilenet_v3_large")


def test_stage_starting_widths_are_the_papers_shifted_rows():
    widths = v2_memory.stage_starting_widths()
    for side in (56, 28, 14):
        assert widths[side] == figure(f"mobilenet_v2/table3/mobilenet_v2/{side}/channels").value


@pytest.mark.parametrize("expansion,stride,residual", [(6, 1, True), (6, 2, False), (1, 1, False)])
@pytest.mark.parametrize("chunks", [1, 3, 6])
def test_chunked_block_equals_block(expansion, stride, residual, chunks):
    torch.manual_seed(0)
    c_in = 8 if residual or expansion == 1 else 6
    block = InvertedResidual(c_in, 8 if residual else 12, c_in * expansion, stride)
    randomize_batchnorm_(block).eval()
    x = torch.randn(2, c_in, 10, 10)
    wrapped = toys.ChunkedInvertedResidual(block, min(chunks, c_in * expansion)).eval()
    with torch.no_grad():
        torch.testing.assert_close(wrapped(x), block(x), rtol=1e-5, atol=1e-5)


def test_chunked_model_equals_model_and_needs_less_memory(model):
    trained = randomize_batchnorm_(mnlab.create_model("mobilenet_v2", width_mult=0.5), 1).eval()
    sliced = toys.chunked(trained)
    assert isinstance(sliced.features[0], torch.nn.Identity)   # the stem became block 1's expansion
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(sliced(x), trained(x), rtol=1e-4, atol=1e-4)
    assert all(m.training is False for m in sliced.modules())
    assert trained.features[1].__class__ is InvertedResidual   # the original is untouched
    peaks = v2_memory.peak_memory({"eager": model, "sliced": toys.chunked(model)})
    assert peaks.peak_kb["sliced"] < 0.4 * peaks.peak_kb["eager"]
    macs = analyze(toys.chunked(model), 224).totals["macs"]
    assert macs == analyze(model, 224).totals["macs"]   # slicing moves no arithmetic


def test_chunked_refuses_se_and_training():
    se_block = mnlab.create_model("mobilenet_v3_large").features[4]
    with pytest.raises(ValueError, match="squeeze-and-excite"):
        toys.ChunkedInvertedResidual(se_block, 2)
    block = InvertedResidual(8, 8, 48, 1)
    with pytest.raises(ValueError, match="chunks"):
        toys.ChunkedInvertedResidual(block, 0)
    with pytest.raises(RuntimeError, match="eval"):
        toys.ChunkedInvertedResidual(block, 2).train()(torch.zeros(1, 8, 4, 4))


def test_memory_timelines_and_plot(model):
    timelines = v2_memory.memory_timelines({"V2": model})
    assert timelines.progress.between(0, 1).all()
    assert timelines.live_bytes.max() == analyze(model, 224, dtype=torch.float16).totals["peak_activation_bytes"]
    fig = v2_plots.plot_memory_timelines(timelines, {"V2": 401.4})
    assert len(fig.axes[0].lines) == 2   # the timeline and the Table 3 line


# --------------------------------------------------------------------------- expansion ratio


def test_expansion_sweep_counts_grow_linearly_in_t():
    table = v2.expansion_sweep(range(2, 7))
    assert list(table.t) == [2, 3, 4, 5, 6]
    assert table.macs.is_monotonic_increasing and table.params.is_monotonic_increasing
    slope, _ = v2.linear_fit(table.t, table.macs)
    residual = table.macs - np.polyval(np.polyfit(table.t, table.macs, 1), table.t)
    assert np.abs(residual).max() < 0.01 * table.macs.max()
    assert slope > 0
    assert table.loc[table.t == 6, "macs"].item() == analyze(mnlab.create_model("mobilenet_v2").eval(), 224).totals["macs"]
    assert "latency_ms" not in table
    fig = v2_plots.plot_expansion_sweep(table)
    assert len(fig.axes) == 3


def test_expansion_latency():
    table = v2.expansion_latency((2, 3), 64, backend="eager", rounds=1, budget_s=0.01)
    assert list(table.t) == [2, 3]
    assert (table.latency_ms > 0).all() and (table.best_ms <= table.latency_ms).all()
    fig = v2_plots.plot_expansion_sweep(v2.expansion_sweep((2, 3), 64).merge(table, on="t"), shade=(2, 3))
    assert len(fig.axes) == 4 and "t = 2…3" in fig._suptitle.get_text()


def test_table3_comparison_sets_paper_beside_ours():
    table = v2_memory.table3_comparison()
    assert len(table) == 12 and set(table.model) == {"mobilenet_v1", "mobilenet_v2"}
    v1 = table[table.model == "mobilenet_v1"]
    assert (v1["paper channels"] == v1.channels).all()


def test_one_seed_reproduces_the_stored_ablation():
    """Seed 0 of the linear bottleneck, trained again (on whatever kernels this run uses), ends
    within stated tolerances of the stored run the chapter reads.

    Training is deterministic on one CPU; another CPU's kernels round differently and training
    takes a slightly different path. Measured between such paths before the ablation moved to
    :mod:`mnlab.training`'s split (Intel Xeon against AMD EPYC, 20 runs; AVX-512 against AVX2
    and baseline kernels on one CPU, 8 runs): final test accuracy within 7 test images, final
    training loss within 5.3%. Tolerance: 9 of the split's 450 test images (2.0 points) and 15%."""
    stored = v2.stored_ablation(v2.ABLATION_CSV, False)
    stored = stored[(stored.variant == "linear bottleneck") & (stored.seed == 0)].set_index("epoch")
    data = digits()
    again = v2.train_variant("linear bottleneck", 0, data).set_index("epoch")
    last = again.index.max()
    assert last == stored.index.max() == v2.ABLATION_TRAINING["epochs"]
    assert abs(again.test_acc[last] - stored.test_acc[last]) <= 100 * 9 / len(data.y_test)
    assert abs(again.train_loss[last] / stored.train_loss[last] - 1) <= 0.15
    assert again.test_acc[last] > 95   # and it did learn the digits


def test_claims_hold_on_the_chapter_results(model):
    """The chapter's claims from its counts and the stored ablation: every must-hold claim holds."""
    results = {"totals": v2.network_totals(), "costs": v2.block_costs(model), "arch": v2.architecture_table(model),
               "table3": v2_memory.table3_comparison(),
               "peaks": v2_memory.peak_memory(v2_memory.memory_models()),
               "manifold": v2.relu_manifold(dims=(2, 3, 15, 30), trials=5, seed=0),
               "ablation": v2.ablation_summary(v2.stored_ablation(v2.ABLATION_CSV, False))}
    claims = v2.claims(results)
    assert len(claims) == 16 and not [c.what for c in claims if c.must_hold and not c.holds]
    relu6 = next(c for c in claims if c.what.startswith("Figure 6a"))
    assert not relu6.must_hold and relu6.evidence.name == "PROXY"


def test_claims_timing_rows_follow_the_thresholds():
    latency = pd.DataFrame({"onnxruntime_ms": [10.0, 8.0, 12.0], "eager_ms": [20.0, 21.0, 30.0]},
                           index=["MobileNetV1", "MobileNetV2", "MobileNetV2 (1.4)"])
    for b in ("onnxruntime", "eager"):
        latency[f"{b}_vs_v1"] = latency[f"{b}_ms"] / latency[f"{b}_ms"].iloc[0]
    rows = v2._timing_claims(latency)
    assert [c.holds for c in rows] == [True, True]
    latency.loc["MobileNetV2 (1.4)", "onnxruntime_ms"] = 9.0   # 1.125× V2: below the 1.2 margin
    assert v2._timing_claims(latency)[1].holds is False
