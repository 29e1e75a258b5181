"""Chapter 5 — EfficientNet-Lite: what the Lite release changed, and why ReLU6 quantizes better.

Two halves:

*Scaling and the three Lite changes* (tensorflow/tpu ``efficientnet/lite`` README). The
scaling table and the channels and repeats it gives each stage are read back from the built
models (:func:`stage_layout`), not from the spec; the Lite changes — stem and head fixed, no
squeeze-and-excite, ReLU6 instead of swish — are undone one at a time with
:func:`mnlab.models.efficientnet_lite`'s switches and counted (:func:`lite_counts`,
:func:`variant_counts`).

*Post-training int8 quantization*, the reason given for ReLU6. We write the per-tensor affine
scheme of Jacob et al. 2018 (the one mobile runtimes run) as a fake quantizer: a real value x
is stored as an integer q with

    q = clamp(round(x / s) + z, q_min, q_max),     x̂ = s · (q − z),

one scale s and zero point z per tensor, taken from the tensor's observed range [lo, hi]
(widened to contain 0, so that zero is exact): s = (hi − lo) / (q_max − q_min),
z = round(q_min − lo / s). Inside the range the error is at most s / 2 — so the error of a
layer grows with its range, and a bounded activation (ReLU6: [0, 6]) keeps the range, and
hence s, small. :func:`fake_quantize_model` applies it after training: BatchNorm folded into
the convolutions, every weight tensor quantized, and every activation tensor a runtime would
store quantized at the range seen on calibration data (a ReLU/ReLU6 fuses into the conv before
it, as in TF-Lite; a swish or h-swish does not, so the conv output before it is stored too).
:func:`quantization_study` trains small ReLU6, swish and h-swish networks on scikit-learn's
8×8 digits for several seeds and compares float and int8 accuracy; everything is
deterministic on the CPU (one thread, fixed seeds, deterministic algorithms).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from mnlab.analysis import analyze, fold_batchnorm
from mnlab.models import efficientnet_lite
from mnlab.models.efficientnet_lite import SCALING
from mnlab.models.layers import Classifier, DepthwiseSeparable, InvertedResidual, conv_bn_act
from mnlab.papers import figure
from mnlab.studies.stored import stored_tables
from mnlab.validation import check_int

#: The names of the README's table, ``efficientnet_lite0`` to ``efficientnet_lite4``.
LITE_NAMES = list(SCALING)

# --------------------------------------------------------------------------- scaling, read back


def stage_layout(model: nn.Module) -> pd.DataFrame:
    """The stages of a built EfficientNet-Lite, read from its modules (not from the spec).

    One row per stage: ``stage`` ("stem", "1" … "7", "head"), ``operator``, ``kernel``,
    ``expansion``, ``channels`` (output), ``repeats``, ``stride`` (of its first block). A new
    stage starts where the output width changes, as it does at every stage of EfficientNet.
    """
    features = list(model.features)
    stem, head, blocks = features[0][0], features[-1][0], features[1:-1]
    rows = [{"stage": "stem", "operator": "conv 3×3", "kernel": stem.kernel_size[0], "expansion": None,
             "channels": stem.out_channels, "repeats": 1, "stride": stem.stride[0]}]
    for block in blocks:
        if isinstance(block, InvertedResidual):
            parts = block.block
            dw = parts.depthwise[0]
            inp = parts.expand[0].in_channels if hasattr(parts, "expand") else dw.in_channels
            expansion, out = dw.in_channels // inp, parts.project[0].out_channels
        elif isinstance(block, DepthwiseSeparable):
            dw, expansion, out = block.depthwise[0], 1, block.pointwise[0].out_channels
        else:
            raise ValueError(f"unexpected block {type(block).__name__} in an EfficientNet-Lite")
        if rows[-1]["stage"] != "stem" and rows[-1]["channels"] == out:
            rows[-1]["repeats"] += 1
            continue
        rows.append({"stage": str(len(rows)), "operator": f"MBConv{expansion} {dw.kernel_size[0]}×{dw.kernel_size[0]}",
                     "kernel": dw.kernel_size[0], "expansion": expansion, "channels": out,
                     "repeats": 1, "stride": dw.stride[0]})
    rows.append({"stage": "head", "operator": "conv 1×1", "kernel": 1, "expansion": None,
                 "channels": head.out_channels, "repeats": 1, "stride": 1})
    return pd.DataFrame(rows)


def build_lite(name: str, **changes) -> nn.Module:
    """An EfficientNet-Lite of the README's table (``name`` in :data:`LITE_NAMES`), in eval mode;
    ``changes`` (``fix_stem_head``, ``squeeze_excite``, ``activation``) undo the Lite changes."""
    if name not in SCALING:
        raise ValueError(f"name must be one of {LITE_NAMES}, got {name!r}")
    s = SCALING[name]
    torch.manual_seed(0)
    return efficientnet_lite(s.width, s.depth, s.dropout, **changes).eval()


def scaling_table() -> pd.DataFrame:
    """The README's scaling table with what it produces: one row per Lite model.

    Columns ``model``, ``width``, ``depth``, ``resolution``, ``dropout`` (the table), then
    ``stem``, ``head`` and, per stage 1–7, ``c×n`` (channels × repeats) read from the model.
    """
    rows = []
    for name, s in SCALING.items():
        layout = stage_layout(build_lite(name)).set_index("stage")
        row = {"model": name.replace("efficientnet_", ""), "width": s.width, "depth": s.depth,
               "resolution": s.resolution, "dropout": s.dropout, "stem": layout.loc["stem", "channels"]}
        for stage in map(str, range(1, 8)):
            row[f"stage {stage}"] = f"{layout.loc[stage, 'channels']}×{layout.loc[stage, 'repeats']}"
        row["head"] = layout.loc["head", "channels"]
        rows.append(row)
    return pd.DataFrame(rows)


def lite_counts() -> pd.DataFrame:
    """Parameters and MACs of Lite0–4 at their resolutions beside the README's figures.

    Columns ``model``, ``resolution``, ``params``, ``params_readme``, ``params_gap`` (relative),
    ``macs``, ``madds_readme``, ``macs_gap`` and ``macs_all_ops``: MACs plus every other counted
    op (BN, activations, residual adds, pooling), the most generous count we can make.
    """
    rows = []
    for i, (name, s) in enumerate(SCALING.items()):
        report = analyze(build_lite(name), s.resolution)
        t = report.totals
        p_pub, m_pub = figure(f"efficientnet_lite/lite{i}/params").value, figure(f"efficientnet_lite/lite{i}/madds").value
        rows.append({"model": f"lite{i}", "resolution": s.resolution, "params": t["params"],
                     "params_readme": p_pub, "params_gap": t["params"] / p_pub - 1, "macs": t["macs"],
                     "madds_readme": m_pub, "macs_gap": t["macs"] / m_pub - 1,
                     "macs_all_ops": t["macs"] + t["ops"]})
    return pd.DataFrame(rows)


def stem_head_savings() -> pd.DataFrame:
    """What fixing the stem (32) and head (1280) saves at each size: the same model counted with
    both scaled by the width. Columns ``model``, ``width``, ``stem_scaled``, ``head_scaled``,
    ``params_fixed``, ``params_scaled``, ``params_saved`` (fraction of the scaled model),
    ``macs_fixed``, ``macs_scaled``, ``macs_saved``."""
    rows = []
    for name, s in SCALING.items():
        fixed, scaled = build_lite(name), build_lite(name, fix_stem_head=False)
        tf, ts = analyze(fixed, s.resolution).totals, analyze(scaled, s.resolution).totals
        layout = stage_layout(scaled).set_index("stage")
        rows.append({"model": name.replace("efficientnet_", ""), "width": s.width,
                     "stem_scaled": layout.loc["stem", "channels"], "head_scaled": layout.loc["head", "channels"],
                     "params_fixed": tf["params"], "params_scaled": ts["params"],
                     "params_saved": 1 - tf["params"] / ts["params"],
                     "macs_fixed": tf["macs"], "macs_scaled": ts["macs"], "macs_saved": 1 - tf["macs"] / ts["macs"]})
    return pd.DataFrame(rows)


#: Lite0 and the Lite changes undone one by one, as label → build switches.
VARIANTS: dict[str, dict] = {
    "Lite0 (ReLU6, no SE)": {},
    "Lite0 + SE": {"squeeze_excite": True},
    "Lite0 + swish": {"activation": nn.SiLU},
    "Lite0 + SE + swish (= EfficientNet-B0)": {"squeeze_excite": True, "activation": nn.SiLU},
}


def variant_models() -> dict[str, nn.Module]:
    """Lite0 with each combination of :data:`VARIANTS`, in eval mode."""
    return {label: build_lite("efficientnet_lite0", **changes) for label, changes in VARIANTS.items()}


def variant_counts(resolution: int = 224) -> pd.DataFrame:
    """Params, MACs and the other ops (activations, element-wise) of each :data:`VARIANTS` model.

    Columns ``variant``, ``params``, ``macs``, ``activation_ops``, ``elementwise_ops``,
    ``global_pools`` (SE's squeezes are global average pools: each is a full pass over a
    tensor before the block can go on).
    """
    rows = []
    for label, model in variant_models().items():
        report = analyze(model, resolution)
        layers = report.layers
        rows.append({"variant": label, "params": report.totals["params"], "macs": report.totals["macs"],
                     "activation_ops": int(layers.loc[layers.kind == "activation", "ops"].sum()),
                     "elementwise_ops": int(layers.loc[layers.kind == "elementwise", "ops"].sum()),
                     "global_pools": int((layers.op == "adaptive_avg_pool2d").sum())})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the fake quantizer


@dataclass(frozen=True)
class QParams:
    """Per-tensor affine quantization parameters: x ≈ scale · (q − zero_point), q ∈ [qmin, qmax]."""

    scale: float
    zero_point: int
    qmin: int = -128
    qmax: int = 127

    @property
    def bits(self) -> int:
        return int(round(math.log2(self.qmax - self.qmin + 1)))

    @property
    def range(self) -> tuple[float, float]:
        """The real interval the integer grid covers."""
        return self.scale * (self.qmin - self.zero_point), self.scale * (self.qmax - self.zero_point)


def _check_bits(bits) -> int:
    return check_int(bits, "bits", at_least=2, at_most=16)


def qparams(lo: float, hi: float, bits: int = 8) -> QParams:
    """Scale and zero point for values observed in [lo, hi], signed ``bits``-bit integers.

    The range is first widened to contain 0 (zero padding and ReLU's zeros must be exact,
    Jacob et al. 2018, Sec. 2.1); then s = (hi − lo) / (2^bits − 1) and z = round(q_min − lo/s),
    clamped to the grid. An empty range (lo = hi = 0) gets s = 1.
    """
    bits = _check_bits(bits)
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"lo and hi must be finite with lo <= hi, got lo={lo!r}, hi={hi!r}")
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / (qmax - qmin) if hi > lo else 1.0
    zero_point = int(min(qmax, max(qmin, round(qmin - lo / scale))))
    return QParams(scale, zero_point, qmin, qmax)


def quantize(x: torch.Tensor, qp: QParams) -> torch.Tensor:
    """Real tensor → integers (int32 holding values in [qmin, qmax]): clamp(round(x/s) + z)."""
    q = torch.round(x / qp.scale) + qp.zero_point
    return q.clamp(qp.qmin, qp.qmax).to(torch.int32)


def dequantize(q: torch.Tensor, qp: QParams) -> torch.Tensor:
    """Integers → real values: s · (q − z)."""
    return (q.to(torch.float32) - qp.zero_point) * qp.scale


def fake_quantize(x: torch.Tensor, qp: QParams) -> torch.Tensor:
    """``dequantize(quantize(x))`` in float: what the int8 tensor represents."""
    return dequantize(quantize(x, qp), qp).to(x.dtype)


def relative_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    """‖approx − exact‖ / ‖exact‖ (0 if both are zero)."""
    norm = exact.float().norm().item()
    diff = (approx.float() - exact.float()).norm().item()
    return diff / norm if norm > 0 else (0.0 if diff == 0 else math.inf)


# --------------------------------------------------------------------------- quantizing a model

_FUSED_ACTIVATIONS = (nn.ReLU, nn.ReLU6)   # TF-Lite fuses these into the conv before them
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.GELU)


def quantization_points(model: nn.Module) -> list[str]:
    """Names of the modules whose outputs a runtime stores as int8 tensors, in model order.

    Every conv and linear output, except one that goes straight (past folded-away BNs, i.e.
    ``nn.Identity``) into a ReLU/ReLU6 of the same ``nn.Sequential``, which the runtime fuses
    into the conv; every activation output; every pooling output. The model input is
    quantized too (see :func:`fake_quantize_model`).
    """
    fused: set[str] = set()
    names = {id(m): n for n, m in model.named_modules()}
    for parent in model.modules():
        if not isinstance(parent, nn.Sequential):
            continue
        children = [c for c in parent.children()]
        for i, child in enumerate(children):
            if isinstance(child, (nn.Conv2d, nn.Linear)):
                j = i + 1
                while j < len(children) and isinstance(children[j], (nn.Identity, nn.BatchNorm2d)):
                    j += 1
                if j < len(children) and isinstance(children[j], _FUSED_ACTIVATIONS):
                    fused.add(names[id(child)])
    points = []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)) and name not in fused:
            points.append(name)
        elif isinstance(module, _ACTIVATIONS + (nn.AdaptiveAvgPool2d, nn.AvgPool2d)):
            points.append(name)
    return points


def _eval_copy(model: nn.Module) -> nn.Module:
    return fold_batchnorm(model).eval()


@torch.no_grad()
def activation_ranges(model: nn.Module, x: torch.Tensor) -> pd.DataFrame:
    """Observed range of every tensor a runtime would quantize, on the float model (BN folded).

    One row per point (``"input"`` first, then :func:`quantization_points`): ``name``,
    ``module`` (class name), ``lo``, ``hi``, ``scale8`` (the int8 scale that range gets) and
    ``rel_error8``: the relative error of fake-quantizing that tensor alone at 8 bits.
    """
    folded = _eval_copy(model)
    outputs: dict[str, torch.Tensor] = {"input": x}
    modules = dict(folded.named_modules())
    points = quantization_points(folded)
    hooks = [modules[n].register_forward_hook(lambda m, i, o, n=n: outputs.__setitem__(n, o.detach()))
             for n in points]
    try:
        folded(x)
    finally:
        for h in hooks:
            h.remove()
    rows = []
    for name in ["input", *points]:
        t = outputs[name]
        lo, hi = float(t.min()), float(t.max())
        qp = qparams(lo, hi, 8)
        rows.append({"name": name, "module": "input" if name == "input" else type(modules[name]).__name__,
                     "lo": lo, "hi": hi, "scale8": qp.scale, "rel_error8": relative_error(fake_quantize(t, qp), t)})
    return pd.DataFrame(rows)


@torch.no_grad()
def fake_quantize_model(model: nn.Module, calibration: torch.Tensor, bits: int = 8, *,
                        weights: bool = True, activations: bool = True) -> nn.Module:
    """A post-training fake-quantized copy of ``model`` (the model itself is untouched).

    BN is folded into the convolutions; every conv/linear weight is replaced by its per-tensor
    ``bits``-bit fake quantization (biases stay float: a runtime keeps them as int32 at scale
    s_input·s_weight, a negligible error); the input and every output listed by
    :func:`quantization_points` are fake-quantized by forward hooks with the range observed on
    ``calibration``. The copy is in eval mode.
    """
    bits = _check_bits(bits)
    folded = _eval_copy(model)
    if weights:
        for module in folded.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                w = module.weight
                w.copy_(fake_quantize(w, qparams(w.min().item(), w.max().item(), bits)))
    if activations:
        ranges = activation_ranges(model, calibration).set_index("name")
        modules = dict(folded.named_modules())
        qin = qparams(ranges.loc["input", "lo"], ranges.loc["input", "hi"], bits)
        folded.register_forward_pre_hook(lambda m, args: (fake_quantize(args[0], qin),) + tuple(args[1:]))
        for name in quantization_points(folded):
            qp = qparams(ranges.loc[name, "lo"], ranges.loc[name, "hi"], bits)
            modules[name].register_forward_hook(lambda m, i, o, qp=qp: fake_quantize(o, qp))
    return folded


@torch.no_grad()
def weight_errors(model: nn.Module, bits: int = 8) -> pd.DataFrame:
    """Per conv/linear layer (BN folded): weight range, per-tensor scale and the relative error
    of its ``bits``-bit fake quantization. Columns ``name``, ``kind`` ("depthwise", "conv",
    "linear"), ``lo``, ``hi``, ``scale``, ``rel_error``."""
    rows = []
    for name, module in _eval_copy(model).named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            w = module.weight
            qp = qparams(w.min().item(), w.max().item(), bits)
            kind = ("linear" if isinstance(module, nn.Linear)
                    else "depthwise" if module.groups > 1 and module.groups == module.in_channels else "conv")
            rows.append({"name": name, "kind": kind, "lo": w.min().item(), "hi": w.max().item(),
                         "scale": qp.scale, "rel_error": relative_error(fake_quantize(w, qp), w)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the digits study

#: The activations compared (the Lite README's ReLU6, EfficientNet's swish, MobileNetV3's h-swish).
STUDY_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"ReLU6": nn.ReLU6, "swish": nn.SiLU,
                                                         "h-swish": nn.Hardswish}


def digits_net(activation: Callable[[], nn.Module] = nn.ReLU6, width: int = 12) -> nn.Sequential:
    """A small MobileNet for 8×8 digits: conv 3×3 stem, three depthwise separable blocks
    (strides 1, 2, 2), global pooling and a linear classifier; BN after every conv.
    ``width`` is the stem's channels; the blocks double it twice."""
    w = check_int(width, "width", at_least=1)
    features = nn.Sequential(
        conv_bn_act(1, w, 3, 1, activation=activation),
        DepthwiseSeparable(w, 2 * w, 1, activation=activation),
        DepthwiseSeparable(2 * w, 4 * w, 2, activation=activation),
        DepthwiseSeparable(4 * w, 8 * w, 2, activation=activation),
    )
    return nn.Sequential(features, Classifier(8 * w, 10))


@dataclass
class Digits:
    """scikit-learn's 8×8 digits (1,797 images, ships with the package), split once."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_digits_split(test_fraction: float = 0.25, seed: int = 0) -> Digits:
    """The digits as (N, 1, 8, 8) float tensors scaled to [0, 1], stratified train/test split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None]
    xtr, xte, ytr, yte = train_test_split(x, data.target, test_size=test_fraction, random_state=seed,
                                          stratify=data.target)
    return Digits(torch.from_numpy(xtr), torch.from_numpy(ytr).long(),
                  torch.from_numpy(xte), torch.from_numpy(yte).long())


def train_digits(activation: Callable[[], nn.Module], data: Digits, *, seed: int = 0, epochs: int = 6,
                 batch_size: int = 32, lr: float = 0.01, width: int = 12) -> nn.Module:
    """Train :func:`digits_net` with Adam and a cosine learning rate; returns it in eval mode.

    Deterministic on the CPU: the weights and the batch order come from ``seed``.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        check_int(value, name, at_least=1)
    torch.manual_seed(seed)
    model = digits_net(activation, width)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = math.ceil(len(data.x_train) / batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(data.x_train), generator=gen)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            loss_fn(model(data.x_train[idx]), data.y_train[idx]).backward()
            opt.step()
            sched.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy in percent."""
    model.eval()
    return 100.0 * (model(x).argmax(1) == y).float().mean().item()


@dataclass
class QuantizationStudy:
    """What :func:`quantization_study` found: ``results`` per (activation, seed, bits), and the
    per-tensor ``ranges`` and per-layer ``weights`` errors of the first seed's models."""

    results: pd.DataFrame
    ranges: pd.DataFrame
    weights: pd.DataFrame


def quantization_study(activations: dict[str, Callable[[], nn.Module]] | None = None,
                       seeds: Sequence[int] = (0, 1, 2), bits: Sequence[int] = (8, 6, 5, 4), *,
                       data: Digits | None = None, calibration_size: int = 256,
                       **train_kwargs) -> QuantizationStudy:
    """Train one digits net per (activation, seed), then quantize it post-training.

    Calibration uses the first ``calibration_size`` training images (never the test set).
    ``results`` has one row per (activation, seed, bits) with ``float_acc``, ``quant_acc``,
    ``drop`` (points) and ``logit_error`` (relative error of the logits on the test set);
    ``ranges`` (:func:`range_table`) and ``weights`` (:func:`weight_errors`, with ``activation``)
    describe the first seed's models.
    """
    activations = STUDY_ACTIVATIONS if activations is None else activations
    data = load_digits_split() if data is None else data
    calib = data.x_train[:calibration_size]
    rows, models = [], {}
    for label, act in activations.items():
        for seed in seeds:
            model = train_digits(act, data, seed=seed, **train_kwargs)
            models[(label, seed)] = model
            with torch.no_grad():
                ref = model(data.x_test)
            float_acc = accuracy(model, data.x_test, data.y_test)
            for b in bits:
                with torch.no_grad():
                    out = fake_quantize_model(model, calib, b)(data.x_test)
                quant_acc = 100.0 * (out.argmax(1) == data.y_test).float().mean().item()
                rows.append({"activation": label, "seed": seed, "bits": b, "float_acc": float_acc,
                             "quant_acc": quant_acc, "drop": float_acc - quant_acc,
                             "logit_error": relative_error(out, ref)})
    first = seeds[0]
    weights = pd.concat([weight_errors(models[(label, first)]).assign(activation=label) for label in activations],
                        ignore_index=True)
    return QuantizationStudy(pd.DataFrame(rows), range_table(models, calib, seed=first), weights)


def stored_quantization_study(prefix: str, remeasure: bool, *, seeds: Sequence[int] = (0, 1, 2),
                              bits: Sequence[int] = (8, 6, 5, 4)) -> QuantizationStudy:
    """The study as stored in ``<prefix>.results.csv``, ``.ranges.csv`` and ``.weights.csv``
    (each row with the machine that trained it, :mod:`mnlab.studies.stored`); trained afresh on
    this machine and stored when ``remeasure`` is true or a file is missing. A stored study that
    does not hold exactly the activations, seeds and bits asked for is an error."""
    paths = {part: f"{prefix}.{part}.csv" for part in ("results", "ranges", "weights")}
    study = QuantizationStudy(**stored_tables(
        paths, remeasure, lambda: vars(quantization_study(seeds=tuple(seeds), bits=tuple(bits)))))
    expected = {(a, s, b) for a in STUDY_ACTIVATIONS for s in seeds for b in bits}
    if set(zip(study.results.activation, study.results.seed, study.results.bits)) != expected:
        raise ValueError(f"{paths['results']} does not hold the study asked for (activations "
                         f"{list(STUDY_ACTIVATIONS)} × seeds {tuple(seeds)} × bits {tuple(bits)}); "
                         "re-run with remeasure=True")
    return study


def summarize_study(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread over seeds: one row per (activation, bits) with ``float_acc``,
    ``quant_acc``, ``drop_mean``, ``drop_max`` and ``logit_error`` (mean)."""
    grouped = results.groupby(["activation", "bits"], sort=False)
    table = grouped.agg(float_acc=("float_acc", "mean"), quant_acc=("quant_acc", "mean"),
                        drop_mean=("drop", "mean"), drop_max=("drop", "max"),
                        logit_error=("logit_error", "mean"), seeds=("seed", "nunique"))
    return table.reset_index()


def range_table(models: dict, x: torch.Tensor, seed: int = 0) -> pd.DataFrame:
    """Per activation, the per-layer ranges and 8-bit errors of the ``seed`` model, side by side:
    one row per (activation, point) from :func:`activation_ranges`, with ``activation`` and
    ``layer`` (position among the points) added."""
    frames = []
    for (label, s), model in models.items():
        if s != seed:
            continue
        table = activation_ranges(model, x)
        table.insert(0, "activation", label)
        table.insert(1, "layer", range(len(table)))
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def range_summary(ranges: pd.DataFrame) -> pd.DataFrame:
    """:func:`range_table` condensed to one row per activation: ``int8_tensors`` (tensors a
    runtime stores quantized, input included), ``widest_activation`` (largest hi − lo of an
    activation output), ``widest_conv_output`` (of a conv output stored on its own, NaN when
    every conv is fused), ``mean_scale8`` and ``mean_rel_error8`` (over all tensors but the input)."""
    rows = []
    for label, part in ranges.groupby("activation", sort=False):
        width = part["hi"] - part["lo"]
        is_act = part["module"].isin([cls.__name__ for cls in _ACTIVATIONS])
        is_conv = part["module"] == "Conv2d"
        inner = part["name"] != "input"
        rows.append({"activation": label, "int8_tensors": len(part),
                     "widest_activation": width[is_act].max(),
                     "widest_conv_output": width[is_conv].max() if is_conv.any() else np.nan,
                     "mean_scale8": part.loc[inner, "scale8"].mean(),
                     "mean_rel_error8": part.loc[inner, "rel_error8"].mean()})
    return pd.DataFrame(rows)
