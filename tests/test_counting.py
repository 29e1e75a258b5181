"""mnlab.analysis.counting: hand-computed single layers, switches, the model left untouched,
bad input, the ShuffleNetV2 G1 bound, and agreement with fvcore on every registry model."""
import logging
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.modules import module as module_hooks

from mnlab.analysis import COLUMNS, analyze
from mnlab.models import create_model, default_resolution, list_models


def only(report, **conditions):
    """The single row of ``report.layers`` matching ``column=value`` conditions."""
    rows = report.layers
    for column, value in conditions.items():
        rows = rows[rows[column] == value]
    assert len(rows) == 1, rows
    return rows.iloc[0]


# ---- hand-computed single layers -------------------------------------------------------------

def test_standard_3x3_conv():
    # MobileNetV1's first layer: 3 × 3 × 3 × 32, stride 2, 224 → 112.
    conv = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
    report = analyze(conv, 224)
    row = only(report, op="conv2d")
    assert row["kind"] == "conv 3×3"
    assert row["macs"] == 112 * 112 * 32 * 3 * 3 * 3 == 10_838_016
    assert row["flops"] == 2 * row["macs"]
    assert row["params"] == 3 * 3 * 3 * 32
    assert row["kernel"] == (3, 3) and row["stride"] == (2, 2) and row["groups"] == 1
    assert row["input_shape"] == (1, 3, 224, 224) and row["output_shape"] == (1, 32, 112, 112)
    assert row["bytes_read"] == (3 * 224 * 224 + 864) * 4
    assert row["bytes_written"] == 32 * 112 * 112 * 4
    assert row["intensity"] == pytest.approx(row["flops"] / (row["bytes_read"] + row["bytes_written"]))
    assert row["ops"] == 0
    assert report.totals["macs"] == row["macs"] and report.totals["params"] == 864


def test_depthwise_3x3_conv():
    conv = nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False)
    row = only(analyze(conv, (1, 32, 112, 112)), op="conv2d")
    assert row["kind"] == "depthwise 3×3"
    assert row["macs"] == 112 * 112 * 32 * 3 * 3 == 3_612_672
    assert row["params"] == 32 * 9
    assert row["groups"] == 32


def test_pointwise_1x1_conv_and_its_bytes():
    h = w = 112
    c1, c2 = 32, 64
    row = only(analyze(nn.Conv2d(c1, c2, 1, bias=False), (1, c1, h, w)), op="conv2d")
    assert row["kind"] == "conv 1×1"
    assert row["macs"] == h * w * c1 * c2 == 25_690_112
    # ShuffleNetV2's memory access cost of a 1×1 conv: h·w·(c1 + c2) + c1·c2 elements.
    assert row["memory_access_elems"] == h * w * (c1 + c2) + c1 * c2
    assert row["bytes_read"] + row["bytes_written"] == (h * w * (c1 + c2) + c1 * c2) * 4


def test_bytes_follow_dtype():
    conv = nn.Conv2d(8, 16, 1, bias=False)
    row32 = only(analyze(conv, (1, 8, 10, 10)), op="conv2d")
    row16 = only(analyze(conv, (1, 8, 10, 10), dtype=torch.float16), op="conv2d")
    assert row16["bytes_read"] * 2 == row32["bytes_read"] == (8 * 100 + 8 * 16) * 4
    assert row16["macs"] == row32["macs"]


def test_batch_size_multiplies_macs():
    conv = nn.Conv2d(4, 8, 3, padding=1)
    one = analyze(conv, (1, 4, 16, 16)).totals["macs"]
    assert analyze(conv, (5, 4, 16, 16)).totals["macs"] == 5 * one == 5 * 16 * 16 * 8 * 4 * 9


def test_linear_after_flatten():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4 * 2 * 2, 10))
    report = analyze(model, (2, 4, 2, 2))
    row = only(report, op="linear")
    assert row["kind"] == "linear"
    assert row["macs"] == 2 * 16 * 10  # batch · in · out; the bias add is not a MAC
    assert row["params"] == 16 * 10 + 10
    flatten = only(report, op="flatten")
    assert flatten["kind"] == "shape"
    assert flatten["macs"] == flatten["ops"] == flatten["bytes_read"] == flatten["bytes_written"] == 0


def test_grouped_conv_with_bias():
    conv = nn.Conv2d(16, 32, 3, padding=1, groups=4, bias=True)
    row = only(analyze(conv, (1, 16, 8, 8)), op="conv2d")
    assert row["kind"] == "grouped 3×3"
    assert row["macs"] == 8 * 8 * 32 * (16 // 4) * 3 * 3 == 73_728
    assert row["params"] == 32 * 4 * 9 + 32
    assert row["groups"] == 4


class Reshaped(nn.Module):
    """Runs a 1-D or 3-D layer on the 4-D input analyze() takes."""

    def __init__(self, layer, reshape):
        super().__init__()
        self.layer, self.reshape = layer, reshape

    def forward(self, x):
        return self.layer(self.reshape(x))


CONV_CONFIGS = {
    "stride 2": nn.Conv2d(4, 8, 3, stride=2, padding=1),
    "rectangular, dilated": nn.Conv2d(4, 8, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(2, 1)),
    "no padding, odd size": nn.Conv2d(4, 6, 4, stride=3),
    "padding same": nn.Conv2d(4, 8, 3, padding="same"),
    "reflect padding": nn.Conv2d(4, 8, 3, padding=1, padding_mode="reflect"),
    "depthwise 5x5 s2": nn.Conv2d(4, 4, 5, stride=2, padding=2, groups=4),
    "depth multiplier 2": nn.Conv2d(4, 8, 3, padding=1, groups=4),
    "grouped": nn.Conv2d(4, 6, 1, groups=2),
    "transposed": nn.ConvTranspose2d(4, 8, 3, stride=2),
    "conv1d": Reshaped(nn.Conv1d(4, 6, 3, stride=2), lambda x: x.flatten(2)),
    "conv3d": Reshaped(nn.Conv3d(4, 6, 3, padding=1), lambda x: x.unsqueeze(2).expand(-1, -1, 3, -1, -1)),
}


@pytest.mark.parametrize("name", CONV_CONFIGS)
def test_conv_shapes_and_macs_match_pytorch_and_fvcore(name):
    fvcore_nn = pytest.importorskip("fvcore.nn")
    model = CONV_CONFIGS[name]
    x = torch.randn(2, 4, 11, 13)
    layers = analyze(model, tuple(x.shape)).layers
    row = layers[layers["op"].str.startswith("conv")].iloc[0]
    with torch.no_grad():
        assert row["output_shape"] == tuple(model(x).shape)
    if name == "padding same":  # fvcore does not count aten::conv2d with string padding (0)
        assert row["macs"] == 2 * 8 * 11 * 13 * 4 * 3 * 3
        return
    flops = fvcore_nn.FlopCountAnalysis(model, x)
    flops.unsupported_ops_warnings(False)
    assert row["macs"] == flops.by_operator()["conv"] > 0


class InlineSE(nn.Module):
    """Squeeze-and-excite written out by hand: pool → 1×1 (16→4) → ReLU → 1×1 (4→16) → h-sigmoid → ×."""

    def __init__(self):
        super().__init__()
        self.reduce = nn.Conv2d(16, 4, 1)
        self.expand = nn.Conv2d(4, 16, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        s = F.hardsigmoid(self.expand(F.relu(self.reduce(s))))
        return x * s


def test_squeeze_excite_block():
    report = analyze(InlineSE(), (1, 16, 8, 8))
    layers = report.layers
    assert list(layers["op"]) == ["adaptive_avg_pool2d", "conv2d", "relu", "conv2d", "hardsigmoid", "mul"]
    assert list(layers["kind"]) == ["pool", "conv 1×1", "activation", "conv 1×1", "activation",
                                    "elementwise"]
    assert list(layers["name"]) == ["", "reduce", "", "expand", "", ""]
    assert list(layers["macs"]) == [0, 16 * 4, 0, 4 * 16, 0, 0]
    assert list(layers["params"]) == [0, 16 * 4 + 4, 0, 4 * 16 + 16, 0, 0]
    assert list(layers["ops"]) == [16 * 8 * 8, 0, 4, 0, 16, 16 * 8 * 8]
    mul = layers.iloc[-1]
    assert mul["output_shape"] == (1, 16, 8, 8)
    assert mul["bytes_read"] == (16 * 64 + 16) * 4  # x and the broadcast scale
    assert report.totals["macs"] == 128 and report.totals["params"] == 148


def test_functional_ops_are_attributed_to_the_module_running_them():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(8, 8, 3, padding=1)

        def forward(self, x):
            return x + F.relu6(self.conv(x))

    model = nn.Sequential(nn.Conv2d(3, 8, 1), Block())
    layers = analyze(model, (1, 3, 6, 6)).layers
    assert list(zip(layers["name"], layers["op"])) == [
        ("0", "conv2d"), ("1.conv", "conv2d"), ("1", "relu6"), ("1", "add")]


def test_columns_and_totals():
    report = analyze(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()), 16)
    assert list(report.layers.columns) == COLUMNS
    assert report.input_shape == (1, 3, 16, 16) and report.dtype == torch.float32
    for column in ("macs", "flops", "ops", "bytes_read", "bytes_written", "memory_access_elems"):
        assert report.totals[column] == report.layers[column].sum()
    assert report.totals["flops"] == 2 * report.totals["macs"]
    assert report.totals["unknown_ops"] == 0 and report.unknown_ops == []


def test_shared_weights_count_once():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return self.conv(self.conv(x))

    model = Twice()
    report = analyze(model, (1, 4, 8, 8))
    convs = report.layers[report.layers["op"] == "conv2d"]
    assert list(convs["params"]) == [4 * 4 * 9 + 4, 0]
    assert list(convs["macs"]) == [8 * 8 * 4 * 4 * 9] * 2
    assert report.totals["params"] == sum(p.numel() for p in model.parameters())


def test_tied_parameters_count_once():
    first, second = nn.Linear(6, 6), nn.Linear(6, 6)
    second.weight = first.weight
    model = nn.Sequential(nn.Flatten(), first, second)
    report = analyze(model, (1, 6, 1, 1))
    assert report.totals["params"] == sum(p.numel() for p in model.parameters()) == 36 + 6 + 6
    assert report.layers["params"].sum() == 48


def test_unused_parameters_are_reported():
    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.spare = nn.Conv2d(3, 3, 1), nn.Conv2d(3, 5, 1)

        def forward(self, x):
            return self.used(x)

    report = analyze(Unused(), 4)
    assert report.totals["params"] == 12 + 20
    assert report.totals["params_unused"] == 20


# ---- switches ------------------------------------------------------------------------------

def conv_bn_relu6(c_in=4, c_out=8):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU6(inplace=True))


def test_bn_and_activation_counted():
    report = analyze(conv_bn_relu6(), (1, 4, 5, 5))
    assert list(report.layers["kind"]) == ["conv 3×3", "batchnorm", "activation"]
    bn, act = report.layers.iloc[1], report.layers.iloc[2]
    assert bn["ops"] == 2 * 8 * 25 and bn["params"] == 16 and bn["macs"] == 0
    assert act["ops"] == 8 * 25 and act["op"] == "hardtanh"
    assert report.totals["macs"] == 25 * 8 * 4 * 9


def test_bn_fold_moves_parameters_into_the_conv():
    counted = analyze(conv_bn_relu6(), (1, 4, 5, 5))
    folded = analyze(conv_bn_relu6(), (1, 4, 5, 5), bn="fold")
    assert list(folded.layers["kind"]) == ["conv 3×3", "activation"]
    conv, conv_counted = folded.layers.iloc[0], counted.layers.iloc[0]
    assert conv["params"] == 8 * 4 * 9 + 2 * 8  # weight, then γ and β (the folded bias)
    assert conv["bytes_read"] == conv_counted["bytes_read"] + 8 * 4  # the bias is read
    assert conv["memory_access_elems"] == conv_counted["memory_access_elems"] + 8
    assert conv["macs"] == conv_counted["macs"]
    assert folded.totals["params"] == counted.totals["params"] == 8 * 4 * 9 + 16
    assert folded.totals["ops"] == counted.totals["ops"] - 2 * 8 * 25


def test_bn_fold_keeps_a_bn_that_follows_no_conv():
    model = nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 1, bias=False), nn.BatchNorm2d(4))
    layers = analyze(model, 6, bn="fold").layers
    assert list(layers["kind"]) == ["batchnorm", "conv 1×1"]
    assert list(layers["params"]) == [6, 12 + 8]


def test_ignore_switches_drop_rows_but_not_macs_or_params():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = conv_bn_relu6(8, 8)

        def forward(self, x):
            return x + self.body(x)

    model = nn.Sequential(conv_bn_relu6(), Residual())
    full = analyze(model, (1, 4, 6, 6))
    bare = analyze(model, (1, 4, 6, 6), bn="ignore", activations="ignore", elementwise="ignore")
    assert set(full.layers["kind"]) == {"conv 3×3", "batchnorm", "activation", "elementwise"}
    assert set(bare.layers["kind"]) == {"conv 3×3"}
    assert bare.totals["macs"] == full.totals["macs"]
    assert bare.totals["params"] == full.totals["params"]
    assert bare.totals["ops"] == 0
    assert bare.totals["peak_activation_bytes"] == full.totals["peak_activation_bytes"]


def test_training_mode_counts_like_eval_and_skips_bn_bookkeeping():
    model = conv_bn_relu6()
    train = analyze(model.train(), (1, 4, 5, 5))
    evaluated = analyze(model.eval(), (1, 4, 5, 5))
    assert train.layers.drop(columns="intensity").equals(evaluated.layers.drop(columns="intensity"))


# ---- unknown ops -----------------------------------------------------------------------------

def test_unknown_ops_are_listed_not_zero():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)

        def forward(self, x):
            return torch.cumsum(self.conv(x), dim=1)

    report = analyze(Odd(), 5)
    row = only(report, kind="unknown")
    assert row["op"] == "cumsum" and row["name"] == ""
    assert row["ops"] == 4 * 25  # the output element count
    assert report.unknown_ops == ["cumsum"] and report.totals["unknown_ops"] == 1


def test_fft_is_unknown():
    class Spectral(nn.Module):
        def forward(self, x):
            return torch.fft.fft2(x).abs()

    report = analyze(Spectral(), 8)
    assert report.unknown_ops == ["fft_fft2"]


# ---- the model is left as it was ----------------------------------------------------------------

def snapshot(model):
    return ({k: v.clone() for k, v in model.state_dict().items()},
            [(name, m.training) for name, m in model.named_modules()],
            [id(p) for p in model.parameters()],
            [(m._forward_hooks.copy(), m._forward_pre_hooks.copy()) for m in model.modules()])


def assert_same(model, before):
    state, modes, ids, hooks = before
    now = model.state_dict()
    assert now.keys() == state.keys()
    for key, value in state.items():
        assert now[key].device == value.device and torch.equal(now[key], value), key
    assert [(name, m.training) for name, m in model.named_modules()] == modes
    assert [id(p) for p in model.parameters()] == ids
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert [(m._forward_hooks, m._forward_pre_hooks) for m in model.modules()] == hooks
    assert not module_hooks._global_forward_hooks
    assert not module_hooks._global_forward_pre_hooks


@pytest.mark.parametrize("training", [False, True])
def test_model_untouched(training):
    model = nn.Sequential(conv_bn_relu6(), nn.Dropout(0.5), nn.Conv2d(8, 16, 1)).train(training)
    before = snapshot(model)
    for bn in ("count", "fold", "ignore"):
        analyze(model, (2, 4, 7, 7), bn=bn)
    assert_same(model, before)
    assert model.training is training


def test_model_untouched_after_an_exception_inside_it():
    class Fails(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = conv_bn_relu6()

        def forward(self, x):
            self.body(x)
            raise RuntimeError("boom")

    model = Fails()
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="Fails raised RuntimeError in its own forward.*boom") as info:
        analyze(model, (1, 4, 5, 5))
    assert isinstance(info.value.__cause__, RuntimeError) and str(info.value.__cause__) == "boom"
    assert_same(model, before)


# ---- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [lambda x: x, "mobilenet_v1", None, nn.Conv2d])
def test_not_a_module(bad):
    with pytest.raises(ValueError, match="model must be a torch.nn.Module"):
        analyze(bad, 224)


@pytest.mark.parametrize("shape", [(1, 3, 224), (3, 224, 224), (1, 3, 224, 224, 1), (1, 0, 8, 8),
                                   (1, 3, -8, 8), 0, -224, True, 224.0, "224", (1, 3, 8.0, 8), None,
                                   float("inf"), np.bool_(True)])
def test_bad_input_shape(shape):
    with pytest.raises(ValueError, match=r"input_shape must be .*\(N, C, H, W\).*got") as info:
        analyze(nn.Conv2d(3, 4, 1), shape)
    assert repr(shape) in str(info.value)


@pytest.mark.parametrize("shape", [10**12, 10**30, (1, 3, 2**40, 2**40)])
def test_input_shape_too_large_for_any_tensor(shape):
    with pytest.raises(ValueError, match=r"input_shape .* is too large: .*2\*\*63 bytes"):
        analyze(nn.Conv2d(3, 4, 1), shape)


def test_activations_too_large_for_any_tensor_blame_input_shape():
    with torch.device("meta"):
        wide = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Conv2d(4, 10**7, 1))
    with pytest.raises(ValueError, match=r"input_shape \(1, 3, 1048576, 1048576\) cannot be run through "
                                         r"Sequential: conv2d in module '1' \(Conv2d\) failed"):
        analyze(wide, (1, 3, 2**20, 2**20))


def test_numpy_integers_as_input_shape():
    expected = analyze(nn.Conv2d(3, 4, 1), 8).totals
    assert analyze(nn.Conv2d(3, 4, 1), np.int64(8)).totals == expected
    report = analyze(nn.Conv2d(3, 4, 1), (np.int32(1), np.int64(3), np.uint16(8), 8))
    assert report.totals == expected and report.input_shape == (1, 3, 8, 8)
    assert all(type(v) is int for v in report.input_shape)


def test_resolution_the_model_cannot_take():
    model = nn.Sequential(nn.Conv2d(3, 8, 7), nn.Conv2d(8, 8, 7))
    with pytest.raises(ValueError, match=r"input_shape 8 \(an input of shape \(1, 3, 8, 8\)\) cannot be run "
                       r"through Sequential: conv2d in module '1' \(Conv2d\) failed"):
        analyze(model, 8)
    with pytest.raises(ValueError, match=r"input_shape \(1, 5, 32, 32\) cannot be run.*module '0'"):
        analyze(model, (1, 5, 32, 32))  # wrong channels


def test_model_raising_value_error_on_small_input():
    class Checked(nn.Module):
        def forward(self, x):
            if x.shape[-1] < 32:
                raise ValueError(f"input resolution must be >= 32, got {x.shape[-1]}")
            return x

    with pytest.raises(ValueError, match=r"Checked raised ValueError in its own forward \(Checked\) at "
                       r"input_shape 16 .*must be >= 32") as info:
        analyze(Checked(), 16)
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize("switch,value", [("bn", "yes"), ("bn", None), ("activations", "fold"),
                                          ("elementwise", True)])
def test_bad_switch(switch, value):
    with pytest.raises(ValueError, match=f"{switch} must be one of"):
        analyze(nn.Conv2d(3, 4, 1), 8, **{switch: value})


@pytest.mark.parametrize("dtype", [torch.int32, "float32", 4])
def test_bad_dtype(dtype):
    with pytest.raises(ValueError, match="dtype must be a floating-point torch.dtype"):
        analyze(nn.Conv2d(3, 4, 1), 8, dtype=dtype)


def test_resolution_infers_channels_from_the_first_conv():
    assert analyze(nn.Sequential(nn.Conv2d(5, 4, 1)), 10).input_shape == (1, 5, 10, 10)
    assert analyze(nn.Sequential(nn.ReLU()), 10).input_shape == (1, 3, 10, 10)


# ---- ShuffleNetV2 guideline G1 --------------------------------------------------------------------

def test_shufflenet_g1_equal_widths_minimize_memory_access():
    """ShuffleNetV2 Sec. 2, G1: at fixed FLOPs B = h·w·c1·c2 a 1×1 conv's memory access cost
    MAC = h·w·(c1 + c2) + c1·c2 ≥ 2·√(h·w·B) + B/(h·w), with equality at c1 = c2."""
    h = w = 8
    budget = h * w * 64 * 64
    costs = {}
    for c1 in (8, 16, 32, 64, 128, 256, 512):
        c2 = budget // (h * w * c1)
        row = only(analyze(nn.Conv2d(c1, c2, 1, bias=False), (1, c1, h, w)), op="conv2d")
        assert row["macs"] == budget
        costs[c1] = row["memory_access_elems"]
        assert row["memory_access_elems"] >= 2 * math.sqrt(h * w * budget) + budget / (h * w)
    assert min(costs, key=costs.get) == 64
    assert costs[64] == 2 * math.sqrt(h * w * budget) + budget / (h * w)
    assert costs[32] == costs[128] > costs[64]


# ---- paper views ------------------------------------------------------------------------------------

def tiny_mobilenet():
    """MobileNetV1's first layers, Table 1, on a 14 × 14 input."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 32, 3, 1, 1, groups=32, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )


def test_architecture_table():
    table = analyze(tiny_mobilenet(), 14).architecture_table()
    assert table[["Type / Stride", "Filter Shape", "Input Size"]].values.tolist() == [
        ["Conv / s2", "3 × 3 × 3 × 32", "14 × 14 × 3"],
        ["Conv dw / s1", "3 × 3 × 32 dw", "7 × 7 × 32"],
        ["Conv / s1", "1 × 1 × 32 × 64", "7 × 7 × 32"],
        ["Avg Pool / s1", "Pool 7 × 7", "7 × 7 × 64"],
        ["FC / s1", "64 × 10", "1 × 1 × 64"],
    ]
    assert list(table["name"]) == ["0", "3", "6", "9", "11"]


def test_by_kind_is_table_2():
    report = analyze(tiny_mobilenet(), 14, bn="ignore", activations="ignore", elementwise="ignore")
    table = report.by_kind()
    macs = {"conv 1×1": 49 * 32 * 64, "depthwise 3×3": 49 * 32 * 9, "conv 3×3": 49 * 32 * 27,
            "linear": 640}
    params = {"conv 1×1": 32 * 64, "depthwise 3×3": 32 * 9, "conv 3×3": 27 * 32, "linear": 650}
    assert list(table.index[:4]) == sorted(macs, key=macs.get, reverse=True)
    for kind in macs:
        assert table.loc[kind, "macs"] == macs[kind]
        assert table.loc[kind, "params"] == params[kind]
        assert table.loc[kind, "macs_pct"] == pytest.approx(100 * macs[kind] / sum(macs.values()))
        assert table.loc[kind, "params_pct"] == pytest.approx(100 * params[kind] / sum(params.values()))
    assert table["macs_pct"].sum() == pytest.approx(100)
    assert table["params_pct"].sum() == pytest.approx(100)
    assert "shape" not in table.index
    # The same shares from the full count, keeping the weight layers only.
    full = analyze(tiny_mobilenet(), 14).by_kind(weight_layers_only=True)
    assert list(full.index) == list(table.index[:4])
    assert full["macs_pct"].tolist() == pytest.approx(table["macs_pct"][:4].tolist())
    assert full["params_pct"].tolist() == pytest.approx(table["params_pct"][:4].tolist())
    assert full["params_pct"].sum() == pytest.approx(100)


# ---- agreement with fvcore on every registry model ------------------------------------------------------

REGISTRY = list_models()

MATRIX_OPS = ("conv", "linear", "addmm", "matmul", "bmm", "einsum")


def test_registry_is_not_empty():
    assert REGISTRY


@pytest.mark.parametrize("name", REGISTRY)
def test_matches_fvcore_and_parameter_count(name):
    fvcore_nn = pytest.importorskip("fvcore.nn")
    model = create_model(name).eval()
    r = default_resolution(name)
    report = analyze(model, r)

    assert report.totals["params"] == sum(p.numel() for p in model.parameters())
    assert report.totals["params_unused"] == 0
    assert report.unknown_ops == []

    # Every module's output shape on meta tensors is the one a real forward produces.
    x = torch.randn(1, 3, r, r)
    names = {id(m): n for n, m in model.named_modules()}
    real_shapes = {}
    hook = module_hooks.register_module_forward_hook(
        lambda m, args, out: real_shapes.__setitem__(names[id(m)], tuple(out.shape)))
    try:
        with torch.no_grad():
            model(x)
    finally:
        hook.remove()
    assert report.module_outputs == real_shapes

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    flops = fvcore_nn.FlopCountAnalysis(model, x)
    flops.unsupported_ops_warnings(False)
    flops.uncalled_modules_warnings(False)
    by_operator = flops.by_operator()
    theirs = sum(v for k, v in by_operator.items() if k in MATRIX_OPS)  # fvcore counts 1 per MAC
    layers = report.layers
    ours = layers.loc[layers["kind"].str.match(r"(conv|depthwise|grouped) |linear$"), "macs"].sum()
    assert ours == theirs == report.totals["macs"]


def test_module_registered_twice_is_restored():
    conv = nn.Conv2d(3, 3, 3, padding=1)
    model = nn.Sequential(conv, nn.ReLU(), conv)
    before = snapshot(model)
    report = analyze(model, 8)
    assert_same(model, before)
    assert model[0].weight.device.type == "cpu" and model[2].weight is model[0].weight
    assert report.totals["params"] == 84
    assert list(report.layers.loc[report.layers["op"] == "conv2d", "name"]) == ["0", "0"]


def test_model_built_on_the_meta_device():
    with torch.device("meta"):
        on_meta = conv_bn_relu6()
    real = conv_bn_relu6()
    assert analyze(on_meta, (1, 4, 9, 9)).totals == analyze(real, (1, 4, 9, 9)).totals


def test_data_dependent_model_is_a_runtime_error():
    class DataDependent(nn.Module):
        def forward(self, x):
            return x * x.sum().item()

    with pytest.raises(RuntimeError, match="cannot be counted on meta tensors"):
        analyze(DataDependent(), 4)
