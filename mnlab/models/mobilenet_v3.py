"""MobileNetV3 — Howard et al., 2019, "Searching for MobileNetV3" (arXiv 1905.02244).

Inverted residuals (MobileNetV2) with squeeze-and-excite (MnasNet) in some blocks, h-swish in
the deeper half, a 16-filter h-swish stem, and the efficient last stage (Sec. 5.1): the 1×1
expansion to 960 (Large) / 576 (Small) runs at 7 × 7, then pooling, and the 1280 / 1024-wide
layer runs on the pooled 1 × 1 vector without BatchNorm.

Rows of Tables 1 (Large) and 2 (Small): kernel k, expansion size, output channels, SE, NL, stride.
RE = ReLU, HS = h-swish. SE squeezes to ``make_divisible(exp / 4, 8)`` and gates with h-sigmoid.
The width multiplier scales every layer but the 1280 / 1024 head, which only grows for α > 1
(TensorFlow's "finegrain classification mode", the setting behind Table 3's 0.75 rows).
"""
from __future__ import annotations

from typing import NamedTuple

from torch import nn

from mnlab.models.layers import (Classifier, HardSigmoid, HardSwish, InvertedResidual, MobileNet,
                                 SqueezeExcite, check_dropout, check_multiplier, check_num_classes,
                                 conv_bn_act,
                                 make_divisible)


class Bneck(NamedTuple):
    kernel: int
    exp: int
    out: int
    se: bool
    nl: str
    stride: int


RE, HS = "RE", "HS"

# Table 1: MobileNetV3-Large. Input 224² × 3 → conv2d 3×3, 16, HS, s2 → these bnecks.
LARGE: list[Bneck] = [
    Bneck(3, 16, 16, False, RE, 1),
    Bneck(3, 64, 24, False, RE, 2),
    Bneck(3, 72, 24, False, RE, 1),
    Bneck(5, 72, 40, True, RE, 2),
    Bneck(5, 120, 40, True, RE, 1),
    Bneck(5, 120, 40, True, RE, 1),
    Bneck(3, 240, 80, False, HS, 2),
    Bneck(3, 200, 80, False, HS, 1),
    Bneck(3, 184, 80, False, HS, 1),
    Bneck(3, 184, 80, False, HS, 1),
    Bneck(3, 480, 112, True, HS, 1),
    Bneck(3, 672, 112, True, HS, 1),
    Bneck(5, 672, 160, True, HS, 2),
    Bneck(5, 960, 160, True, HS, 1),
    Bneck(5, 960, 160, True, HS, 1),
]   # → conv2d 1×1, 960, HS → pool 7×7 → conv2d 1×1 NBN, 1280, HS → conv2d 1×1 NBN, k

# Table 2: MobileNetV3-Small.
SMALL: list[Bneck] = [
    Bneck(3, 16, 16, True, RE, 2),
    Bneck(3, 72, 24, False, RE, 2),
    Bneck(3, 88, 24, False, RE, 1),
    Bneck(5, 96, 40, True, HS, 2),
    Bneck(5, 240, 40, True, HS, 1),
    Bneck(5, 240, 40, True, HS, 1),
    Bneck(5, 120, 48, True, HS, 1),
    Bneck(5, 144, 48, True, HS, 1),
    Bneck(5, 288, 96, True, HS, 2),
    Bneck(5, 576, 96, True, HS, 1),
    Bneck(5, 576, 96, True, HS, 1),
]   # → conv2d 1×1, 576, HS → pool 7×7 → conv2d 1×1 NBN, 1024, HS → conv2d 1×1 NBN, k

STEM_CHANNELS = 16
NONLINEARITY = {RE: nn.ReLU, HS: HardSwish}


class EfficientHead(nn.Sequential):
    """The efficient last stage's tail (Sec. 5.1): pool, then a 1×1 layer on the pooled vector
    (a Linear; no BatchNorm), h-swish, dropout, classifier."""

    def __init__(self, in_features: int, hidden: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.pre_logits = nn.Linear(in_features, hidden)
        self.activation = HardSwish()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, num_classes)


def build_mobilenet_v3(rows: list[Bneck], head: int, width_mult: float = 1.0,
                       num_classes: int = 1000, dropout: float = 0.2,
                       stem_channels: int = STEM_CHANNELS, stem_nl: str = HS,
                       efficient_last_stage: bool = True) -> MobileNet:
    """Build a MobileNetV3 from its table rows.

    ``stem_channels``/``stem_nl`` rebuild the stem the paper improved on (32 ReLU filters).
    ``efficient_last_stage=False`` moves the 1280-wide layer before the pooling (both 1×1
    layers at 7 × 7), *without* the depthwise conv and 320-wide projection of the paper's
    Figure 5 original stage (``mnlab.studies.v3.original_last_stage`` builds that one).
    """
    width_mult = check_multiplier(width_mult)
    num_classes = check_num_classes(num_classes)
    dropout = check_dropout(dropout)

    def width(c: int) -> int:
        return make_divisible(c * width_mult, 8)

    in_channels = width(stem_channels)
    blocks: list[nn.Module] = [conv_bn_act(3, in_channels, 3, 2, activation=NONLINEARITY[stem_nl])]
    for row in rows:
        hidden, out = width(row.exp), width(row.out)
        se = SqueezeExcite(hidden, make_divisible(hidden // 4, 8), nn.ReLU, HardSigmoid) if row.se else None
        blocks.append(InvertedResidual(in_channels, out, hidden, row.stride, row.kernel,
                                       NONLINEARITY[row.nl], se))
        in_channels = out
    last = 6 * in_channels
    head = make_divisible(head * max(1.0, width_mult), 8)   # kept wide for α < 1, as in TF's release
    blocks.append(conv_bn_act(in_channels, last, 1, activation=HardSwish))
    if efficient_last_stage:
        return MobileNet(nn.Sequential(*blocks), EfficientHead(last, head, num_classes, dropout))
    blocks.append(conv_bn_act(last, head, 1, activation=HardSwish))   # MobileNetV2-style: at 7 × 7
    return MobileNet(nn.Sequential(*blocks), Classifier(head, num_classes, dropout))


def mobilenet_v3_large(width_mult: float = 1.0, num_classes: int = 1000,
                       dropout: float = 0.2) -> MobileNet:
    """MobileNetV3-Large (Table 1)."""
    return build_mobilenet_v3(LARGE, 1280, width_mult, num_classes, dropout)


def mobilenet_v3_small(width_mult: float = 1.0, num_classes: int = 1000,
                       dropout: float = 0.2) -> MobileNet:
    """MobileNetV3-Small (Table 2)."""
    return build_mobilenet_v3(SMALL, 1024, width_mult, num_classes, dropout)
