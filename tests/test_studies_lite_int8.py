"""mnlab.studies.lite_int8: real int8 on ONNX Runtime — ranges read back, per-tensor weights, the study."""
import pathlib

import numpy as np
import onnx
import pandas as pd
import pytest
import torch
from onnx import numpy_helper
from torch import nn

from mnlab.analysis import deploy, quantize, runtimes
from mnlab.claims import Evidence
from mnlab.models import toys
from mnlab.models.layers import SqueezeExcite
from mnlab.studies import lite, lite_int8

pytest.importorskip("onnxruntime")

STORED = pathlib.Path(__file__).parents[1] / "chapters" / "data" / "lite_int8"


def _net(activation, seed=0, **kwargs):
    torch.manual_seed(seed)
    return toys.digits_net(activation, width=4, **kwargs).eval()


def _calibration(n=16):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(3))


def test_digits_net_squeeze_excite_is_additive():
    plain, same = _net(nn.ReLU6), _net(nn.ReLU6, squeeze_excite=False)
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), same.state_dict().values()))
    se = _net(nn.SiLU, squeeze_excite=True)
    gates = [m for m in se.modules() if isinstance(m, SqueezeExcite)]
    assert len(gates) == 3 and [g.reduce.out_channels for g in gates] == [1, 2, 4]   # a quarter of 4, 8, 16
    assert se(torch.rand(2, 1, 8, 8)).shape == (2, 10)


def test_calibrated_ranges_are_the_float_models_observed_ranges():
    """ORT's MinMax calibration, read back from the QDQ graph, equals the range the float model
    takes on the same images (our own observer), widened to 0, within one int8 step."""
    model, calib = _net(nn.SiLU), _calibration()
    runner = deploy(model, (1, 1, 8, 8), backend="onnxruntime-int8", calibration=calib)
    ort = quantize.calibrated_ranges(runner, model)
    assert ort.iloc[0].op == "input" and ort.iloc[0].lo == 0
    assert ort.iloc[0].hi == pytest.approx(float(calib.max()), rel=1e-5)
    ours = quantize.activation_ranges(model, calib).set_index("name")
    swish_outputs = ort[ort.op == "Mul"]
    assert len(swish_outputs) == 7
    for row in swish_outputs.itertuples():
        lo, hi = min(ours.loc[row.module, "lo"], 0.0), max(ours.loc[row.module, "hi"], 0.0)
        assert abs(row.hi - hi) <= row.scale and abs(row.lo - lo) <= row.scale, row.module


def test_relu6_is_folded_into_the_conv_output_range():
    model = _net(nn.ReLU6)
    ort = quantize.calibrated_ranges(deploy(model, (1, 1, 8, 8), backend="onnxruntime-int8",
                                            calibration=_calibration()), model)
    convs = ort[ort.op == "Conv"]
    assert len(convs) == 7 and "Clip" not in set(ort.op)   # no tensor of its own after a ReLU6
    assert (convs.lo == 0).all() and (convs.hi <= 6 * (1 + 1e-6)).all()
    with pytest.raises(ValueError, match="onnxruntime-int8"):
        quantize.calibrated_ranges(model)


def _weight_scales(path):
    graph = onnx.load(str(path)).graph
    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    return [constants[n.input[1]] for n in graph.node
            if n.op_type == "DequantizeLinear" and n.input[0] in constants and constants[n.input[0]].dtype == np.int8]


def test_per_tensor_weights_have_one_scale_per_tensor():
    model, calib = _net(nn.ReLU6), _calibration()
    channel = deploy(model, (1, 1, 8, 8), backend="onnxruntime-int8", calibration=calib)
    tensor = deploy(model, (1, 1, 8, 8), backend="onnxruntime-int8", calibration=calib, per_channel=False)
    assert channel.artefact != tensor.artefact and "per-tensor" in tensor.calibration
    assert all(s.size == 1 for s in _weight_scales(tensor.artefact))
    assert any(s.size > 1 for s in _weight_scales(channel.artefact))
    with pytest.raises(ValueError, match="per_channel"):
        deploy(model, (1, 1, 8, 8), backend="onnxruntime", per_channel=False)
    with pytest.raises(ValueError, match="per_channel"):
        deploy(model, (1, 1, 8, 8), backend="onnxruntime-int8", per_channel="no")


def test_int8_isa_names_the_instructions():
    assert runtimes.int8_isa() in {"AVX-512 VNNI", "AVX-VNNI", "AVX-512 (no VNNI)", "AVX2 (no VNNI)", "unknown"}


def test_tiny_digits_study_is_well_formed():
    results, ranges = lite_int8.digits_int8_study(seeds=(0,), epochs=1, width=4, calibration_size=32)
    assert len(results) == 3 * 2 and set(results.weights) == set(lite_int8.WEIGHTS)
    assert list(results.variant.unique()) == list(lite_int8.INT8_VARIANTS)
    assert (results["drop"] == results.float_acc - results.int8_acc).all()
    assert ((results.flipped >= 0) & (results.flipped <= 450)).all()
    widths = lite_int8.range_widths(ranges).set_index("variant")
    assert widths.widest_activation["ReLU6 (Lite)"] <= 6 * (1 + 1e-6)
    # SE adds a pool, a reduce, a swish, an expand, a gate and a product per block: more int8 tensors
    assert widths.int8_tensors["ReLU6 (Lite)"] < widths.int8_tensors["swish"] < widths.int8_tensors["SE + swish (B0)"]


def test_range_widths_and_accuracy_table_by_hand():
    ranges = pd.DataFrame({"variant": ["A"] * 4, "op": ["input", "Conv", "Mul", "Gemm"],
                           "lo": [-5.0, 0.0, -0.3, -20.0], "hi": [5.0, 4.0, 8.0, 10.0]})
    w = lite_int8.range_widths(ranges).iloc[0]
    assert w.int8_tensors == 4 and w.widest == 30 and w.widest_activation == pytest.approx(8.3)
    assert w.activation_step == pytest.approx(8.3 / 255)
    rows = [{"variant": v, "seed": s, "weights": wt, "float_acc": 90.0, "int8_acc": 90.0 - s - (wt == "per-tensor"),
             "drop": s + (wt == "per-tensor"), "logit_error": 0.01} for v in lite_int8.INT8_VARIANTS
            for s in (0, 1) for wt in lite_int8.WEIGHTS]
    table = lite_int8.accuracy_table(pd.DataFrame(rows)).set_index("variant")
    assert list(table.index) == list(lite_int8.INT8_VARIANTS)
    assert (table["int8_acc (per-channel)"] == 89.5).all() and (table["drop_max (per-tensor)"] == 2).all()


def _timed(speedup):
    return pd.DataFrame({"variant": list(lite_int8.INT8_VARIANTS), "fp32_ms": 10.0, "int8_ms": 10.0 / speedup,
                         "speedup": speedup, "int8_isa": "AVX-512 VNNI"})


def test_claims_on_the_stored_study():
    study = lite_int8.stored_int8_study(str(STORED), False)
    claims = lite_int8.claims(study, _timed(2.0))
    assert len(claims) == 6
    by_what = {c.what: c for c in claims}
    assert by_what["ReLU6 networks survive real int8 (ONNX Runtime)"].holds
    assert by_what["the runtime's calibrated ranges: ReLU6 capped at 6, swish not"].holds
    timing = by_what["int8 runs faster than fp32"]
    assert timing.holds and timing.evidence is Evidence.TIMING and not timing.must_hold
    assert "AVX-512 VNNI" in timing.machine
    slower = {c.what: c for c in lite_int8.claims(study, _timed(0.9))}
    assert not slower["int8 runs faster than fp32"].holds


def test_blog_collapse_from_the_published_figures():
    blog = lite_int8.blog_collapse()
    assert blog["range"] == (-168.0, 204.0) and blog["step"] == pytest.approx(372 / 255)
    assert blog["float_top1"] - blog["int8_top1"] > 20 > max(lite.readme_int8_drops())


def test_stored_study_refuses_another_set_of_seeds():
    with pytest.raises(ValueError, match="remeasure"):
        lite_int8.stored_int8_study(str(STORED), False, seeds=(0, 1))


def test_one_seed_reproduces_the_stored_study():
    """Seed 0 of every variant, trained again and run again on ORT's int8 kernels, against the
    stored figures. Training follows this CPU's float kernels (3 of 450 test images apart
    between AVX-512 and AVX2 paths in the fake-quantization study), and ORT's U8S8 int8 kernels
    differ between CPUs with VNNI and without (where ``vpmaddubsw`` can saturate): a few test
    images may flip. Tolerances: float and int8 accuracy within 1.5 points (7 images), logit
    error within 0.015 (it is 0.013-0.035), the number of int8 tensors exact, the widest
    calibrated activation range within 5%; the directions the claims rest on must hold here."""
    stored = lite_int8.stored_int8_study(str(STORED), False)
    results, ranges = lite_int8.digits_int8_study(seeds=(0,))
    keys = ["variant", "seed", "weights"]
    both = stored.digits.merge(results, on=keys, suffixes=("_stored", "_again"))
    assert len(both) == 6
    for column, tolerance in [("float_acc", 1.5), ("int8_acc", 1.5), ("logit_error", 0.015)]:
        assert (both[f"{column}_again"] - both[f"{column}_stored"]).abs().max() <= tolerance, column
    again = lite_int8.range_widths(ranges).set_index("variant")
    kept = lite_int8.range_widths(stored.digits_ranges).set_index("variant")
    assert (again.int8_tensors == kept.int8_tensors).all()
    assert ((again.widest_activation / kept.widest_activation - 1).abs() <= 0.05).all()
    assert again.widest_activation["ReLU6 (Lite)"] <= 6 * (1 + 1e-6) < again.widest_activation["swish"]
    assert results[results.variant == "ReLU6 (Lite)"]["drop"].max() <= max(lite.readme_int8_drops())


def test_int8_ranges_figure_reads_the_stored_csv():
    from mnlab.plots import lite as lite_plots
    fig = lite_plots.FIGURES["lite_int8_ranges"]()
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.get_legend().get_texts()) == len(lite_int8.INT8_VARIANTS) + 1


def test_deploy_tolerance_replaces_the_bound_of_the_build_check():
    model, calib = _net(nn.SiLU), _calibration()
    runner = deploy(model, (1, 1, 8, 8), backend="onnxruntime-int8", calibration=calib, tolerance=10.0)
    assert runner.tolerance == 10.0 and 0 < runner.error
    with pytest.raises(RuntimeError, match="disagrees"):
        deploy(model, (1, 1, 8, 8), backend="onnxruntime-int8", calibration=calib, tolerance=runner.error / 2)
    with pytest.raises(ValueError, match="tolerance"):
        deploy(model, (1, 1, 8, 8), backend="onnxruntime-int8", calibration=calib, tolerance=0)
