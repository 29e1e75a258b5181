"""Toy networks the chapters build to test one claim at a time (no published architecture).

Each section belongs to a chapter; the models read like the experiment they serve.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from mnlab.models.layers import Classifier, DepthwiseSeparable, SqueezeExcite, conv_bn_act
from mnlab.validation import check_int

# =========================================================================== chapter 5: EfficientNet-Lite


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


# =========================================================================== chapter 6: MobileOne (Tables 2–3)


class SEReLU(nn.Module):
    """ReLU followed by a squeeze-and-excite channel gate (sigmoid): the paper's "SE-ReLU"."""

    def __init__(self, channels: int):
        super().__init__()
        self.relu = nn.ReLU()
        self.se = SqueezeExcite(channels, max(1, channels // 16), nn.ReLU, nn.Sigmoid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.relu(x))


#: The activations timed, as name → constructor taking the channel count.
TIMED_ACTIVATIONS: dict[str, Callable[[int], nn.Module]] = {
    "ReLU": lambda c: nn.ReLU(),
    "ReLU6": lambda c: nn.ReLU6(),
    "h-swish": lambda c: nn.Hardswish(),
    "SiLU (swish)": lambda c: nn.SiLU(),
    "GELU": lambda c: nn.GELU(),
    "SE-ReLU (sigmoid gate)": SEReLU,
}


class _Pair(nn.Module):
    """Depthwise 3×3 conv-BN-act then pointwise 1×1 conv-BN-act (two of the 30 layers),
    optionally with a skip connection around the pair and/or SE before the last activation."""

    def __init__(self, channels: int, act: Callable[[int], nn.Module], skip: bool, se: bool):
        super().__init__()
        c = channels
        self.dw = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False), nn.BatchNorm2d(c), act(c))
        self.pw = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))
        self.se = SqueezeExcite(c, max(1, c // 16), nn.ReLU, nn.Sigmoid) if se else nn.Identity()
        self.act = act(c)
        self.skip = skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.se(self.pw(self.dw(x)))
        return self.act(out + x if self.skip else out)


def thirty_layer_net(activation: str = "ReLU", *, channels: int = 64, layers: int = 30,
                     skip: bool = False, se: bool = False) -> nn.Sequential:
    """The paper's test network for Tables 2–3, in MobileNet form: a 3×3 stride-2 stem, then
    ``layers`` − 1 conv layers as depthwise/pointwise pairs at one width, global pool and a
    1000-way linear layer. ``activation`` is a key of :data:`TIMED_ACTIVATIONS`; ``skip`` adds a
    residual connection around each pair, ``se`` a squeeze-and-excite (C/16) in each pair."""
    if activation not in TIMED_ACTIVATIONS:
        raise ValueError(f"activation must be one of {list(TIMED_ACTIVATIONS)}, got {activation!r}")
    channels, layers = check_int(channels, "channels", at_least=1), check_int(layers, "layers", at_least=3)
    act = TIMED_ACTIVATIONS[activation]
    torch.manual_seed(0)
    body = [nn.Sequential(nn.Conv2d(3, channels, 3, 2, 1, bias=False), nn.BatchNorm2d(channels), act(channels))]
    body += [_Pair(channels, act, skip, se) for _ in range((layers - 1) // 2)]
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(channels, 1000))
    return nn.Sequential(*body, head).eval()
