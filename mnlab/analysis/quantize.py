"""Post-training int8 quantization as a fake quantizer, for any ``nn.Module``.

The per-tensor affine scheme of Jacob et al. 2018 (the one mobile runtimes run): a real value x
is stored as an integer q with

    q = clamp(round(x / s) + z, q_min, q_max),     x̂ = s · (q − z),

one scale s and zero point z per tensor, taken from the tensor's observed range [lo, hi]
(widened to contain 0, so that zero is exact): s = (hi − lo) / (q_max − q_min),
z = round(q_min − lo / s). Inside the range the error is at most s / 2 — so the error of a
layer grows with its range. :func:`fake_quantize_model` applies it after training: BatchNorm
folded into the convolutions, every weight tensor quantized, and every activation tensor a
runtime would store quantized at the range seen on calibration data (a ReLU/ReLU6 fuses into
the conv before it, as in TF-Lite; a swish or h-swish does not, so the conv output before it is
stored too). The real int8 path is :func:`mnlab.analysis.deploy` with ``"onnxruntime-int8"``;
:func:`calibrated_ranges` reads back the ranges its calibration gave every activation tensor.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from mnlab.analysis.deployment import fold_batchnorm
from mnlab.validation import check_int

__all__ = ["QParams", "qparams", "quantize", "dequantize", "fake_quantize", "relative_error",
           "quantization_points", "activation_ranges", "fake_quantize_model", "weight_errors", "ACTIVATIONS",
           "calibrated_ranges"]


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
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.GELU)


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
        elif isinstance(module, ACTIVATIONS + (nn.AdaptiveAvgPool2d, nn.AvgPool2d)):
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


# --------------------------------------------------------------------------- the runtime's own ranges

def calibrated_ranges(deployed: nn.Module, model: nn.Module | None = None) -> pd.DataFrame:
    """The activation ranges of a model deployed on ``"onnxruntime-int8"``, read from its QDQ graph.

    ORT's static quantization puts a QuantizeLinear (scale s, zero point z) on every activation
    tensor it stores as 8-bit integers; the real interval that grid covers is
    [s·(q_min − z), s·(q_max − z)] (uint8: q ∈ [0, 255]), the calibrated min/max widened to
    contain 0. Where a ReLU or ReLU6 (a Clip) follows a convolution, ORT drops it and gives
    the convolution's output the activation's range: the clip happens in the rounding. One row
    per quantized tensor in graph order: ``tensor``, ``op`` (the operator producing it, "input"
    for the model input), ``module`` (the module that op belongs to when ``model`` is given,
    from the exporter's scope names; else None), ``lo``, ``hi``, ``scale``, ``zero_point``.
    """
    import onnx
    from onnx import numpy_helper

    from mnlab.analysis.ort_profile import module_of

    if getattr(deployed, "backend", None) != "onnxruntime-int8":
        raise ValueError(f"deployed must be a model deployed on 'onnxruntime-int8', got "
                         f"{getattr(deployed, 'backend', type(deployed).__name__)!r}")
    graph = onnx.load(str(deployed.artefact)).graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    modules = {name for name, _ in model.named_modules()} if model is not None else set()
    rows = []
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] in constants:
            continue
        scale_array, zero_array = constants[node.input[1]], constants[node.input[2]]
        info = np.iinfo(zero_array.dtype)
        scale, zero = float(scale_array), int(zero_array)
        source = producer.get(node.input[0])
        rows.append({"tensor": node.input[0], "op": source.op_type if source is not None else "input",
                     "module": module_of(source.name, modules) if source is not None and model is not None else None,
                     "lo": scale * (info.min - zero), "hi": scale * (info.max - zero),
                     "scale": scale, "zero_point": zero})
    return pd.DataFrame(rows)
