"""Chapter 1's figures: the saving of a depthwise separable layer (MobileNetV1 eq. 6)."""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from mnlab.papers import figure


def plot_saving(sweep: pd.DataFrame) -> Figure:
    """Standard / separable MACs against the output width N, one line per kernel, from
    :func:`mnlab.studies.separable.reduction_sweep`; dotted: the limit Dk²; shaded: the
    paper's "8 to 9 times" for 3×3 (Sec. 3.1)."""
    missing = {"N", "kernel", "saving"} - set(sweep.columns)
    if missing:
        raise ValueError(f"sweep is missing column(s) {sorted(missing)}; pass reduction_sweep()")
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    for k, part in sweep.groupby("kernel"):
        ax.plot(part.N, part.saving, marker="o", label=f"{k}×{k}: counted")
        ax.axhline(k * k, color="grey", lw=0.6, ls=":")
    low = figure("mobilenet_v1/sec3.1/separable_saving_low").value
    high = figure("mobilenet_v1/sec3.1/separable_saving_high").value
    ax.axhspan(low, high, color="tab:blue", alpha=0.12, label="the paper's 8–9× (3×3)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("output channels N (= M)")
    ax.set_ylabel("standard / separable MACs")
    ax.set_title("Saving of a depthwise separable layer (dotted: the limit Dk²)")
    ax.legend()
    return fig


def _saving() -> Figure:
    from mnlab.studies.separable import reduction_sweep
    return plot_saving(reduction_sweep())


FIGURES = {"separable_saving": _saving}
