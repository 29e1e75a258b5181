"""One drawing for every chain of layers: tensors as bars to scale, layers as boxes between them.

A MobileNet block is a chain: a tensor, a layer, a tensor, a layer, … :func:`flow` draws the
chain read by :func:`mnlab.diagrams.read.layers` top to bottom. Each tensor is a bar whose width
is its channel count times ``scale`` (so the widths of a block are to scale), each layer a box
coloured by its kind and labelled with its shape, its BatchNorm and its activation. A layer
without activation is marked *linear* and its output bar hatched. Squeeze-and-excite layers
(named ``…se…``) are drawn as a side branch, and ``shortcut=True`` adds the residual.
"""
from __future__ import annotations

from dataclasses import dataclass

from matplotlib.axes import Axes

from mnlab.diagrams.read import Layer
from mnlab.diagrams.style import PALETTE, arrow, bar, box, text

BOX_W, BOX_H, BAR_H = 2.25, 0.42, 0.13


@dataclass
class FlowLayout:
    """Where :func:`flow` put things: the y of every tensor bar (top to bottom) and the bottom."""

    bar_ys: list[float]
    bottom: float


def is_se(layer: Layer) -> bool:
    """A layer of a squeeze-and-excite branch (by its module name)."""
    return ".se." in f".{layer.name}."


def layer_text(layer: Layer) -> str:
    """Two lines: the layer's shape, then what follows it (BatchNorm, activation or *linear*)."""
    after = [f"BN" if layer.batchnorm else "no BN"]
    after.append(layer.activation if layer.activation else "linear")
    return f"{layer.label}\n{' · '.join(after)}"


def layer_kind(layer: Layer) -> str:
    """The palette entry of a layer: its conv kind, or *linear* when it has no activation."""
    if layer.activation is None and layer.kind == "pointwise":
        return "linear"
    return {"fc": "linear"}.get(layer.kind, layer.kind)


def _tensor(ax, x, y, channels, size, scale, gid, *, hatch=None, note=""):
    bar(ax, x - channels * scale / 2, y - BAR_H / 2, channels * scale, BAR_H,
        "linear" if hatch else "tensor", gid=gid, hatch=hatch)
    label = f"{channels} × {size}²" if size > 1 else f"{channels}"
    text(ax, x + channels * scale / 2 + 0.08, y, label + (f"  {note}" if note else ""), size=8, ha="left")


def _se_branch(ax, x, y, se_layers: list[Layer], prefix: str) -> None:
    """The SE branch beside the main chain at height ``y``: pool, reduce, expand, gate, ×."""
    reduce, expand = se_layers
    left = x + BOX_W / 2 + 0.35
    lines = (f"squeeze-and-excite\nglobal pool → {reduce.label}, {reduce.activation}\n"
             f"→ {expand.label}, {expand.activation}")
    box(ax, left, y - 0.33, 2.45, 0.66, lines, "se", gid=f"{prefix}se", fontsize=7.5)
    arrow(ax, (x + 0.02, y + 0.26), (left, y + 0.2), connection="arc3,rad=-0.15")
    arrow(ax, (left, y - 0.2), (x + 0.12, y - 0.3), connection="arc3,rad=-0.15")
    text(ax, x, y - 0.3, "×", size=12, weight="bold", colour=PALETTE["se"])


def flow(ax: Axes, x: float, top: float, layers: list[Layer], in_channels: int, in_size: int, *,
         scale: float, step: float = 0.5, shortcut: bool = False, prefix: str = "",
         linear_note: str = "linear bottleneck") -> FlowLayout:
    """Draw ``layers`` as a chain centred on ``x`` from ``top`` down (see the module docstring).

    Tensor bars get the gids ``{prefix}tensor:0`` (the input) … ``{prefix}tensor:n``, layer boxes
    ``{prefix}layer:{name}``. Returns the bars' heights and the lowest y used.
    """
    main = [layer for layer in layers if not is_se(layer)]
    se_layers = [layer for layer in layers if is_se(layer)]
    y = top
    bar_ys = [y]
    _tensor(ax, x, y, in_channels, in_size, scale, f"{prefix}tensor:0")
    for i, layer in enumerate(main, start=1):
        if se_layers and i > 1 and main[i - 2].kind == "depthwise":
            y -= 0.55
            _se_branch(ax, x, y + 0.1, se_layers, prefix)
            y -= 0.25
        arrow(ax, (x, y - BAR_H / 2), (x, y - step + BOX_H / 2 + 0.02))
        y -= step
        box(ax, x - BOX_W / 2, y - BOX_H / 2, BOX_W, BOX_H, layer_text(layer), layer_kind(layer),
            gid=f"{prefix}layer:{layer.name}", fontsize=8)
        arrow(ax, (x, y - BOX_H / 2), (x, y - step + BAR_H / 2 + 0.02))
        y -= step
        linear = layer.activation is None
        _tensor(ax, x, y, layer.out_channels, layer.size, scale, f"{prefix}tensor:{i}",
                hatch="////" if linear else None, note=linear_note if linear else "")
        bar_ys.append(y)
    if shortcut:
        left = x - max(BOX_W, in_channels * scale, main[-1].out_channels * scale) / 2 - 0.2
        y_add = y - 0.32
        arrow(ax, (x - in_channels * scale / 2, top), (left, top), style="-")
        arrow(ax, (left, top), (left, y_add), style="-")
        arrow(ax, (left, y_add), (x - 0.1, y_add))
        arrow(ax, (x, y - BAR_H / 2), (x, y_add + 0.09))
        text(ax, x, y_add, "+", size=13, weight="bold", colour=PALETTE["identity"])
        ax.text(left - 0.07, (top + y_add) / 2, "shortcut", rotation=90, ha="right", va="center",
                fontsize=8, fontstyle="italic", color=PALETTE["identity"])
        y = y_add
    return FlowLayout(bar_ys, y - 0.15)
