"""Plots for the book: each function takes data (DataFrames, dataclasses) and returns a Figure.

Figures are built with ``matplotlib.figure.Figure``, not ``pyplot``: nothing is drawn as a
side effect, a notebook shows the returned figure once, and a script can ``fig.savefig(...)``.

One module per subject (``common`` for the figures several chapters share). A module may define
``FIGURES``: a dict from a file name to a function of no arguments that rebuilds one of its
chapter's figures from counts and stored data (never from a fresh timing), so that
``make figures`` exports it to ``figures/<name>.svg`` beside the diagrams; see
:func:`exported_figures`.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Callable

from matplotlib.figure import Figure

from mnlab.plots.backbones import plot_attachments, plot_backbone_head
from mnlab.plots.common import plot_latency_vs_metrics, plot_roofline


def exported_figures() -> dict[str, Callable[[], Figure]]:
    """Every ``FIGURES`` entry of every module of this package, by file name (names are unique)."""
    found: dict[str, Callable[[], Figure]] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name, build in getattr(module, "FIGURES", {}).items():
            if name in found:
                raise ValueError(f"figure name {name!r} is exported twice (second time by {module.__name__})")
            found[name] = build
    return found


__all__ = ["plot_roofline", "plot_latency_vs_metrics", "plot_attachments", "plot_backbone_head",
           "exported_figures"]
