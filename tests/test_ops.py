"""The op registry: hand-computed counts of the products FlopCounterMode does not count, the
normalization and interpolation kinds, the paper views on odd rows, and user-registered ops."""
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from mnlab.analysis import Count, analyze, register_op, unregister_op


class Call(nn.Module):
    """Runs ``fn(x, w)`` with one parameter w (6, 4, 5)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.w = nn.Parameter(torch.randn(6, 4, 5))

    def forward(self, x):
        return self.fn(x, self.w)


def product_row(fn, shape=(2, 4, 5, 3)):
    report = analyze(Call(fn), shape)
    rows = report.layers[report.layers["macs"] > 0]
    assert len(rows) == 1 and report.unknown_ops == []
    return rows.iloc[0]


# x is (2, 4, 5, 3), w is (6, 4, 5)
HAND_COUNTS = {  # name: (fn, MACs by hand, kind)
    "mv: M·K": (lambda x, w: torch.mv(w[0], x[0, 0, :, 0]), 4 * 5, "matmul"),
    "addmv: M·K": (lambda x, w: torch.addmv(x[0, :, 0, 0], w[0], x[0, 0, :, 0]), 4 * 5, "matmul"),
    "matmul 2-D @ 1-D is mv": (lambda x, w: w[0] @ x[0, 0, :, 0], 4 * 5, "matmul"),
    "dot: K": (lambda x, w: torch.dot(x[0, 0, :, 0], w[0, 0]), 5, "matmul"),
    "vdot: K": (lambda x, w: torch.vdot(x[0, 0, :, 0], w[0, 0]), 5, "matmul"),
    "matmul 1-D @ 1-D is dot": (lambda x, w: x[0, 0, :, 0] @ w[0, 0], 5, "matmul"),
    "outer: M·N (inner dimension 1)": (lambda x, w: torch.outer(x[0, 0, :, 0], w[0, 0, :4]), 5 * 4, "matmul"),
    "ger": (lambda x, w: torch.ger(x[0, 0, :, 0], w[0, 0, :4]), 5 * 4, "matmul"),
    "addbmm: B·M·K·P": (lambda x, w: torch.addbmm(x[0, 0, :4, :1].expand(4, 4), w, w.transpose(1, 2)),
                        6 * 4 * 5 * 4, "matmul"),
    "bilinear: N·out·in2·(in1 + 1)": (lambda x, w: F.bilinear(x[:, :, 0, 0], x[:, 0, :, 0], w), 2 * 6 * 5 * (4 + 1),
                                      "linear"),
}


@pytest.mark.parametrize("name", HAND_COUNTS)
def test_products_flop_counter_mode_does_not_count(name):
    fn, macs, kind = HAND_COUNTS[name]
    row = product_row(fn)
    assert row["macs"] == macs and row["kind"] == kind


def test_bilinear_formula_is_torchs_two_step_computation():
    """F.bilinear contracts x1 with A first (N·out·in1·in2), then with x2 (N·out·in2)."""
    x1, x2, w = torch.randn(2, 4), torch.randn(2, 5), torch.randn(6, 4, 5)
    torch.testing.assert_close(F.bilinear(x1, x2, w), (torch.einsum("ni,kij->nkj", x1, w) * x2[:, None]).sum(-1))
    row = product_row(lambda x, w: F.bilinear(x[:, :, 0, 0], x[:, 0, :, 0], w))
    assert row["macs"] == 2 * 6 * 4 * 5 + 2 * 6 * 5


@pytest.mark.parametrize("equation,shapes,ops", [("ij,ij->ij", [(4, 5), (4, 5)], 20),
                                                 ("i,j->ij", [(4,), (5,)], 20)])
def test_einsum_without_a_contraction_is_elementwise_as_torch_runs_it(equation, shapes, ops):
    model = Call(lambda x, w: torch.einsum(equation, *[torch.zeros(s, device=x.device) for s in shapes]))
    row = analyze(model, 4).layers.iloc[-1]
    assert row["op"] == "einsum" and row["macs"] == 0 and row["ops"] == ops


# ---- the named non-MAC kinds ------------------------------------------------------------------

@pytest.mark.parametrize("layer,ops_per_element", [
    (nn.LayerNorm(5), 5), (nn.LayerNorm(5, elementwise_affine=False), 4), (nn.GroupNorm(2, 4), 5),
    (nn.InstanceNorm2d(4), 4), (nn.InstanceNorm2d(4, affine=True), 5), (nn.RMSNorm(5), 5),
    (nn.LocalResponseNorm(2), 4)])
def test_normalizations_have_their_kind_and_ops(layer, ops_per_element):
    report = analyze(layer, (2, 4, 3, 5))
    row = report.layers.iloc[-1]
    assert row["kind"] == "normalization" and report.unknown_ops == []
    assert row["ops"] == ops_per_element * 2 * 4 * 3 * 5 and row["macs"] == 0


@pytest.mark.parametrize("layer,points", [
    (nn.Upsample(scale_factor=2), 1), (nn.Upsample(scale_factor=2, mode="bilinear"), 4),
    (nn.Upsample(scale_factor=2, mode="bicubic"), 16), (nn.UpsamplingBilinear2d(scale_factor=2), 4),
    (nn.UpsamplingNearest2d(scale_factor=2), 1)])
def test_interpolation_has_its_kind_and_ops(layer, points):
    row = analyze(layer, (1, 3, 4, 4)).layers.iloc[-1]
    assert row["kind"] == "interpolate" and row["output_shape"] == (1, 3, 8, 8)
    assert row["ops"] == points * 3 * 8 * 8


def test_area_interpolation_reads_every_input_once():
    model = Call(lambda x, w: F.interpolate(x, size=(1, 1), mode="area"))
    row = analyze(model, (1, 4, 6, 6)).layers.iloc[-1]
    assert row["kind"] == "interpolate" and row["ops"] == 4 * 6 * 6


# ---- paper views on odd rows ------------------------------------------------------------------

def test_views_survive_zero_dimensional_outputs_and_ops_without_tensor_input():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 1)

        def forward(self, x):
            v = x.flatten()[:4]
            score = F.linear(v, self.fc.weight[0])  # a vector times a vector: a 0-d output
            return x.mean() + torch.arange(3, dtype=x.dtype) + score + torch.dot(v, v)

    report = analyze(Odd(), 4)
    shapes = dict(zip(report.layers["op"], report.layers["output_shape"]))
    assert shapes["linear"] == shapes["mean"] == shapes["dot"] == ()
    assert report.layers.loc[report.layers["op"] == "arange", "input_shape"].item() == ()
    table = report.architecture_table()
    assert table[["Type / Stride", "Filter Shape"]].values.tolist() == [["FC / s1", "4 × 1"],
                                                                         ["Avg Pool / s1", "Pool"]]
    assert "matmul" in report.by_kind(weight_layers_only=True).index
    assert len(report.memory_timeline()) > 0


# ---- the registry is open -----------------------------------------------------------------------

class Cumulative(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, dim=1)


def test_register_op_counts_a_new_op_and_unregister_restores_unknown():
    def cumsum(call):
        assert call.arg("dim") == 1  # found by name
        return Count("elementwise", ops=call.out.numel())

    assert analyze(Cumulative(), 4).unknown_ops == ["cumsum"]
    register_op("cumsum", cumsum, params=("input", "dim"))
    try:
        row = analyze(Cumulative(), 4).layers.iloc[-1]
        assert row["kind"] == "elementwise" and row["ops"] == 3 * 4 * 4
    finally:
        unregister_op("cumsum")
    assert analyze(Cumulative(), 4).unknown_ops == ["cumsum"]


def test_register_op_can_ignore_an_op_and_replace_a_builtin():
    register_op("cumsum", None)
    register_op("relu", lambda call: Count("activation", ops=7))
    try:
        assert analyze(Cumulative(), 4).layers.empty
        assert analyze(nn.ReLU(), 4).layers["ops"].tolist() == [7]
    finally:
        unregister_op("cumsum")
        unregister_op("relu")
    assert analyze(nn.ReLU(), 4).layers["ops"].tolist() == [3 * 4 * 4]


def test_a_failing_handler_is_the_counters_error_not_the_models():
    register_op("cumsum", lambda call: 1 / 0)
    try:
        with pytest.raises(RuntimeError, match="counting handler of op 'cumsum' failed.*ZeroDivisionError"):
            analyze(Cumulative(), 4)
    finally:
        unregister_op("cumsum")


@pytest.mark.parametrize("kwargs,match", [
    (dict(name="", handler=None), "name"), (dict(name=3, handler=None), "name"),
    (dict(name="x", handler="count"), "handler"), (dict(name="x", handler=None, params="input"), "params"),
    (dict(name="x", handler=None, params=("a",), primary="b"), "primary")])
def test_register_op_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        register_op(**kwargs)
