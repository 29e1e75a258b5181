"""MobileNets as backbones: a classifier without its classifier, returning the feature maps that
detection and segmentation heads attach to.

Where the heads attach, in the papers' words:

* MobileNetV2, Sec. 6.2 (SSDLite): "the first layer of SSDLite is attached to the expansion of
  layer 15 (with output stride of 16), and the second and the rest of SSDLite layers are
  attached on top of the last layer (with output stride of 32)".
* MobileNetV3, Sec. 6.3: C4 is "the expansion layer of the 13th bottleneck block" (Large; the
  9th for Small), C5 "the layer immediately before pooling"; the † rows "reduce the channel
  counts of all feature layers between C4 and C5 by 2".
* MobileNetV2, Sec. 6.3 (Mobile DeepLabv3): heads on "the second last feature map" (V2*), with
  atrous convolution for an output stride of 16 or 8. MobileNetV3, Sec. 6.4 (LR-ASPP): atrous
  convolution in the last block and a skip from the stride-8 features.

The feature maps (``taps``) of every backbone, counted on the network before dilation::

    tap            where                                          V1     V2     V3-L   V3-S
    "stride8"      output of the first block at output stride 8   256    32     40     24
                   (torchvision's skip for LR-ASPP)
    "stride8_dw"   depthwise output of the last stride-8 block    256    192    120    88
                   (deeplab's decoder end point, the papers' skip)
    "C4"           V2/V3: expansion of the last stride-2 block;   512    576    672    288
                   V1: last layer at output stride 16
    "penultimate"  output of the last block before the last conv  1024   320    160    96
    "C5"           the last layer                                  1024   1280   960    576

``output_stride`` 16 or 8 removes the last one or two strides and dilates every later k×k
convolution instead (atrous convolution: same weights, larger receptive field). The conv that
loses its stride already uses the new rate, as in torchvision's dilated MobileNetV3.

``reduced_tail`` halves the output channels of every layer after C4 — the last stride-2 block
and everything behind it, the last conv included; their expansions follow, as t × input in
MobileNetV2's rule and halved exp sizes in V3's. Two versions exist in TensorFlow's reference
code: ``"detection"`` keeps C4's expansion (it is the first SSDLite attachment; V3 Table 6's †),
``"segmentation"`` halves it too ("the filters of the last block", V3 Table 7's RF2, deeplab's
``mobilenet_v3_large_seg``). MobileNetV1 has neither in the papers.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterable, Literal, Sequence, get_args

import torch
from torch import nn

from mnlab.models.layers import InputCheck, InvertedResidual, check_multiplier, make_divisible
from mnlab.models.mobilenet_v1 import mobilenet_v1
from mnlab.models.mobilenet_v2 import BOTTLENECKS, HEAD_CHANNELS, mobilenet_v2
from mnlab.models.mobilenet_v3 import LARGE, SMALL, Bneck, build_mobilenet_v3

#: The classifiers that serve as backbones.
BACKBONES = ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small")
#: The feature maps a backbone can return (module docstring).
TAPS = ("stride8", "stride8_dw", "C4", "penultimate", "C5")
OUTPUT_STRIDES = (8, 16, 32)
#: ``reduced_tail``: none (False), or TensorFlow's detection or segmentation version (module docstring).
ReducedTail = Literal[False, "detection", "segmentation"]
REDUCED_TAILS: tuple[ReducedTail, ...] = get_args(ReducedTail)
_V3_HEADS = {"mobilenet_v3_large": (LARGE, 1280), "mobilenet_v3_small": (SMALL, 1024)}


def check_choice(value: object, name: str, allowed: Iterable[object]) -> object:
    """``value`` if it is one of ``allowed``, else a ValueError naming the argument."""
    if not any(value == a and isinstance(value, bool) == isinstance(a, bool) for a in allowed):
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def _halve_v3(rows: list[Bneck], reduced_tail: ReducedTail) -> list[Bneck]:
    """V3 rows with every layer after C4 (the last stride-2 block's expansion) halved."""
    c4 = max(i for i, row in enumerate(rows) if row.stride == 2)
    halved = []
    for i, row in enumerate(rows):
        if i >= c4:
            keep_exp = i == c4 and reduced_tail == "detection"
            row = row._replace(exp=row.exp if keep_exp else row.exp // 2, out=row.out // 2)
        halved.append(row)
    return halved


def _classifier(name: str, width_mult: float, reduced_tail: ReducedTail) -> nn.Module:
    """The classifier whose ``features`` become the backbone."""
    if name == "mobilenet_v1":
        if reduced_tail:
            raise ValueError("reduced_tail: MobileNetV1 has no reduced tail in the papers; use False")
        return mobilenet_v1(width_mult)
    if name == "mobilenet_v2":
        if reduced_tail == "segmentation":
            raise ValueError("reduced_tail='segmentation' is defined for MobileNetV3 (deeplab's "
                             "mobilenet_v3_*_seg); MobileNetV2 halves its tail one way: 'detection'")
        rows, head = BOTTLENECKS, HEAD_CHANNELS
        if reduced_tail:   # the last stride-2 stage and everything behind it (t × input follows)
            last = max(i for i, row in enumerate(BOTTLENECKS) if row[3] == 2)
            rows = [(t, c // 2 if i >= last else c, n, s) for i, (t, c, n, s) in enumerate(rows)]
            head //= 2
        if width_mult < 1:   # a backbone thins its last conv too (TF's default, not finegrain mode)
            head = make_divisible(head * width_mult, 8)
        return mobilenet_v2(width_mult, bottlenecks=rows, head_channels=head)
    bnecks, head = _V3_HEADS[name]
    if reduced_tail:
        bnecks, head = _halve_v3(bnecks, reduced_tail), head // 2
    return build_mobilenet_v3(bnecks, head, width_mult)


@dataclass(frozen=True)
class Tap:
    """Where a feature map is read: after block ``index`` of ``features``, or inside it, after
    its ``inner`` layer (``"expand"``, ``"depthwise"``); ``channels`` wide, at ``stride``."""

    index: int
    inner: str | None
    channels: int
    stride: int


def _block_strides(features: nn.Sequential) -> list[int]:
    """The output stride after each block (product of its convolutions' strides)."""
    strides, total = [], 1
    for block in features:
        for conv in block.modules():
            if isinstance(conv, nn.Conv2d):
                total *= conv.stride[0]
        strides.append(total)
    return strides


def _out_channels(block: nn.Module) -> int:
    return [m for m in block.modules() if isinstance(m, nn.Conv2d)][-1].out_channels


def _layers(block: nn.Module) -> nn.Module:
    """The named layers of a block: an inverted residual's ``block``, a separable layer itself."""
    return block.block if isinstance(block, InvertedResidual) else block


def find_taps(features: nn.Sequential) -> dict[str, Tap]:
    """The four attachment points of an undilated MobileNet ``features`` stack (module docstring)."""
    strides = _block_strides(features)
    first8, last8 = strides.index(8), len(strides) - 1 - strides[::-1].index(8)
    depthwise = _layers(features[last8]).depthwise[0]
    last2 = max(i for i in range(1, len(strides)) if strides[i] > strides[i - 1])
    block = features[last2]
    if isinstance(block, InvertedResidual) and hasattr(block.block, "expand"):
        c4 = Tap(last2, "expand", block.block.expand[0].out_channels, strides[last2 - 1])
    else:   # MobileNetV1: no expansion, the last layer at stride 16
        c4 = Tap(last2 - 1, None, _out_channels(features[last2 - 1]), strides[last2 - 1])
    last = len(features) - 1
    return {"stride8": Tap(first8, None, _out_channels(features[first8]), 8),
            "stride8_dw": Tap(last8, "depthwise", depthwise.out_channels, 8),
            "C4": c4,
            "penultimate": Tap(last - 1, None, _out_channels(features[last - 1]), strides[last - 1]),
            "C5": Tap(last, None, _out_channels(features[last]), strides[last])}


def dilate_(features: nn.Sequential, output_stride: int) -> nn.Sequential:
    """Atrous convolution in place: drop every stride that would take the features past
    ``output_stride`` and dilate each later k×k conv by the strides dropped so far."""
    stride, rate = 1, 1
    for conv in features.modules():
        if not isinstance(conv, nn.Conv2d):
            continue
        if conv.stride[0] > 1:
            if stride * conv.stride[0] > output_stride:
                rate *= conv.stride[0]
                conv.stride = (1, 1)
            else:
                stride *= conv.stride[0]
        if conv.kernel_size[0] > 1:
            conv.dilation = (rate, rate)
            conv.padding = (rate * (conv.kernel_size[0] - 1) // 2,) * 2
    return features


class Backbone(nn.Module):
    """A MobileNet's ``features``, cut after the last tap asked for; ``forward`` returns the tapped
    feature maps as an ordered dict (``{"C4": ..., "C5": ...}``) in the order of ``taps``."""

    def __init__(self, features: nn.Sequential, taps: dict[str, Tap]) -> None:
        super().__init__()
        self.input_check = InputCheck(3, 32)
        last = max(t.index for t in taps.values())
        self.features = features[:last + 1]
        self.taps = dict(taps)
        self._inner = {t.index: (name, t.inner) for name, t in taps.items() if t.inner}
        self._after: dict[int, list[str]] = {}
        for name, t in taps.items():
            if not t.inner:
                self._after.setdefault(t.index, []).append(name)

    @property
    def channels(self) -> dict[str, int]:
        return {name: t.channels for name, t in self.taps.items()}

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        found: dict[str, torch.Tensor] = {}
        x = self.input_check(x)
        for i, block in enumerate(self.features):
            if i in self._inner:   # read inside the block, then finish it
                name, inner = self._inner[i]
                y = x
                for child_name, layer in _layers(block).named_children():
                    y = layer(y)
                    if child_name == inner:
                        found[name] = y
                x = x + y if getattr(block, "use_residual", False) else y
            else:
                x = block(x)
            for name in self._after.get(i, ()):
                found[name] = x
        return OrderedDict((name, found[name]) for name in self.taps)


def backbone(name: str = "mobilenet_v2", *, taps: Sequence[str] = ("C4", "C5"), width_mult: float = 1.0,
             output_stride: int = 32, reduced_tail: ReducedTail = False) -> Backbone:
    """The feature extractor of MobileNet ``name`` (one of :data:`BACKBONES`), returning ``taps``.

    ``output_stride`` is 32 (as classified), 16 or 8 (atrous, :func:`dilate_`); ``reduced_tail``
    is False, ``"detection"`` or ``"segmentation"`` (module docstring). Raises ``ValueError``
    naming the argument for an unknown backbone or tap, or an output stride not 8, 16 or 32.
    """
    check_choice(name, "backbone", BACKBONES)
    check_choice(output_stride, "output_stride", OUTPUT_STRIDES)
    check_choice(reduced_tail, "reduced_tail", REDUCED_TAILS)
    width_mult = check_multiplier(width_mult)
    if isinstance(taps, str) or not taps:
        raise ValueError(f"taps must be a non-empty list of tap names out of {TAPS}, got {taps!r}")
    for tap in taps:
        check_choice(tap, "taps", TAPS)
    features = _classifier(name, width_mult, reduced_tail).features
    found = find_taps(features)
    dilate_(features, output_stride)
    strides = _block_strides(features)
    chosen = {}
    for tap in taps:
        t = found[tap]
        stride = strides[t.index - 1] if t.inner else strides[t.index]
        chosen[tap] = Tap(t.index, t.inner, t.channels, stride)
    return Backbone(features, chosen)


class LastOutput(nn.Module):
    """A detector, segmenter or backbone with one tensor out, as a deployed backend
    (:func:`mnlab.analysis.deploy`) needs: a detector's box and class outputs concatenated, a
    segmenter's logits, a backbone's last feature map."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if "bbox_regression" in out:
            return torch.cat([out["bbox_regression"], out["cls_logits"]], dim=2)
        return out["out"] if "out" in out else list(out.values())[-1]
