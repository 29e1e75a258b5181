"""mnlab.studies.v3: the MobileNetV3 chapter's spec tables, width rule, activations, SE share,
and the redesigned last stage and stem."""
import math

import pandas as pd
import pytest
import torch

import mnlab
from mnlab.analysis import analyze
from mnlab.claims import compare
from mnlab.models.mobilenet_v3 import LARGE, SMALL
from mnlab.plots import v3 as v3_plots
from mnlab.studies import v3, v3_deployed


@pytest.mark.parametrize("name,rows,last", [("mobilenet_v3_large", LARGE, ["1² × 960", "conv2d 1×1, NBN", "1280"]),
                                            ("mobilenet_v3_small", SMALL, ["1² × 576", "conv2d 1×1, NBN", "1024"])])
def test_spec_table_is_the_papers_table(name, rows, last):
    table = v3.spec_table(mnlab.create_model(name).eval())
    assert v3.spec_rows(table) == rows
    assert table.iloc[0].tolist() == ["224² × 3", "conv2d", "-", "16", "", "HS", "2"]
    assert table.iloc[-2][["Input", "Operator", "#out"]].tolist() == last
    assert table.iloc[-3].Operator == "pool, 7×7"


def test_tf_width_rule_is_the_same_network_at_width_1():
    for network, (rows, head) in v3.NETWORKS.items():
        ours = mnlab.models.build_mobilenet_v3(rows, head)
        tf = v3.tf_widths_model(network)
        assert [p.shape for p in ours.parameters()] == [p.shape for p in tf.parameters()]


def test_tf_width_rule_reproduces_table_3_at_075():
    counts = v3.count_table().set_index(["network", "width"])
    for network in ("large", "small"):
        row = counts.loc[(network, 0.75)]
        assert compare(f"mobilenet_v3/table3/{network}_0.75/madds", row.macs_tf_rule, tolerance=0.03).holds
        assert compare(f"mobilenet_v3/table3/{network}_0.75/params", row.params_tf_rule, tolerance=0.03).holds
        assert not compare(f"mobilenet_v3/table3/{network}_0.75/madds", row.macs, tolerance=0.03).holds
        assert row.macs_tf_rule > row.macs


def test_tf_widths_model_rejects_bad_input():
    with pytest.raises(ValueError, match="network"):
        v3.tf_widths_model("medium")
    with pytest.raises(ValueError, match="width_mult"):
        v3.tf_widths_model("large", 0)


def test_activation_curves_and_gaps():
    curves = v3.activation_curves()
    assert curves.x.iloc[600] == 0 and curves["h-swish"].iloc[600] == 0
    gaps = v3.activation_gaps(curves)
    # h-swish is exact at x ≤ -3 (0) and x ≥ 3 (x); its largest gap to swish is at x = -3,
    # where swish(-3) = -3·σ(-3) = -0.142
    assert gaps.loc["h-swish vs swish", "at_x"] == pytest.approx(-3.0)
    assert gaps.loc["h-swish vs swish", "max_abs_diff"] == pytest.approx(3 / (1 + math.e ** 3), rel=1e-9)
    assert gaps.loc["h-sigmoid vs sigmoid", "max_abs_diff"] < 0.08
    assert len(v3_plots.plot_activations(curves).axes) == 2


def test_activation_modules_compute_what_they_say():
    x = torch.linspace(-6, 6, 101)
    mods = v3.activation_modules()
    torch.testing.assert_close(mods["h-swish (composed)"](x), mods["h-swish"](x))
    torch.testing.assert_close(mods["swish (composed)"](x), mods["swish"](x))
    assert set(mods) >= {"ReLU", "h-swish", "swish", "sigmoid", "h-sigmoid"}


def test_composed_activations_deploy_on_onnxruntime_each_as_itself(tmp_path, monkeypatch):
    """The two composed activations have no weights; with the same repr they once shared one
    cached ONNX artefact, and the composed swish, deployed after the h-swish, ran the h-swish's
    graph (relative error 3e-2 = max|h-swish − swish| / max|swish|). Each now deploys as itself,
    within the fp32 bound, and ORT fuses the composed swish into the kernel SiLU's export runs."""
    from mnlab.analysis import deploy
    monkeypatch.setenv("MNLAB_CACHE_DIR", str(tmp_path))
    mods = v3.activation_modules()
    assert repr(mods["swish (composed)"]) != repr(mods["h-swish (composed)"])
    shape = (1, 4, 8, 8)
    runners = {k: deploy(mods[k], shape, backend="onnxruntime") for k in ("h-swish (composed)", "swish (composed)")}
    assert runners["h-swish (composed)"].artefact != runners["swish (composed)"].artefact
    assert all(r.error <= 1e-4 for r in runners.values())
    assert v3_deployed.ort_kernels(mods["swish (composed)"], shape) == v3_deployed.ort_kernels(mods["swish"], shape)
    assert v3_deployed.ort_kernels(mods["h-swish (composed)"], shape) != v3_deployed.ort_kernels(mods["h-swish"], shape)


def test_largest_activation_input():
    model = mnlab.create_model("mobilenet_v3_large")
    assert v3.largest_activation_input(model) == (1, 16, 112, 112)   # the h-swish stem
    with pytest.raises(ValueError, match="silu"):
        v3.largest_activation_input(model, "silu")


def test_se_counts_and_removal():
    model = mnlab.create_model("mobilenet_v3_large").eval()
    counts = v3.se_counts(model)
    plain = analyze(v3.without_se("large"), 224).totals
    full = analyze(model, 224).totals
    assert counts["se_modules"] == sum(r.se for r in LARGE)
    assert counts["params"] == full["params"] - plain["params"]
    assert counts["macs"] == full["macs"] - plain["macs"]
    assert 0.2 < counts["params_share"] < 0.35 and counts["macs_share"] < 0.01


def test_original_last_stage_is_figure_5():
    models = v3.last_stage_models()
    costs = v3.cost_table(models)
    saved = costs.macs_minus_first   # what the efficient stage saves
    # dw 3×3 on 960 + projection 960→320 + 320→1280 at 7×7, minus the 960→1280 on the pooled vector
    assert saved["original (Fig. 5)"] == 49 * 960 * 9 + 49 * 960 * 320 + 49 * 320 * 1280 - 960 * 1280
    diff = v3.block_diff(models["efficient (V3)"], models["original (Fig. 5)"])
    assert diff.difference.sum() == saved["original (Fig. 5)"]
    assert set(diff.block) == {"features.17", "features.18", "features.19", "classifier"}
    with torch.no_grad():
        assert models["original (Fig. 5)"](torch.zeros(1, 3, 64, 64)).shape == (1, 1000)


@pytest.mark.parametrize("network", ["large", "small"])
def test_figure5_hand_count_is_what_the_models_differ_by(network):
    """The hand count of Figure 5's two stages against the counter on the two built networks:
    the efficient stage removes Mult-Adds and adds parameters (its 960 → 1280 layer is wider
    than the 320 → 1280 one it replaces)."""
    hand = v3.figure5_counts(network)
    efficient, original = v3.NETWORKS[network][0], v3.original_last_stage(network)
    costs = v3.cost_table({"efficient": mnlab.models.build_mobilenet_v3(*v3.NETWORKS[network]), "original": original})
    assert hand.macs.iloc[0] - hand.macs.iloc[1] == costs.macs_minus_first["original"] > 0
    assert hand.params.iloc[0] - hand.params.iloc[1] == costs.params_minus_first["original"] < 0
    if network == "large":   # chapter 4's exercise, by hand: 44,352,960 against 10,035,200 MACs
        assert hand.macs.tolist() == [44_352_960, 10_035_200]


def test_stem_models_differ_in_the_first_two_blocks():
    models = v3.stem_models()
    diff = v3.block_diff(*models.values())
    assert list(diff.block) == ["features.0", "features.1"]
    assert diff.difference[0] == 112 * 112 * 27 * 16   # 16 more 3×3×3 filters at 112²


def test_width_models():
    assert list(v3.width_models()) == ["large 1.0", "large 0.75", "small 1.0", "small 0.75"]


def test_ratio_words_reads_a_ratio_with_its_margin():
    assert [v3_deployed.ratio_words(r) for r in (0.5, 0.95, 1.05, 1.2)] == ["cheaper than", "about as fast as",
                                                                   "about as fast as", "slower than"]
    assert v3_deployed.ratio_words(0.95, margin=0.01) == "cheaper than"
    with pytest.raises(ValueError, match="ratio"):
        v3_deployed.ratio_words(0)


def _fake_times():
    names = list(v3.redesign_models())
    ort = {n: 10.0 for n in names} | {"V3-Large without SE": 8.0, "original last stage (Fig. 5)": 12.5,
                                       "V3-Small 1.0": 4.0}
    times = pd.DataFrame({"onnxruntime_ms": ort})
    times["onnxruntime_vs_first"] = times.onnxruntime_ms / times.onnxruntime_ms.iloc[0]
    return times


def test_timing_findings_and_claims_follow_the_thresholds():
    large = mnlab.create_model("mobilenet_v3_large").eval()
    se = v3.se_counts(large)
    found = v3_deployed.timing_findings(_fake_times(), "onnxruntime", se, 0.5)
    assert found["se_time_share"] == pytest.approx(0.2) and found["stage_time_saved"] == pytest.approx(0.2)
    assert found["se_time_vs_bytes"] == pytest.approx(0.2 / se["bytes_share"])
    acts = pd.DataFrame({"onnxruntime_ms": {"h-swish": 1.0, "swish": 1.2}})
    rows = {c.what: c for c in v3._timing_claims({"activations": acts, "findings": found, "se": se})}
    assert rows["h-swish is cheaper than swish"].holds and rows["Small faster than Large"].holds
    assert not rows["SE at 1/4 of the expansion: no discernible latency cost"].holds
    assert rows["SE costs time beyond its arithmetic"].holds and not rows["SE costs time beyond its arithmetic"].must_hold
    assert not rows["Efficient last stage is faster"].must_hold   # a timing finding, not a large effect
    assert rows["Small faster than Large"].must_hold


def test_claims_hold_on_the_counts():
    large, small = mnlab.create_model("mobilenet_v3_large").eval(), mnlab.create_model("mobilenet_v3_small").eval()
    stages, stems = v3.last_stage_models(), v3.stem_models()
    results = {"large_table": v3.spec_table(large), "small_table": v3.spec_table(small),
               "counts": v3.count_comparison(), "gaps": v3.activation_gaps(v3.activation_curves()),
               "stage_saved": v3.cost_table(stages).macs_minus_first["original (Fig. 5)"],
               "stem_saved": int(v3.block_diff(*stems.values()).difference.sum())}
    claims = v3.claims(results)
    assert len(claims) == 17 and not [c.what for c in claims if c.must_hold and not c.holds]
    stage = {c.what: c for c in claims}["Efficient last stage removes Mult-Adds"]
    assert stage.must_hold and stage.evidence.value == "count"
    wrong = v3.claims(results | {"stage_saved": results["stage_saved"] - 1})
    assert not {c.what: c for c in wrong}["Efficient last stage removes Mult-Adds"].holds


def test_ort_graph_of_se_has_layout_conversions_around_the_rescale(tmp_path, monkeypatch):
    """ORT's optimized graph (a count): every SE's rescaling Mul runs in plain NCHW, with the
    tensor converted out of the blocked layout before it and back after it; without SE the only
    conversion left is before the final pool. Residual adds and BN are fused into the convs."""
    monkeypatch.setenv("MNLAB_CACHE_DIR", str(tmp_path))
    se = sum(r.se for r in LARGE)
    counts = v3_deployed.ort_op_counts({"SE": mnlab.create_model("mobilenet_v3_large").eval(),
                                        "no SE": v3.without_se("large").eval()}, 64)
    assert "Add" not in counts.index and "BatchNormalization" not in counts.index
    assert counts.loc["Mul", "SE"] == se + 1 and counts.loc["Mul", "no SE"] == 1   # + the head's h-swish
    assert counts.loc["ReorderInput", "SE"] >= se and counts.loc["ReorderOutput", "SE"] >= 2 * se
    assert counts.loc[list(v3_deployed.REORDERS), "no SE"].sum() == 1
    assert list(counts.columns) == ["SE", "no SE"] and counts.index.name == "op type"


def test_ort_time_parts_add_up_to_the_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("MNLAB_CACHE_DIR", str(tmp_path))
    parts = v3_deployed.ort_time_parts({"SE": mnlab.create_model("mobilenet_v3_small").eval(),
                                        "no SE": v3.without_se("small").eval()}, 64, runs=3)
    assert list(parts.index) == ["layout conversions (Reorder)", "SE 1×1 convolutions", "SE pool and rescale",
                                 "everything else"]
    assert (parts["SE"] > 0).all()
    assert parts.loc[["SE 1×1 convolutions", "SE pool and rescale"], "no SE"].eq(0).all()
