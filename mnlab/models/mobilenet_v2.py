"""MobileNetV2 — Sandler et al., 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks"
(arXiv 1801.04381).

Each stage is a sequence of inverted residual blocks (:class:`~mnlab.models.layers.InvertedResidual`):
1×1 expansion by t + ReLU6 → 3×3 depthwise + ReLU6 → *linear* 1×1 projection, with the shortcut
between the thin bottlenecks. Paper, Table 2 (input 224 × 224):

    Input          Operator        t    c      n   s
    224² × 3       conv2d          -    32     1   2
    112² × 32      bottleneck      1    16     1   1
    112² × 16      bottleneck      6    24     2   2
    56² × 24       bottleneck      6    32     3   2
    28² × 32       bottleneck      6    64     4   2
    14² × 64       bottleneck      6    96     3   1
    14² × 96       bottleneck      6    160    3   2
    7² × 160       bottleneck      6    320    1   1
    7² × 320       conv2d 1×1      -    1280   1   1
    7² × 1280      avgpool 7×7     -    -      1   -
    1 × 1 × 1280   conv2d 1×1      -    k      -

Only the first block of a stage has stride s. ``expansion`` replaces every t = 6 (the paper
calls 5–10 "nearly identical"); the first block's t = 1 stays. Widths round with
``make_divisible(c·α, 8)``; the hidden width is ``round(in·t)``; the head grows with α > 1 only.
"""
from __future__ import annotations

from torch import nn

from mnlab.models.layers import (Classifier, InvertedResidual, MobileNet, check_dropout,
                                 check_multiplier, check_num_classes, conv_bn_act, make_divisible)

STEM_CHANNELS = 32
HEAD_CHANNELS = 1280

# Table 2: (t, c, n, s) — expansion, output channels, repeats, stride of the first repeat.
BOTTLENECKS: list[tuple[int, int, int, int]] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


def mobilenet_v2(width_mult: float = 1.0, num_classes: int = 1000, expansion: float = 6,
                 dropout: float = 0.2, *, bottlenecks: list[tuple[int, int, int, int]] = BOTTLENECKS,
                 head_channels: int = HEAD_CHANNELS) -> MobileNet:
    """MobileNetV2 (Table 2) with width multiplier ``width_mult`` and expansion ratio t = ``expansion``.

    ``bottlenecks`` and ``head_channels`` replace Table 2's rows and last conv (the backbones of
    :mod:`mnlab.models.backbones` halve the last stages with them)."""
    width_mult = check_multiplier(width_mult)
    num_classes = check_num_classes(num_classes)
    expansion = check_multiplier(expansion, "expansion", at_least=1)
    dropout = check_dropout(dropout)

    in_channels = make_divisible(STEM_CHANNELS * width_mult, 8)
    blocks: list[nn.Module] = [conv_bn_act(3, in_channels, 3, stride=2, activation=nn.ReLU6)]
    t: float   # Table 2's t, or ``expansion``
    for t, c, n, s in bottlenecks:
        t = t if t == 1 else expansion
        out = make_divisible(c * width_mult, 8)
        for i in range(n):
            hidden = int(round(in_channels * t))
            blocks.append(InvertedResidual(in_channels, out, hidden, stride=s if i == 0 else 1))
            in_channels = out
    head = make_divisible(head_channels * max(1.0, width_mult), 8)
    blocks.append(conv_bn_act(in_channels, head, 1, activation=nn.ReLU6))
    return MobileNet(nn.Sequential(*blocks), Classifier(head, num_classes, dropout))
