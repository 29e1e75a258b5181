"""Figures of the synthesis chapter (7): published accuracy against measured latency."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from mnlab.analysis import Backend

_ZOO = Path(__file__).resolve().parents[2] / "chapters" / "data" / "zoo_latency.csv"


def plot_pareto(table: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Published top-1 against measured latency (log scale), one colour per family; the Pareto
    front joined by a step line and labelled. ``table`` is
    :func:`mnlab.studies.synthesis.synthesis_table`'s."""
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    cmap = colormaps["tab10"]
    for i, fam in enumerate(dict.fromkeys(table["family"])):
        part = table[table["family"] == fam]
        ax.scatter(part["latency_ms"], part["top1"], s=36, color=cmap(i), label=fam, alpha=0.9,
                   edgecolors="none", zorder=3)
    front = table[table["pareto"]].sort_values("latency_ms")
    ax.step(front["latency_ms"], front["top1"], where="post", color="black", lw=1, alpha=0.6,
            label="Pareto front", zorder=2)
    for row in table.itertuples(index=False):
        ax.annotate(row.label, (row.latency_ms, row.top1), textcoords="offset points", xytext=(4, -3),
                    fontsize=7, color="black" if row.pareto else "grey")
    ax.set_xscale("log")
    ax.set_xlabel("measured latency (ms, batch 1, one thread, log scale)")
    ax.set_ylabel("published ImageNet top-1 (%)")
    ax.set_title(title or "Accuracy (the papers') against latency (this CPU)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    return fig


def _stored_pareto(backend: Backend) -> Figure:
    from mnlab.studies.synthesis import read_zoo, synthesis_table
    return plot_pareto(synthesis_table(read_zoo(_ZOO, backend)),
                       title=f"Published ImageNet top-1 against stored latency ({backend}, 1 thread)")


FIGURES = {"synthesis_pareto": lambda: _stored_pareto("onnxruntime"),
           "synthesis_pareto_eager": lambda: _stored_pareto("eager")}
