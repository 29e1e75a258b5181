"""Semantic segmentation heads on MobileNet backbones: Mobile DeepLabv3 (MobileNetV2 Sec. 6.3,
Table 7), R-ASPP and LR-ASPP (MobileNetV3 Sec. 6.4, Table 7).

DeepLabv3's ASPP (Chen et al. 2017, Sec. 3.3) reads the backbone's last features in parallel
branches, concatenates them and projects back to ``filters`` channels::

    branch                                   DeepLabv3 (ASPP)   R-ASPP   LR-ASPP
    1×1 conv-BN-ReLU, ``filters``            ✓                  ✓        ✓ (gated)
    3×3 atrous conv-BN-ReLU at rates         6, 12, 18 (OS 16)  –        –
    image pooling → 1×1 conv-BN-ReLU         ✓                  ✓        –
    pooling → 1×1 conv → sigmoid (a gate)    –                  –        ✓
    concat → 1×1 conv-BN-ReLU projection     ✓                  ✓        –
    skip: 1×1 conv on stride-8 features      –                  –        ✓
    1×1 conv to ``num_classes``              ✓                  ✓        ✓ (and skip's, summed)

At output stride 8 the atrous rates double (12, 24, 36). R-ASPP (MobileNetV2 Sec. 6.3's model
"without ASPP", named in V3 Sec. 6.4) keeps the 1×1 and pooling branches only. LR-ASPP gates the
1×1 branch SE-like — "a large pooling kernel with a large stride … and only one 1×1 convolution"
— and adds the stride-8 skip. The logits are upsampled (bilinear) to the input size.

The papers' Figure 10 pools LR-ASPP's gate with a 49×49 kernel and stride (16, 20); torchvision's
``LRASPPHead`` pools globally, as here: the gate's convolution then runs on one pixel instead of
a few, which changes no weight and a negligible number of Mult-Adds. torchvision's DeepLabv3 head
adds a 3×3 conv-BN-ReLU after the projection (``conv3x3=True``) and an auxiliary FCN head on the
stride-8 features for training (``aux=True``); the paper's head has neither.
"""
from __future__ import annotations

from typing import Sequence, cast

import torch
from torch import nn
from torch.nn import functional as F

from mnlab.models.backbones import ReducedTail, backbone, check_choice
from mnlab.models.layers import check_num_classes, conv_bn_act
from mnlab.validation import check_int

#: The feature map each backbone's DeepLab/R-ASPP/LR-ASPP head reads: MobileNetV2 Sec. 6.3's V2*
#: ("the second last feature map", 320 wide); V1 and V3 the last layer.
HEAD_TAP = {"mobilenet_v1": "C5", "mobilenet_v2": "penultimate", "mobilenet_v3_large": "C5",
            "mobilenet_v3_small": "C5"}


def check_filters(filters: object, name: str = "filters") -> int:
    """Validate a head's filter count: an integer ≥ 1."""
    return check_int(filters, name, at_least=1)


def _upsample(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class ImagePooling(nn.Sequential):
    """Global average pool → 1×1 conv-BN-ReLU → upsampled back: the image-level branch."""

    def __init__(self, in_channels: int, filters: int) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), conv_bn_act(in_channels, filters, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _upsample(super().forward(x), x)


class ASPPHead(nn.Module):
    """DeepLabv3's head (``rates`` non-empty) or R-ASPP (``rates=()``, image pooling kept)."""

    def __init__(self, in_channels: int, num_classes: int, rates: Sequence[int] = (6, 12, 18), filters: int = 256,
                 image_pooling: bool = True, conv3x3: bool = False) -> None:
        super().__init__()
        branches: list[nn.Module] = [conv_bn_act(in_channels, filters, 1)]
        for rate in rates:
            conv = conv_bn_act(in_channels, filters, 3)
            atrous = cast(nn.Conv2d, conv[0])   # conv_bn_act's conv
            atrous.dilation, atrous.padding = (rate, rate), (rate, rate)
            branches.append(conv)
        if image_pooling:
            branches.append(ImagePooling(in_channels, filters))
        self.branches = nn.ModuleList(branches)
        self.project = nn.Sequential(conv_bn_act(len(branches) * filters, filters, 1), nn.Dropout(0.5))
        if conv3x3:   # torchvision's DeepLabHead
            self.conv3x3 = conv_bn_act(filters, filters, 3)
        self.classifier = nn.Conv2d(filters, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.project(torch.cat([branch(x) for branch in self.branches], dim=1))
        if hasattr(self, "conv3x3"):
            x = self.conv3x3(x)
        return self.classifier(x)


class LRASPPHead(nn.Module):
    """LR-ASPP (MobileNetV3 Sec. 6.4, Fig. 10): a 1×1 branch gated by pooling → 1×1 → sigmoid,
    upsampled to the stride-8 skip, each mapped to the classes by a 1×1 conv, summed."""

    def __init__(self, low_channels: int, high_channels: int, num_classes: int, filters: int = 128) -> None:
        super().__init__()
        self.cbr = conv_bn_act(high_channels, filters, 1)
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(high_channels, filters, 1, bias=False),
                                   nn.Sigmoid())
        self.low_classifier = nn.Conv2d(low_channels, num_classes, 1)
        self.high_classifier = nn.Conv2d(filters, num_classes, 1)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        x = _upsample(self.cbr(high) * self.scale(high), low)
        return self.low_classifier(low) + self.high_classifier(x)


class FCNHead(nn.Sequential):
    """torchvision's auxiliary training head: 3×3 conv-BN-ReLU to a quarter, dropout, 1×1."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__(conv_bn_act(in_channels, in_channels // 4, 3), nn.Dropout(0.1),
                         nn.Conv2d(in_channels // 4, num_classes, 1))


class Segmenter(nn.Module):
    """Backbone → head (reading the backbone taps ``head_taps``) → logits at the input's size;
    ``forward`` returns ``{"out": logits}``, with ``"aux"`` when an auxiliary head is present."""

    def __init__(self, backbone: nn.Module, head: nn.Module, head_taps: tuple[str, ...],
                 aux: nn.Module | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.head_taps = tuple(head_taps)
        if aux is not None:
            self.aux = aux

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(x)
        result = {"out": _upsample(self.head(*[features[t] for t in self.head_taps]), x)}
        if hasattr(self, "aux"):
            result["aux"] = _upsample(self.aux(features["stride8"]), x)
        return result


def _features(backbone_name: str, taps, width_mult, output_stride, reduced_tail):
    check_choice(backbone_name, "backbone", tuple(HEAD_TAP))
    return backbone(backbone_name, taps=taps, width_mult=width_mult, output_stride=output_stride,
                    reduced_tail=reduced_tail)


def deeplabv3(backbone_name: str = "mobilenet_v2", *, output_stride: int = 16, aspp: bool = True,
              image_pooling: bool = True, num_classes: int = 21, filters: int = 256,
              width_mult: float = 1.0, reduced_tail: ReducedTail = False, rates: Sequence[int] | None = None,
              conv3x3: bool = False, aux: bool = False) -> Segmenter:
    """Mobile DeepLabv3 (MobileNetV2 Table 7): ASPP or not, image pooling or not, at output stride
    8 or 16 (or 32); VOC's 21 classes by default. ``rates`` defaults to (6, 12, 18) · 16 / OS."""
    num_classes = check_num_classes(num_classes)
    filters = check_filters(filters)
    tap = HEAD_TAP.get(backbone_name, "C5")
    features = _features(backbone_name, (tap, "stride8") if aux else (tap,), width_mult,
                         output_stride, reduced_tail)
    if rates is None:
        rates = tuple(r * 16 // output_stride for r in (6, 12, 18)) if aspp else ()
    elif not aspp:
        raise ValueError(f"rates must be None when aspp=False, got {rates!r}")
    head = ASPPHead(features.channels[tap], num_classes, rates, filters, image_pooling, conv3x3)
    aux_head = FCNHead(features.channels["stride8"], num_classes) if aux else None
    return Segmenter(features, head, (tap,), aux_head)


def raspp(backbone_name: str = "mobilenet_v3_large", *, filters: int = 256, num_classes: int = 19,
          output_stride: int = 16, width_mult: float = 1.0, reduced_tail: ReducedTail = False) -> Segmenter:
    """R-ASPP (MobileNetV3 Table 7, SH ×): DeepLabv3 without the atrous branches; Cityscapes'
    19 classes by default."""
    return deeplabv3(backbone_name, output_stride=output_stride, aspp=False, num_classes=num_classes,
                     filters=filters, width_mult=width_mult, reduced_tail=reduced_tail)


def lraspp(backbone_name: str = "mobilenet_v3_large", *, filters: int = 128, num_classes: int = 19,
           output_stride: int = 16, width_mult: float = 1.0, reduced_tail: ReducedTail = False,
           skip: str = "stride8_dw") -> Segmenter:
    """LR-ASPP (MobileNetV3 Table 7, SH ✓) with ``filters`` head filters (the paper: 128 or 256).

    ``skip`` is the stride-8 tap the low-level branch reads: ``"stride8_dw"`` (deeplab's, the
    paper's) or ``"stride8"`` (torchvision's); see :mod:`mnlab.models.backbones`."""
    num_classes = check_num_classes(num_classes)
    filters = check_filters(filters)
    check_choice(skip, "skip", ("stride8", "stride8_dw"))
    tap = HEAD_TAP.get(backbone_name, "C5")
    features = _features(backbone_name, (skip, tap), width_mult, output_stride, reduced_tail)
    head = LRASPPHead(features.channels[skip], features.channels[tap], num_classes, filters)
    return Segmenter(features, head, (skip, tap))


def deeplabv3_mobilenet_v3_large(num_classes: int = 21) -> Segmenter:
    """torchvision's ``deeplabv3_mobilenet_v3_large`` as released: rates 12, 24, 36 at output
    stride 16, the extra 3×3 conv, and the auxiliary FCN head (its weights are in the count)."""
    return deeplabv3("mobilenet_v3_large", output_stride=16, num_classes=num_classes, rates=(12, 24, 36),
                     conv3x3=True, aux=True)


def lraspp_mobilenet_v3_large(num_classes: int = 21) -> Segmenter:
    """torchvision's ``lraspp_mobilenet_v3_large``: LR-ASPP with 128 filters at output stride 16."""
    return lraspp("mobilenet_v3_large", filters=128, num_classes=num_classes, skip="stride8")
