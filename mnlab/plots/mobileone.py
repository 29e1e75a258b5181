"""Figures of the MobileOne chapter (6): the re-parameterized kernels, what activations cost,
and the zoo's latency against its cost metrics."""
from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from mnlab.plots.common import plot_latency_vs_metrics

if TYPE_CHECKING:
    from mnlab.analysis import Backend

DATA = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "data"


def plot_reparam_kernels(kernels: dict[str, torch.Tensor], channel: int = 0) -> Figure:
    """The k×k kernels of one output channel, branch by branch, then their sum: what
    :func:`~mnlab.studies.mobileone.reparam_steps` adds up. Values printed in each cell; a shared colour scale."""
    names = [n for n in kernels if n not in ("fused", "bias")] + ["fused"]
    mats = [kernels[n][channel, 0].detach().numpy() for n in names]
    vmax = max(np.abs(m).max() for m in mats)
    fig = Figure(figsize=(1.6 * len(names), 2.1), layout="constrained")
    axes = fig.subplots(1, len(names))
    for ax, name, m in zip(axes, names, mats):
        ax.imshow(m, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        for (r, c), v in np.ndenumerate(m):
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=7)
        ax.set_title(("= " if name == "fused" else "+ " if name != names[0] else "") + name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Output channel {channel}: BN-folded 3×3 kernels of each branch and their sum "
                 f"(fused bias {kernels['bias'][channel].item():+.3f})", fontsize=9)
    return fig


def plot_activation_latency(activations: pd.DataFrame, backend: Backend = "onnxruntime") -> Figure:
    """One bar per activation of :func:`mnlab.studies.mobileone.activation_study` (its
    ``<backend>_ms`` column): ReLU-like in blue, smooth in orange, the sigmoid gate in red."""
    colours = {"ReLU": "tab:blue", "ReLU6": "tab:blue", "SE-ReLU (sigmoid gate)": "tab:red"}
    fig = Figure(figsize=(7, 3.2), layout="constrained")
    ax = fig.add_subplot()
    ax.barh(activations.activation, activations[f"{backend}_ms"],
            color=[colours.get(a, "tab:orange") for a in activations.activation])
    ax.invert_yaxis()
    ax.set_xlabel(f"latency (ms, {backend}, batch 1, one thread)")
    ax.set_title(f"One 30-layer network ({activations.macs.iloc[0] / 1e6:.0f}M MACs), six activations")
    return fig


def _kernels_figure() -> Figure:
    from mnlab.studies import mobileone as mo
    block = mo.demo_block(channels=8, branches=4, seed=0)
    x = torch.randn(1, 8, 16, 16, generator=torch.Generator().manual_seed(1))
    return plot_reparam_kernels(mo.reparam_steps(block, x)[1], channel=0)


def _zoo_figure() -> Figure:
    from mnlab.analysis import rank_correlation
    from mnlab.studies.synthesis import read_zoo
    zoo = read_zoo(DATA / "zoo_latency.csv", "onnxruntime")
    metrics = ("macs", "params", "bytes")
    return plot_latency_vs_metrics(zoo, metrics=metrics, correlation=rank_correlation(zoo, metrics=metrics))


FIGURES = {"mobileone_reparam_kernels": _kernels_figure, "mobileone_zoo_latency": _zoo_figure}
