"""MobileNetV1 — Howard et al., 2017, "MobileNets: Efficient Convolutional Neural Networks for
Mobile Vision Applications" (arXiv 1704.04861).

A full 3×3 convolution, then thirteen depthwise separable layers, global average pooling and
one fully connected layer. Every convolution is followed by BatchNorm and ReLU.

Paper, Table 1 (α = 1, 224 × 224 input), one row per depthwise separable layer below:

    Type / Stride      Filter Shape          Input Size
    Conv / s2          3 × 3 × 3 × 32        224 × 224 × 3
    Conv dw / s1       3 × 3 × 32 dw         112 × 112 × 32
    Conv / s1          1 × 1 × 32 × 64       112 × 112 × 32
    ...                                       (see SEPARABLE_LAYERS)
    Avg Pool / s1      Pool 7 × 7            7 × 7 × 1024
    FC / s1            1024 × 1000           1 × 1 × 1024

The paper prints the last depthwise layer as s2; at 7 × 7 input it is s1 (the output stays
7 × 7), as in every released implementation.
"""
from __future__ import annotations

from torch import nn

from mnlab.models.layers import (Classifier, DepthwiseSeparable, MobileNet, activation_by_name,
                                 check_multiplier, check_num_classes, conv_bn_act, make_divisible)

STEM_CHANNELS = 32

# (output channels, stride) of the 13 depthwise separable layers of Table 1.
SEPARABLE_LAYERS: list[tuple[int, int]] = [
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),   # the five 14 × 14 × 512 layers
    (1024, 2),
    (1024, 1),
]

# Indices (in SEPARABLE_LAYERS) of the five 14 × 14 × 512 layers that Table 5's shallow net drops.
SHALLOW_REMOVED = (6, 7, 8, 9, 10)


def _build(width_mult: float, num_classes: int, activation: str, separable: bool,
           layers: list[tuple[int, int]]) -> MobileNet:
    width_mult = check_multiplier(width_mult)
    num_classes = check_num_classes(num_classes)
    act = activation_by_name(activation)

    def width(c: int) -> int:
        return make_divisible(c * width_mult, 8)

    in_channels = width(STEM_CHANNELS)
    blocks: list[nn.Module] = [conv_bn_act(3, in_channels, 3, stride=2, activation=act)]
    for out, stride in layers:
        out = width(out)
        if separable:
            blocks.append(DepthwiseSeparable(in_channels, out, stride, activation=act))
        else:  # Table 4's baseline: a full 3×3 convolution where the separable pair was
            blocks.append(conv_bn_act(in_channels, out, 3, stride, activation=act))
        in_channels = out
    return MobileNet(nn.Sequential(*blocks), Classifier(in_channels, num_classes))


def mobilenet_v1(width_mult: float = 1.0, num_classes: int = 1000,
                 activation: str = "relu") -> MobileNet:
    """MobileNetV1 (Table 1) with width multiplier α = ``width_mult`` (Sec. 3.3).

    ``activation="relu"`` follows the paper; TensorFlow's released checkpoints use ``"relu6"``.
    """
    return _build(width_mult, num_classes, activation, True, SEPARABLE_LAYERS)


def conv_mobilenet_v1(width_mult: float = 1.0, num_classes: int = 1000,
                      activation: str = "relu") -> MobileNet:
    """Table 4's "Conv MobileNet": the same network with full 3×3 convolutions in place of
    every depthwise separable pair (29.3M params, 4866M Mult-Adds in the paper)."""
    return _build(width_mult, num_classes, activation, False, SEPARABLE_LAYERS)


def shallow_mobilenet_v1(width_mult: float = 1.0, num_classes: int = 1000,
                         activation: str = "relu") -> MobileNet:
    """Table 5's "Shallow MobileNet": the five 14 × 14 × 512 separable layers removed."""
    layers = [row for i, row in enumerate(SEPARABLE_LAYERS) if i not in SHALLOW_REMOVED]
    return _build(width_mult, num_classes, activation, True, layers)
