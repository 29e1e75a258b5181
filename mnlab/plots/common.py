"""Plots for the book: each function takes data (DataFrames, dataclasses) and returns a Figure.

Figures are built with ``matplotlib.figure.Figure``, not ``pyplot``: nothing is drawn as a
side effect, a notebook shows the returned figure once, and a script can ``fig.savefig(...)``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.patches import Patch
from matplotlib.ticker import FormatStrFormatter, LogFormatter, NullFormatter

from mnlab.analysis.correlation import rank_correlation
from mnlab.analysis.roofline import MachinePeaks

_LABELS = {"macs": "MACs", "params": "parameters", "bytes": "bytes moved",
           "peak_activation_bytes": "peak activation bytes", "latency_ms": "latency (ms)"}


def _colours(values) -> dict:
    """A stable colour per category, in order of first appearance (tab10, then tab20)."""
    from matplotlib import colormaps
    names = list(dict.fromkeys(values))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def plot_roofline(data: pd.DataFrame, peaks: MachinePeaks, *, title: str | None = None,
                  ax: Axes | None = None) -> Figure | SubFigure:
    """Roofline of profiled layers: achieved GFLOP/s against arithmetic intensity (log–log).

    ``data`` is :func:`mnlab.analysis.roofline`'s table, ``peaks`` the
    :func:`mnlab.analysis.machine_peaks` it used. The solid roof is min(P, I·β) with the DRAM
    bandwidth β, the dashed one uses the cache-sized copy's bandwidth. Points are coloured by
    layer kind: depthwise convolutions gather left, under the memory roof; 1×1 convolutions
    to the right, nearer the compute roof.
    """
    missing = [c for c in ("intensity", "achieved_gflops", "kind") if c not in data.columns]
    if missing:
        raise ValueError(f"data is missing column(s) {missing}; pass mnlab.analysis.roofline(...)")
    fig: Figure | SubFigure   # the axes' own, when ax is given
    if ax is None:
        fig = Figure(figsize=(7, 4.5), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    points = data.dropna(subset=["intensity", "achieved_gflops"])
    points = points[(points["intensity"] > 0) & (points["achieved_gflops"] > 0)]
    low = min(0.1, points["intensity"].min() / 2) if len(points) else 0.1
    high = max(10 * peaks.gflops / peaks.gbps, points["intensity"].max() * 2) if len(points) else 100
    x = np.logspace(np.log10(low), np.log10(high), 200)
    ax.plot(x, np.minimum(peaks.gflops, x * peaks.gbps), color="black", lw=1.5,
            label=f"roof: {peaks.gflops:.0f} GFLOP/s, {peaks.gbps:.0f} GB/s (DRAM)")
    ax.plot(x, np.minimum(peaks.gflops, x * peaks.cache_gbps), color="grey", lw=1, ls="--",
            label=f"cache roof: {peaks.cache_gbps:.0f} GB/s")
    for kind, colour in _colours(points["kind"]).items():
        part = points[points["kind"] == kind]
        ax.scatter(part["intensity"], part["achieved_gflops"], s=18, color=colour, label=kind,
                   alpha=0.8, edgecolors="none")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP / byte)")
    ax.set_ylabel("achieved GFLOP/s")
    ax.set_title(title or f"Roofline, {peaks.threads} thread(s)")
    ax.legend(fontsize="small", loc="lower right")
    ax.grid(True, which="major", alpha=0.3)
    return fig


def plot_latency_vs_metrics(df: pd.DataFrame, *, target: str = "latency_ms",
                            metrics: Sequence[str] = ("macs", "params", "bytes"),
                            by: str = "family", correlation: pd.DataFrame | None = None) -> Figure:
    """Latency against each metric, one panel per metric, coloured by ``by`` (MobileOne Fig. 2).

    Each panel's title carries Spearman's ρ and Kendall's τ over all rows, from
    :func:`mnlab.analysis.rank_correlation` (computed unless ``correlation`` is given).
    Both axes are logarithmic: the zoo spans two orders of magnitude in MACs and latency.
    """
    metrics = list(metrics)
    if correlation is None:
        correlation = rank_correlation(df, target=target, metrics=metrics, by=by)
    overall = correlation[correlation["group"] == "all"].set_index("metric")
    fig = Figure(figsize=(4 * len(metrics), 3.6), layout="constrained")
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    colours = _colours(df[by])
    for ax, metric in zip(axes, metrics):
        for group, colour in colours.items():
            part = df[df[by] == group]
            ax.scatter(part[metric], part[target], s=22, color=colour, label=group, alpha=0.85,
                       edgecolors="none")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.5)))
        ax.set_xlabel(_LABELS.get(metric, metric))
        ax.grid(True, alpha=0.3)
        if metric in overall.index:
            rho, tau = overall.loc[metric, "spearman"], overall.loc[metric, "kendall"]
            ax.set_title(f"{_LABELS.get(metric, metric)}: ρ = {rho:.2f}, τ = {tau:.2f}")
    axes[0].set_ylabel(_LABELS.get(target, target))
    axes[-1].legend(fontsize="small", loc="best")
    return fig
