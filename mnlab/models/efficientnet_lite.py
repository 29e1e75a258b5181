"""EfficientNet-Lite — the mobile variants of EfficientNet (Tan & Le, 2019, arXiv 1905.11946),
released without a paper in tensorflow/tpu ``models/official/efficientnet/lite``.

EfficientNet-B0's stages, changed for mobile accelerators and post-training quantization:
no squeeze-and-excite, ReLU6 instead of swish, and the stem (32) and head (1280) fixed while
the network is scaled, as are the repeats of the first and last stage.

EfficientNet-B0 stages (MBConv = inverted residual; the first is a depthwise separable block):

    Stage  Operator       k   t   c     n   s
    1      conv 3×3       3   -   32    1   2     (stem, fixed)
    2      MBConv1        3   1   16    1   1     (repeats fixed)
    3      MBConv6        3   6   24    2   2
    4      MBConv6        5   6   40    2   2
    5      MBConv6        3   6   80    3   2
    6      MBConv6        5   6   112   3   1
    7      MBConv6        5   6   192   4   2
    8      MBConv6        3   6   320   1   1     (repeats fixed)
    9      conv 1×1       1   -   1280  1   1     (head, fixed) → pool → dropout → FC

Scaling (Lite README): channels ``make_divisible(c·width_mult, 8)``, repeats ``ceil(depth·n)``; the
README calls the width multiplier the *width coefficient* (``SCALING[name].width``).
"""
from __future__ import annotations

import inspect
import math
from typing import NamedTuple

from torch import nn

from mnlab.models.layers import (Classifier, DepthwiseSeparable, InvertedResidual, MobileNet,
                                 SqueezeExcite, check_dropout, check_multiplier, check_num_classes,
                                 conv_bn_act, make_divisible, named)


class MBConv(NamedTuple):
    kernel: int
    expansion: int
    out: int
    repeats: int
    stride: int


STAGES: list[MBConv] = [
    MBConv(3, 1, 16, 1, 1),
    MBConv(3, 6, 24, 2, 2),
    MBConv(5, 6, 40, 2, 2),
    MBConv(3, 6, 80, 3, 2),
    MBConv(5, 6, 112, 3, 1),
    MBConv(5, 6, 192, 4, 2),
    MBConv(3, 6, 320, 1, 1),
]
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


class LiteScaling(NamedTuple):
    width: float
    depth: float
    resolution: int
    dropout: float


# The Lite README's table: (width, depth, resolution, dropout).
SCALING: dict[str, LiteScaling] = {
    "efficientnet_lite0": LiteScaling(1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": LiteScaling(1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": LiteScaling(1.1, 1.2, 260, 0.3),
    "efficientnet_lite3": LiteScaling(1.2, 1.4, 280, 0.3),
    "efficientnet_lite4": LiteScaling(1.4, 1.8, 300, 0.3),
}


def efficientnet_lite(width_mult: float = 1.0, depth: float = 1.0, dropout: float = 0.2,
                      num_classes: int = 1000, fix_stem_head: bool = True,
                      squeeze_excite: bool = False, activation: type[nn.Module] = nn.ReLU6) -> MobileNet:
    """Build an EfficientNet-Lite at the given width and depth multipliers.

    ``width_mult`` is the Lite README's width coefficient (α of MobileNets), ``depth`` its depth
    coefficient.

    ``fix_stem_head=False`` scales the stem and head with the width and ``squeeze_excite=True``
    puts EfficientNet's SE (1/4 of the block input, sigmoid gate) back, and ``activation`` may
    be swapped back to swish (``nn.SiLU``): the three changes the Lite release made, undoable
    one by one so their cost can be measured.
    """
    width_mult = check_multiplier(width_mult)
    depth = check_multiplier(depth, "depth")
    dropout = check_dropout(dropout)
    num_classes = check_num_classes(num_classes)

    def channels(c: int) -> int:
        return make_divisible(c * width_mult, 8)

    stem = STEM_CHANNELS if fix_stem_head else channels(STEM_CHANNELS)
    head = HEAD_CHANNELS if fix_stem_head else channels(HEAD_CHANNELS)
    blocks: list[nn.Module] = [conv_bn_act(3, stem, 3, 2, activation=activation)]
    in_channels = stem
    for i, stage in enumerate(STAGES):
        first_or_last = i in (0, len(STAGES) - 1)
        repeats = stage.repeats if first_or_last else math.ceil(depth * stage.repeats)
        out = channels(stage.out)
        for r in range(repeats):
            stride = stage.stride if r == 0 else 1
            se = (SqueezeExcite(in_channels * stage.expansion, max(1, in_channels // 4), nn.SiLU, nn.Sigmoid)
                  if squeeze_excite else None)
            if stage.expansion == 1:
                blocks.append(DepthwiseSeparable(in_channels, out, stride, stage.kernel,
                                                 activation=activation, linear_pointwise=True,
                                                 squeeze_excite=se))
            else:
                blocks.append(InvertedResidual(in_channels, out, in_channels * stage.expansion, stride,
                                               stage.kernel, activation, se))
            in_channels = out
    blocks.append(conv_bn_act(in_channels, head, 1, activation=activation))
    return MobileNet(nn.Sequential(*blocks), Classifier(head, num_classes, dropout))


def _lite(name: str):
    """The constructor of one row of ``SCALING``: :func:`efficientnet_lite` with that row's width,
    depth and dropout as defaults (any argument can still be given)."""
    scaling = SCALING[name]
    defaults = {"width_mult": scaling.width, "depth": scaling.depth, "dropout": scaling.dropout}

    def build(**kwargs) -> MobileNet:
        return efficientnet_lite(**{**defaults, **kwargs})

    signature = inspect.signature(efficientnet_lite)
    # A function takes any attribute; inspect.signature (and create_model) reads this one.
    build.__signature__ = signature.replace(parameters=[  # type: ignore[attr-defined]
        p.replace(kind=p.KEYWORD_ONLY, default=defaults.get(p.name, p.default))
        for p in signature.parameters.values()])
    return named(build, name, f"{name}: width {scaling.width}, depth {scaling.depth}, resolution "
                              f"{scaling.resolution}, dropout {scaling.dropout} (Lite README).")


efficientnet_lite0 = _lite("efficientnet_lite0")
efficientnet_lite1 = _lite("efficientnet_lite1")
efficientnet_lite2 = _lite("efficientnet_lite2")
efficientnet_lite3 = _lite("efficientnet_lite3")
efficientnet_lite4 = _lite("efficientnet_lite4")
