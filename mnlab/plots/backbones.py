"""Figures of the backbones chapter (4b): where the heads attach, backbone against head."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from mnlab.plots.common import _colours


def plot_attachments(blocks: "dict[str, pd.DataFrame]", heads: "dict[str, dict[str, str]]", *,
                     title: str | None = None) -> Figure:
    """Where the heads attach: one panel per backbone, one bar per block (height = output
    channels, log scale; colour = output stride), an arrow from each tapped block to the heads
    that read it.

    ``blocks`` maps a backbone's name to :func:`mnlab.studies.backbones.attachment_blocks`'
    table (columns ``block``, ``channels``, ``stride``, ``taps`` joined by "; "); ``heads`` maps each backbone's
    name to {tap name (``"C4"``, ``"stride8_dw"``, …): the text naming what attaches there}.
    """
    fig = Figure(figsize=(9, 2.6 * len(blocks)), layout="constrained")
    axes = fig.subplots(len(blocks), 1, squeeze=False)[:, 0]
    strides = sorted({int(s) for table in blocks.values() for s in table["stride"]})
    colours = dict(zip(strides, _colours([f"OS {s}" for s in strides]).values()))
    for ax, (name, table) in zip(axes, blocks.items()):
        ax.bar(table["block"], table["channels"], color=[colours[int(s)] for s in table["stride"]],
               edgecolor="white")
        ax.set_yscale("log")
        ax.set_ylim(8, table["channels"].max() * 30)
        ax.set_xticks(table["block"])
        ax.set_xlabel("block of features (0 = stem, last = the last 1×1 conv)")
        ax.set_ylabel("output channels")
        ax.set_title(name, loc="left", fontsize="medium")
        tapped = table[table["taps"].astype(bool)]
        for k, row in enumerate(tapped.itertuples()):
            lines = [f"{tap} → {heads[name][tap.split(' ')[0]]}" for tap in row.taps.split("; ")
                     if tap.split(" ")[0] in heads[name]]
            if lines:   # alternate heights so that neighbouring labels do not overlap
                right = row.block >= len(table) - 2   # labels at the right end grow leftwards
                ax.annotate("\n".join(lines), xy=(row.block, row.channels), ha="right" if right else "center",
                            fontsize="x-small",
                            xytext=(row.block, row.channels * (4 + 5 * (k % 2))),
                            arrowprops={"arrowstyle": "->", "lw": 0.8})
    axes[0].legend(handles=[Patch(color=c, label=f"output stride {s}") for s, c in colours.items()],
                   fontsize="x-small", loc="upper left", ncols=len(colours))
    if title:
        fig.suptitle(title)
    return fig


def plot_backbone_head(table: pd.DataFrame, backbone: str, head: str, *, xlabel: str,
                       title: str | None = None, scale: float = 1.0) -> Figure:
    """Horizontal stacked bars, one per row of ``table``: the ``backbone`` column and the
    ``head`` column (each divided by ``scale``), the head's share written at the bar's end."""
    fig = Figure(figsize=(8, 0.45 * len(table) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    labels = [str(i) for i in table.index]
    y = np.arange(len(table))[::-1]
    first, second = table[backbone] / scale, table[head] / scale
    ax.barh(y, first, color="#4c72b0", label="backbone")
    ax.barh(y, second, left=first, color="#dd8452", label="head")
    for yi, a, b in zip(y, first, second):
        ax.text(a + b, yi, f"  head {b / (a + b):.0%}", va="center", fontsize="small")
    ax.set_yticks(y, labels)
    ax.set_xlabel(xlabel)
    ax.set_xlim(0, (first + second).max() * 1.25)
    ax.legend(fontsize="small", loc="lower right")
    if title:
        ax.set_title(title)
    return fig


#: What reads each tap, as chapter 4b's attachment figure labels it (tap names:
#: :data:`mnlab.models.backbones.TAPS`).
HEADS_AT_TAPS = {
    "mobilenet_v2": {"C4": "SSDLite map 1", "C5": "SSDLite map 2, extra layers",
                     "penultimate": "DeepLabv3, R-ASPP, LR-ASPP (V2*)", "stride8_dw": "LR-ASPP skip"},
    "mobilenet_v3_large": {"C4": "SSDLite map 1", "C5": "SSDLite map 2, extra layers; R-ASPP, LR-ASPP",
                           "stride8_dw": "LR-ASPP skip", "stride8": "torchvision's LR-ASPP skip"},
}
#: The axis label of the stored latency split (``chapters/data/backbones_latency.csv``).
LATENCY_XLABEL = "ms (batch 1, one thread, deploy form)"


def _attachments() -> Figure:
    from mnlab.studies.backbones import attachment_blocks
    return plot_attachments({name: attachment_blocks(name) for name in HEADS_AT_TAPS}, HEADS_AT_TAPS)


def _cost_split() -> Figure:
    from mnlab.studies.backbones import cost_split
    return plot_backbone_head(cost_split(), "backbone_macs", "head_macs", xlabel="billions of MACs", scale=1e9)


def _latency_split() -> Figure:
    from mnlab.studies.backbones import stored_latency_split
    path = Path(__file__).resolve().parents[2] / "chapters" / "data" / "backbones_latency.csv"
    if not path.exists():
        raise ValueError(f"{path} is missing; chapter 4b stores it (`make book EXECUTE=1`)")
    return plot_backbone_head(stored_latency_split(path, remeasure=False), "backbone_ms", "head_ms",
                              xlabel=LATENCY_XLABEL)


#: Chapter 4b's figures, from counts and the stored timings (``make figures``).
FIGURES = {"backbones_attachments": _attachments, "backbones_cost_split": _cost_split,
           "backbones_latency_split": _latency_split}
