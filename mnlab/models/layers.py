"""Building blocks shared by every architecture in the book.

Each block names the paper that introduced it. Nothing here knows about a particular network:
the model files compose these blocks from tables that read like the papers' tables.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.fx
from torch import nn
from torch.nn import functional as F

from mnlab.validation import check_int, check_real

Activation = Callable[[], nn.Module]


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never dropping below 90% of it.

    The rounding rule of the TensorFlow reference implementations of MobileNetV2/V3 and
    EfficientNet (``_make_divisible``): channel counts stay multiples of 8, which mobile
    kernels like, and the width multiplier never removes more than 10% of a layer.
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


# Bounds of the constructors' numeric arguments. A multiplier of 1000 makes a network a thousand
# times the published one (MobileNetV1 at α = 1000 has 1,024,000-channel layers): far past any
# experiment, yet every layer's weights still fit a tensor's size limit (2**63 elements), so the
# network can be built on the meta device and counted. Beyond it, sizes overflow.
MAX_MULTIPLIER = 1000.0
MAX_CLASSES = 10**8


def check_multiplier(value: object, name: str = "width_mult", at_least: float | None = None) -> float:
    """Validate a scaling multiplier (the width α, the expansion t, the depth): a finite number
    > 0 (or >= ``at_least``) and <= ``MAX_MULTIPLIER``, named in the error."""
    if at_least is None:
        return check_real(value, name, above=0, at_most=MAX_MULTIPLIER)
    return check_real(value, name, at_least=at_least, at_most=MAX_MULTIPLIER)


def named(build: Callable[..., nn.Module], name: str, doc: str) -> Callable[..., nn.Module]:
    """Give a constructor made for one row of a family's table (Lite0, MobileOne-S2, …) the name
    the registry lists it under and a docstring."""
    build.__name__ = build.__qualname__ = name
    build.__doc__ = doc
    return build


def check_num_classes(num_classes: object) -> int:
    """Validate the classifier size: an integer in [1, ``MAX_CLASSES``]."""
    return check_int(num_classes, "num_classes", at_least=1, at_most=MAX_CLASSES)


def check_dropout(dropout: object) -> float:
    """Validate a dropout probability: a number in [0, 1]."""
    return check_real(dropout, "dropout", at_least=0, at_most=1)


# MobileNetV3, Sec. 5.2: h-sigmoid(x) = ReLU6(x + 3) / 6 and h-swish(x) = x · ReLU6(x + 3) / 6 (eq. 2).
# PyTorch ships both as single fused kernels, which is what a deployment would run.
HardSigmoid = nn.Hardsigmoid
HardSwish = nn.Hardswish


def conv_bn_act(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                groups: int = 1, activation: Activation | None = nn.ReLU) -> nn.Sequential:
    """Conv (no bias, 'same' padding) → BatchNorm → activation; the unit every MobileNet is made of.

    ``activation=None`` gives a *linear* conv-BN (MobileNetV2's linear bottleneck projection).
    """
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2,
                  groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if activation is not None:
        layers.append(activation())
    return nn.Sequential(*layers)


class DepthwiseSeparable(nn.Sequential):
    """Depthwise k×k conv-BN-act, then pointwise 1×1 conv-BN-act — MobileNetV1, Sec. 3.1, Fig. 3.

    Cost Dk·Dk·M·DF·DF + M·N·DF·DF Mult-Adds instead of Dk·Dk·M·N·DF·DF (eq. 5 vs eq. 2).
    ``linear_pointwise=True`` gives EfficientNet's first block, whose projection is linear.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, kernel_size: int = 3,
                 activation: Activation = nn.ReLU, linear_pointwise: bool = False,
                 squeeze_excite: nn.Module | None = None) -> None:
        super().__init__()
        self.depthwise = conv_bn_act(in_channels, in_channels, kernel_size, stride,
                                     groups=in_channels, activation=activation)
        if squeeze_excite is not None:
            self.se = squeeze_excite
        self.pointwise = conv_bn_act(in_channels, out_channels, 1,
                                     activation=None if linear_pointwise else activation)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excite: global pool → 1×1 reduce → act → 1×1 expand → gate → rescale.

    Hu et al. 2018; MobileNetV3 (Sec. 5.3) gates with h-sigmoid and squeezes to 1/4 of the
    expansion channels, MobileOne-S4 with a sigmoid and 1/16. Both 1×1 convs carry a bias.
    """

    def __init__(self, channels: int, squeeze_channels: int,
                 activation: Activation = nn.ReLU, gate: Activation = HardSigmoid) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeeze_channels, 1)
        self.activation = activation()
        self.expand = nn.Conv2d(squeeze_channels, channels, 1)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = F.adaptive_avg_pool2d(x, 1)
        scale = self.gate(self.expand(self.activation(self.reduce(scale))))
        return x * scale


class InvertedResidual(nn.Module):
    """Inverted residual with linear bottleneck — MobileNetV2, Sec. 3.3, Table 1.

    1×1 expansion to ``hidden`` channels + activation → k×k depthwise (stride s) + activation →
    [squeeze-excite] → *linear* 1×1 projection. The shortcut joins the thin bottleneck tensors
    and exists only when stride is 1 and the input and output widths match. With ``hidden ==
    in_channels`` the expansion is the identity and is left out (MobileNetV2's first block, t = 1).
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int, stride: int,
                 kernel_size: int = 3, activation: Activation = nn.ReLU6,
                 squeeze_excite: nn.Module | None = None) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride!r}")
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: dict[str, nn.Module] = {}
        if hidden != in_channels:
            layers["expand"] = conv_bn_act(in_channels, hidden, 1, activation=activation)
        layers["depthwise"] = conv_bn_act(hidden, hidden, kernel_size, stride, groups=hidden,
                                          activation=activation)
        if squeeze_excite is not None:
            layers["se"] = squeeze_excite
        layers["project"] = conv_bn_act(hidden, out_channels, 1, activation=None)
        self.block = nn.Sequential(*[m for m in layers.values()])
        for i, key in enumerate(layers):  # readable names in reports: block.expand, block.depthwise, ...
            self.block._modules[key] = self.block._modules.pop(str(i))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.use_residual else out


class Classifier(nn.Sequential):
    """Global average pool → flatten → [dropout] → linear: the head of every network in the book."""

    def __init__(self, in_features: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        if dropout > 0:
            self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, num_classes)


def check_input(x: torch.Tensor, in_channels: int, min_size: int) -> torch.Tensor:
    """Refuse a batch that is not 4-D, has the wrong channels, or would collapse the feature map.

    Wrapped for ``torch.fx`` so that symbolic tracing records it as one call instead of
    branching on a proxy; skipped under ``torch.jit.trace``, whose graph is fixed to the example.
    """
    if torch.jit.is_tracing():
        return x
    if x.dim() != 4:
        raise ValueError(f"input must be a 4-D batch (N, C, H, W), got shape {tuple(x.shape)}")
    if x.shape[1] != in_channels:
        raise ValueError(f"input must have {in_channels} channels, got {x.shape[1]} "
                         f"(shape {tuple(x.shape)})")
    if min(x.shape[-2:]) < min_size:
        raise ValueError(f"input resolution must be >= {min_size} pixels per side, got "
                         f"{tuple(x.shape[-2:])}: smaller inputs collapse the feature map")
    return x


torch.fx.wrap("check_input")


class InputCheck(nn.Module):
    """Checks a batch before a network runs (see :func:`check_input`).

    ``min_size`` is the smallest spatial size for which the last stride-2 stage still sees at
    least one pixel; the networks here downsample by 32, so 32 is the floor.
    """

    def __init__(self, in_channels: int = 3, min_size: int = 32) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.min_size = min_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return check_input(x, self.in_channels, self.min_size)


class MobileNet(nn.Module):
    """The common frame of every network here: input check → ``features`` → ``classifier``.

    ``features`` is an ``nn.Sequential`` of blocks (stem, stages, last conv) so that analyzers can
    walk a model block by block; ``classifier`` is the pooling-and-linear head.
    """

    def __init__(self, features: nn.Sequential, classifier: nn.Module, in_channels: int = 3,
                 min_size: int = 32) -> None:
        super().__init__()
        self.input_check = InputCheck(in_channels, min_size)
        self.features = features
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.input_check(x)))


ACTIVATIONS: dict[str, Activation] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "hswish": HardSwish,
    "swish": nn.SiLU,
}


def activation_by_name(name: str) -> Activation:
    """Look up an activation constructor by name; ValueError lists the known names."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}") from None
