"""Chapters 3 and 4: MobileNetV2's inverted residual and MobileNetV3's block and last stage.

Every width, kernel and activation is read from ``mnlab.models`` (:func:`~mnlab.diagrams.read.layers`);
the tensors of a block are bars drawn to scale, so "narrow → wide → narrow" is visible as it is.
"""
from __future__ import annotations

from matplotlib.figure import Figure

from mnlab.diagrams.blocks import flow
from mnlab.diagrams.read import Layer, layers
from mnlab.diagrams.style import PALETTE, arrow, bar, box, canvas, diagram, millions, text, title
from mnlab.models import mobilenet_v2, mobilenet_v3_large

#: The block both residual diagrams draw, MobileNetV2's ``features[3]``, the second block of the
#: 56 × 56 stage (24 → 144 → 24, t = 6, stride 1, with its shortcut), as chapter 3 counts it.
V2_BLOCK, V2_BLOCK_INPUT = 3, (1, 24, 56, 56)
#: MobileNetV3-Large's ``features[14]``: the last bneck row (5×5, exp 960, out 160, SE, HS, s1).
V3_BLOCK, V3_BLOCK_INPUT = 14, (1, 160, 7, 7)


def v2_block_layers() -> list[Layer]:
    """The layers of MobileNetV2's ``features[3]``: expansion, depthwise, linear projection."""
    return layers(mobilenet_v2().features[V2_BLOCK], V2_BLOCK_INPUT)


def mirrored(block: list[Layer]) -> list[Layer]:
    """A classic residual bottleneck at the same widths, mirrored (ResNet, as MobileNetV2's Fig. 3
    draws it): 1×1 reduce to the thin width, a full 3×3 conv there, 1×1 back to the wide width,
    every layer with BatchNorm and ReLU."""
    expand, depthwise, project = block
    wide, thin, size = expand.out_channels, expand.in_channels, expand.size
    return [
        Layer("reduce", "pointwise", wide, thin, 1, 1, size, True, "ReLU", size * size * wide * thin),
        Layer("conv", "conv", thin, thin, depthwise.kernel, 1, size, True, "ReLU",
              size * size * thin * thin * depthwise.kernel ** 2),
        Layer("expand", "pointwise", thin, wide, 1, 1, size, True, "ReLU after the +",
              size * size * thin * wide),
    ]


@diagram
def inverted_residual() -> Figure:
    """Classic residual (wide → narrow → wide) beside MobileNetV2's inverted residual
    (narrow → wide → narrow), tensors to scale, the linear bottleneck hatched."""
    block = v2_block_layers()
    classic = mirrored(block)
    wide = block[0].out_channels
    scale = 2.0 / wide
    fig, ax = canvas(8.6, 4.5)
    title(ax, 2.2, 4.25, "Classic residual (ResNet)")
    text(ax, 2.2, 4.02, "wide → narrow → wide; the shortcut joins the wide tensors", size=8, style="italic")
    title(ax, 6.4, 4.25, "Inverted residual (MobileNetV2)")
    text(ax, 6.4, 4.02, "narrow → wide → narrow; the shortcut joins the thin tensors", size=8, style="italic")
    flow(ax, 2.2, 3.7, classic, wide, block[0].size, scale=scale, shortcut=True, prefix="classic:")
    layout = flow(ax, 6.4, 3.7, block, block[0].in_channels, block[0].size, scale=scale,
                  shortcut=True, prefix="inverted:")
    total = sum(layer.macs for layer in block)
    text(ax, 6.4, layout.bottom - 0.05, f"mnlab.models.mobilenet_v2().features[{V2_BLOCK}]: "
         f"{millions(total)} MACs at {block[0].size}×{block[0].size}", size=7.5, colour=PALETTE["identity"])
    return fig


@diagram
def v3_block() -> Figure:
    """MobileNetV3-Large's last bneck: expansion and depthwise with h-swish, squeeze-and-excite
    at 1/4 of the expansion, linear projection, shortcut; tensors to scale."""
    block = layers(mobilenet_v3_large().features[V3_BLOCK], V3_BLOCK_INPUT)
    expansion = block[0].out_channels
    fig, ax = canvas(7.6, 5.3)
    title(ax, 3.8, 5.08, "MobileNetV3 block: inverted residual + squeeze-and-excite + h-swish")
    layout = flow(ax, 2.5, 4.65, block, block[0].in_channels, block[0].size, scale=2.0 / expansion,
                  shortcut=True, prefix="v3:")
    se = [layer for layer in block if ".se." in f".{layer.name}."]
    text(ax, 5.6, 1.55, f"SE squeezes to {se[0].out_channels} = 1/{expansion // se[0].out_channels} "
         f"of the {expansion}\nexpansion channels (§5.3), gated by h-sigmoid", size=8, ha="center")
    text(ax, 5.6, 0.9, "h-swish(x) = x · ReLU6(x + 3) / 6\nh-sigmoid(x) = ReLU6(x + 3) / 6", size=8,
         colour=PALETTE["activation"])
    text(ax, 2.5, layout.bottom - 0.05, f"mnlab.models.mobilenet_v3_large().features[{V3_BLOCK}]: "
         f"{millions(sum(layer.macs for layer in block))} MACs", size=7.5, colour=PALETTE["identity"])
    return fig


def _stage_row(ax, y: float, row: list[Layer], dropped: set[str], moved: str | None, prefix: str) -> float:
    """One last stage as boxes left to right, the global pool between 7×7 and 1×1; returns its MACs."""
    x, w = 0.25, 1.22
    pooled = False
    for i, layer in enumerate(row):
        if i:
            arrow(ax, (x - 0.12, y), (x, y))
        if layer.size == 1 and not pooled:
            box(ax, x, y - 0.22, 0.55, 0.44, "pool", "tensor", gid=f"{prefix}pool", fontsize=7.5)
            arrow(ax, (x + 0.55, y), (x + 0.7, y))
            x += 0.7
            pooled = True
        kind = "removed" if layer.name in dropped else (
            "linear" if layer.activation is None else {"depthwise": "depthwise"}.get(layer.kind, "pointwise"))
        where = f"{layer.size}×{layer.size}" if layer.kind != "fc" else "1×1"
        label = layer.label.replace(" conv, ", " conv\n").replace("dw, ", "dw\n").replace("FC ", "FC\n")
        after = f"{'BN' if layer.batchnorm else 'no BN'} · {layer.activation or 'linear'}"
        box(ax, x, y - 0.42, w, 0.84, f"{label}\n{after}\n{where} · {millions(layer.macs)}", kind,
            gid=f"{prefix}layer:{layer.name}", fontsize=7.5, dashed=layer.name in dropped)
        if layer.name in dropped:
            text(ax, x + w / 2, y + 0.53, "dropped", size=7.5, colour=PALETTE["identity"], style="italic")
        if layer.name == moved:
            text(ax, x + w / 2, y + 0.53, "moved after the pool", size=7.5, colour=PALETTE["identity"],
                 style="italic")
        x += w + 0.12
    return sum(layer.macs for layer in row)


def last_stages() -> dict[str, list[Layer]]:
    """Figure 5's two last stages, read from the models: the original is MobileNetV2's (its last
    bottleneck 160 → 960 → 320 and the 1280-wide 1×1 conv at 7 × 7, then pool and classifier),
    the efficient one MobileNetV3-Large's (the 960-wide 1×1 conv at 7 × 7, pool, then the
    1280-wide layer on the pooled vector without BatchNorm, and the classifier)."""
    return {"original": layers(mobilenet_v2(), 224)[-5:],
            "efficient": layers(mobilenet_v3_large(), 224)[-3:]}


@diagram
def v3_last_stage() -> Figure:
    """MobileNetV3's Figure 5: the original last stage against the efficient one, with the MACs
    of every layer counted on the models."""
    stages = last_stages()
    original, efficient = stages["original"], stages["efficient"]
    fig, ax = canvas(8.8, 3.7)
    title(ax, 0.25, 3.45, "Original last stage (MobileNetV2's, as in MobileNetV3's Fig. 5)", ha="left")
    total_original = _stage_row(ax, 2.55, original, {original[1].name, original[2].name},
                                original[3].name, "original:")
    title(ax, 0.25, 1.6, "Efficient last stage (MobileNetV3)", ha="left")
    total_efficient = _stage_row(ax, 0.75, efficient, set(), None, "efficient:")
    for y, total in [(2.55, total_original), (0.75, total_efficient)]:
        text(ax, 8.55, y, f"{millions(total)}\nMACs", size=9, weight="bold", ha="right")
    text(ax, 8.55, 1.65, f"saves {millions(total_original - total_efficient)}", size=9, ha="right",
         colour=PALETTE["activation"], weight="bold")
    return fig


def v2_blocks() -> list[dict]:
    """Every inverted residual of MobileNetV2 at 224 px: input, expanded and output widths and the
    feature-map side, read from the model's layers."""
    blocks: dict[str, list[Layer]] = {}
    for layer in layers(mobilenet_v2(), 224):
        if ".block." in layer.name:
            blocks.setdefault(layer.name.split(".block.")[0], []).append(layer)
    return [{"block": name, "in": group[0].in_channels, "hidden": group[-2].out_channels,
             "out": group[-1].out_channels, "size": group[-1].size} for name, group in blocks.items()]


@diagram
def v2_network() -> Figure:
    """MobileNetV2's 17 bottleneck blocks: the thin tensor each block passes on (hatched: the linear
    bottleneck) beside the expanded tensor that lives only inside it, to scale."""
    blocks = v2_blocks()
    fig, ax = canvas(9.0, 3.6)
    scale = 2.4 / max(b["hidden"] for b in blocks)
    base, step, w = 0.55, 0.5, 0.18
    title(ax, 4.5, 3.4, "MobileNetV2: thin tensors between blocks, expanded ones inside them")
    previous = None
    for i, b in enumerate(blocks):
        x = 0.45 + i * step
        bar(ax, x, base, w, b["hidden"] * scale, "tensor", gid=f"v2:hidden:{i}")
        bar(ax, x + w, base, w, b["out"] * scale, "linear", gid=f"v2:out:{i}", hatch="////")
        if b["size"] != previous:
            ax.plot([x - 0.06, x - 0.06], [base - 0.3, 3.1], color=PALETTE["removed"], lw=1)
            text(ax, x, 3.05, f"{b['size']}²", size=8, ha="left", colour=PALETTE["identity"])
            previous = b["size"]
        text(ax, x + w, base - 0.15, str(b["out"]), size=7, colour=PALETTE["text"])
    text(ax, 0.45, base - 0.38, "output channels of each block (t = 1 in the first, 6 elsewhere)", size=7.5,
         ha="left", colour=PALETTE["identity"])
    bar(ax, 0.6, 2.55, 0.18, 0.12, "tensor")
    text(ax, 0.85, 2.61, "expanded tensor: lives only inside its block", size=8, ha="left")
    bar(ax, 0.6, 2.3, 0.18, 0.12, "linear", hatch="////")
    text(ax, 0.85, 2.36, "bottleneck tensor (linear): passed between blocks", size=8, ha="left")
    return fig
