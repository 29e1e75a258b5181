"""Reading a model for a diagram: its layers as the counter sees them run.

:func:`layers` runs a module once through :func:`mnlab.analysis.analyze` (on shape-only meta
tensors) and returns each convolution and linear layer with what a diagram labels: channels in
and out, kernel, stride, output size, the BatchNorm and activation that follow it, and its
MACs. A diagram drawn from these rows cannot drift from the code that defines the network.
"""
from __future__ import annotations

from typing import NamedTuple

from torch import nn

from mnlab.analysis import InputShape, analyze
from mnlab.diagrams.style import activation_name


class Layer(NamedTuple):
    """One weight layer of a module, in execution order."""

    name: str                 # qualified name inside the module read
    kind: str                 # "conv", "depthwise", "pointwise" or "fc"
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    size: int                 # output side in pixels (1 for a fully connected layer)
    batchnorm: bool
    activation: str | None    # the paper's name (ReLU6, h-swish, …); None: linear
    macs: int
    params: int = 0           # weights (and bias) of the layer itself, BatchNorm excluded
    intensity: float = 0.0    # FLOPs per byte moved (the roofline's x)

    @property
    def label(self) -> str:
        """``"1×1 conv, 160→960"``, ``"5×5 dw, 960"`` or ``"FC 1280→1000"``."""
        if self.kind == "fc":
            return f"FC {self.in_channels}→{self.out_channels}"
        if self.kind == "depthwise":
            return f"{self.kernel}×{self.kernel} dw, {self.out_channels}"
        return f"{self.kernel}×{self.kernel} conv, {self.in_channels}→{self.out_channels}"


def _parent(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else ""


def _kind(row, module: nn.Module) -> str | None:
    if isinstance(module, nn.Linear):
        return "fc"
    if not isinstance(module, nn.Conv2d):
        return None
    if module.groups > 1 and module.groups == module.in_channels == module.out_channels:
        return "depthwise"
    return "pointwise" if module.kernel_size == (1, 1) else "conv"


def layers(module: nn.Module, input_shape: InputShape) -> list[Layer]:
    """Every conv and linear layer ``module`` runs on ``input_shape``, with the BatchNorm and the
    activation that directly follow it inside the same parent module (``conv_bn_act`` and its
    kin). The module is read in eval mode; ``input_shape`` is anything ``analyze`` accepts."""
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be an nn.Module, got {type(module).__name__}")
    was_training = module.training
    try:
        rows = analyze(module.eval(), input_shape).layers.to_dict("records")
    finally:
        module.train(was_training)
    modules = dict(module.named_modules())
    found: list[Layer] = []
    for i, row in enumerate(rows):
        layer = modules.get(row["name"])
        kind = _kind(row, layer) if layer is not None else None
        if kind is None or row["macs"] == 0:
            continue
        batchnorm, activation = False, None
        for following in rows[i + 1:]:
            if _parent(following["name"]) != _parent(row["name"]):
                break
            if following["kind"] == "batchnorm":
                batchnorm = True
            elif following["kind"] == "activation":
                activation = activation_name(modules[following["name"]])
                break
            elif following["kind"] != "shape":
                break
        out = row["output_shape"]
        found.append(Layer(row["name"], kind, int(row["input_shape"][1]), int(out[1]),
                           int(row["kernel"][0]) if kind != "fc" else 1,
                           int(row["stride"][0]) if kind != "fc" else 1,
                           int(out[-1]) if len(out) == 4 else 1, batchnorm, activation, int(row["macs"]),
                           int(row["params"]), float(row["intensity"])))
    return found
