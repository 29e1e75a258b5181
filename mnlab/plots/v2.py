"""Figures of the MobileNetV2 chapter (3): Figure 1's spiral, Figure 6's small ablation, live
memory through the forward pass, and cost against the expansion ratio."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mnlab.models.toys import ABLATION_VARIANTS
from mnlab.studies.v2 import ManifoldStudy


def plot_relu_manifold(study: ManifoldStudy) -> Figure:
    """Figure 1 of the paper: the input spiral, then T⁺ReLU(Tx) for each n (first trial).
    Colour runs along the spiral, so a fold or a cut shows as a jump in colour."""
    dims = sorted(study.reconstructions)
    fig = Figure(figsize=(2.1 * (len(dims) + 1), 2.5), layout="constrained")
    axes = fig.subplots(1, len(dims) + 1)
    colour = np.linspace(0, 1, len(study.points))
    panels = [("input", study.points)] + [(f"n = {n}", study.reconstructions[n]) for n in dims]
    for ax, (title, pts) in zip(axes, panels):
        ax.scatter(pts[:, 0], pts[:, 1], c=colour, cmap="viridis", s=2)
        ax.set_title(title)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("T⁺ ReLU(T x): a 2-D spiral through ReLU in n dimensions (axes rescaled per panel)")
    return fig


def plot_ablation(table: pd.DataFrame) -> Figure:
    """Figure 6 of the paper, small: test accuracy per epoch, mean over seeds with a ±1 std band;
    (a) the bottleneck's non-linearity, (b) the shortcut's place."""
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    groups = [("(a) non-linearity in the bottleneck", ["linear bottleneck", "ReLU6 bottleneck"]),
              ("(b) where the shortcut goes", ["linear bottleneck", "shortcut between expansions", "no shortcut"])]
    labels = {"linear bottleneck": "linear bottleneck, shortcut between bottlenecks"}
    colours = dict(zip(ABLATION_VARIANTS, ["tab:blue", "tab:red", "tab:orange", "tab:grey"]))
    for ax, (title, names) in zip(axes, groups):
        for name in names:
            curve = table[table.variant == name].groupby("epoch").test_acc.agg(["mean", "std"])
            ax.plot(curve.index, curve["mean"], color=colours[name], label=labels.get(name, name))
            ax.fill_between(curve.index, (curve["mean"] - curve["std"]),
                            (curve["mean"] + curve["std"]), color=colours[name], alpha=0.15)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="lower right")
    axes[0].set_ylabel("test accuracy (%)")
    low = table[table.epoch >= 3].test_acc.min()
    axes[0].set_ylim(max(0.0, low - 2), 100)
    return fig


def plot_memory_timelines(timelines: pd.DataFrame, table3_max_kb: dict[str, float] | None = None) -> Figure:
    """Live activation memory (KB, 16-bit) through the forward pass, one line per model; dashed
    lines mark Table 3's maxima if given."""
    fig = Figure(figsize=(8, 3.8), layout="constrained")
    ax = fig.add_subplot()
    colours = ["tab:grey", "tab:red", "tab:blue", "tab:green"]
    for colour, (name, part) in zip(colours, timelines.groupby("model", sort=False)):
        ax.step(part.progress, part.live_bytes / 1000, where="post", color=colour, lw=1, label=name)
    for colour, (name, kb) in zip(["black", "tab:blue"], (table3_max_kb or {}).items()):
        ax.axhline(kb, color=colour, ls="--", lw=0.8, label=f"Table 3 max, {name}: {kb:,.0f} KB")
    ax.set_xlabel("progress through the forward pass (fraction of ops)")
    ax.set_ylabel("live activations (KB, 16-bit)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="upper right")
    return fig


def plot_expansion_sweep(table: pd.DataFrame, shade: tuple[float, float] | None = None) -> Figure:
    """Cost against the expansion ratio t: MACs, parameters, peak memory, and latency if the
    table has it (median and fastest run). ``shade``: a range of t to mark (the paper's
    "nearly identical" accuracy range, from :mod:`mnlab.papers`)."""
    panels = [("macs", 1e6, "MACs (M)"), ("params", 1e6, "parameters (M)"),
              ("peak_mb", 1, "peak activations (MB, fp32)")]
    if "latency_ms" in table:
        panels.append(("latency_ms", 1, "latency (ms, 1 thread)"))
    fig = Figure(figsize=(3 * len(panels), 3.2), layout="constrained")
    axes = fig.subplots(1, len(panels))
    for ax, (column, scale, label) in zip(axes, panels):
        part = table.dropna(subset=[column])   # latency may be measured at fewer ratios
        ax.plot(part.t, part[column] / scale, marker="o",
                label={"peak_mb": "eager", "latency_ms": "median"}.get(column))
        if column == "peak_mb":
            ax.plot(part.t, part.peak_chunked_mb, marker="s", label="in slices")
            ax.legend(fontsize="small")
        if column == "latency_ms":
            ax.plot(part.t, part.best_ms, marker="s", label="fastest run")
            ax.legend(fontsize="small")
        if shade is not None:
            ax.axvspan(*shade, color="tab:green", alpha=0.08)
        ax.set_xlabel("expansion ratio t")
        ax.set_title(label, fontsize="medium")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    title = "MobileNetV2 1.0 at 224 as the expansion ratio t varies"
    if shade is not None:
        title += f" (shaded: t = {shade[0]:g}…{shade[1]:g}, 'nearly identical' accuracy in the paper)"
    fig.suptitle(title)
    return fig


def _manifold() -> Figure:
    from mnlab.studies import v2
    return plot_relu_manifold(v2.relu_manifold(dims=(2, 3, 5, 15, 30), trials=20, seed=0))


def _ablation() -> Figure:
    from mnlab.studies import v2
    return plot_ablation(v2.stored_ablation(v2.ABLATION_CSV, False))


def _memory() -> Figure:
    from mnlab.studies import v2_memory
    return plot_memory_timelines(v2_memory.memory_timelines(v2_memory.memory_models()), v2_memory.table3_maxima())


def _expansion() -> Figure:
    from mnlab.papers import figure
    from mnlab.studies import v2
    shade = (figure("mobilenet_v2/sec4/expansion_low").value, figure("mobilenet_v2/sec4/expansion_high").value)
    return plot_expansion_sweep(v2.expansion_sweep(range(2, 11)), shade=shade)


#: The chapter's figures, rebuilt from counts and the stored ablation (``make figures``).
FIGURES = {"v2_relu_manifold": _manifold, "v2_ablation": _ablation, "v2_memory_timelines": _memory,
           "v2_expansion_sweep": _expansion}
