"""Chapters 1 and 2: the depthwise separable convolution and MobileNetV1.

The example layer is the paper's own (Table 3: Dk = 3, M = N = 512, DF = 14), built from
``mnlab.models.layers`` and counted by ``mnlab.analysis``; the network diagrams read
``mnlab.models.mobilenet_v1`` at several widths and resolutions.
"""
from __future__ import annotations

from matplotlib.figure import Figure

from mnlab.diagrams.blocks import flow
from mnlab.diagrams.read import Layer, layers
from mnlab.diagrams.style import (PALETTE, arrow, bar, canvas, cuboid, diagram, millions, text,
                                  title)
from mnlab.models import conv_mobilenet_v1, mobilenet_v1
from mnlab.models.layers import DepthwiseSeparable, conv_bn_act

#: MobileNetV1 Table 3's layer (3 × 3 kernel, 512 → 512 channels, 14 × 14 feature map).
TABLE3 = {"kernel": 3, "channels": 512, "size": 14}
#: ``features`` index of MobileNetV1's first 14 × 14 × 512 separable layer (Table 1).
V1_LAYER = 7


def table3_layers() -> dict[str, Layer]:
    """The standard 3×3 conv and the depthwise and pointwise convs of Table 3's layer, counted."""
    c, k, size = TABLE3["channels"], TABLE3["kernel"], TABLE3["size"]
    shape = (1, c, size, size)
    standard, = layers(conv_bn_act(c, c, k), shape)
    depthwise, pointwise = layers(DepthwiseSeparable(c, c, kernel_size=k), shape)
    return {"standard": standard, "depthwise": depthwise, "pointwise": pointwise}


def _panel(ax, x0: float, name: str, layer: Layer, formula: str, example: str, filters: str) -> None:
    cuboid(ax, x0, 1.75, 0.5, 0.5, 0.45, "tensor")
    text(ax, x0 + 0.38, 1.52, f"input\n{layer.size}×{layer.size}×{layer.in_channels}", size=7.5, va="top")
    text(ax, x0 + 0.98, 2.02, "∗", size=13)
    for i in range(3):
        if name == "depthwise":
            cuboid(ax, x0 + 1.18 + 0.1 * i, 1.86 + 0.08 * i, 0.18, 0.18, 0.03, "depthwise", gid=f"filter:{name}")
        else:
            side = 0.18 if name == "standard" else 0.07
            cuboid(ax, x0 + 1.15 + 0.05 * i, 1.8 + 0.1 * i, side, side, 0.45, layer_kind(name),
                   gid=f"filter:{name}")
    text(ax, x0 + 1.42, 2.62, filters, size=7.5)
    text(ax, x0 + 1.85, 2.02, "=", size=12)
    cuboid(ax, x0 + 2.0, 1.75, 0.5, 0.5, 0.45, layer_kind(name), gid=f"layer:{name}")
    text(ax, x0 + 2.38, 1.52, f"output\n{layer.size}×{layer.size}×{layer.out_channels}", size=7.5, va="top")
    text(ax, x0 + 1.42, 0.98, formula, size=9.5)
    text(ax, x0 + 1.42, 0.66, example, size=8)
    text(ax, x0 + 1.42, 0.38, f"= {layer.macs:,} MACs", size=8.5, weight="bold")


def layer_kind(name: str) -> str:
    return {"standard": "conv"}.get(name, name)


@diagram
def convolution_kinds() -> Figure:
    """A standard convolution against its two factors, the depthwise and the pointwise
    convolution, with their cost terms (MobileNetV1 eqs. 2, 3 and 4) and the MACs of Table 3's
    layer counted on real modules."""
    ls = table3_layers()
    k, m, n, f = ls["standard"].kernel, ls["standard"].in_channels, ls["standard"].out_channels, ls["standard"].size
    fig, ax = canvas(9.6, 3.35)
    panels = [
        ("standard", "Standard convolution", r"$D_K \cdot D_K \cdot M \cdot N \cdot D_F \cdot D_F$",
         f"{k}·{k}·{m}·{n}·{f}·{f}", f"N = {n} filters {k}×{k}×{m}"),
        ("depthwise", "Depthwise convolution", r"$D_K \cdot D_K \cdot M \cdot D_F \cdot D_F$",
         f"{k}·{k}·{m}·{f}·{f}", f"M = {m} filters {k}×{k}×1"),
        ("pointwise", "Pointwise (1×1) convolution", r"$M \cdot N \cdot D_F \cdot D_F$",
         f"{m}·{n}·{f}·{f}", f"N = {n} filters 1×1×{m}"),
    ]
    for i, (name, heading, formula, example, filters) in enumerate(panels):
        x0 = 0.25 + i * 3.2
        title(ax, x0 + 1.42, 3.15, heading)
        _panel(ax, x0, name, ls[name], formula, example, filters)
    separable = ls["depthwise"].macs + ls["pointwise"].macs
    text(ax, 4.8, 0.1, f"depthwise + pointwise = {separable:,} MACs = {separable / ls['standard'].macs:.4f} × "
         r"the standard convolution $= 1/N + 1/D_K^2$", size=8.5, colour=PALETTE["identity"])
    return fig


@diagram
def separable_cost() -> Figure:
    """Table 3's layer to scale: the standard convolution's MACs and weights against the
    separable pair's, the depthwise part a sliver of either."""
    ls = table3_layers()
    fig, ax = canvas(8.6, 2.8)
    scale = 6.0
    for row, (what, key) in enumerate([("MACs", "macs"), ("weights", "params")]):
        y = 1.85 - row * 1.15
        full = getattr(ls["standard"], key)
        dw, pw = getattr(ls["depthwise"], key), getattr(ls["pointwise"], key)
        title(ax, 0.15, y + 0.5, what, ha="left")
        bar(ax, 1.6, y + 0.12, scale, 0.22, "conv", gid=f"cost:{key}:standard")
        text(ax, 1.5, y + 0.23, f"standard {millions(full)}", size=8, ha="right")
        bar(ax, 1.6, y - 0.22, scale * dw / full, 0.22, "depthwise", gid=f"cost:{key}:depthwise")
        bar(ax, 1.6 + scale * dw / full, y - 0.22, scale * pw / full, 0.22, "pointwise", gid=f"cost:{key}:pointwise")
        text(ax, 1.5, y - 0.11, f"separable {millions(dw + pw)}", size=8, ha="right")
        text(ax, 1.7 + scale * (dw + pw) / full, y - 0.11,
             f"= {(dw + pw) / full:.1%} of standard; depthwise {millions(dw)} = {dw / (dw + pw):.1%} of it",
             size=8, ha="left")
    for i, (kind, name) in enumerate([("conv", "standard 3×3"), ("depthwise", "depthwise 3×3"),
                                      ("pointwise", "pointwise 1×1")]):
        bar(ax, 1.6 + 2.0 * i, 2.45, 0.14, 0.14, kind)
        text(ax, 1.8 + 2.0 * i, 2.52, name, size=8, ha="left")
    return fig


@diagram
def roofline_sketch() -> Figure:
    """Where Table 3's three convolutions sit on a roofline: arithmetic intensity counted by
    ``mnlab.analysis`` on the modules; the roofs are a sketch (chapter 1 measures this CPU's)."""
    ls = table3_layers()
    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    ax = fig.add_subplot()
    ridge = 10.0
    xs = [0.5, ridge, 400]
    ax.plot(xs, [x / ridge if x < ridge else 1 for x in xs], color=PALETTE["text"], lw=1.6)
    ax.axvline(ridge, color=PALETTE["removed"], lw=1, ls=":")
    ax.text(ridge * 1.08, 0.06, "ridge point\nI* = P / β", fontsize=8, color=PALETTE["identity"])
    ax.text(0.6, 0.075, "memory roof: I · β", rotation=33, fontsize=8, color=PALETTE["identity"])
    ax.text(60, 1.08, "compute roof: P", fontsize=8, color=PALETTE["identity"])
    for name, label, offset in [("depthwise", "depthwise 3×3", (8, -28)), ("pointwise", "pointwise 1×1", (-70, -34)),
                                ("standard", "standard 3×3", (6, -34))]:
        layer = ls[name]
        y = min(1.0, layer.intensity / ridge)
        ax.plot([layer.intensity], [y], "o", ms=9, color=PALETTE[layer_kind(name)], gid=f"point:{name}")
        ax.annotate(f"{label}\n{layer.intensity:.1f} FLOPs/byte", (layer.intensity, y), xytext=offset,
                    textcoords="offset points", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(0.04, 1.6)
    ax.set_xlim(0.5, 400)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.minorticks_off()
    ax.set_xlabel("arithmetic intensity I (FLOPs per byte moved)")
    ax.set_ylabel("attainable FLOP/s")
    ax.set_title("Table 3's layer on a roofline (roofs sketched; chapter 1 measures them)", fontsize=9.5)
    return fig


@diagram
def v1_block() -> Figure:
    """MobileNetV1's Figure 3 read from the models: a standard 3×3 conv-BN-ReLU layer of the
    Table 4 baseline beside the depthwise separable layer that replaces it, tensors to scale."""
    shape = (1, 512, 14, 14)
    standard = layers(conv_mobilenet_v1().features[V1_LAYER], shape)
    separable = layers(mobilenet_v1().features[V1_LAYER], shape)
    fig, ax = canvas(7.6, 3.75)
    scale = 1.6 / 512
    for x, heading, chain, prefix in [(1.9, "Standard convolutional layer", standard, "standard:"),
                                      (5.6, "Depthwise separable layer", separable, "separable:")]:
        title(ax, x, 3.55, heading)
        flow(ax, x, 3.2, chain, chain[0].in_channels, chain[0].size, scale=scale, prefix=prefix)
        macs, params = sum(layer.macs for layer in chain), sum(layer.params for layer in chain)
        text(ax, x, 0.7, f"{macs:,} MACs\n{params:,} weights", size=8.5, weight="bold")
    text(ax, 3.8, 0.2, f"mnlab.models: conv_mobilenet_v1().features[{V1_LAYER}] and "
         f"mobilenet_v1().features[{V1_LAYER}], at 14 × 14", size=7.5, colour=PALETTE["identity"])
    return fig


@diagram
def width_resolution() -> Figure:
    """MobileNetV1's two knobs read from the model: the width multiplier α thins every layer,
    the resolution multiplier ρ shrinks every feature map (channels and sides per layer)."""
    fig = Figure(figsize=(9.4, 3.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    colours = [PALETTE["pointwise"], PALETTE["depthwise"], PALETTE["conv"], PALETTE["se"]]
    for colour, alpha in zip(colours, (1.0, 0.75, 0.5, 0.25)):
        convs = [layer for layer in layers(mobilenet_v1(width_mult=alpha), 224) if layer.kind != "fc"]
        macs = sum(layer.macs for layer in layers(mobilenet_v1(width_mult=alpha), 224))
        left.step(range(1, len(convs) + 1), [layer.out_channels for layer in convs], where="mid",
                  color=colour, lw=1.8, label=f"α = {alpha}: {millions(macs)} MACs", gid=f"alpha:{alpha}")
    for colour, side in zip(colours, (224, 192, 160, 128)):
        net = layers(mobilenet_v1(), side)
        convs = [layer for layer in net if layer.kind != "fc"]
        right.step(range(1, len(convs) + 1), [layer.size for layer in convs], where="mid", color=colour,
                   lw=1.8, label=f"{side} px (ρ = {side / 224:.3g}): {millions(sum(l.macs for l in net))} MACs",
                   gid=f"rho:{side}")
    left.set_title("width multiplier α: every layer keeps α·N channels", fontsize=9.5)
    left.set_ylabel("output channels")
    right.set_title(r"resolution multiplier ρ: every feature map is $\rho D_F$ wide", fontsize=9.5)
    right.set_ylabel("feature-map side (pixels)")
    for ax in (left, right):
        ax.set_xlabel("convolution: the 3×3 stem, then 13 depthwise / pointwise pairs")
        ax.legend(fontsize=7.5, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
    return fig
