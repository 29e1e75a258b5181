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
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from torch import nn

from mnlab.analysis import Backend
from mnlab.papers import figure
from mnlab.storage import write_csv
from mnlab.zoo import COLUMNS, ConfigTuple, ZooConfig, default_configs, zoo_sweep
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


def read_zoo(path: str | os.PathLike, backend: Backend = "eager") -> pd.DataFrame:
    """Read a zoo table written by :func:`stored_zoo` (or a :func:`~mnlab.zoo.zoo_sweep` cache):
    its rows timed on ``backend`` (one of ``mnlab.analysis.BACKENDS``).

    Raises ``FileNotFoundError`` if there is no file and ``ValueError`` if it lacks a column of
    :data:`mnlab.zoo.COLUMNS`.
    """
    table = _read_all(Path(path))
    return table[table["backend"] == backend].reset_index(drop=True)


def stored_zoo(path: str | os.PathLike[str], remeasure: bool, *,
               configs: Iterable[ZooConfig | ConfigTuple] | None = None, threads: int = 1,
               budget_s: float = 1.0, repeats: int = 1, backend: Backend = "eager") -> pd.DataFrame:
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


def label_of(row: Mapping[str, Any]) -> str:
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


# --------------------------------------------------------------------------- numbers behind the advice

COST_NAMES = {"macs": "MACs", "params": "parameters", "bytes": "bytes moved",
              "peak_activation_bytes": "peak activation memory"}


def cost_ranking(zoo: pd.DataFrame) -> pd.DataFrame:
    """How well each cost metric of ``COST_NAMES`` ranks the zoo's latencies over all
    configurations (:func:`~mnlab.analysis.rank_correlation`): ``n``, ``spearman`` and
    ``kendall`` indexed by metric, the best ranking (highest Spearman ρ) first."""
    from mnlab.analysis import rank_correlation
    table = rank_correlation(zoo, metrics=tuple(COST_NAMES)).query("group == 'all'").set_index("metric")
    return table[["n", "spearman", "kendall"]].sort_values("spearman", ascending=False, kind="stable")


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


def runtime_speedup(model: nn.Module, resolution: int, *, backend: Backend = "onnxruntime", rounds: int = 3,
                    budget_s: float = 0.2) -> dict[str, float]:
    """Eager PyTorch against a deployed form (``backend``, one of ``mnlab.analysis.BACKENDS``:
    BN folded, graph runtime) of the same model, timed interleaved: ``eager_ms``,
    ``deployed_ms`` and ``speedup`` (eager / deployed)."""
    from mnlab.analysis import deploy
    from mnlab.studies.mobileone import interleaved_latency

    times = interleaved_latency({"eager": model, "deployed": deploy(model, resolution, backend=backend)},
                                resolution, rounds=rounds, budget_s=budget_s)
    return {"eager_ms": times["eager"], "deployed_ms": times["deployed"],
            "speedup": times["eager"] / times["deployed"]}


def front_changes(eager: pd.DataFrame, deployed: pd.DataFrame) -> dict:
    """How the accuracy–latency front moves from eager PyTorch to a deployed backend: lists of
    labels (in the deployed table's latency order) that ``joined``, ``left`` and ``kept`` the
    front. Both arguments are zoo tables of the same configurations (:func:`read_zoo`)."""
    before = synthesis_table(eager).set_index("label")["pareto"]
    after = synthesis_table(deployed).set_index("label")["pareto"]
    if set(before.index) != set(after.index):
        raise ValueError(f"eager and deployed tables hold different configurations: "
                         f"{sorted(set(before.index) ^ set(after.index))}")
    order = list(after.index)
    return {"joined": [k for k in order if after[k] and not before[k]],
            "left": [k for k in order if before[k] and not after[k]],
            "kept": [k for k in order if before[k] and after[k]]}


def deploy_gain(eager: pd.DataFrame, deployed: pd.DataFrame) -> pd.Series:
    """Per family, the median over its configurations of eager latency / deployed latency (how
    much deploying speeds it up), sorted from the least to the most gained. Rows are joined by
    model, width, resolution and form."""
    keys = ["family", "model", "width", "resolution", "reparameterized"]
    both = eager[keys + ["latency_ms"]].merge(deployed[keys + ["latency_ms"]], on=keys,
                                              suffixes=("_eager", "_deployed"), validate="one_to_one")
    if len(both) != len(deployed):
        raise ValueError(f"eager has {len(both)} of the deployed table's {len(deployed)} configurations")
    ratio = both["latency_ms_eager"] / both["latency_ms_deployed"]
    return ratio.groupby(both["family"]).median().sort_values().rename("eager / deployed (median)")


# --------------------------------------------------------------------------- the chapter's claims

def _growth_claims(lat: pd.Series, machine: str) -> list:
    from mnlab.claims import Evidence, statement
    out = []
    for fam, small, big, key_small, key_big, src in [
            ("EfficientNet-Lite", "Lite0", "Lite4", "efficientnet_lite/lite0/latency",
             "efficientnet_lite/lite4/latency", "efficientnet_lite"),
            ("MobileOne", "MobileOne-S0", "MobileOne-S4", "mobileone/s0/latency", "mobileone/s4/latency",
             "ml_mobileone")]:
        paper_ratio = figure(key_big).value / figure(key_small).value
        ours = lat[big] / lat[small]
        holds = abs(ours / paper_ratio - 1) <= GROWTH_TOLERANCE
        out.append(statement(
            f"{fam}: latency growth from {small} to {big}", f"{paper_ratio:.1f}× ({figure(key_small).note})",
            f"{ours:.1f}×", holds, source=src, evidence=Evidence.TIMING, machine=machine,
            tolerance=f"within ±{GROWTH_TOLERANCE:.0%} of the ratio",
            note="" if holds else "a CPU core pays for every MAC; the phone's accelerator hides most of the extra MACs"))
    return out


GROWTH_TOLERANCE = 0.25          # a family's latency growth, ours against the phone's
DEPTHWISE_TIME_PER_MAC = 1.5     # depthwise time share must exceed this × its MAC share


def claims(zoo: pd.DataFrame, shares: pd.DataFrame) -> list:
    """The chapter's *paper vs measured* claims from the stored ``zoo`` (:func:`read_zoo`, one
    backend) and one layer profile's :func:`kind_shares`. Only relations are compared: the
    papers timed phones, the zoo one desktop core (named in each verdict)."""
    from mnlab.analysis import rank_correlation
    from mnlab.claims import Evidence, statement
    from mnlab.studies.stored import machine_of

    machine = machine_of(zoo, cpu_only=True)
    lat = zoo.assign(label=[label_of(r) for r in zoo.to_dict("records")]).set_index("label")["latency_ms"]
    paper = (figure("mobilenet_v2/table4/mobilenet_v2/latency").value
             / figure("mobilenet_v2/table4/mobilenet_v1/latency").value)
    ours = lat["V2 1"] / lat["V1 1"]
    out = [statement("MobileNetV2 is faster than MobileNetV1", f"V2 / V1 = {paper:.2f} (Pixel 1)",
                     f"V2 / V1 = {ours:.2f}", ours < 1, source="mobilenet_v2", evidence=Evidence.TIMING,
                     machine=machine, tolerance="ratio < 1",
                     note="V2's expanded depthwise layers run far below the machine's peak here")]
    out += _growth_claims(lat, machine)
    on_front = synthesis_table(zoo).set_index("label")["pareto"]
    mobileone = [f"S{i}" for i in range(5) if on_front[f"MobileOne-S{i}"]]
    out.append(statement("MobileOne variants are on the accuracy–latency front",
                         "state-of-the-art accuracy at its latency (iPhone 12)",
                         f"{len(mobileone)} of 5 on the front ({', '.join(mobileone) or 'none'})",
                         len(mobileone) == 5, source="mobileone", evidence=Evidence.TIMING, machine=machine,
                         tolerance="all five", note="" if len(mobileone) == 5 else
                         "on this CPU other families reach the same accuracy sooner"))
    rho = rank_correlation(zoo, metrics=("macs", "params")).query("group == 'all'").set_index("metric")["spearman"]
    out.append(statement("MACs rank latency better than parameters", "moderate vs weak correlation",
                         f"ρ {rho['macs']:.2f} vs {rho['params']:.2f}", rho["macs"] > rho["params"],
                         source="mobileone", evidence=Evidence.TIMING, machine=machine,
                         tolerance="ρ(MACs) > ρ(params)", note="stored zoo"))
    dw = shares.loc["depthwise 3×3"]
    out.append(statement("depthwise layers cost more time than their MACs", "Mult-Adds are not time",
                         f"{dw['time_share']:.0%} of the time, {dw['macs_share']:.0%} of the MACs (V2)",
                         dw["time_per_mac_ratio"] > DEPTHWISE_TIME_PER_MAC, source="mobileone",
                         evidence=Evidence.TIMING_EFFECT,
                         tolerance=f"time share > {DEPTHWISE_TIME_PER_MAC} × MAC share (one profiled run)"))
    return out
