"""mnlab.analysis.predict: kernels as a runtime runs them, the kernel bank's cache, the four
predictors on small synthetic data, and the error cases."""
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from mnlab.analysis import analyze
from mnlab.analysis import kernel_bank
from mnlab.analysis.kernel_bank import EMPTIES, EMPTY, KernelBank
from mnlab.analysis.kernel_space import SAMPLED_KINDS, neighbours, sample_kernel
from mnlab.analysis.kernels import Kernel, build_kernel, fusion, kernel_features, kernels, ops
from mnlab.analysis.predict import (Description, KernelModel, LookupTable, MacsLinear, Roofline, accuracy,
                                    describe)
from mnlab.models import create_model

pytestmark = pytest.mark.filterwarnings("ignore:.*noisy")


# --------------------------------------------------------------------------- kernels


def test_mobilenet_v3_small_kernels_follow_table_2():
    """Table 2 of MobileNetV3: 11 bnecks, SE in 9, residuals where stride 1 and widths match (6),
    an expansion conv in every bneck but the first (exp 16 = in 16), a stem, the last 1×1 conv,
    pool and the two 1×1 layers after pooling (linear here)."""
    found = kernels(analyze(create_model("mobilenet_v3_small").eval(), 224))
    counts = pd.Series([k.kind for k in found]).value_counts().to_dict()
    assert counts == {"pointwise": 10 + 11 + 1, "depthwise": 11, "se": 9, "elementwise": 6, "linear": 2,
                      "conv": 1, "pool": 1}
    stem = found[0]
    assert (stem.kind, stem.c_in, stem.c_out, stem.k, stem.stride, stem.act) == ("conv", 3, 16, 3, 2, "hardswish")
    first_se = next(k for k in found if k.kind == "se")   # bneck 1: SE on 16 channels, squeeze to 8
    assert (first_se.h, first_se.c_in, first_se.mid, first_se.act) == (56, 16, 8, "relu+hardsigmoid")
    projections = [k for k in found if k.kind == "pointwise" and k.act == ""]
    assert len(projections) == 11   # the linear bottlenecks: no activation after the projection
    assert sum(k.macs for k in found) == analyze(create_model("mobilenet_v3_small").eval(), 224).totals["macs"]


def test_ops_keep_batchnorm_and_activations_apart():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),
                          nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Hardswish(), nn.BatchNorm2d(8)).eval()
    report = analyze(model, (1, 3, 16, 16))
    assert [k.kind for k in ops(report)] == ["conv", "batchnorm", "activation", "depthwise", "activation",
                                             "batchnorm"]
    fused = kernels(report)
    assert [(k.kind, k.act) for k in fused] == [("conv", "hardtanh"), ("depthwise", "hardswish"), ("batchnorm", "")]


def test_fusion_lists_every_op_once_under_its_kernel():
    """One MobileNetV2 block (stride 1, 24 → 144 → 24) by hand: conv-BN-ReLU6 twice, conv-BN, the
    add — 9 ops in 4 kernels; a V3 block's SE (pool, 1×1, ReLU, 1×1, h-sigmoid, ×) is one kernel."""
    from mnlab.models.layers import InvertedResidual
    report = analyze(InvertedResidual(24, 24, 144, 1).eval(), (1, 24, 56, 56))
    groups = fusion(report)
    assert [k for k, _ in groups] == kernels(report)
    assert [op for _, group in groups for op in group] == ops(report)
    assert [[op.kind for op in group] for _, group in groups] == [
        ["pointwise", "batchnorm", "activation"], ["depthwise", "batchnorm", "activation"],
        ["pointwise", "batchnorm"], ["elementwise"]]
    se_block = create_model("mobilenet_v3_large").features[14].eval()
    se_kernel, se_ops = next((k, g) for k, g in fusion(analyze(se_block, (1, 160, 7, 7))) if k.kind == "se")
    assert [op.kind for op in se_ops] == ["pool", "pointwise", "activation", "pointwise", "activation", "elementwise"]
    assert (se_kernel.c_in, se_kernel.mid) == (960, 240)


def test_kernel_key_round_trip_and_rebuilt_module_counts_the_same():
    for kernel in [Kernel("depthwise", 14, 14, 96, 96, 5, 2, 96, "hardswish"),
                   Kernel("se", 7, 7, 96, 96, act="relu+sigmoid", mid=24), Kernel("linear", 1, 1, 576, 1024),
                   Kernel("pool", 7, 7, 960, 960, k=0, act="avg"), Kernel("elementwise", 28, 28, 40, 40, act="add")]:
        assert Kernel.from_key(kernel.key) == kernel
        module, shape = build_kernel(kernel)
        report = analyze(module, shape)
        assert report.totals["macs"] == kernel.macs
        rebuilt = kernels(report)
        assert len(rebuilt) == 1 and rebuilt[0] == kernel
        first = report.layers[report.layers.kind != "shape"].iloc[0]   # the conv, linear or pool op
        if kernel.kind in ("depthwise", "linear", "pool"):
            assert kernel.bytes == first.bytes_read + first.bytes_written


def test_an_op_without_a_kernel_type_is_named():
    class Cumulative(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, dim=1)

    with pytest.raises(ValueError, match="cumsum"):
        kernels(analyze(Cumulative(), (1, 3, 8, 8)))


def test_sampled_kernels_stay_in_their_space():
    import random
    rng = random.Random(0)
    for kind in SAMPLED_KINDS:
        for kernel in [sample_kernel(kind, rng) for _ in range(20)]:
            assert kernel.kind == kind and kernel.macs <= 400e6 and kernel.h >= (1 if kind == "linear" else 3)
            assert all(n.kind == kind and n.c_in > 0 for n in neighbours(kernel, rng))
    with pytest.raises(ValueError, match="kind"):
        sample_kernel("transformer", rng)


# --------------------------------------------------------------------------- the bank


def fake_compare(models, shapes, **kwargs):
    """compare_latency without timing: latency grows with the input's size."""
    ms = {name: 1e-3 + 1e-6 * float(np.prod(shapes[name])) for name in models}
    return pd.DataFrame({"median_ms": ms, "min_ms": ms, "max_ms": ms, "best_ms": {n: v * 0.9 for n, v in ms.items()},
                         "runs": dict.fromkeys(models, 5)})


def test_bank_caches_by_machine_and_reads_stored_rows_anywhere(tmp_path, monkeypatch):
    cache = tmp_path / "kernels.csv"
    monkeypatch.setattr(kernel_bank, "compare_latency", fake_compare)
    ks = [Kernel("pointwise", 7, 7, 32, 64), Kernel("elementwise", 7, 7, 32, 32, act="add")]
    bank = KernelBank("deploy", cache=cache, progress=False)
    first = bank.latency(ks + ks[:1])
    assert first[0] == first[2] and first[1] == pytest.approx(1e-3 + 1e-6 * 32 * 49)   # the median
    assert len(pd.read_csv(cache)) == 2

    monkeypatch.setattr(kernel_bank, "compare_latency", lambda *a, **k: pytest.fail("measured again"))
    np.testing.assert_allclose(KernelBank("deploy", cache=cache, progress=False).latency(ks), first[:2])
    best = KernelBank("deploy", cache=cache, progress=False, statistic="best_ms").latency(ks)
    np.testing.assert_allclose(best, first[:2] * 0.9)

    table = pd.read_csv(cache, dtype=str).assign(fingerprint="0123456789ab", cpu="another CPU")
    table.to_csv(cache, index=False)
    reader = KernelBank("deploy", cache=cache, measure=False)
    np.testing.assert_allclose(reader.latency(ks), first[:2])   # another machine's rows, read as stored
    with pytest.raises(ValueError, match="never measured"):
        reader.latency([Kernel("pointwise", 7, 7, 32, 128)])


def test_bank_times_real_kernels():
    bank = KernelBank("deploy", progress=False, budget_s=0.002, rounds=1)
    ms = bank.latency([Kernel("pointwise", 8, 8, 16, 16, act="relu"), EMPTY])
    assert (ms > 0).all() and len(bank.table) == 2 and bank.overhead_ms == ms[1]


@pytest.mark.parametrize("kwargs, match", [(dict(backend="tflite"), "backend"), (dict(statistic="mean"), "statistic"),
                                           (dict(threads=0), "threads"), (dict(measure="yes"), "measure")])
def test_bank_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KernelBank(**{"backend": "deploy", **kwargs})


# --------------------------------------------------------------------------- predictors on synthetic data


def cost(kernel: Kernel) -> float:
    """A synthetic machine: 5 µs per call, 20 GMAC/s, 4 GB/s, depthwise 7×7 half as efficient."""
    slow = 2.0 if kernel.kind == "depthwise" and kernel.k == 7 else 1.0
    return 0.005 + slow * kernel.macs / 2e7 + kernel.bytes / 4e6


class FormulaBank(KernelBank):
    """A bank whose 'measurement' is :func:`cost`: tests the predictors without a clock."""

    def __init__(self, **kwargs):
        super().__init__("deploy", progress=False, **kwargs)
        self.measured = 0

    def _measure(self, kernel_list):
        self.measured += len(kernel_list)
        self.latencies.update({k.key: cost(k) for k in kernel_list})


def synthetic(model_names, resolution=96):
    described = [describe(create_model(name).eval(), resolution) for name in model_names]
    truth = [sum(cost(k) - cost(EMPTY) for k in d.kernels) + cost(EMPTY) for d in described]
    return described, np.array(truth)


def test_accuracy_by_hand():
    score = accuracy([1.0, 2.18, 2.9, 4.6], [1.0, 2.0, 3.0, 4.0])
    assert score["n"] == 4 and score["within_10"] == 0.75 and score["within_5"] == 0.5
    assert score["rmspe"] == pytest.approx(np.sqrt((0 + 0.09 ** 2 + (1 / 30) ** 2 + 0.15 ** 2) / 4))
    assert score["spearman"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="measured"):
        accuracy([1, 2], [1, 0])


def test_macs_linear_recovers_a_line():
    described = [Description(m, 0, [], []) for m in (1e8, 2e8, 4e8)]
    model = MacsLinear().fit(described, [3.0, 5.0, 9.0])
    assert (model.a, model.b) == pytest.approx((2e-8, 1.0))
    assert model.predict_described(Description(3e8, 0, [], [])) == pytest.approx(7.0)


def test_roofline_recovers_its_peaks():
    rng = np.random.default_rng(0)
    described = []
    for _ in range(12):
        ks = [Kernel("pointwise", int(h), int(h), int(c), int(c)) for h, c in rng.integers(4, 60, size=(8, 2)) * [1, 8]]
        described.append(Description(sum(k.macs for k in ks), sum(k.bytes for k in ks), ks, []))
    pi, beta, c = 2e7, 4e6, 0.003   # MACs/ms, bytes/ms, ms per kernel
    truth = [sum(max(k.macs / pi, k.bytes / beta) + c for k in d.kernels) for d in described]
    model = Roofline().fit(described, truth)
    assert model.peaks["gmacs_per_s"] == pytest.approx(20, rel=0.02)
    assert model.peaks["gbytes_per_s"] == pytest.approx(4, rel=0.02)
    assert accuracy(model.predict_many(described), truth)["rmspe"] < 0.01


def test_lookup_table_sums_ops_without_fusion():
    bank = FormulaBank()
    described, _ = synthetic(["mobilenet_v2"])
    table = LookupTable(bank).fit(described)
    expected = sum(cost(op) - cost(EMPTY) for op in described[0].ops) + cost(EMPTY)
    assert table.predict_described(described[0]) == pytest.approx(expected)
    assert len(described[0].ops) > len(described[0].kernels)   # BN and activations are ops of their own


def test_kernel_model_learns_the_synthetic_machine():
    bank = FormulaBank()
    train, t_train = synthetic(["mobilenet_v2", "mobilenet_v3_large", "mobilenet_v1"])
    test, t_test = synthetic(["mobilenet_v3_small", "efficientnet_lite0"], resolution=128)
    model = KernelModel(bank, samples={kind: 25 for kind in SAMPLED_KINDS}, calibrate=False).fit(train, t_train)
    assert bank.measured == sum(len(ks) for ks in model.training.values()) + 1 + len(EMPTIES) > 8 * 25  # + empties
    strict = KernelModel(FormulaBank(), samples={kind: 25 for kind in SAMPLED_KINDS}, tolerance=0.001,
                         calibrate=False).fit(train, t_train)
    assert sum(strict.added.values()) > 0   # errors above the tolerance: neighbours were timed and added
    assert all(len(strict.training[k]) >= len(model.training[k]) for k in model.training)
    score = accuracy(model.predict_many(test), t_test)
    assert score["within_10"] == 1.0, score
    with pytest.raises(RuntimeError, match="fit"):
        KernelModel(bank).predict_described(test[0])


def test_what_a_kernel_pays_alone_is_taken_off_by_its_type_s_empty_call():
    """Timed alone, every convolution pays 20 µs more than inside a network (ORT's layout
    conversions, say): the empty convolution of each type measures it, and the sum leaves it out."""
    class AloneBank(FormulaBank):
        def _measure(self, kernel_list):
            self.measured += len(kernel_list)
            self.latencies.update({k.key: cost(k) + (0.02 if k.kind in ("conv", "pointwise", "depthwise") else 0)
                                   for k in kernel_list})

    train, t_train = synthetic(["mobilenet_v2", "mobilenet_v3_large", "mobilenet_v1"])
    test, t_test = synthetic(["mobilenet_v3_small", "efficientnet_lite0"], resolution=128)
    model = KernelModel(AloneBank(), samples={kind: 25 for kind in SAMPLED_KINDS}, calibrate=False).fit(train, t_train)
    assert model.call_ms["pointwise"] == pytest.approx(cost(EMPTIES["pointwise"]) + 0.02)
    assert accuracy(model.predict_many(test), t_test)["within_10"] == 1.0


def test_a_stored_training_set_is_used_as_it_is_and_never_resampled():
    train, t_train = synthetic(["mobilenet_v2", "mobilenet_v1"])
    test, _ = synthetic(["mobilenet_v3_small"])
    sampled = KernelModel(FormulaBank(), samples={kind: 15 for kind in SAMPLED_KINDS}, tolerance=0.001)
    sampled.fit(train, t_train)
    table = sampled.training_table()
    assert len(table) == sum(len(ks) for ks in sampled.training.values())
    assert set(table.columns) == {"kind", "key", "adaptive"} and table.adaptive.sum() == sum(sampled.added.values()) > 0

    bank = FormulaBank()
    again = KernelModel(bank, training=table, samples={"pointwise": 99}).fit(train, t_train)
    assert again.training == sampled.training and again.added == sampled.added and bank.measured == len(table) + 1 + len(EMPTIES)   # + empties
    assert again.predict_many(test) == pytest.approx(sampled.predict_many(test), rel=1e-9)

    stored = FormulaBank()
    stored.latencies = {k: v for k, v in bank.latencies.items() if k != table.key.iloc[0]}
    stored.measure = False
    with pytest.raises(ValueError, match="never measured"):   # a stored set needs its measurements
        KernelModel(stored, training=table).fit(train, t_train)
    with pytest.raises(ValueError, match="listed as"):
        KernelModel(bank, training=table.assign(kind="depthwise"))
    with pytest.raises(ValueError, match="missing \\['adaptive'\\]"):
        KernelModel(bank, training=table.drop(columns="adaptive"))


def test_kernel_model_unknown_kernel_type_errors_or_falls_back_flagged():
    bank = FormulaBank()
    train, t_train = synthetic(["mobilenet_v2", "mobilenet_v1"])
    samples = {"pointwise": 20, "depthwise": 20, "conv": 10}
    odd = Description(0, 0, [Kernel("batchnorm", 14, 14, 64, 64)] + train[0].kernels, [])
    strict = KernelModel(bank, samples=samples, adaptive_rounds=0).fit(train, t_train)
    with pytest.raises(ValueError, match="'batchnorm' was never measured"):
        strict.predict_described(odd)
    lenient = KernelModel(bank, samples=samples, adaptive_rounds=0, unknown="fallback").fit(train, t_train)
    with pytest.warns(UserWarning, match="fallback"):
        value = lenient.predict_described(odd)
    assert value > lenient.predict_described(train[0])
    assert lenient.breakdown(odd).fallback.tolist() == [True] + [False] * len(train[0].kernels)


@pytest.mark.parametrize("call, match", [
    (lambda: MacsLinear().fit([Description(1, 1, [], [])], [1.0]), "latency_ms"),
    (lambda: MacsLinear().fit(["model"], [1.0, 2.0]), "Description"),
    (lambda: MacsLinear().fit([Description(1, 1, [], [])] * 2, [1.0, -2.0]), "> 0"),
    (lambda: KernelModel("bank"), "KernelBank"),
    (lambda: KernelModel(FormulaBank(), unknown="guess"), "unknown"),
    (lambda: LookupTable(None), "KernelBank"),
])
def test_predictors_refuse_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_features_have_one_row_per_kernel():
    found = kernels(analyze(create_model("mobilenet_v2").eval(), 96))
    features = kernel_features(found)
    assert len(features) == len(found) and (features.macs.to_numpy() == [k.macs for k in found]).all()
