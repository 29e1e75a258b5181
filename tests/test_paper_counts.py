"""The analyzers against the papers' printed figures (mnlab.papers), through mnlab.claims.

Each figure must be reproduced within 1% or the rounding of the printed figure (MobileNetV1),
within 3% (the other families), or the test asserts the documented gap itself, with its reason:
a gap that changes, in either direction, fails the test.
"""
import pytest

import mnlab
from mnlab.analysis import analyze, block_memory_table
from mnlab.claims import compare
from mnlab.papers import figure

V1 = "mobilenet_v1"


def totals(name: str, resolution: int | None = None, **kwargs):
    model = mnlab.create_model(name, **kwargs).eval()
    if name.startswith("mobileone"):
        model = mnlab.reparameterize(model)
    return analyze(model, resolution or mnlab.default_resolution(name)).totals


@pytest.mark.parametrize("alpha", ["1.0", "0.75", "0.5", "0.25"])
def test_v1_table6_width_multiplier(alpha):
    t = totals(V1, 224, width_mult=float(alpha))
    assert compare(f"{V1}/table6/{alpha}/madds", t["macs"]).holds
    assert compare(f"{V1}/table6/{alpha}/params", t["params"]).holds


@pytest.mark.parametrize("resolution", [224, 192, 160, 128])
def test_v1_table7_resolution_multiplier(resolution):
    t = totals(V1, resolution)
    assert compare(f"{V1}/table7/{resolution}/madds", t["macs"]).holds
    assert compare(f"{V1}/table7/{resolution}/params", t["params"]).holds


def test_v1_tables_4_and_5_baselines():
    conv, shallow, thin = totals("conv_mobilenet_v1"), totals("shallow_mobilenet_v1"), totals(V1, width_mult=0.75)
    assert compare(f"{V1}/table4/conv_mobilenet/madds", conv["macs"]).holds
    assert compare(f"{V1}/table4/conv_mobilenet/params", conv["params"]).holds
    assert compare(f"{V1}/table5/shallow/madds", shallow["macs"]).holds
    assert compare(f"{V1}/table5/shallow/params", shallow["params"]).holds
    assert compare(f"{V1}/table5/0.75/madds", thin["macs"]).holds


def test_v1_tf_slim_conv_only_counts_exactly():
    report = analyze(mnlab.create_model(V1).eval(), 224)
    convs = report.layers[report.layers.kind.str.startswith(("conv", "depthwise"))]
    assert convs.macs.sum() == figure(f"{V1}/tf_slim/macs").value
    assert convs.params.sum() == figure(f"{V1}/tf_slim/params").value


def test_v1_table2_resource_split():
    """Percentages over the weight layers (conv + FC), the paper's basis: its four rows sum to 100%.

    Documented gap: the paper prints 1.19% of Mult-Adds for the first full 3×3 conv; counting it
    gives 112·112·32·27 = 10.8M of 568.7M = 1.91% (and 94.86 + 3.06 + 1.19 + 0.18 = 99.29, not
    100, so the printed row does not add up either). Every other cell is reproduced.
    """
    split = analyze(mnlab.create_model(V1).eval(), 224).by_kind(weight_layers_only=True)
    for kind in ["conv 1×1", "depthwise 3×3", "linear"]:
        assert compare(f"{V1}/table2/{kind}/madds_pct", split.loc[kind, "macs_pct"], tolerance=0.01).holds, kind
        assert compare(f"{V1}/table2/{kind}/params_pct", split.loc[kind, "params_pct"], tolerance=0.01).holds, kind
    assert compare(f"{V1}/table2/conv 3×3/params_pct", split.loc["conv 3×3", "params_pct"]).holds
    first = compare(f"{V1}/table2/conv 3×3/madds_pct", split.loc["conv 3×3", "macs_pct"])
    assert not first.holds and split.loc["conv 3×3", "macs_pct"] == pytest.approx(100 * 10_838_016 / 568_740_352)


def test_mobilenet_v2_headline_counts():
    t, wide = totals("mobilenet_v2"), totals("mobilenet_v2", width_mult=1.4)
    assert compare("mobilenet_v2/1.0/madds", t["macs"], tolerance=0.03).holds
    assert compare("mobilenet_v2/1.4/madds", wide["macs"], tolerance=0.03).holds


def test_mobilenet_v2_140_params_documented_gap():
    """Width 1.4 counts 582M Mult-Adds (paper 585M) but 6.11M parameters — torchvision's exact
    count for the same architecture, head widened to 1792 — against a printed 6.9M (−11%).
    No configuration of Table 2 we tried gives 6.9M; the gap is asserted so a change shows."""
    wide = totals("mobilenet_v2", width_mult=1.4)
    assert -0.12 < wide["params"] / figure("mobilenet_v2/1.4/params").value - 1 < -0.11


def test_mobilenet_v2_params_documented_gap():
    """3,504,872 parameters (torchvision's exact count) is 3.1% above the printed 3.4M. Without
    BatchNorm's γ/β the weights number 3.47M (+2.1%): the paper's figure is the weight count,
    rounded down. The gap is asserted, so a change to the model shows."""
    report = analyze(mnlab.create_model("mobilenet_v2").eval(), 224)
    weights = report.layers[report.layers.kind != "batchnorm"].params.sum()
    assert 0.03 < report.totals["params"] / figure("mobilenet_v2/1.0/params").value - 1 < 0.032
    assert compare("mobilenet_v2/1.0/params", weights, tolerance=0.03).holds


def test_mobilenet_v3_table3_and_table9():
    large, small = totals("mobilenet_v3_large"), totals("mobilenet_v3_small")
    for key in ["mobilenet_v3/table3/large_1.0/madds", "mobilenet_v3/table9/large_1.0/madds"]:
        assert compare(key, large["macs"], tolerance=0.03).holds
    for key in ["mobilenet_v3/table3/small_1.0/madds", "mobilenet_v3/table9/small_1.0/madds"]:
        assert compare(key, small["macs"], tolerance=0.03).holds
    assert compare("mobilenet_v3/table3/large_1.0/params", large["params"], tolerance=0.03).holds
    assert compare("mobilenet_v3/table3/small_1.0/params", small["params"], tolerance=0.03).holds


def test_mobilenet_v3_075_documented_gap():
    """Params of the 0.75 models agree (head kept at 1280/1024, TF's rule), but Mult-Adds come out
    9% (Large) and 10% (Small) below the paper. Our widths scale every expansion size by α
    (torchvision's rule); TF's release expands the *rounded* input by a factor, which gives wider
    expansions at α < 1. Rebuilt with TF's rule the counts match Table 3 (last assertions)."""
    large, small = totals("mobilenet_v3_large", width_mult=0.75), totals("mobilenet_v3_small", width_mult=0.75)
    assert compare("mobilenet_v3/table3/large_0.75/params", large["params"], tolerance=0.03).holds
    assert compare("mobilenet_v3/table3/small_0.75/params", small["params"], tolerance=0.03).holds
    gap_large = large["macs"] / figure("mobilenet_v3/table3/large_0.75/madds").value - 1
    gap_small = small["macs"] / figure("mobilenet_v3/table3/small_0.75/madds").value - 1
    assert -0.11 < gap_large < -0.08
    assert -0.12 < gap_small < -0.09
    from mnlab.studies.v3 import tf_widths_model
    for network, key in [("large", "large_0.75"), ("small", "small_0.75")]:
        tf_rule = analyze(tf_widths_model(network, width_mult=0.75).eval(), 224).totals
        assert compare(f"mobilenet_v3/table3/{key}/madds", tf_rule["macs"], tolerance=0.03).holds


@pytest.mark.parametrize("i", range(5))
def test_efficientnet_lite_documented_gap(i):
    """Parameters agree with the Lite README within its rounding; Mult-Adds come out 3–6% below
    its figures at every size (385M vs 407M for Lite0), although our conv + linear count equals
    fvcore's exactly. Adding every other op the network runs (BatchNorm at two per element,
    activations, residual adds, pooling) as if it were a multiply-add lands within 1% below the
    README at every size: consistent with a tool that counts all of them. Both gaps are
    asserted, so a change to the model or the counter shows."""
    model = mnlab.create_model(f"efficientnet_lite{i}").eval()
    t = analyze(model, mnlab.default_resolution(f"efficientnet_lite{i}")).totals
    readme = figure(f"efficientnet_lite/lite{i}/madds").value
    assert compare(f"efficientnet_lite/lite{i}/params", t["params"]).holds
    assert -0.06 < t["macs"] / readme - 1 < -0.03
    assert -0.01 < (t["macs"] + t["ops"]) / readme - 1 < 0.0


@pytest.mark.parametrize("i", range(5))
def test_mobileone_reparameterized_counts(i):
    t = totals(f"mobileone_s{i}")
    assert compare(f"mobileone/s{i}/madds", t["macs"], tolerance=0.03).holds
    assert compare(f"mobileone/s{i}/params", t["params"], tolerance=0.03).holds


def _bottleneck_memory(name: str, first_block: int):
    """MobileNetV2 Table 3's view: the tensors between blocks (from ``first_block`` on: V2's
    stem output is the expansion of its first bottleneck and is not counted) and the pooled one."""
    model = mnlab.create_model(name).eval()
    blocks = [f"features.{i}" for i in range(first_block, len(model.features))] + ["classifier.pool"]
    if name == "mobilenet_v2":
        blocks.remove(f"features.{len(model.features) - 1}")   # the 1280-wide 1×1 conv is not a bottleneck
    return block_memory_table(model, 224, blocks=blocks, dtype_bytes=2)


def test_mobilenet_v2_table3_memory_maxima():
    v1, v2 = _bottleneck_memory("mobilenet_v1", 0), _bottleneck_memory("mobilenet_v2", 1)
    assert compare("mobilenet_v2/table3/mobilenet_v1/max_memory_kb", v1.max_kb).holds
    assert compare("mobilenet_v2/table3/mobilenet_v2/max_memory_kb", v2.max_kb).holds


def test_mobilenet_v2_table3_rows_documented_shift():
    """The maxima agree, but three of the paper's V2 rows list the width of the stage that *starts*
    at a resolution with a stride 2 (32 at 56², 64 at 28², 160 at 14²), while the tensors that
    live at those resolutions are 24, 32 and 96 wide (Table 2). Rows 112², 7² and 1² agree; V1's
    rows agree except 7², where the paper prints 199 KB for a 7·7·1024·2 B = 100 KB tensor."""
    v2 = _bottleneck_memory("mobilenet_v2", 1).table.set_index("height")
    paper = {side: figure(f"mobilenet_v2/table3/mobilenet_v2/{side}/channels").value
             for side in [112, 56, 28, 14, 7, 1]}
    assert {side: v2.loc[side, "channels"] for side in paper} == {
        112: paper[112], 56: 24, 28: 32, 14: 96, 7: paper[7], 1: paper[1]}
    assert (paper[56], paper[28], paper[14]) == (32, 64, 160)
    v1 = _bottleneck_memory("mobilenet_v1", 0).table.set_index("height")
    for side in [112, 56, 28, 14, 1]:
        assert compare(f"mobilenet_v2/table3/mobilenet_v1/{side}/memory_kb", v1.loc[side, "memory_kb"]).holds
    assert v1.loc[7, "memory_kb"] == pytest.approx(100.352)
