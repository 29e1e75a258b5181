"""Chapter 4b: a MobileNet as a backbone — SSDLite's feature maps and predictors, and LR-ASPP.

Both diagrams are read from the networks the chapter counts (:mod:`mnlab.models.detection`,
:mod:`mnlab.models.segmentation`): which tap feeds which map, every map's channels and size,
every predictor's outputs, every head layer's Mult-Adds, counted by :func:`mnlab.analysis.analyze`
at the paper's input.
"""
from __future__ import annotations

from typing import NamedTuple

from matplotlib.figure import Figure

from mnlab.analysis import analyze
from mnlab.diagrams.read import layers
from mnlab.diagrams.style import PALETTE, activation_name, arrow, bar, box, canvas, diagram, millions, text, title
from mnlab.models.detection import ssd
from mnlab.models.segmentation import lraspp
from mnlab.studies.backbones import DETECTION_INPUT, V2_RECIPE

#: The detector drawn — MobileNetV2 + SSDLite with V2 Table 5/6's recipe, at 320 × 320.
SSDLITE_BACKBONE = "mobilenet_v2"
#: The segmenter drawn — V3 Table 7's row 8 — V3-Large with RF2, LR-ASPP with 128 filters, at
#: DeepLab's 1025 × 2049 Cityscapes crop.
LRASPP_INPUT = (1, 3, 1025, 2049)


class FeatureMap(NamedTuple):
    """One of SSDLite's feature maps: where it comes from, its shape and its two predictors."""

    source: str          # "C4", "C5" or "extra j"
    channels: int
    size: int            # side in pixels at the detector's input
    anchors: int         # default boxes per position
    box_outputs: int     # 4 · anchors
    class_outputs: int   # scores · anchors
    predictor_macs: int  # both predictors (3×3 depthwise + 1×1 each)


def ssdlite_maps() -> tuple[list[FeatureMap], dict]:
    """SSDLite on MobileNetV2 (V2 Table 5/6's recipe) at 320 × 320, read from the model: its six
    maps, and totals (``head_macs``: extra layers and predictors; ``boxes``; ``scores``;
    ``extra``: the first extra layer's three convolutions)."""
    model = ssd(SSDLITE_BACKBONE, **V2_RECIPE)
    rows = layers(model, DETECTION_INPUT)
    taps = list(model.backbone.channels)
    maps = []
    for i in range(len(model.class_head)):
        head = [r for r in rows if r.name.startswith((f"box_head.{i}.", f"class_head.{i}."))]
        box_out, class_out = model.box_head[i][1].out_channels, model.class_head[i][1].out_channels
        maps.append(FeatureMap(taps[i] if i < len(taps) else f"extra {i - len(taps) + 1}", head[0].in_channels,
                               head[0].size, box_out // 4, box_out, class_out, sum(r.macs for r in head)))
    extra = [r for r in rows if r.name.startswith("extra.0.")]
    head_macs = sum(r.macs for r in rows if not r.name.startswith("backbone."))
    return maps, {"head_macs": head_macs, "boxes": sum(m.size ** 2 * m.anchors for m in maps),
                  "scores": model.num_classes, "extra": extra}


def _map_column(ax, x: float, top: float, m: FeatureMap, i: int) -> None:
    """One feature map (a square, side to scale) with its label and, below, its two predictors."""
    side = 0.055 * m.size
    bar(ax, x - side / 2, top - side, side, side, "tensor", gid=f"ssdlite:map:{i}")
    text(ax, x, top - 1.2, f"{m.channels} × {m.size}²", size=8, weight="bold")
    text(ax, x, top - 1.42, m.source, size=7.5, colour=PALETTE["identity"], style="italic")
    for j, (what, outputs) in enumerate([("scores", m.class_outputs), ("offsets", m.box_outputs)]):
        y = top - 1.95 - 0.52 * j
        box(ax, x - 0.56, y - 0.21, 1.12, 0.42, f"3×3 dw · 1×1 → {m.anchors}\n× {outputs // m.anchors} = "
            f"{outputs} {what}", "linear", gid=f"ssdlite:{what}:{i}", fontsize=7)
    arrow(ax, (x, top - 1.52), (x, top - 1.74))
    text(ax, x, top - 3.05, f"{m.anchors} × {m.size}² = {m.anchors * m.size ** 2:,}\nboxes", size=7.5)
    text(ax, x, top - 3.45, f"{millions(m.predictor_macs)} MACs", size=7.5, colour=PALETTE["identity"])


@diagram
def ssdlite_head() -> Figure:
    """SSDLite on MobileNetV2: C4 and C5 from the backbone, four extra layers, and a separable
    box and class predictor on each of the six maps; every number read from the model."""
    maps, totals = ssdlite_maps()
    fig, ax = canvas(9.8, 5.0)
    title(ax, 4.9, 4.83, f"SSDLite on MobileNetV2 at {DETECTION_INPUT} × {DETECTION_INPUT}: six feature maps, "
          "two separable predictors each")
    box(ax, 0.15, 2.55, 1.3, 1.75, "MobileNetV2\nfeatures\n(classifier\ncut off)", "pointwise", gid="ssdlite:backbone",
        fontsize=8)
    xs = [2.5 + 1.22 * i for i in range(len(maps))]
    top = 4.3
    for i, (x, m) in enumerate(zip(xs, maps)):
        _map_column(ax, x, top, m, i)
    arrow(ax, (1.45, 3.75), (xs[0] - 0.58, 3.75))
    text(ax, 1.5, 3.85, "C4: expansion\nin block 14", size=7, ha="left", va="bottom")
    arrow(ax, (1.45, 2.9), (xs[1] - 0.3, 2.9), connection="arc3,rad=0.12")
    text(ax, 1.55, 2.78, "C5: last conv", size=7, ha="left", va="top")
    for x0, x1 in zip(xs[1:], xs[2:]):
        arrow(ax, (x0 + 0.32, 4.0), (x1 - 0.2, 4.0), colour=PALETTE["pointwise"])
    squeeze, dw, expand = totals["extra"]
    text(ax, (xs[1] + xs[-1]) / 2, 4.47, f"extra layers: 1×1 to half the width ({squeeze.in_channels}→"
         f"{squeeze.out_channels}), 3×3 dw stride 2, 1×1 ({expand.in_channels}→{expand.out_channels}); "
         f"BN · {dw.activation}", size=7.5, colour=PALETTE["pointwise"])
    text(ax, 4.9, 0.35, f"{totals['boxes']:,} default boxes, each with 4 offsets and {totals['scores']} scores · "
         f"head (extra layers + predictors): {millions(totals['head_macs'])} MACs", size=8.5, weight="bold")
    text(ax, 4.9, 0.1, f"mnlab.models.ssd({SSDLITE_BACKBONE!r}, num_classes={V2_RECIPE['num_classes']}, "
         f"anchors={V2_RECIPE['anchors']})", size=7.5, colour=PALETTE["identity"])
    return fig


def lraspp_rows() -> dict[str, dict]:
    """V3 Table 7's row 8 (LR-ASPP, 128 filters, V3-Large RF2) at 1025 × 2049, its head read
    from the counter: each head op by module name, with its input and output shapes and MACs;
    ``"input"`` holds the two taps (``stride8_dw`` and ``C5``)."""
    model = lraspp("mobilenet_v3_large", reduced_tail="segmentation").eval()
    table = analyze(model, LRASPP_INPUT).layers
    found = {}
    for row in table.itertuples(index=False):
        if row.name.startswith("head") or row.name == "":
            key = f"{row.name or 'output'}:{row.op}"
            found[key] = {"in": tuple(row.input_shape), "out": tuple(row.output_shape), "macs": int(row.macs)}
    skip, deep = model.head_taps
    found["head.cbr.0:conv2d"]["activation"] = activation_name(model.head.cbr[2])
    found["input"] = {"skip": (skip, model.backbone.channels[skip]), "deep": (deep, model.backbone.channels[deep])}
    return found


def _shape(s: tuple) -> str:
    return f"{s[1]} × {s[2]}×{s[3]}"


@diagram
def lraspp_head() -> Figure:
    """LR-ASPP on MobileNetV3-Large (V3 Table 7, row 8): a 1×1 branch on C5 gated SE-like by a
    pooled 1×1 + sigmoid, upsampled to the stride-8 skip, both mapped to the classes, summed
    and upsampled; shapes and Mult-Adds read from the model at 1025 × 2049."""
    r = lraspp_rows()
    cbr, gate = r["head.cbr.0:conv2d"], r["head.scale.1:conv2d"]
    up, high, low = r["head:interpolate"], r["head.high_classifier:conv2d"], r["head.low_classifier:conv2d"]
    final = r["output:interpolate"]
    (skip_name, _), (deep_name, _) = r["input"]["skip"], r["input"]["deep"]
    convs = sum(k.endswith(":conv2d") for k in r)
    fig, ax = canvas(9.8, 4.3)
    title(ax, 4.9, 4.1, f"LR-ASPP (MobileNetV3 Table 7, row 8): the whole head is {convs} convolutions")
    box(ax, 0.15, 0.9, 1.35, 2.6, f"MobileNetV3-\nLarge\n(RF2, output\nstride 16)", "pointwise",
        gid="lraspp:backbone", fontsize=8)
    y_hi, y_lo, y_gate = 2.55, 1.05, 3.45
    text(ax, 2.0, y_hi + 0.32, f"{deep_name}\n{_shape(cbr['in'])}", size=7.5)
    text(ax, 2.0, y_lo + 0.32, f"{skip_name}\n{_shape(low['in'])}", size=7.5)
    arrow(ax, (1.5, y_hi), (2.75, y_hi))
    arrow(ax, (1.5, y_lo), (5.65, y_lo))
    box(ax, 2.75, y_hi - 0.3, 1.45, 0.6, f"1×1 conv, {cbr['in'][1]}→{cbr['out'][1]}\nBN · {cbr['activation']}\n"
        f"{millions(cbr['macs'])} MACs", "pointwise", gid="lraspp:cbr", fontsize=7.5)
    box(ax, 2.75, y_gate - 0.3, 1.45, 0.6, f"global pool → 1×1,\n{gate['in'][1]}→{gate['out'][1]} · sigmoid\n"
        f"{millions(gate['macs'])} MACs", "se", gid="lraspp:gate", fontsize=7.5)
    arrow(ax, (2.3, y_hi), (2.3, y_gate), style="-")
    arrow(ax, (2.3, y_gate), (2.75, y_gate))
    arrow(ax, (4.2, y_gate), (4.55, y_hi + 0.12), connection="arc3,rad=-0.2")
    arrow(ax, (4.2, y_hi), (4.45, y_hi))
    text(ax, 4.55, y_hi, "×", size=13, weight="bold", colour=PALETTE["se"])
    arrow(ax, (4.68, y_hi), (5.0, y_hi))
    box(ax, 5.0, y_hi - 0.3, 1.3, 0.6, f"bilinear up to\n{up['out'][2]}×{up['out'][3]}", "tensor",
        gid="lraspp:upsample", fontsize=7.5)
    arrow(ax, (6.3, y_hi), (6.6, y_hi))
    box(ax, 6.6, y_hi - 0.3, 1.35, 0.6, f"1×1 conv, {high['in'][1]}→{high['out'][1]}\n"
        f"{millions(high['macs'])} MACs", "linear", gid="lraspp:high", fontsize=7.5)
    box(ax, 5.65, y_lo - 0.3, 1.35, 0.6, f"1×1 conv, {low['in'][1]}→{low['out'][1]}\n"
        f"{millions(low['macs'])} MACs", "linear", gid="lraspp:low", fontsize=7.5)
    arrow(ax, (7.95, y_hi), (8.3, y_lo + 0.12), connection="arc3,rad=-0.25")
    arrow(ax, (7.0, y_lo), (8.18, y_lo))
    text(ax, 8.3, y_lo, "+", size=13, weight="bold", colour=PALETTE["identity"])
    arrow(ax, (8.3, y_lo - 0.12), (8.3, 0.55))
    text(ax, 8.3, 0.38, f"bilinear up to {final['out'][2]}×{final['out'][3]}:\n{final['out'][1]} class scores per pixel",
         size=7.5)
    head_macs = sum(v["macs"] for k, v in r.items() if k != "input")
    text(ax, 4.3, 0.35, f"head: {millions(head_macs)} MACs, no atrous branch; the gate is squeeze-and-excite\n"
         f"without its bottleneck (one 1×1)", size=8, colour=PALETTE["identity"])
    return fig
