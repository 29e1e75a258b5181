"""SSD and SSDLite on MobileNet backbones — MobileNetV2 Sec. 6.2 (Tables 5, 6), MobileNetV3
Sec. 6.3 (Table 6).

SSD (Liu et al. 2016) predicts boxes from several feature maps at once: at every position of
every map, ``anchors`` default boxes, each with 4 box offsets and ``num_classes`` scores, from a
3×3 convolution. Extra layers behind the backbone make the coarser maps. SSDLite (MobileNetV2,
Sec. 6.2) "replace[s] all the regular convolutions with separable convolutions (depthwise
followed by 1 × 1 projection) in SSD prediction layers".

The feature maps, at the paper's 320 × 320 input (channels for V2 / V3-Large / V3-Large †)::

    map  source                                  channels           size
    1    backbone C4: expansion at stride 16     576 / 672 / 672    20 × 20
    2    backbone C5: last layer, stride 32      1280 / 960 / 480   10 × 10
    3    extra layer                             512                5 × 5
    4    extra layer                             256                3 × 3
    5    extra layer                             256                2 × 2
    6    extra layer                             128                1 × 1

An extra layer is a 1×1 conv to half its width, then a stride-2 3×3 conv to its width (SSDLite:
3×3 depthwise + 1×1); every conv there has BatchNorm and ReLU6. Each map has a box predictor
(4 · anchors outputs) and a class predictor (num_classes · anchors), a 3×3 conv with bias (SSDLite:
3×3 depthwise-BN-ReLU6, then a 1×1 conv with bias). Widths below 1 thin the extra layers too,
never below ``min_depth`` channels, as in TensorFlow's and torchvision's feature extractors.

The network ends at the predictions: anchor generation, box decoding and non-maximum suppression
have no weights and no Mult-Adds in the papers' counts, and are left out. ``forward`` returns
``{"bbox_regression": (N, boxes, 4), "cls_logits": (N, boxes, num_classes)}``, the boxes ordered
map by map, then by position, then by anchor, as torchvision's ``SSDHead`` orders them.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from mnlab.models.backbones import Backbone, ReducedTail, backbone, check_choice
from mnlab.models.layers import DepthwiseSeparable, check_multiplier, check_num_classes, conv_bn_act
from mnlab.validation import check_int, is_int

HEADS = ("ssd", "ssdlite")
EXTRA_CHANNELS = (512, 256, 256, 128)


def extra_layer(in_channels: int, out_channels: int, head: str) -> nn.Sequential:
    """1×1 to half the width, then a stride-2 3×3 (SSDLite: depthwise + 1×1), BN-ReLU6 each."""
    mid = out_channels // 2
    squeeze = conv_bn_act(in_channels, mid, 1, activation=nn.ReLU6)
    if head == "ssdlite":
        return nn.Sequential(squeeze, DepthwiseSeparable(mid, out_channels, 2, activation=nn.ReLU6))
    return nn.Sequential(squeeze, conv_bn_act(mid, out_channels, 3, 2, activation=nn.ReLU6))


def predictor(in_channels: int, out_channels: int, head: str) -> nn.Module:
    """One map's predictor: a 3×3 conv (SSDLite: 3×3 depthwise-BN-ReLU6 + 1×1), with bias."""
    if head == "ssdlite":
        return nn.Sequential(conv_bn_act(in_channels, in_channels, 3, groups=in_channels, activation=nn.ReLU6),
                             nn.Conv2d(in_channels, out_channels, 1))
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


class SSD(nn.Module):
    """Backbone → extra layers → a box and a class predictor per feature map."""

    def __init__(self, backbone: Backbone, extra: nn.ModuleList, box_head: nn.ModuleList,
                 class_head: nn.ModuleList, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.extra = extra
        self.box_head = box_head
        self.class_head = class_head
        self.num_classes = num_classes

    @staticmethod
    def _flatten(head: nn.ModuleList, maps: list[torch.Tensor], columns: int) -> torch.Tensor:
        results = []
        for predict, x in zip(head, maps):
            y = predict(x)
            n, _, h, w = y.shape
            results.append(y.view(n, -1, columns, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, columns))
        return torch.cat(results, dim=1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        maps = list(self.backbone(x).values())
        for layer in self.extra:
            maps.append(layer(maps[-1]))
        return {"bbox_regression": self._flatten(self.box_head, maps, 4),
                "cls_logits": self._flatten(self.class_head, maps, self.num_classes)}


def _check_anchors(anchors, maps: int) -> tuple[int, ...]:
    if (isinstance(anchors, (str, bytes)) or not hasattr(anchors, "__len__") or len(anchors) != maps
            or not all(is_int(a) and a >= 1 for a in anchors)):
        raise ValueError(f"anchors must be {maps} integers >= 1 (one per feature map), got {anchors!r}")
    return tuple(int(a) for a in anchors)


def ssd(backbone_name: str = "mobilenet_v2", *, head: str = "ssdlite", num_classes: int = 91,
        width_mult: float = 1.0, reduced_tail: ReducedTail = False, anchors: Sequence[int] = (6, 6, 6, 6, 6, 6),
        extra_channels: Sequence[int] = EXTRA_CHANNELS, min_depth: int = 16) -> SSD:
    """SSD or SSDLite (``head``) on a MobileNet backbone (:data:`~mnlab.models.backbones.BACKBONES`).

    ``num_classes`` scores per box, background included (COCO: 80 classes + 1, or 90 ids + 1 =
    91 as TensorFlow and torchvision number them); ``anchors`` boxes per position of each map
    (torchvision: 6 everywhere; TensorFlow's SSDLite configs: 3 on the first map, then 6);
    ``reduced_tail="detection"`` builds V3 Table 6's † rows.
    """
    check_choice(head, "head", HEADS)
    num_classes = check_num_classes(num_classes)
    width_mult = check_multiplier(width_mult)
    min_depth = check_int(min_depth, "min_depth", at_least=1)
    features = backbone(backbone_name, taps=("C4", "C5"), width_mult=width_mult, reduced_tail=reduced_tail)
    widths = [max(min_depth, int(c * width_mult)) for c in extra_channels]
    channels = list(features.channels.values()) + widths
    anchors = _check_anchors(anchors, len(channels))
    extra = nn.ModuleList(extra_layer(cin, cout, head) for cin, cout in zip(channels[1:], widths))
    box_head = nn.ModuleList(predictor(c, 4 * a, head) for c, a in zip(channels, anchors))
    class_head = nn.ModuleList(predictor(c, num_classes * a, head) for c, a in zip(channels, anchors))
    return SSD(features, extra, box_head, class_head, num_classes)


def ssdlite320_mobilenet_v3_large(num_classes: int = 91) -> SSD:
    """torchvision's ``ssdlite320_mobilenet_v3_large``: SSDLite on V3-Large with the reduced tail
    (V3 Table 6's †), 6 anchors on every map, 91 COCO scores."""
    return ssd("mobilenet_v3_large", head="ssdlite", num_classes=num_classes, reduced_tail="detection")
