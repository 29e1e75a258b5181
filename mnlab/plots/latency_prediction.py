"""Chapter 8's figures: predicted against measured latency, and where NetAdapt put the channels.

Each function takes the data the chapter computed (:mod:`mnlab.studies.latency_prediction`,
:mod:`mnlab.studies.latency_search`) and returns a ``Figure``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def plot_predictions(predictions: pd.DataFrame, title: str = "") -> Figure:
    """Predicted against measured latency, one panel per predictor (the ``predictions`` of
    :func:`~mnlab.studies.latency_prediction.evaluate`), log scales, the ±10% band shaded."""
    names = list(dict.fromkeys(predictions.predictor))
    fig = Figure(figsize=(9, 8))
    axes = fig.subplots(2, 2, sharex=True, sharey=True).ravel()
    low, high = predictions[["measured", "predicted"]].min().min() * 0.8, predictions[["measured", "predicted"]].max().max() * 1.2
    line = np.geomspace(low, high, 50)
    for ax, name in zip(axes, names):
        part = predictions[predictions.predictor == name]
        ax.fill_between(line, line * 0.9, line * 1.1, color="0.85", label="±10%")
        for fam, group in part.groupby("family"):
            ax.scatter(group.measured, group.predicted, s=14, label=fam)
        ax.set(xscale="log", yscale="log", xlim=(low, high), ylim=(low, high), title=name)
        ax.plot(line, line, color="0.4", lw=0.8)
    axes[0].legend(fontsize=7, loc="upper left")
    for ax in axes[2:]:
        ax.set_xlabel("measured latency (ms)")
    for ax in axes[::2]:
        ax.set_ylabel("predicted latency (ms)")
    fig.suptitle(title)
    return fig


def plot_widths(networks: dict) -> Figure:
    """The hidden (expansion) width of every MobileNetV2 block, and the stem and head, per network
    (:class:`~mnlab.studies.latency_search.V2Widths`): where the channels went."""
    fig = Figure(figsize=(8, 3.6))
    ax = fig.subplots()
    step = 0.8 / len(networks)
    for i, (name, widths) in enumerate(networks.items()):
        values = [widths.stem] + list(widths.hidden[1:]) + [widths.head]
        ax.bar(np.arange(len(values)) + i * step, values, width=step, label=name)
    ax.set_xticks(np.arange(len(values)) + 0.4 - step / 2,
                  ["stem"] + [f"b{i}" for i in range(1, len(values) - 1)] + ["head"], fontsize=7)
    ax.set(ylabel="channels", yscale="log", title="Expansion widths per block, and the stem and head")
    ax.legend(fontsize=8)
    return fig
