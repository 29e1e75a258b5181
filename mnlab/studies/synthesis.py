"""Chapter 7 — choosing a mobile network: the whole zoo on one table and one Pareto plot.

The book's zoo sweep (:func:`mnlab.zoo.zoo_sweep`, 42 configurations of every family) takes a
minute or two and depends on the machine, so the chapters read it *as stored* in
``chapters/data/zoo_latency.csv``, with the name of the machine that measured it, and measure
anew only when asked (:func:`stored_zoo`). On that table this module joins the published
ImageNet top-1 of each configuration (:func:`with_published_top1`; accuracies are the papers',
nothing is trained on ImageNet here), finds the Pareto front of accuracy against measured
latency (:func:`pareto_front`) and computes the numbers behind the chapter's advice.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mnlab.papers import figure
from mnlab.studies.stored import write_csv
from mnlab.zoo import COLUMNS, default_configs, zoo_sweep
from mnlab.validation import check_int

_BOOL_COLUMNS = ("reparameterized", "noisy")


# --------------------------------------------------------------------------- the stored sweep

def _read_all(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"no zoo table at {str(path)!r}; run stored_zoo(path, remeasure=True)")
    table = pd.read_csv(path, dtype={"fingerprint": str, "cpu": str, "torch": str})
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{str(path)!r} is not a zoo sweep table (missing columns {missing})")
    for column in _BOOL_COLUMNS:
        table[column] = table[column].astype(str).str.lower().eq("true")
    return table[COLUMNS]


def read_zoo(path: str | os.PathLike, backend: str = "eager") -> pd.DataFrame:
    """Read a zoo table written by :func:`stored_zoo` (or a :func:`~mnlab.zoo.zoo_sweep` cache):
    its rows timed on ``backend`` (one of ``mnlab.analysis.BACKENDS``).

    Raises ``FileNotFoundError`` if there is no file and ``ValueError`` if it lacks a column of
    :data:`mnlab.zoo.COLUMNS`.
    """
    table = _read_all(Path(path))
    return table[table["backend"] == backend].reset_index(drop=True)


def stored_zoo(path: str | os.PathLike, remeasure: bool, *, configs=None, threads: int = 1,
               budget_s: float = 1.0, repeats: int = 1, backend: str = "eager") -> pd.DataFrame:
    """The zoo sweep on ``backend`` as stored at ``path``; measured on this machine (and stored)
    only if ``remeasure`` is true or the file has no rows for ``backend`` yet.

    Stored rows are returned exactly as they were measured, whatever machine measured them
    (see :func:`~mnlab.studies.stored.machine_of`): a chapter shows the stored machine's timings rather than
    re-timing on every run. ``configs`` (default :func:`mnlab.zoo.default_configs`),
    ``threads``, ``budget_s`` and ``backend`` go to :func:`mnlab.zoo.zoo_sweep` when measuring;
    no machine-keyed cache is used, the file's rows for ``backend`` are replaced and the other
    backends' rows kept. ``repeats`` > 1 sweeps the
    whole list that many times and keeps, per configuration, the pass with the lowest median:
    on a shared machine a neighbour's burst only ever slows a pass down, and sweeping the whole
    list each time spreads a burst over different configurations.
    """
    path = Path(path)
    if not isinstance(remeasure, (bool, np.bool_)):
        raise ValueError(f"remeasure must be True or False, got {remeasure!r}")
    check_int(repeats, "repeats", at_least=1)
    others = _read_all(path) if path.exists() else pd.DataFrame(columns=COLUMNS)
    if not remeasure and (others["backend"] == backend).any():
        return read_zoo(path, backend)
    configs = default_configs() if configs is None else configs
    passes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # noisy timings are flagged in the table
        for _ in range(repeats):
            passes.append(zoo_sweep(configs, cache=None, threads=threads, progress=False,
                                    budget_s=budget_s, backend=backend))
    best = np.argmin(np.stack([p["latency_ms"].to_numpy() for p in passes]), axis=0)
    table = pd.DataFrame([passes[k].iloc[i] for i, k in enumerate(best)], columns=COLUMNS)
    others = others[others["backend"] != backend]
    table = pd.concat([others, table], ignore_index=True) if len(others) else table
    write_csv(table, path)
    return read_zoo(path, backend)


# --------------------------------------------------------------------------- published top-1

def top1_key(model: str, width: float | None, resolution: int) -> str | None:
    """The :mod:`mnlab.papers` key of the published ImageNet top-1 of one zoo configuration, or
    None when the papers print none for it (e.g. MobileNetV1 at α = 0.75 and 192 pixels)."""
    w = None if width is None or (isinstance(width, float) and math.isnan(width)) else float(width)
    if model == "mobilenet_v1":
        if resolution == 224 and w in (1.0, 0.75, 0.5, 0.25):
            return f"mobilenet_v1/table6/{w}/top1"
        if w == 1.0 and resolution in (192, 160, 128):
            return f"mobilenet_v1/table7/{resolution}/top1"
        return None
    if model == "conv_mobilenet_v1" and resolution == 224:
        return "mobilenet_v1/table4/conv_mobilenet/top1"
    if model == "shallow_mobilenet_v1" and resolution == 224:
        return "mobilenet_v1/table5/shallow/top1"
    if model == "mobilenet_v2" and resolution == 224 and w in (1.0, 1.4):
        return "mobilenet_v2/table4/mobilenet_v2/top1" if w == 1.0 else "mobilenet_v2/table4/mobilenet_v2_1.4/top1"
    if model.startswith("mobilenet_v3_") and resolution == 224 and w in (1.0, 0.75):
        return f"mobilenet_v3/table3/{model.rsplit('_', 1)[1]}_{w}/top1"
    if model.startswith("efficientnet_lite"):
        from mnlab.models import default_resolution
        if resolution == default_resolution(model):
            return f"efficientnet_lite/lite{model[-1]}/top1"
        return None
    if model.startswith("mobileone_s") and resolution == 224:
        return f"mobileone/s{model[-1]}/top1"
    return None


def label_of(row) -> str:
    """A short label for a zoo row: "V1 0.75 @192", "V3-L 1.0", "Lite2", "MobileOne-S0"."""
    model, width, res = row["model"], row["width"], int(row["resolution"])
    short = {"mobilenet_v1": "V1", "conv_mobilenet_v1": "Conv V1", "shallow_mobilenet_v1": "Shallow V1",
             "mobilenet_v2": "V2", "mobilenet_v3_large": "V3-L", "mobilenet_v3_small": "V3-S"}
    if model.startswith("efficientnet_lite"):
        return "Lite" + model[-1] + ("" if res == _lite_resolution(model) else f" @{res}")
    if model.startswith("mobileone_s"):
        return "MobileOne-S" + model[-1] + ("" if row["reparameterized"] else " (train-time)") + (
            "" if res == 224 else f" @{res}")
    text = short.get(model, model)
    if model in ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"):
        text += f" {float(width):g}"
    return text + ("" if res == 224 else f" @{res}")


def _lite_resolution(model: str) -> int:
    from mnlab.models import default_resolution
    return default_resolution(model)


def with_published_top1(zoo: pd.DataFrame) -> pd.DataFrame:
    """The zoo table with ``label``, ``top1`` (published ImageNet top-1 in percent, NaN where
    the papers print none) and ``top1_source`` (the papers key) added."""
    table = zoo.copy()
    keys = [top1_key(m, w, int(r)) for m, w, r in zip(table["model"], table["width"], table["resolution"])]
    table.insert(0, "label", [label_of(row) for row in table.to_dict("records")])
    table["top1"] = [figure(k).value if k else np.nan for k in keys]
    table["top1_source"] = [k or "" for k in keys]
    return table


# --------------------------------------------------------------------------- Pareto front

def pareto_front(table: pd.DataFrame, cost: str = "latency_ms", value: str = "top1") -> pd.Series:
    """True for the rows no other row beats: none has ``cost`` ≤ and ``value`` ≥ with at least
    one strict. Rows with a missing cost or value are never on the front."""
    for column in (cost, value):
        if column not in table.columns:
            raise ValueError(f"table has no column {column!r}; available: {list(table.columns)}")
    c, v = table[cost].to_numpy(dtype=float), table[value].to_numpy(dtype=float)
    valid = ~(np.isnan(c) | np.isnan(v))
    front = np.zeros(len(table), dtype=bool)
    for i in np.flatnonzero(valid):
        others = valid & (c <= c[i]) & (v >= v[i]) & ((c < c[i]) | (v > v[i]))
        front[i] = not others.any()
    return pd.Series(front, index=table.index, name="pareto")


def synthesis_table(zoo: pd.DataFrame) -> pd.DataFrame:
    """The chapter's one table: the configurations with a published top-1, sorted by measured
    latency. Columns ``label``, ``family``, ``top1``, ``latency_ms``, ``macs_M``, ``params_M``,
    ``peak_memory_MB`` (peak activation memory, float32), ``gmacs_per_s`` (MACs / latency) and
    ``pareto`` (on the accuracy–latency front)."""
    table = with_published_top1(zoo)
    table = table[table["top1"].notna()].copy()
    table["pareto"] = pareto_front(table)
    out = pd.DataFrame({
        "label": table["label"], "family": table["family"], "top1": table["top1"],
        "latency_ms": table["latency_ms"], "macs_M": table["macs"] / 1e6, "params_M": table["params"] / 1e6,
        "peak_memory_MB": table["peak_activation_bytes"] / 2 ** 20,
        "gmacs_per_s": table["macs"] / (table["latency_ms"] * 1e6), "pareto": table["pareto"]})
    return out.sort_values("latency_ms", kind="stable").reset_index(drop=True)


def plot_pareto(table: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Published top-1 against measured latency (log scale), one colour per family; the Pareto
    front joined by a step line and labelled. ``table`` is :func:`synthesis_table`'s."""
    from matplotlib import colormaps
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    families = list(dict.fromkeys(table["family"]))
    cmap = colormaps["tab10"]
    for i, fam in enumerate(families):
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


# --------------------------------------------------------------------------- numbers behind the advice

def worst_inversion(zoo: pd.DataFrame, metric: str = "macs") -> dict:
    """The pair of configurations that most contradicts ``metric`` as a latency ranking: A has
    fewer ``metric`` than B yet the largest latency ratio A / B. Returns a dict with ``a``,
    ``b`` (labels), ``metric_ratio`` (A / B, < 1) and ``latency_ratio`` (A / B, > 1 if there is
    an inversion; the smallest ratio found otherwise)."""
    table = zoo.reset_index(drop=True)
    labels = [label_of(r) for r in table.to_dict("records")]
    m, t = table[metric].to_numpy(dtype=float), table["latency_ms"].to_numpy(dtype=float)
    best = None
    for i in range(len(table)):
        for j in range(len(table)):
            if m[i] < m[j]:
                ratio = t[i] / t[j]
                if best is None or ratio > best[0]:
                    best = (ratio, i, j)
    if best is None:
        raise ValueError(f"no two rows differ in {metric!r}")
    ratio, i, j = best
    return {"a": labels[i], "b": labels[j], "metric_ratio": m[i] / m[j], "latency_ratio": ratio}


def family_throughput(zoo: pd.DataFrame) -> pd.DataFrame:
    """Achieved GMAC/s (MACs / latency) per family: median, min and max over its configurations,
    sorted fastest first. The spread says how much latency per MAC depends on the architecture."""
    rate = zoo.assign(gmacs_per_s=zoo["macs"] / (zoo["latency_ms"] * 1e6))
    table = rate.groupby("family", sort=False)["gmacs_per_s"].agg(["median", "min", "max", "size"])
    table.columns = ["gmacs_per_s_median", "gmacs_per_s_min", "gmacs_per_s_max", "configs"]
    return table.sort_values("gmacs_per_s_median", ascending=False, kind="stable")


def kind_shares(layers: pd.DataFrame) -> pd.DataFrame:
    """Share of MACs and of measured time per layer kind, from a
    :func:`~mnlab.analysis.profile_layers` table (rows with a time). Columns ``macs_share``,
    ``time_share``, ``time_per_mac_ratio`` (time share / MACs share: > 1 means the kind costs more
    time than its MACs suggest); index ``kind``; sorted by time share."""
    timed = layers[layers["time_ms"].notna()]
    grouped = timed.groupby("kind", sort=False).agg(macs=("macs", "sum"), time_ms=("time_ms", "sum"))
    grouped["macs_share"] = grouped["macs"] / grouped["macs"].sum()
    grouped["time_share"] = grouped["time_ms"] / grouped["time_ms"].sum()
    grouped["time_per_mac_ratio"] = grouped["time_share"] / grouped["macs_share"].where(grouped["macs_share"] > 0)
    return grouped.sort_values("time_share", ascending=False, kind="stable")[
        ["macs_share", "time_share", "time_per_mac_ratio"]]


def cheapest_reaching(table: pd.DataFrame, top1: float, cost: str = "latency_ms") -> pd.Series:
    """The row of :func:`synthesis_table` with the lowest ``cost`` among those whose published
    top-1 is at least ``top1``; ``ValueError`` if none reaches it."""
    reaching = table[table["top1"] >= top1]
    if reaching.empty:
        raise ValueError(f"no configuration reaches top-1 {top1!r}; the best is {table['top1'].max()}")
    return reaching.loc[reaching[cost].idxmin()]


def runtime_speedup(model, resolution: int, *, rounds: int = 3, budget_s: float = 0.2) -> dict:
    """Eager PyTorch against the deploy form (BN folded, TorchScript frozen and optimized) of the
    same model, timed interleaved: ``eager_ms``, ``deploy_ms`` and ``speedup`` (eager / deploy)."""
    from mnlab.analysis import deploy
    from mnlab.studies.mobileone import interleaved_latency

    times = interleaved_latency({"eager": model, "deploy": deploy(model, resolution, backend="deploy")}, resolution,
                                rounds=rounds, budget_s=budget_s)
    return {"eager_ms": times["eager"], "deploy_ms": times["deploy"],
            "speedup": times["eager"] / times["deploy"]}
