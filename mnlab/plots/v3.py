"""Figures of the MobileNetV3 chapter (4): h-swish and h-sigmoid beside swish and sigmoid."""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure


def plot_activations(curves: pd.DataFrame) -> Figure:
    """The smooth functions and their hard versions (left), and the differences (right)."""
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    for name, style in [("swish", dict(color="tab:blue")), ("h-swish", dict(color="tab:blue", ls="--")),
                        ("sigmoid", dict(color="tab:orange")), ("h-sigmoid", dict(color="tab:orange", ls="--"))]:
        left.plot(curves.x, curves[name], label=name, **style)
    left.set_xlabel("x")
    left.set_ylabel("f(x)")
    left.legend(fontsize="small")
    left.grid(True, alpha=0.3)
    right.plot(curves.x, curves["h-swish"] - curves["swish"], label="h-swish − swish", color="tab:blue")
    right.plot(curves.x, curves["h-sigmoid"] - curves["sigmoid"], label="h-sigmoid − sigmoid", color="tab:orange")
    right.axhline(0, color="grey", lw=0.6)
    right.set_xlabel("x")
    right.set_ylabel("difference")
    right.legend(fontsize="small")
    right.grid(True, alpha=0.3)
    return fig


def _activations() -> Figure:
    from mnlab.studies import v3
    return plot_activations(v3.activation_curves())


#: The chapter's figures, rebuilt from computed curves (``make figures``).
FIGURES = {"v3_activations": _activations}
