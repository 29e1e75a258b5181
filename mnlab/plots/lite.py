"""Figures of the EfficientNet-Lite chapter (5): post-training quantization of the digits
networks, accuracy by bits and activation ranges layer by layer, and the ranges ONNX Runtime's
int8 calibration set (from the stored studies)."""
from __future__ import annotations

import pathlib

import pandas as pd
from matplotlib.figure import Figure

DATA = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "data"
_COLOURS = {"ReLU6": "tab:blue", "swish": "tab:orange", "h-swish": "tab:green"}
_ACTIVATION_MODULES = ["ReLU6", "SiLU", "Hardswish"]


def plot_quantization_accuracy(results: pd.DataFrame) -> Figure:
    """Test accuracy against bits, mean and range over seeds, one line per activation
    (:func:`mnlab.studies.lite.quantization_study`'s ``results``)."""
    fig = Figure(figsize=(7, 3.8), layout="constrained")
    ax = fig.add_subplot()
    for name, part in results.groupby("activation", sort=False):
        acc = part.groupby("bits").quant_acc
        mean = acc.mean()
        ax.errorbar(mean.index, mean, yerr=[mean - acc.min(), acc.max() - mean], marker="o", capsize=3, label=name)
    ax.axhline(results.float_acc.mean(), color="grey", ls=":", lw=1, label="float (mean)")
    ax.set_xlabel("bits per weight and activation (per-tensor affine)")
    ax.set_ylabel("test accuracy (%), digits")
    ax.set_xticks(sorted(results.bits.unique()))
    ax.set_title(f"Post-training quantization: mean and range over {results.seed.nunique()} seeds")
    ax.legend()
    return fig


def plot_activation_ranges(ranges: pd.DataFrame) -> Figure:
    """Left, the range hi − lo of every activation output (and of a conv output stored on its
    own before it); right, each tensor's int8 error quantized alone
    (:func:`mnlab.studies.lite.range_table`)."""
    fig = Figure(figsize=(8.5, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    for name, part in ranges.groupby("activation", sort=False):
        colour = _COLOURS.get(name)
        acts, convs = part[part.module.isin(_ACTIVATION_MODULES)], part[part.module == "Conv2d"]
        left.plot(range(1, len(acts) + 1), acts.hi - acts.lo, marker="o", color=colour, label=f"{name}: activation")
        if len(convs):
            left.plot(range(1, len(convs) + 1), convs.hi - convs.lo, marker="x", ls="--", color=colour,
                      label=f"{name}: conv output before it")
        right.plot(range(1, len(part) + 1), 100 * part.rel_error8, marker="o", color=colour, label=name)
    left.axhline(6, color="grey", lw=0.8, ls=":")
    left.set(xlabel="activation layer", ylabel="range hi − lo", title="Ranges (ReLU6 is capped at 6)")
    shown = ranges.module.isin(_ACTIVATION_MODULES + ["Conv2d"])
    left.set_ylim(0, 1.7 * (ranges.hi - ranges.lo)[shown].max())
    left.legend(fontsize="x-small", loc="upper left", ncol=2)
    right.set(xlabel="quantized tensor, in network order", ylabel="int8 relative error (%)",
              title="Error of each tensor, quantized alone")
    right.legend(fontsize="small")
    return fig


def _stored(part: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"lite_quantization.{part}.csv")




def plot_calibrated_ranges(ranges: pd.DataFrame, title: str = "") -> Figure:
    """The range hi − lo ONNX Runtime's calibration gave each activation tensor it stores as
    uint8, in graph order, one line per variant
    (:func:`mnlab.studies.lite_int8.digits_int8_study`'s ``ranges``); a log scale, since a
    swish network's ranges can be a hundred times ReLU6's. The dotted line is ReLU6's cap."""
    fig = Figure(figsize=(7.5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    markers = iter("o^s")
    for name, part in ranges.groupby("variant", sort=False):
        ax.plot(part.layer, part.hi - part.lo, marker=next(markers, "o"), ms=4, lw=1, label=name)
    ax.axhline(6, color="grey", lw=0.8, ls=":", label="ReLU6's range, 6")
    ax.set_yscale("log")
    ax.set(xlabel="quantized activation tensor, in graph order", ylabel="calibrated range hi − lo",
           title=title or "Calibrated int8 activation ranges (ONNX Runtime, MinMax)")
    ax.legend(fontsize="small")
    return fig


FIGURES = {"lite_quantization_accuracy": lambda: plot_quantization_accuracy(_stored("results")),
           "lite_activation_ranges": lambda: plot_activation_ranges(_stored("ranges")),
           "lite_int8_ranges": lambda: plot_calibrated_ranges(pd.read_csv(DATA / "lite_int8.digits_ranges.csv"))}
