"""Chapter 2's figures: MobileNetV1's two knobs, counted (Sec. 3.3–3.4) and timed."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from mnlab.analysis import Backend


def _check(table: pd.DataFrame, columns: set, name: str, source: str) -> None:
    missing = columns - set(table.columns)
    if missing:
        raise ValueError(f"{name} is missing column(s) {sorted(missing)}; pass {source}")


def plot_scaling(grid: pd.DataFrame, full_resolution: int = 224) -> Figure:
    """MACs and parameters relative to the full network against α (at ``full_resolution``) and
    ρ (at α = 1), log–log, beside the α² / ρ² the paper states; ``grid`` is
    :func:`mnlab.studies.v1.width_resolution_grid`."""
    _check(grid, {"width", "resolution", "macs", "params"}, "grid", "width_resolution_grid()")
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    by_width = grid[grid.resolution == full_resolution].sort_values("width")
    by_res = grid[grid.width == 1.0].sort_values("resolution")
    for metric, label in [("macs", "MACs"), ("params", "parameters")]:
        left.plot(by_width.width, by_width[metric] / by_width[metric].max(), marker="o", label=label)
        right.plot(by_res.resolution / full_resolution, by_res[metric] / by_res[metric].max(), marker="o",
                   label=label)
    for ax, knob in [(left, "α"), (right, "ρ")]:
        x = np.linspace(0.25, 1, 50)
        ax.plot(x, x ** 2, color="grey", ls=":", label=f"{knob}²")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(knob)
        ax.set_ylabel("relative to the full network")
        ax.legend()
    left.set_title(f"width multiplier α ({full_resolution} px)")
    right.set_title("resolution multiplier ρ (α = 1)")
    return fig


def plot_latency_vs_macs(latency: pd.DataFrame, grid: pd.DataFrame, backend: Backend = "onnxruntime") -> Figure:
    """Latency against MACs over the α × resolution grid, one line per α (log–log): ``latency``
    is :func:`mnlab.studies.v1.latency_grid` (or its stored table), ``grid`` the counts."""
    _check(latency, {"width", "resolution", "latency_ms"}, "latency", "latency_grid()")
    _check(grid, {"width", "resolution", "macs"}, "grid", "width_resolution_grid()")
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.add_subplot()
    merged = latency[["width", "resolution", "latency_ms"]].merge(grid, on=["width", "resolution"])
    for width, part in merged.groupby("width"):
        ax.plot(part.macs / 1e6, part.latency_ms, marker="o", label=f"α = {width}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("MACs (millions)")
    ax.set_ylabel(f"latency (ms, {backend}, 1 thread)")
    ax.set_title("MobileNetV1: latency against Mult-Adds")
    ax.legend()
    return fig


def _scaling() -> Figure:
    from mnlab.studies.v1 import EXPONENT_GRID, width_resolution_grid
    return plot_scaling(width_resolution_grid(**EXPONENT_GRID))


def _latency() -> Figure:
    from mnlab.studies.v1 import LATENCY_CSV, stored_latency_grid, width_resolution_grid
    latency = stored_latency_grid(LATENCY_CSV, remeasure=False)
    return plot_latency_vs_macs(latency, width_resolution_grid())


FIGURES = {"v1_scaling": _scaling, "v1_latency_vs_macs": _latency}
