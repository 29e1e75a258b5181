"""Chapter 6: MobileOne's train-time block and its re-parameterization, read from the models.

The branches drawn are the ``MobileOneBlock``'s own modules (``conv_branches``, ``scale``,
``identity``), so the count of each is the block's; the inference form is what
``mnlab.models.reparameterize`` makes of the same block.
"""
from __future__ import annotations

from matplotlib.figure import Figure
from torch import nn

from mnlab.analysis import analyze
from mnlab.diagrams.style import PALETTE, arrow, box, canvas, diagram, text, title
from mnlab.models import MobileOneBlock, mobileone_s0, mobileone_s1, mobileone_s2, mobileone_s3, mobileone_s4
from mnlab.models import reparameterize

#: The S0 unit drawn, ``features[2][2]`` (depthwise 3×3, 128 channels, stride 1) and
#: ``features[2][3]`` (pointwise 128 → 128): the second unit of stage 2, where every branch exists.
UNIT, UNIT_INPUT = (2, (2, 3)), (1, 128, 28, 28)
MOBILEONE_BUILDERS = {"S0": mobileone_s0, "S1": mobileone_s1, "S2": mobileone_s2, "S3": mobileone_s3, "S4": mobileone_s4}


def s0_unit() -> list[MobileOneBlock]:
    """The depthwise and the pointwise block of MobileOne-S0 that the diagram draws."""
    stage, (dw, pw) = UNIT
    blocks = mobileone_s0().features[stage]
    return [blocks[dw], blocks[pw]]


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def branches(block: MobileOneBlock) -> list[tuple[str, str]]:
    """(gid suffix, label) of every train-time branch of ``block``, in the order of its forward."""
    k = block.kernel_size
    conv = "dw conv" if block.groups > 1 else "conv"
    found = [(f"conv:{i}", f"{k}×{k} {conv} · BN") for i in range(len(block.conv_branches))]
    if block.scale is not None:
        found.append(("scale", f"1×1 {conv} · BN  (scale)"))
    if block.identity is not None:
        found.append(("identity", "BN  (identity)"))
    return found


def _block_row(ax, y: float, block: MobileOneBlock, shape, name: str) -> None:
    rows = branches(block)
    spacing = 0.36
    top = y + spacing * (len(rows) - 1) / 2
    text(ax, 0.55, y, f"x\n{shape[1]} × {shape[2]}²", size=8)
    for i, (gid, label) in enumerate(rows):
        yi = top - i * spacing
        kind = "identity" if gid == "identity" else ("linear" if gid == "scale" else
                                                        ("depthwise" if block.groups > 1 else "pointwise"))
        box(ax, 1.35, yi - 0.14, 1.9, 0.28, label, kind, gid=f"{name}:branch:{gid}", fontsize=7.5)
        arrow(ax, (0.85, y), (1.35, yi), width=0.8)
        arrow(ax, (3.25, yi), (3.62, y), width=0.8)
    text(ax, 3.75, y, "Σ", size=13, weight="bold")
    arrow(ax, (3.88, y), (4.05, y), width=0.8)
    box(ax, 4.05, y - 0.16, 0.65, 0.32, "ReLU", "activation", fontsize=7.5, fill=0.85)
    fused = reparameterize(block)
    train_macs = int(analyze(block.eval(), shape).totals["macs"])
    fused_macs = int(analyze(fused, shape).totals["macs"])
    arrow(ax, (4.9, y), (6.05, y), width=2.2, colour=PALETTE["se"])
    text(ax, 5.45, y + 0.22, "reparameterize()", size=8, colour=PALETTE["se"], weight="bold")
    k = block.kernel_size
    conv = "dw conv" if block.groups > 1 else "conv"
    box(ax, 6.2, y - 0.18, 1.7, 0.36, f"{k}×{k} {conv} + bias", "depthwise" if block.groups > 1 else "pointwise",
        gid=f"{name}:fused", fontsize=8)
    arrow(ax, (7.9, y), (8.05, y), width=0.8)
    box(ax, 8.05, y - 0.16, 0.65, 0.32, "ReLU", "activation", fontsize=7.5, fill=0.85)
    text(ax, 7.45, y - 0.5, f"params {_params(block):,} → {_params(fused):,}\nMACs {train_macs:,} → {fused_macs:,}",
         size=7.5, colour=PALETTE["identity"])


@diagram
def mobileone_block() -> Figure:
    """One MobileOne-S0 unit at training time — k conv branches, the 1×1 scale branch and the
    BN identity, summed before the ReLU — and the single conv each block becomes."""
    dw, pw = s0_unit()
    fig, ax = canvas(9.0, 5.2)
    shape = UNIT_INPUT
    title(ax, 0.2, 4.95, f"Depthwise block: k = {len(dw.conv_branches)} branches + scale + identity", ha="left")
    _block_row(ax, 3.75, dw, shape, "dw")
    title(ax, 0.2, 2.35, f"Pointwise block: k = {len(pw.conv_branches)} branches + identity (no scale: "
          "its kernel is already 1×1)", ha="left")
    _block_row(ax, 1.25, pw, shape, "pw")
    text(ax, 4.5, 0.12, "mnlab.models.mobileone_s0().features[2][2] and [2][3], at 28 × 28: train time on the "
         "left, inference on the right", size=7.5, colour=PALETTE["identity"])
    return fig


def variant_widths() -> dict[str, dict]:
    """Stage widths (output channels of each stage's last block), branch count k and SE flag of
    MobileOne S0–S4, read from the built models."""
    found = {}
    for name, build in MOBILEONE_BUILDERS.items():
        model = build()
        stages = list(model.features)[1:]
        blocks = [m for m in model.modules() if isinstance(m, MobileOneBlock)]
        found[name] = {"widths": [stage[-1].out_channels for stage in stages],
                       "k": len(blocks[-1].conv_branches),
                       "se": any(not isinstance(b.se, nn.Identity) for b in blocks)}
    return found


@diagram
def mobileone_variants() -> Figure:
    """MobileOne S0–S4: the width of each of the four stages, the number of train-time conv
    branches k, and where squeeze-and-excite is used, read from the models."""
    widths = variant_widths()
    fig = Figure(figsize=(7.6, 3.4), layout="constrained")
    ax = fig.add_subplot()
    colours = [PALETTE["depthwise"], PALETTE["pointwise"], PALETTE["conv"], PALETTE["se"]]
    step = 0.2
    for i, (name, info) in enumerate(widths.items()):
        for s, width in enumerate(info["widths"]):
            ax.bar(i + (s - 1.5) * step, width, step * 0.92, color=colours[s], gid=f"{name}:stage:{s + 1}",
                   label=f"stage {s + 1}" if i == 0 else None)
        ax.text(i, max(info["widths"]) + 90, f"k = {info['k']}" + ("\n+ SE" if info["se"] else ""),
                ha="center", fontsize=8)
    ax.set_xticks(range(len(widths)), list(widths))
    ax.set_ylabel("channels")
    ax.set_ylim(0, max(max(v["widths"]) for v in widths.values()) * 1.3)
    ax.set_title("MobileOne S0–S4: stage widths, train-time branches k, squeeze-and-excite", fontsize=9.5)
    ax.legend(fontsize=8, frameon=False, ncols=4, loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    return fig
