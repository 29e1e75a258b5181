"""Every published figure the book compares against, once, with its source.

A :class:`Published` figure keeps the number as printed (``"569M"``, ``"4.2M"``, ``"70.6%"``), its
value, and the half-unit of its last printed digit, so a comparison can honour the rounding of
the printed figure. Look figures up with :func:`figure`; group them with :func:`figures`.

Keys read ``paper/table/item``, e.g. ``"mobilenet_v1/table6/0.75/madds"``. MAdds in the papers
are multiply-accumulates (MACs); FLOPs = 2 × MACs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from mnlab.validation import check_real

#: Where the figures come from, by key; each paper's section below adds its own with :func:`_source`.
SOURCES: dict[str, str] = {}

_SCALE = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9}


@dataclass(frozen=True)
class Published:
    """One published figure: its value, how it was printed, and where."""

    key: str
    printed: str
    value: float
    unit: str
    half_unit: float
    source: str
    where: str
    note: str = ""

    @property
    def citation(self) -> str:
        return f"{SOURCES[self.source]}, {self.where}"


def _parse(printed: str) -> tuple[float, str, float]:
    """``"4.2M"`` → (4.2e6, "", 0.05e6); ``"70.6%"`` → (70.6, "%", 0.05); ``"113 ms"`` → (113, "ms", 0.5)."""
    match = re.fullmatch(r"\s*([0-9][0-9,]*(?:\.([0-9]+))?)\s*([KMGB]?)\s*(%|ms|s|KB)?\s*", printed)
    if not match:
        raise ValueError(f"cannot parse published figure {printed!r}")
    number, decimals, scale, unit = match.groups()
    factor = _SCALE[scale]
    half = 0.5 * 10.0 ** -(len(decimals) if decimals else 0) * factor
    return float(number.replace(",", "")) * factor, unit or "", half


FIGURES: dict[str, Published] = {}


def _add(key: str, printed: str, source: str, where: str, note: str = "") -> None:
    if key in FIGURES:
        raise ValueError(f"published figure {key!r} defined twice")
    value, unit, half = _parse(printed)
    FIGURES[key] = Published(key, printed, value, unit, half, source, where, note)


def _source(key: str, citation: str) -> str:
    if key in SOURCES:
        raise ValueError(f"source {key!r} defined twice")
    SOURCES[key] = citation
    return key


def figure(key: str) -> Published:
    """The published figure stored under ``key``; ValueError names close keys if it is unknown."""
    try:
        return FIGURES[key]
    except KeyError:
        prefix = key.rsplit("/", 1)[0]
        close = [k for k in FIGURES if k.startswith(prefix)][:8]
        raise ValueError(f"no published figure {key!r}; keys under {prefix!r}: {close}") from None


def mobilenet_v1_top1(width: float, resolution: int) -> float:
    """The MobileNetV1 paper's ImageNet top-1 (%) at width multiplier ``width`` and input side
    ``resolution``: Table 6 prints it for α = 1, 0.75, 0.5, 0.25 at 224 px and Table 7 for
    224, 192, 160, 128 px at α = 1. NaN for every other setting (the paper prints none), so an
    explorer over a wider grid shows the paper's figure exactly where it exists."""
    check_real(width, "width", above=0)
    check_real(resolution, "resolution", above=0, note=" (pixels)")
    if resolution == 224 and f"mobilenet_v1/table6/{float(width)}/top1" in FIGURES:
        return FIGURES[f"mobilenet_v1/table6/{float(width)}/top1"].value
    if width == 1 and f"mobilenet_v1/table7/{int(resolution)}/top1" in FIGURES and resolution == int(resolution):
        return FIGURES[f"mobilenet_v1/table7/{int(resolution)}/top1"].value
    return float("nan")


def figures(prefix: str) -> dict[str, Published]:
    """All figures whose key starts with ``prefix``, in the order they were defined."""
    return {k: f for k, f in FIGURES.items() if k.startswith(prefix)}


# --- MobileNetV1 ------------------------------------------------------------------------------
V1 = _source("mobilenet_v1", "Howard et al. 2017, MobileNets, arXiv 1704.04861v1")
_source("tf_slim", "tensorflow/models research/slim, mobilenet_v1.md")
# Table 3: one layer, Dk = 3, M = N = 512, DF = 14; rows are cumulative.
for row, madds, params in [("conv", "462M", "2.36M"), ("separable", "52.3M", "0.27M"),
                           ("alpha=0.75", "29.6M", "0.15M"), ("rho=0.714", "15.1M", "0.15M")]:
    _add(f"{V1}/table3/{row}/madds", madds, V1, "Table 3")
    _add(f"{V1}/table3/{row}/params", params, V1, "Table 3")
_add(f"{V1}/sec3.1/separable_saving_low", "8", V1, "Sec. 3.1",
     "3×3 depthwise separable convolutions use between 8 to 9 times less computation")
_add(f"{V1}/sec3.1/separable_saving_high", "9", V1, "Sec. 3.1")
# Table 2: resource per layer type.
for kind, madds, params in [("conv 1×1", "94.86%", "74.59%"), ("depthwise 3×3", "3.06%", "1.06%"),
                            ("conv 3×3", "1.19%", "0.02%"), ("linear", "0.18%", "24.33%")]:
    _add(f"{V1}/table2/{kind}/madds_pct", madds, V1, "Table 2")
    _add(f"{V1}/table2/{kind}/params_pct", params, V1, "Table 2")
_add(f"{V1}/sec3.2/pointwise_time_pct", "95%", V1, "Sec. 3.2",
     "spends 95% of its computation time in 1×1 convolutions which also has 75% of the parameters")
_add(f"{V1}/sec3.2/pointwise_params_pct", "75%", V1, "Sec. 3.2")
_add(f"{V1}/sec3.2/layers", "28", V1, "Sec. 3.2", "counting depthwise and pointwise convolutions as separate layers")
# Table 4: full convolutions vs depthwise separable.
_add(f"{V1}/table4/conv_mobilenet/top1", "71.7%", V1, "Table 4")
_add(f"{V1}/table4/conv_mobilenet/madds", "4866M", V1, "Table 4")
_add(f"{V1}/table4/conv_mobilenet/params", "29.3M", V1, "Table 4")
# Table 5: thinner vs shallower at similar cost.
_add(f"{V1}/table5/0.75/top1", "68.4%", V1, "Table 5")
_add(f"{V1}/table5/0.75/madds", "325M", V1, "Table 5")
_add(f"{V1}/table5/0.75/params", "2.6M", V1, "Table 5")
_add(f"{V1}/table5/shallow/top1", "65.3%", V1, "Table 5")
_add(f"{V1}/table5/shallow/madds", "307M", V1, "Table 5")
_add(f"{V1}/table5/shallow/params", "2.9M", V1, "Table 5")
# Table 6: width multiplier at 224; Table 7: resolution at α = 1.
for alpha, top1, madds, params in [("1.0", "70.6%", "569M", "4.2M"), ("0.75", "68.4%", "325M", "2.6M"),
                                   ("0.5", "63.7%", "149M", "1.3M"), ("0.25", "50.6%", "41M", "0.5M")]:
    _add(f"{V1}/table6/{alpha}/top1", top1, V1, "Table 6")
    _add(f"{V1}/table6/{alpha}/madds", madds, V1, "Table 6")
    _add(f"{V1}/table6/{alpha}/params", params, V1, "Table 6")
for res, top1, madds in [(224, "70.6%", "569M"), (192, "69.1%", "418M"), (160, "67.2%", "290M"),
                         (128, "64.4%", "186M")]:
    _add(f"{V1}/table7/{res}/top1", top1, V1, "Table 7")
    _add(f"{V1}/table7/{res}/madds", madds, V1, "Table 7")
    _add(f"{V1}/table7/{res}/params", "4.2M", V1, "Table 7")
_add(f"{V1}/tf_slim/params", "3,185,088", "tf_slim", "MobileNet_v1_1.0_224 (conv layers only)")
_add(f"{V1}/tf_slim/macs", "567,716,352", "tf_slim", "MobileNet_v1_1.0_224 (conv layers only)")
# Table 2 prints 1.19% for the first (full 3×3) convolution: its digits transposed. The count is
# 112·112·32·27 = 10,838,016 of 568,740,352 MACs = 1.91%, and with 1.91% the printed column sums
# to 100.01% (with 1.19%: 99.29%). Kept apart from the printed figure, which stays as printed.
_add(f"{V1}/table2/conv 3×3/madds_pct_transposed", "1.91%", V1, "Table 2",
     "the printed 1.19% with two digits swapped; the Mult-Adds column then sums to 100.01%")

# --- MobileNetV2 ------------------------------------------------------------------------------
V2 = _source("mobilenet_v2", "Sandler et al. 2018, MobileNetV2, arXiv 1801.04381v4")
_source("tf_slim_v2", "tensorflow/models, research/slim/nets/mobilenet/README.md (MobileNetV2 checkpoints table)")
_add(f"{V2}/1.0/madds", "300M", V2, "Table 4 / Sec. 6.1")
_add(f"{V2}/1.0/params", "3.4M", V2, "Table 4")
_add(f"{V2}/1.4/madds", "585M", V2, "Table 4")
_add(f"{V2}/1.4/params", "6.9M", V2, "Table 4")
_add(f"{V2}/range/madds_min", "7M", V2, "Sec. 6.1")
_add(f"{V2}/range/madds_max", "585M", V2, "Sec. 6.1")
_add(f"{V2}/range/params_min", "1.7M", V2, "Sec. 6.1")
_add(f"{V2}/range/params_max", "6.9M", V2, "Sec. 6.1")
# Table 4 (Pixel 1 CPU, TF-Lite).
for model, top1, params, madds, ms in [("mobilenet_v1", "70.6%", "4.2M", "575M", "113 ms"),
                                       ("mobilenet_v2", "72.0%", "3.4M", "300M", "75 ms"),
                                       ("mobilenet_v2_1.4", "74.7%", "6.9M", "585M", "143 ms")]:
    _add(f"{V2}/table4/{model}/top1", top1, V2, "Table 4")
    _add(f"{V2}/table4/{model}/params", params, V2, "Table 4")
    _add(f"{V2}/table4/{model}/madds", madds, V2, "Table 4")
    _add(f"{V2}/table4/{model}/latency", ms, V2, "Table 4", "Google Pixel 1, one large core, TF-Lite")
# Table 3: max channels and memory (Kb, 16-bit activations) per spatial resolution.
for model, rows, peak in [
    ("mobilenet_v1", [(112, 64, "1600"), (56, 128, "800"), (28, 256, "400"), (14, 512, "200"),
                      (7, 1024, "199"), (1, 1024, "2")], "1600"),
    ("mobilenet_v2", [(112, 16, "400"), (56, 32, "200"), (28, 64, "100"), (14, 160, "62"),
                      (7, 320, "32"), (1, 1280, "2")], "400"),
]:
    for side, channels, kb in rows:
        _add(f"{V2}/table3/{model}/{side}/channels", str(channels), V2, "Table 3")
        _add(f"{V2}/table3/{model}/{side}/memory_kb", kb, V2, "Table 3", "Kb at 16-bit floats")
    _add(f"{V2}/table3/{model}/max_memory_kb", peak, V2, "Table 3", "Kb at 16-bit floats")
_add(f"{V2}/table3/shufflenet/max_memory_kb", "600", V2, "Table 3")
# TF-slim's MobileNetV2 table: its parameter column equals our count of weights without
# BatchNorm (3,470,760 and 6,060,840), which explains the paper's 3.4M (that count cut to one
# decimal); the paper's 6.9M for the 1.4 network matches neither count.
for width, macs, params, top1 in [("1.0", "300M", "3.47M", "71.8%"), ("1.4", "582M", "6.06M", "75.0%")]:
    _add(f"{V2}/tf_slim/{width}/madds", macs, "tf_slim_v2", f"mobilenet_v2_{width}_224", "MACs (M) column")
    _add(f"{V2}/tf_slim/{width}/params", params, "tf_slim_v2", f"mobilenet_v2_{width}_224",
         "Parameters (M) column: weights without BatchNorm")
    _add(f"{V2}/tf_slim/{width}/top1", top1, "tf_slim_v2", f"mobilenet_v2_{width}_224")
# Sec. 4: "followed by 19 residual bottleneck layers described in the Table 2" — Table 2's repeats
# add up to 17 blocks.
_add(f"{V2}/sec4/bottleneck_layers", "19", V2, "Sec. 4", "Table 2's repeats n add up to 17")
# MobileNetV2, Sec. 4: "We use constant expansion rate throughout the network. We find that expansion
# rates between 5 and 10 result in nearly identical performance curves"; the main experiments use 6.
_add(f"{V2}/sec4/expansion", "6", V2, "Sec. 4", "the expansion factor of the main experiments")
_add(f"{V2}/sec4/expansion_low", "5", V2, "Sec. 4", "expansion rates between 5 and 10: nearly identical accuracy")
_add(f"{V2}/sec4/expansion_high", "10", V2, "Sec. 4")
# Detection and segmentation heads (chapter 4b): mAP and mIOU are shown as published (no COCO
# or VOC training here); MAdds are multiply-adds, params all weights; latency on a Pixel 1, one
# large core, float.
_add(f"{V2}/table5/ssd/params", "14.8M", V2, "Table 5", "prediction head only, 80 classes")
_add(f"{V2}/table5/ssd/madds", "1.25B", V2, "Table 5", "prediction head only, 80 classes")
_add(f"{V2}/table5/ssdlite/params", "2.1M", V2, "Table 5", "prediction head only, 80 classes")
_add(f"{V2}/table5/ssdlite/madds", "0.35B", V2, "Table 5", "prediction head only, 80 classes")
for row, mAP, params, madds, latency in [("ssd300", "23.2", "36.1M", "35.2B", None), ("ssd512", "26.8", "36.1M", "99.5B", None),
                                    ("yolov2", "21.6", "50.7M", "17.5B", None),
                                    ("mobilenet_v1_ssdlite", "22.2", "5.1M", "1.3B", "270 ms"),
                                    ("mobilenet_v2_ssdlite", "22.1", "4.3M", "0.8B", "200 ms")]:
    _add(f"{V2}/table6/{row}/map", mAP, V2, "Table 6", "COCO test-dev mAP, as published")
    _add(f"{V2}/table6/{row}/params", params, V2, "Table 6")
    _add(f"{V2}/table6/{row}/madds", madds, V2, "Table 6")
    if latency:
        _add(f"{V2}/table6/{row}/latency", latency, V2, "Table 6", "Google Pixel 1, one large core, TF-Lite")
# Table 7 (DeepLabv3, PASCAL VOC 2012 val): MF = multi-scale and flip at test time; V2* = heads on
# the second last feature map. The rows' checkmarks were rebuilt from the text (see papers.md).
for row, miou, params, madds in [("v1_os16", "75.29", "11.15M", "14.25B"), ("v1_os8_mf", "78.56", "11.15M", "941.9B"),
                                 ("v2_os16", "75.70", "4.52M", "5.8B"), ("v2_os8_mf", "78.42", "4.52M", "387B"),
                                 ("v2_os16_no_aspp", "75.32", "2.11M", "2.75B"),
                                 ("v2_os8_no_aspp_mf", "77.33", "2.11M", "152.6B"),
                                 ("resnet101_os16", "80.49", "58.16M", "81.0B"),
                                 ("resnet101_os8_mf", "82.70", "58.16M", "4870.6B")]:
    _add(f"{V2}/table7/{row}/miou", miou, V2, "Table 7", "PASCAL VOC 2012 val mIOU, as published")
    _add(f"{V2}/table7/{row}/params", params, V2, "Table 7")
    _add(f"{V2}/table7/{row}/madds", madds, V2, "Table 7")

# --- MobileNetV3 ------------------------------------------------------------------------------
V3 = _source("mobilenet_v3", "Howard et al. 2019, Searching for MobileNetV3, arXiv 1905.02244v5")
for model, top1, madds, params in [("large_1.0", "75.2%", "219M", "5.4M"), ("large_0.75", "73.3%", "155M", "4.0M"),
                                   ("small_1.0", "67.4%", "56M", "2.5M"), ("small_0.75", "65.4%", "44M", "2.0M")]:
    _add(f"{V3}/table3/{model}/top1", top1, V3, "Table 3")
    _add(f"{V3}/table3/{model}/madds", madds, V3, "Table 3")
    _add(f"{V3}/table3/{model}/params", params, V3, "Table 3")
_add(f"{V3}/table3/large_1.0/latency", "51 ms", V3, "Table 3", "Google Pixel 1, TF-Lite, one large core")
_add(f"{V3}/table3/small_1.0/latency", "15.8 ms", V3, "Table 3", "Google Pixel 1, TF-Lite, one large core")
_add(f"{V3}/table9/large_1.0/madds", "217M", V3, "Table 9 (appendix)")
_add(f"{V3}/table9/small_1.0/madds", "57M", V3, "Table 9 (appendix)")
_add(f"{V3}/sec5.1/last_stage/madds_saved", "30M", V3, "Sec. 5.1")
_add(f"{V3}/sec5.1/last_stage/latency_saved_pct", "11%", V3, "Sec. 5.1", "7 ms on a Pixel 1")
_add(f"{V3}/sec5.1/stem/madds_saved", "10M", V3, "Sec. 5.1", "and 2 ms")
# Sec. 5.1: the efficient last stage "reduces the latency by 7 milliseconds"; the 16-filter stem
# "saves an additional 2 milliseconds" (Pixel 1).
_add(f"{V3}/sec5.1/last_stage/latency_saved", "7 ms", V3, "Sec. 5.1", "Google Pixel 1")
_add(f"{V3}/sec5.1/stem/latency_saved", "2 ms", V3, "Sec. 5.1", "Google Pixel 1")
_add(f"{V3}/table5/relu_instead_of_hswish/top1_delta", "0.7%", V3, "Table 5", "a drop")
# Sec. 4.1: MnasNet's reward ACC(m)·[LAT(m)/TAR]^w (MnasNet below) with w = −0.15 for the search
# of MobileNetV3-Small ("accuracy changes much more dramatically with latency for small
# models"). Stored as its magnitude.
_add(f"{V3}/sec4.1/w", "0.15", V3, "Sec. 4.1",
     "w = −0.15 for the small models, whose accuracy changes faster with latency (stored as its magnitude)")
# Detection and segmentation heads (chapter 4b), as published: Table 6 (SSDLite, COCO test; † = channels
# between C4 and C5 halved; latency on one large core of a Pixel 1).
for row, mAP, ms, params, madds in [
    ("v1", "22.2", "228 ms", "5.1M", "1.3B"), ("v2", "22.1", "162 ms", "4.3M", "0.80B"),
    ("mnasnet", "23.0", "174 ms", "4.88M", "0.84B"), ("v3", "22.0", "137 ms", "4.97M", "0.62B"),
    ("v3_reduced", "22.0", "119 ms", "3.22M", "0.51B"), ("v2_0.35", "13.7", "66 ms", "0.93M", "0.16B"),
    ("v2_0.5", "16.6", "79 ms", "1.54M", "0.27B"), ("mnasnet_0.35", "15.6", "68 ms", "1.02M", "0.18B"),
    ("mnasnet_0.5", "18.5", "85 ms", "1.68M", "0.29B"), ("v3_small", "16.0", "52 ms", "2.49M", "0.21B"),
    ("v3_small_reduced", "16.1", "43 ms", "1.77M", "0.16B"),
]:
    _add(f"{V3}/table6/{row}/map", mAP, V3, "Table 6", "COCO test mAP, as published")
    _add(f"{V3}/table6/{row}/latency", ms, V3, "Table 6", "Google Pixel 1, one large core")
    _add(f"{V3}/table6/{row}/params", params, V3, "Table 6")
    _add(f"{V3}/table6/{row}/madds", madds, V3, "Table 6")
# Table 7 (Cityscapes val, single scale): RF2 = last block's filters halved, SH = LR-ASPP
# (else R-ASPP), F = head filters; CPU(f) / CPU(h) at 1024×2048 / 512×1024, one large core of a Pixel 3.
for n, miou, params, madds, full, half in [
    (1, "72.84", "2.11M", "21.29B", "3.90 s", "1.02 s"), (2, "72.56", "1.15M", "13.68B", "3.03 s", "793 ms"),
    (3, "72.97", "1.02M", "12.83B", "2.98 s", "786 ms"), (4, "72.74", "0.98M", "12.57B", "2.89 s", "766 ms"),
    (5, "72.64", "3.60M", "18.43B", "3.55 s", "906 ms"), (6, "71.91", "1.76M", "11.24B", "2.60 s", "668 ms"),
    (7, "72.37", "1.63M", "10.33B", "2.55 s", "659 ms"), (8, "72.36", "1.51M", "9.74B", "2.47 s", "657 ms"),
    (9, "68.57", "0.28M", "4.00B", "1.59 s", "415 ms"), (10, "66.83", "0.16M", "2.54B", "1.27 s", "354 ms"),
    (11, "68.38", "0.47M", "2.90B", "1.21 s", "327 ms"),
]:
    _add(f"{V3}/table7/{n}/miou", miou, V3, "Table 7", "Cityscapes val mIOU, as published")
    _add(f"{V3}/table7/{n}/params", params, V3, "Table 7")
    _add(f"{V3}/table7/{n}/madds", madds, V3, "Table 7")
    _add(f"{V3}/table7/{n}/cpu_full", full, V3, "Table 7", "1024×2048 input, Google Pixel 3, one large core, float")
    _add(f"{V3}/table7/{n}/cpu_half", half, V3, "Table 7", "512×1024 input, Google Pixel 3, one large core, float")

# --- MnasNet ----------------------------------------------------------------------------------
_source("mnasnet", "Tan et al. 2019, MnasNet, arXiv 1807.11626v3")
# Sec. 3, eq. 2: reward ACC(m) × [LAT(m)/T]^w with w = α = β = −0.07 (a soft constraint), chosen so
# that twice the latency is worth about 5% more accuracy; T = 75 ms on a Pixel 1 (one big core). w is
# stored as its magnitude.
_add("mnasnet/sec3/w", "0.07", "mnasnet", "Sec. 3, eq. 2",
     "w = −0.07 in ACC(m)·[LAT(m)/T]^w, a soft constraint (stored as its magnitude)")
_add("mnasnet/sec3/doubling_gain", "5%", "mnasnet", "Sec. 3",
     "doubling the latency usually brings about 5% relative accuracy gain")
_add("mnasnet/sec4/target_latency", "75 ms", "mnasnet", "implementation details", "Pixel 1, one big CPU core")
_add("mnasnet/table1/a1/top1", "75.2%", "mnasnet", "Table 1")
_add("mnasnet/table1/a1/latency", "78 ms", "mnasnet", "Table 1", "Pixel 1")

# --- EfficientNet: B0, what Lite0 is with SE and swish put back -------------------------------
_source("efficientnet", "Tan & Le 2019, EfficientNet, arXiv 1905.11946v5")
_source("efficientnet_builder", "tensorflow/tpu, models/official/efficientnet/efficientnet_builder.py (efficientnet_params)")
_add("efficientnet/b0/params", "5.3M", "efficientnet", "Table 2")
_add("efficientnet/b0/madds", "0.39B", "efficientnet", "Table 2", "printed as FLOPS; the count is multiply-adds")
# Sec. 4 (compound scaling, eq. 3): depth d = α^φ, width w = β^φ, resolution r = γ^φ with
# α·β²·γ² ≈ 2; a grid search at φ = 1 gives B0's α = 1.2, β = 1.1, γ = 1.15.
for name, coefficient in [("alpha", "1.2"), ("beta", "1.1"), ("gamma", "1.15")]:
    _add(f"efficientnet/sec4/{name}", coefficient, "efficientnet", "Sec. 4", f"{name}: compound scaling coefficient")
# The reference builder's (width, depth, resolution) of B3 and B4: EfficientNet-Lite3 and Lite4 take
# their width and depth but run at 280 and 300 px (efficientnet_lite.SCALING).
for b, width, depth, resolution in [(3, "1.2", "1.4", "300"), (4, "1.4", "1.8", "380")]:
    _add(f"efficientnet/builder/b{b}/width", width, "efficientnet_builder", f"efficientnet-b{b}")
    _add(f"efficientnet/builder/b{b}/depth", depth, "efficientnet_builder", f"efficientnet-b{b}")
    _add(f"efficientnet/builder/b{b}/resolution", resolution, "efficientnet_builder", f"efficientnet-b{b}", "pixels")

# --- EfficientNet-Lite ------------------------------------------------------------------------
LITE = _source("efficientnet_lite", "tensorflow/tpu, models/official/efficientnet/lite/README.md")
_source("efficientnet_lite_blog", "Liu 2020, Higher accuracy on vision models with EfficientNet-Lite, TensorFlow Blog")
for i, params, madds, fp32, int8, ms_fp32, ms_int8 in [
    (0, "4.7M", "407M", "75.1%", "74.4%", "12 ms", "6.5 ms"),
    (1, "5.4M", "631M", "76.7%", "75.9%", "18 ms", "9.1 ms"),
    (2, "6.1M", "899M", "77.6%", "77.0%", "26 ms", "12 ms"),
    (3, "8.2M", "1.44B", "79.8%", "79.0%", "41 ms", "18 ms"),
    (4, "13.0M", "2.64B", "81.5%", "80.2%", "76 ms", "30 ms"),
]:
    key = f"{LITE}/lite{i}"
    _add(f"{key}/params", params, LITE, "model table")
    _add(f"{key}/madds", madds, LITE, "model table")
    _add(f"{key}/top1", fp32, LITE, "model table", "float32")
    _add(f"{key}/top1_int8", int8, LITE, "model table", "post-training int8")
    _add(f"{key}/latency", ms_fp32, LITE, "model table", "Pixel 4 CPU, 4 threads, float32")
    _add(f"{key}/latency_int8", ms_int8, LITE, "model table", "Pixel 4 CPU, 4 threads, int8")
# The release blog's "integer-only quantized EfficientNet-Lite4, achieves 80.4% ImageNet top-1",
# which the README's table (80.2% int8, 81.5% float) does not repeat.
_add(f"{LITE}/blog/lite4/top1_int8", "80.4%", "efficientnet_lite_blog", "announcement, 16 March 2020",
     "the README's table gives 80.2% (int8) and 81.5% (float32)")
# The blog's reason for ReLU6: the first post-training int8 conversion of the swish (float)
# model lost most of its top-1, because its activations spanned about [−168, 204] — a wide
# range for 256 integer levels. 46% is what two independent summaries of the blog quote (the
# original page could not be read here); the notes this book grew from wrote "75 -> 48". The
# range's low end is stored as a magnitude.
_add(f"{LITE}/blog/swish/top1", "75%", "efficientnet_lite_blog", "section on ReLU6",
     "float model with swish, before quantization")
_add(f"{LITE}/blog/swish/top1_int8", "46%", "efficientnet_lite_blog", "section on ReLU6",
     "the same model after post-training int8, as two summaries of the blog quote it; the seed notes wrote 48")
_add(f"{LITE}/blog/swish/range_low", "168", "efficientnet_lite_blog", "section on ReLU6",
     "magnitude: the activation range's low end is −168")
_add(f"{LITE}/blog/swish/range_high", "204", "efficientnet_lite_blog", "section on ReLU6",
     "high end of the activation range")

# --- Quantization whitepaper (chapter 5's int8 study cites it) ------------------------------------
_source("krishnamoorthi2018", "Krishnamoorthi 2018, Quantizing deep convolutional networks for efficient inference: "
                              "a whitepaper, arXiv 1806.08342")

# --- MobileOne --------------------------------------------------------------------------------
MO = _source("mobileone", "Vasu et al. 2022, MobileOne, arXiv 2206.04040")
_source("ml_mobileone", "apple/ml-mobileone, README.md (ImageNet top-1, iPhone 12 latency)")
_source("mmpretrain", "open-mmlab/mmpretrain, configs/mobileone/README.md (inference form)")
for i, top1, ms, params, gmacs in [(0, "71.4%", "0.79 ms", "2.08M", "0.27G"), (1, "75.9%", "0.89 ms", "4.76M", "0.82G"),
                                   (2, "77.4%", "1.18 ms", "7.81M", "1.30G"), (3, "78.1%", "1.53 ms", "10.08M", "1.89G"),
                                   (4, "79.4%", "1.86 ms", "14.84M", "2.98G")]:
    _add(f"{MO}/s{i}/top1", top1, "ml_mobileone", "model table")
    _add(f"{MO}/s{i}/latency", ms, "ml_mobileone", "model table", "iPhone 12, Core ML")
    _add(f"{MO}/s{i}/params", params, "mmpretrain", "model table", "re-parameterized")
    _add(f"{MO}/s{i}/madds", gmacs, "mmpretrain", "model table", "re-parameterized")
# Table 1: Spearman's rank correlation of latency with FLOPs and with parameters over the paper's
# efficient architectures, on an iPhone 12 ("mobile") and on a desktop CPU. The paper's text: latency
# is moderately correlated with FLOPs and weakly with parameters on mobile, and less on a desktop CPU.
_source("mobileone_table1_secondary", "Vasu et al. 2022, MobileOne, arXiv 2206.04040, in a secondary transcription "
                                      "at blog.csdn.net/m0_63642362/article/details/130652239")
for device, where, flops, params in [("mobile", "mobile (iPhone 12)", "0.47", "0.30"),
                                     ("cpu", "desktop CPU", "0.06", "0.07")]:
    for metric, printed in [("flops", flops), ("params", params)]:
        _add(f"{MO}/table1/{device}/{metric}_spearman", printed, "mobileone_table1_secondary", f"Table 1, {where}",
             "secondary transcription of Table 1; the primary text was not readable here")

# --- ShuffleNetV2 -----------------------------------------------------------------------------
_source("shufflenet_v2", "Ma et al. 2018, ShuffleNet V2, arXiv 1807.11164")
# G1 is an inequality, not a number: MAC ≥ 2·sqrt(h·w·B) + B/(h·w), equality at c1 = c2 (Sec. 3, Eq. 1).

# --- NetAdapt ---------------------------------------------------------------------------------
_source("netadapt", "Yang et al. 2018, NetAdapt, ECCV 2018 (arXiv 1804.03230)")   # chapter 8's claims cite it

# --- nn-Meter ---------------------------------------------------------------------------------
_source("nn_meter", "Zhang et al. 2021, nn-Meter, MobiSys 2021 (device figures also in microsoft/nn-Meter, "
                    "README.md)")
_source("nn_meter_baselines", "Zhang et al. 2021, nn-Meter, MobiSys 2021, baselines as reported in secondary "
                              "sources (not checked against the paper's table here)")
# nn-Meter: share of the 26,000 test models predicted within ±10% of their measured latency.
for device, printed, where in [("pixel4_cpu", "99.0%", "Pixel 4 CPU (Cortex-A76), TFLite 2.1"),
                               ("mi9_gpu", "99.1%", "Mi9 GPU (Adreno 640), TFLite 2.1"),
                               ("pixel3xl_gpu", "99.0%", "Pixel 3XL GPU (Adreno 630), TFLite 2.1"),
                               ("vpu", "83.4%", "Intel Movidius NCS2 VPU, OpenVINO 2019R2")]:
    _add(f"nn_meter/within10/{device}", printed, "nn_meter", "headline results (README table)", where)
for item, printed, note in [("unseen", "89.2%", "nn-Meter on models unseen in its training set"),
                            ("flops", "22.1%", "a FLOPs-based predictor"),
                            ("flops_mac", "17.1%", "FLOPs + memory access"),
                            ("brp_nas", "8.5%", "BRP-NAS, a graph network"),
                            ("op_sum_cpu", "91.3%", "per-op latencies summed without fusion, mobile CPU"),
                            ("op_sum_gpu", "53.7%", "per-op latencies summed without fusion, mobile GPU"),
                            ("op_sum_vpu", "8.5%", "per-op latencies summed without fusion, VPU")]:
    _add(f"nn_meter/within10/{item}", printed, "nn_meter_baselines", "evaluation", note)

# --- Reference implementations: exact parameter counts (numel of all parameters, 1000 classes) -----
_source("tf_slim_layout", "TF-slim MobileNetV1 layout (BN, GAP, Linear head), numel of all parameters")
_source("torchvision", "pytorch/vision, torchvision.models (mobilenet_v2, mobilenet_v3_large/small)")
_source("timm", "huggingface/pytorch-image-models, timm efficientnet_lite0-4")
_source("ml_mobileone_code", "apple/ml-mobileone, mobileone.py (train-time and reparameterized forms)")
for width, count in [("1.0", "4,231,976"), ("0.75", "2,585,560"), ("0.5", "1,331,592"), ("0.25", "470,072")]:
    _add(f"reference/mobilenet_v1/{width}/params", count, "tf_slim_layout", "α = " + width)
for width, count in [("1.0", "3,504,872"), ("0.75", "2,636,424"), ("0.5", "1,968,680"), ("0.35", "1,677,128"),
                     ("1.4", "6,108,776")]:
    _add(f"reference/mobilenet_v2/{width}/params", count, "torchvision", "width " + width)
_add("reference/mobilenet_v3_large/1.0/params", "5,483,032", "torchvision", "width 1.0")
_add("reference/mobilenet_v3_small/1.0/params", "2,542,856", "torchvision", "width 1.0")
for i, count in enumerate(["4,652,008", "5,416,680", "6,092,072", "8,197,096", "13,006,568"]):
    _add(f"reference/efficientnet_lite{i}/params", count, "timm", f"efficientnet_lite{i}")
for i, (train, fused) in enumerate([("5,293,272", "2,078,504"), ("4,825,192", "4,764,840"),
                                    ("7,884,648", "7,808,168"), ("10,170,600", "10,078,312"),
                                    ("14,951,248", "14,838,352")]):
    _add(f"reference/mobileone_s{i}/train/params", train, "ml_mobileone_code", f"S{i}, train-time")
    _add(f"reference/mobileone_s{i}/reparameterized/params", fused, "ml_mobileone_code", f"S{i}, inference")
# torchvision 0.29.1's reference detectors and segmenters: exact parameter counts, and ``_ops``
# (shown as "GFLOPS" in the docs; on the classifiers it equals multiply-adds, in units of 10⁹).
_source("torchvision_heads", "pytorch/vision 0.29.1, detection/segmentation weights metadata "
                             "(num_params, _ops, metrics)")
for model, params, ops, metric, what in [
    ("ssdlite320_mobilenet_v3_large", "3,440,060", "0.583", "21.3", "COCO val2017 box mAP"),
    ("deeplabv3_mobilenet_v3_large", "11,029,328", "10.452", "60.3", "COCO val2017 (VOC labels) mIOU"),
    ("lraspp_mobilenet_v3_large", "3,221,538", "2.086", "57.9", "COCO val2017 (VOC labels) mIOU"),
]:
    _add(f"torchvision/{model}/params", params, "torchvision_heads", model)
    _add(f"torchvision/{model}/ops", ops, "torchvision_heads", model, "_ops: 10⁹ multiply-adds (inferred)")
    _add(f"torchvision/{model}/metric", metric, "torchvision_heads", model, what + ", as published")
