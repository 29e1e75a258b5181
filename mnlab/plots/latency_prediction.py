"""Chapter 8's figures: predicted against measured latency, and where NetAdapt put the channels.

Each function takes the data the chapter computed (:mod:`mnlab.studies.latency_prediction`,
:mod:`mnlab.studies.latency_search`) and returns a ``Figure``; :data:`FIGURES` rebuilds both of
the chapter's figures from its stored data (``chapters/data/latency_*.csv``), never timing anything.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mnlab.analysis.deployment import Backend, check_backend


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


# --------------------------------------------------------------------------- exported (make figures)

DATA = Path(__file__).resolve().parents[2] / "chapters" / "data"


def stored_backend(path: Path) -> Backend:
    """The backend of the most recently measured rows of a stored table (``backend`` and
    ``measured_at`` columns): the figures follow the chapter's latest measurement."""
    table = pd.read_csv(path, usecols=["backend", "measured_at"])
    if table.empty:
        raise ValueError(f"{path} holds no measurement; run the chapter with `make book EXECUTE=1`")
    return check_backend(str(table.sort_values("measured_at").backend.iloc[-1]))


def stored_search(path: Path, backend: str) -> dict:
    """The stored NetAdapt comparison (``latency_netadapt.csv``): MobileNetV2, NetAdapt's result
    and the uniform multiplier whose fastest run (``best_ms``) is nearest NetAdapt's, as the
    chapter picks it; each network's widths are read back from its key (``name [spec]``), the
    latest row of each name on the stored machine."""
    from mnlab.analysis.kernel_bank import read_table, stored_machine
    from mnlab.studies.latency_search import SEARCH_COLUMNS, V2Widths

    rows = stored_machine(read_table(path, SEARCH_COLUMNS), backend, None).sort_values("measured_at")
    rows = rows.assign(name=rows.key.str.split(" [", regex=False).str[0],
                       widths=[V2Widths.from_spec(k.split(" [", 1)[1].rstrip("]")) for k in rows.key])
    latest = rows.groupby("name").tail(1).set_index("name")
    uniform = latest[latest.index.str.startswith("uniform")]
    nearest = (uniform.best_ms - latest.best_ms["NetAdapt"]).abs().idxmin()
    return {name: latest.widths[name] for name in ("MobileNetV2 1.0", "NetAdapt", nearest)}


def _predictions() -> Figure:
    from mnlab.analysis.kernel_bank import KernelBank
    from mnlab.studies import latency_prediction as lp

    backend = stored_backend(DATA / lp.DATASET_CSV)
    data = lp.measure_dataset(lp.dataset_configs(), backend=backend, cache=DATA / lp.DATASET_CSV, measure=False,
                              progress=False)
    bank = KernelBank(backend, cache=DATA / lp.KERNELS_CSV, measure=False, progress=False)
    _, predictions = lp.evaluate(lp.predictors(bank), lp.describe_dataset(data), data, "by family")
    return plot_predictions(predictions, title=f"Held out by family: trained on the search space ({backend}, 1 thread)")


def _widths() -> Figure:
    from mnlab.studies.latency_prediction import SEARCH_CSV

    return plot_widths(stored_search(DATA / SEARCH_CSV, stored_backend(DATA / SEARCH_CSV)))


#: Chapter 8's figures, rebuilt from the stored measurements (``make figures``).
FIGURES = {"latency_predictions": _predictions, "latency_netadapt_widths": _widths}
