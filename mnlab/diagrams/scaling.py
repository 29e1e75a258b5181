"""Chapter 5: EfficientNet's compound scaling and the Lite block, read from the models.

The scaling factors are the Lite README's table as ``mnlab.models.efficientnet_lite.SCALING``
holds it; each network drawn is built by ``efficientnet_lite`` and counted by ``analyze``.
"""
from __future__ import annotations

from typing import NamedTuple

from matplotlib.figure import Figure
from torch import nn

from mnlab.analysis import analyze
from mnlab.diagrams.blocks import flow
from mnlab.diagrams.read import layers
from mnlab.diagrams.style import PALETTE, bar, canvas, diagram, millions, text, title
from mnlab.models.efficientnet_lite import SCALING, efficientnet_lite
from mnlab.models.layers import DepthwiseSeparable, InvertedResidual

#: The EfficientNet-Lite block drawn with and without EfficientNet's changes, ``features[5]``,
#: the second block of the 28 × 28 stage (40 → 240 → 40, 5×5, stride 1, with its shortcut).
LITE_BLOCK, LITE_BLOCK_INPUT = 5, (1, 40, 28, 28)


class Scaled(NamedTuple):
    """One network of the compound-scaling figure."""

    name: str
    width: float
    depth: float
    resolution: int
    block_channels: list[int]   # output channels of every block, input to output
    macs: int


def scaled(name: str, width: float, depth: float, resolution: int) -> Scaled:
    """Build ``efficientnet_lite(width, depth)``, read its blocks' widths, count it at ``resolution``."""
    model = efficientnet_lite(width_mult=width, depth=depth).eval()
    blocks = [m for m in model.features if isinstance(m, (InvertedResidual, DepthwiseSeparable))]
    channels = [_out_channels(b) for b in blocks]
    return Scaled(name, width, depth, resolution, channels, int(analyze(model, resolution).totals["macs"]))


def _out_channels(block: nn.Module) -> int:
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels


def scaling_networks(base: str = "efficientnet_lite0", top: str = "efficientnet_lite4") -> list[Scaled]:
    """EfficientNet's Figure 2 with the Lite table's numbers: ``base``, then ``top``'s width, depth
    and resolution applied one at a time, then all three (which is ``top`` itself)."""
    b, t = SCALING[base], SCALING[top]
    return [scaled("baseline", b.width, b.depth, b.resolution),
            scaled("wider", t.width, b.depth, b.resolution),
            scaled("deeper", b.width, t.depth, b.resolution),
            scaled("higher resolution", b.width, b.depth, t.resolution),
            scaled("compound", t.width, t.depth, t.resolution)]


@diagram
def compound_scaling() -> Figure:
    """Width, depth and resolution scaled one at a time and together (EfficientNet's Figure 2),
    each network built from the Lite scaling table and drawn to scale: a bar per block, as wide
    as its channels; the input square as large as the resolution."""
    nets = scaling_networks()
    fig, ax = canvas(9.8, 5.3)
    scale = 1.5 / max(max(n.block_channels) for n in nets)
    pixel = 0.85 / max(n.resolution for n in nets)
    h, gap = 0.07, 0.022
    for i, net in enumerate(nets):
        x = 1.0 + i * 1.95
        title(ax, x, 5.1, net.name)
        side = net.resolution * pixel
        bar(ax, x - side / 2, 1.35 - side, side, side, "tensor", gid=f"{net.name}:input")
        text(ax, x, 1.35 - side - 0.12, f"{net.resolution} px", size=8)
        y = 1.45
        for j, channels in enumerate(net.block_channels):
            bar(ax, x - channels * scale / 2, y, channels * scale, h, "pointwise", gid=f"{net.name}:block:{j}")
            y += h + gap
        text(ax, x, 4.8, f"width × {net.width:g} · depth × {net.depth:g}\n{len(net.block_channels)} blocks, "
             f"widest {max(net.block_channels)}", size=7.5)
        text(ax, x, 4.45, f"{millions(net.macs)} MACs", size=8.5, weight="bold")
    text(ax, 4.9, 0.1, "Lite scaling table (mnlab.models.efficientnet_lite.SCALING): Lite0 = baseline, "
         "Lite4 = compound; stem and head fixed", size=7.5, colour=PALETTE["identity"])
    return fig


@diagram
def lite_block() -> Figure:
    """EfficientNet-B0's MBConv (squeeze-and-excite, swish) beside EfficientNet-Lite's (neither:
    ReLU6), both read from ``efficientnet_lite`` with and without the Lite changes."""
    b0 = layers(efficientnet_lite(squeeze_excite=True, activation=nn.SiLU).features[LITE_BLOCK],
                LITE_BLOCK_INPUT)
    lite = layers(efficientnet_lite().features[LITE_BLOCK], LITE_BLOCK_INPUT)
    fig, ax = canvas(10.0, 5.0)
    scale = 2.0 / b0[0].out_channels
    title(ax, 2.3, 4.8, "EfficientNet-B0: MBConv with SE and swish")
    flow(ax, 2.3, 4.4, b0, b0[0].in_channels, b0[0].size, scale=scale, shortcut=True, prefix="b0:")
    title(ax, 7.9, 4.8, "EfficientNet-Lite: no SE, ReLU6")
    flow(ax, 7.9, 4.4, lite, lite[0].in_channels, lite[0].size, scale=scale, shortcut=True, prefix="lite:")
    se = [layer for layer in b0 if ".se." in f".{layer.name}."]
    text(ax, 7.9, 0.55, f"B0's SE squeezes to 1/4 of the block's input ({se[0].out_channels} of "
         f"{b0[0].in_channels}),\nnot of the expansion as MobileNetV3's does", size=7.5, colour=PALETTE["identity"])
    return fig
