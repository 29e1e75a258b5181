"""The diagrams' one style: a palette, the drawing primitives, and deterministic SVG output.

Every diagram is drawn on a blank canvas whose data units are inches, so a box 1.2 wide is
1.2 inches wide on the page and text sizes stay comparable between diagrams. Colours name
what a box *is* (the same kind of layer has the same colour in every diagram); the palette is
Okabe & Ito's, distinguishable with the common colour-vision deficiencies.
"""
from __future__ import annotations

import functools
import pathlib
from typing import TYPE_CHECKING, Any, Callable

import matplotlib
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Polygon, Rectangle
from matplotlib.text import Text
from torch import nn

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType   # matplotlib >= 3.9

#: Colour of each kind of element, the same in every diagram.
PALETTE: dict[str, str] = {
    "conv": "#E69F00",        # a full (standard) convolution
    "depthwise": "#009E73",   # a depthwise convolution: one filter per channel
    "pointwise": "#0072B2",   # a 1×1 convolution: mixes channels
    "linear": "#56B4E9",      # a layer without activation: the linear bottleneck, a classifier
    "se": "#CC79A7",          # squeeze-and-excite
    "activation": "#D55E00",  # non-linearities, named in the boxes
    "norm": "#999999",        # BatchNorm
    "tensor": "#BBBBBB",      # activations flowing between layers
    "identity": "#666666",    # shortcuts and identity branches
    "removed": "#DDDDDD",     # what a design step takes away
    "text": "#222222",
}

#: rcParams every diagram is drawn and saved with.
RC: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "svg.fonttype": "path",          # glyphs as paths: the SVG looks the same in every browser
    "svg.hashsalt": "mnlab-diagrams",  # ids of clip paths etc. stop depending on a random salt
    "path.simplify": False,
}

#: Metadata written into every SVG; ``Date: None`` drops the time stamp (same bytes every run).
SVG_METADATA = {"Date": None, "Creator": "mnlab.diagrams (matplotlib)"}

#: Display names of the activation modules, as the papers write them.
ACTIVATION_NAMES = {nn.ReLU: "ReLU", nn.ReLU6: "ReLU6", nn.Hardswish: "h-swish",
                    nn.Hardsigmoid: "h-sigmoid", nn.SiLU: "swish", nn.Sigmoid: "sigmoid"}


def activation_name(module: nn.Module) -> str:
    """The paper's name of an activation module (ReLU6, h-swish, …)."""
    for kind, name in ACTIVATION_NAMES.items():
        if type(module) is kind:
            return name
    raise ValueError(f"module must be one of the activations {[k.__name__ for k in ACTIVATION_NAMES]}, "
                     f"got {type(module).__name__}")


def tint(colour: str, amount: float = 0.75) -> tuple[float, float, float]:
    """``colour`` mixed with white: ``amount`` 0 is the colour, 1 is white."""
    r, g, b = (c + (1 - c) * amount for c in to_rgb(colour))
    return r, g, b


def diagram(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    """Decorator: draw under the diagrams' rcParams (fonts are fixed when text is created)."""
    @functools.wraps(draw)
    def wrapper(*args, **kwargs) -> Figure:
        with matplotlib.rc_context(RC):
            return draw(*args, **kwargs)
    return wrapper


def canvas(width: float, height: float) -> tuple[Figure, Axes]:
    """A blank figure ``width`` × ``height`` inches whose data units are inches; returns (fig, ax)."""
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def box(ax: Axes, x: float, y: float, w: float, h: float, text: str = "", kind: str = "tensor", *,
        gid: str | None = None, fontsize: float = 8.5, fill: float = 0.72, hatch: str | None = None,
        dashed: bool = False, text_colour: str | None = None) -> FancyBboxPatch:
    """A rounded box with its lower-left corner at (x, y), coloured by ``kind``, text centred."""
    colour = PALETTE[kind]
    patch = FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.06",
                           facecolor=tint(colour, fill), edgecolor=colour, linewidth=1.2,
                           hatch=hatch, linestyle="--" if dashed else "-")
    if gid:
        patch.set_gid(gid)
    ax.add_patch(patch)
    if text:
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize,
                color=text_colour or PALETTE["text"], linespacing=1.25)
    return patch


def bar(ax: Axes, x: float, y: float, w: float, h: float, kind: str = "tensor", *, gid: str | None = None,
        hatch: str | None = None) -> Rectangle:
    """A plain rectangle (a tensor drawn to scale): no rounding, so its width is exact."""
    colour = PALETTE[kind]
    patch = Rectangle((x, y), w, h, facecolor=tint(colour, 0.55), edgecolor=colour, linewidth=1.0,
                      hatch=hatch)
    if gid:
        patch.set_gid(gid)
    ax.add_patch(patch)
    return patch


def cuboid(ax: Axes, x: float, y: float, w: float, h: float, depth: float, kind: str = "tensor", *,
           gid: str | None = None) -> None:
    """A box in perspective (a tensor or a filter): front face w × h at (x, y), receding by ``depth``."""
    colour = PALETTE[kind]
    dx, dy = depth * 0.6, depth * 0.45
    faces = [([(x, y), (x + w, y), (x + w, y + h), (x, y + h)], 0.55),
             ([(x, y + h), (x + dx, y + h + dy), (x + w + dx, y + h + dy), (x + w, y + h)], 0.35),
             ([(x + w, y), (x + w + dx, y + dy), (x + w + dx, y + h + dy), (x + w, y + h)], 0.2)]
    for corners, amount in faces:
        patch = Polygon(corners, closed=True, facecolor=tint(colour, amount), edgecolor=colour,
                        linewidth=0.9)
        if gid:
            patch.set_gid(gid)
        ax.add_patch(patch)


def arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], *, colour: str | None = None,
          style: str = "-|>", connection: str = "arc3", dashed: bool = False, width: float = 1.1) -> FancyArrowPatch:
    """An arrow from ``start`` to ``end`` (``connection``: a matplotlib connectionstyle)."""
    patch = FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=10, shrinkA=0, shrinkB=0,
                            connectionstyle=connection, color=colour or PALETTE["identity"],
                            linewidth=width, linestyle="--" if dashed else "-")
    ax.add_patch(patch)
    return patch


def text(ax: Axes, x: float, y: float, s: str, *, size: float = 8.5, colour: str | None = None,
         ha: str = "center", va: str = "center", weight: str = "normal", style: str = "normal") -> Text:
    """Text at (x, y) in the diagrams' font."""
    return ax.text(x, y, s, ha=ha, va=va, fontsize=size, color=colour or PALETTE["text"],
                   fontweight=weight, fontstyle=style, linespacing=1.25)


def title(ax: Axes, x: float, y: float, s: str, *, ha: str = "center") -> Text:
    """A panel heading."""
    return text(ax, x, y, s, size=10, weight="bold", ha=ha)


def millions(n: float) -> str:
    """``462422016`` → ``"462.4M"``; small counts stay exact (``"903,168"``)."""
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{int(n):,}"


def save_svg(fig: Figure, path: str | pathlib.Path) -> pathlib.Path:
    """Write ``fig`` as SVG, byte-for-byte the same on every run (fixed hash salt, no date)."""
    path = pathlib.Path(path)
    with matplotlib.rc_context(RC):
        fig.savefig(path, format="svg", metadata=SVG_METADATA)
    return path
