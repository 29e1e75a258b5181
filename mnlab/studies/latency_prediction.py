"""Chapter 8 — predicting latency, and searching under a latency budget.

The data behind the chapter, and the experiments that use :mod:`mnlab.analysis.predict`:

* :mod:`mnlab.studies.search_space` — the MobileNetV2/V3-like networks sampled at random.
* :class:`Config`, :func:`dataset_configs` — the book's data set: the V1/V2/V3 width ×
  resolution grids, V2's expansion sweep, Lite0–4, MobileOne S0–S4 re-parameterized, and
  random samples of the search space, each measured end to end (:func:`measure_dataset`),
  cached in a CSV keyed by machine fingerprint and backend like the zoo sweep.
* :func:`evaluate`, :func:`errors_by_family` — each predictor fitted on one split and scored.
* :func:`claims` — the chapter's paper-vs-measured table, from the results.

The search under a budget (NetAdapt, MnasNet's reward) is in :mod:`mnlab.studies.latency_search`.
"""
from __future__ import annotations

import math
import os
import random
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import pandas as pd
from torch import nn
from tqdm.auto import tqdm

from mnlab.models import create_model, family, reparameterize
from mnlab.studies.search_space import sample_architecture

if TYPE_CHECKING:
    from mnlab.analysis import Backend
    from mnlab.analysis.kernel_bank import KernelBank

# --------------------------------------------------------------------------- the data set

@dataclass(frozen=True)
class Config:
    """One configuration of the data set: a registry model (``model``, ``width``,
    ``resolution``, ``expansion`` for MobileNetV2), or search-space sample number ``sample``."""

    model: str
    width: float | None = None
    resolution: int = 224
    expansion: float | None = None
    sample: int | None = None

    @property
    def key(self) -> str:
        if self.sample is not None:
            return f"space/{self.sample}"
        parts = [self.model] + ([f"x{self.width:g}"] if self.width is not None else [])
        parts += [f"@{self.resolution}"] + ([f"t{self.expansion:g}"] if self.expansion is not None else [])
        return " ".join(parts)

    @property
    def family(self) -> str:
        return "search space" if self.sample is not None else family(self.model)

    def build(self) -> nn.Module:
        """The model in its deployed form (MobileOne re-parameterized), eval mode, seeded."""
        import torch
        torch.manual_seed(0)
        if self.sample is not None:
            return sample_architecture(self.sample).build()
        kwargs = {} if self.width is None else {"width_mult": self.width}
        if self.expansion is not None:
            kwargs["expansion"] = self.expansion
        model = create_model(self.model, **kwargs).eval()
        return reparameterize(model) if self.model.startswith("mobileone") else model


def space_config(seed: int) -> Config:
    arch = sample_architecture(seed)
    return Config("search_space", None, arch.resolution, None, seed)


def dataset_configs(samples: int = 90) -> list[Config]:
    """The book's data set: 72 real configurations and ``samples`` search-space samples.

    MobileNetV1 on its α × ρ grid (16), MobileNetV2 at five widths × five resolutions (25) and
    five more expansion ratios (5), MobileNetV3 Large and Small at two widths × four
    resolutions (16), EfficientNet-Lite0–4 at their resolutions, MobileOne S0–S4 at 224.
    """
    from mnlab.models import default_resolution

    configs = [Config("mobilenet_v1", w, r) for w in (1.0, 0.75, 0.5, 0.25) for r in (224, 192, 160, 128)]
    configs += [Config("mobilenet_v2", w, r) for w in (1.4, 1.0, 0.75, 0.5, 0.35) for r in (224, 192, 160, 128, 96)]
    configs += [Config("mobilenet_v2", 1.0, 224, t) for t in (2, 3, 4, 8, 10)]
    configs += [Config(f"mobilenet_v3_{size}", w, r) for size in ("large", "small") for w in (1.0, 0.75)
                for r in (224, 192, 160, 128)]
    configs += [Config(f"efficientnet_lite{i}", None, default_resolution(f"efficientnet_lite{i}")) for i in range(5)]
    configs += [Config(f"mobileone_s{i}") for i in range(5)]
    return configs + [space_config(seed) for seed in range(samples)]


#: Columns of the stored data set (``chapters/data/latency_dataset.csv``).
COLUMNS = ["key", "family", "model", "width", "resolution", "expansion", "sample", "spec", "macs", "params",
           "bytes", "kernels", "latency_ms", "best_ms", "spread", "backend", "threads", "cpu",
           "logical_cores", "torch", "fingerprint", "measured_at"]


def _row(config: Config, model: nn.Module) -> dict:
    from mnlab.analysis import analyze
    from mnlab.analysis.kernels import kernels

    report = analyze(model, config.resolution)
    return {"key": config.key, "family": config.family, "model": config.model, "width": config.width,
            "resolution": config.resolution, "expansion": config.expansion, "sample": config.sample,
            "spec": sample_architecture(config.sample).spec if config.sample is not None else config.key,
            "macs": report.totals["macs"], "params": report.totals["params"],
            "bytes": report.totals["bytes_read"] + report.totals["bytes_written"],
            "kernels": len(kernels(report))}


def timings(models: dict[str, tuple[nn.Module, int]], *, backend: Backend, threads: int, rounds: int,
             budget_s: float) -> dict[str, dict]:
    """Time ``models`` (key → (module, resolution)) interleaved; the timing and machine columns."""
    from mnlab.analysis import compare_latency
    from mnlab.analysis.latency import environment, machine_fingerprint

    env = environment(threads, backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = compare_latency({k: m for k, (m, _) in models.items()}, {k: r for k, (_, r) in models.items()},
                                 rounds=rounds, threads=threads, backend=backend, budget_s=budget_s, min_runs=5)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return {k: {"latency_ms": result.median_ms[k], "best_ms": result.best_ms[k],
                "spread": (result.max_ms[k] - result.min_ms[k]) / result.median_ms[k], "backend": backend,
                "threads": threads, "cpu": env["cpu"], "logical_cores": env["logical_cores"], "torch": env["torch"],
                "fingerprint": machine_fingerprint(env), "measured_at": now} for k in models}


def cached_rows(path: str | os.PathLike[str] | None, columns: list[str], keys: list[str], backend: Backend,
                threads: int, measure: bool) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The stored table at ``path``, the rows already there for this machine (or, when not
    measuring, the stored machine) indexed by key, and the keys still missing."""
    from mnlab.analysis.kernel_bank import read_table, stored_machine
    from mnlab.analysis.latency import check_threads, environment, machine_fingerprint

    fingerprint = machine_fingerprint(environment(check_threads(threads), backend))
    table = read_table(None if path is None else Path(path), columns)
    done = stored_machine(table, backend, fingerprint if measure else None).set_index("key")
    missing = [k for k in keys if k not in done.index]
    if missing and not measure:
        raise ValueError(f"{len(missing)} configuration(s) are not stored for backend {backend!r} "
                         f"(e.g. {missing[0]}); measure them with measure=True")
    return table, done, missing


def measure_dataset(configs: list[Config], *, backend: Backend = "onnxruntime",
                    cache: str | os.PathLike[str] | None = None, measure: bool = True,
                    threads: int = 1, rounds: int = 3, budget_s: float = 0.1, chunk: int = 6,
                    progress: bool = True) -> pd.DataFrame:
    """Count and time every configuration end to end, one row each, in the order given.

    Timing: :func:`~mnlab.analysis.compare_latency` on ``chunk`` models at a time, interleaved
    over ``rounds`` rounds (``latency_ms`` is the median of the round medians, ``best_ms`` the
    fastest run, ``spread`` (max − min) / median of the round medians). The configurations are
    timed in a seeded shuffled order, so that a burst of load on a shared machine falls on a
    mix of families. ``cache``: CSV keyed by (machine fingerprint, backend, key), written after
    every chunk; ``measure=False`` reads what it holds, whatever machine measured it, and raises
    ``ValueError`` for a configuration it lacks.
    """
    from mnlab.storage import write_csv

    table, done, missing = cached_rows(cache, COLUMNS, [c.key for c in configs], backend, threads, measure)
    todo = [c for c in configs if c.key in set(missing)]
    order = random.Random(0).sample(todo, len(todo))
    bar = tqdm(total=len(order), desc=f"timing models ({backend})", unit="model", disable=not progress)
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        models = {c.key: (c.build(), c.resolution) for c in part}
        timed = timings(models, backend=backend, threads=threads, rounds=rounds, budget_s=budget_s)
        rows = [{**_row(c, models[c.key][0]), **timed[c.key]} for c in part]
        table = pd.concat([table, pd.DataFrame(rows, columns=COLUMNS)], ignore_index=True)
        done = pd.concat([done, pd.DataFrame(rows).set_index("key")])
        if cache is not None:
            write_csv(table, cache)
        bar.update(len(part))
    bar.close()
    return done.loc[[c.key for c in configs]].reset_index()[COLUMNS].infer_objects()


def config_of(row: Mapping[str, Any]) -> Config:
    """The :class:`Config` of one row of the stored data set."""
    def value(name):
        v = row[name]
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v
    sample = value("sample")
    if sample is not None:
        return space_config(int(sample))
    width, expansion = value("width"), value("expansion")
    return Config(row["model"], None if width is None else float(width), int(row["resolution"]),
                  None if expansion is None else float(expansion))


def describe_dataset(data: pd.DataFrame) -> list:
    """:func:`~mnlab.analysis.predict.describe` every configuration of ``data`` (about 20 ms each)."""
    from mnlab.analysis.predict import describe

    return [describe(config_of(row).build(), int(row["resolution"])) for row in data.to_dict("records")]


def splits(data: pd.DataFrame, seed: int = 0) -> dict[str, tuple[list[int], list[int]]]:
    """Train and test row positions: ``"random"`` (a seeded 50/50 split of every row) and
    ``"by family"`` (train on the search-space samples, test on the real networks)."""
    rows = list(range(len(data)))
    shuffled = random.Random(seed).sample(rows, len(rows))
    space = [i for i in rows if data.family.iloc[i] == "search space"]
    return {"random": (sorted(shuffled[: len(rows) // 2]), sorted(shuffled[len(rows) // 2:])),
            "by family": (space, [i for i in rows if i not in set(space)])}


#: The networks the per-op lookup table is evaluated on — one per family, at width 1 and the
#: published resolution (timing every op of every configuration would take an hour here).
LOOKUP_KEYS = ["mobilenet_v1 x1 @224", "mobilenet_v2 x1 @224", "mobilenet_v3_large x1 @224",
               "mobilenet_v3_small x1 @224", "efficientnet_lite0 @224", "mobileone_s0 @224"]


def evaluate(predictors: dict, described: list, data: pd.DataFrame, split: str,
             latency: str = "latency_ms") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit each predictor on the ``split``'s training rows, predict its test rows.

    Returns ``(scores, predictions)``: one row per predictor of
    :func:`~mnlab.analysis.predict.accuracy` (``n``, ``rmspe``, ``within_10``, ``within_5``,
    ``spearman``), and one row per (predictor, test configuration) with ``measured`` and
    ``predicted``. A :class:`~mnlab.analysis.predict.LookupTable` is scored on the
    :data:`LOOKUP_KEYS` among the test rows only. ``latency``: the column of ``data`` to fit
    and score (``best_ms`` or ``latency_ms``).
    """
    from mnlab.analysis.predict import LookupTable, accuracy

    train, test = splits(data)[split]
    t = data[latency].to_numpy(dtype=float)
    scores, rows = [], []
    for name, predictor in predictors.items():
        rows_here = [i for i in test if data.key.iloc[i] in LOOKUP_KEYS] if isinstance(predictor, LookupTable) \
            else test
        predictor.fit([described[i] for i in train], t[train])
        predicted = predictor.predict_many([described[i] for i in rows_here])
        scores.append({"predictor": name, **accuracy(predicted, t[rows_here])})
        rows += [{"predictor": name, "key": data.key.iloc[i], "family": data.family.iloc[i], "measured": t[i],
                  "predicted": p} for i, p in zip(rows_here, predicted)]
    predictions = pd.DataFrame(rows)
    predictions["error"] = predictions.predicted / predictions.measured - 1
    return pd.DataFrame(scores).set_index("predictor"), predictions


def dataset_summary(data: pd.DataFrame) -> pd.DataFrame:
    """Per family of the data set: configurations, MACs range (M), latency range (ms) and the
    median spread of the round medians."""
    return data.groupby("family", sort=False).agg(
        configs=("key", "size"), MACs_M_min=("macs", lambda m: m.min() / 1e6),
        MACs_M_max=("macs", lambda m: m.max() / 1e6), ms_min=("latency_ms", "min"), ms_max=("latency_ms", "max"),
        spread_median=("spread", "median"))


def repeatability(first: pd.DataFrame, second: pd.DataFrame, tolerance: float = 0.10) -> float:
    """The share of configurations whose two measurements (two runs of :func:`measure_dataset`,
    matched by key) agree within ±``tolerance`` of the first: the ceiling on any predictor's
    share within ±``tolerance``, since a measurement predicts its own repetition no better."""
    both = first.set_index("key").latency_ms.to_frame("first").join(second.set_index("key").latency_ms.rename("second"),
                                                                      how="inner")
    if len(both) < 2:
        raise ValueError(f"the two measurements share {len(both)} configuration(s); need >= 2")
    return float(((both.second / both.first - 1).abs() <= tolerance).mean())


def errors_by_family(predictions: pd.DataFrame) -> pd.DataFrame:
    """Median signed error and share within ±10%, per predictor and family: where each fails."""
    table = predictions.assign(within_10=predictions.error.abs() <= 0.10).groupby(["predictor", "family"])
    return table.agg(n=("error", "size"), median_error=("error", "median"),
                     within_10=("within_10", "mean")).reset_index()


# --------------------------------------------------------------------------- claims

def claims(results: dict) -> list:
    """The chapter's paper-vs-measured table.

    ``results``: ``scores`` (the by-family :func:`evaluate` scores, indexed by predictor name),
    ``lookup`` (the lookup table's score row), ``netadapt`` (a dict with ``budget`` and
    ``measured``: the NetAdapt network's latency as a fraction of MobileNetV2's, the budget and
    what one interleaved run measured; ``macs`` and ``uniform_macs``: its MACs, and those of a
    uniform-width MobileNetV2 at the same measured latency)
    ``repeatable`` (:func:`repeatability` of the data set: the ceiling on a share within ±10%),
    and ``machine`` (the machine and backend that timed them, in words). Every claim drawn from
    a timing is ``Evidence.TIMING``, never must-hold; the reward's arithmetic is
    a count (must hold).
    """
    from mnlab.analysis.predict import KernelModel, MacsLinear
    from mnlab.claims import Evidence, compare, statement

    scores, lookup, adapt = results["scores"], results["lookup"], results["netadapt"]
    kernel, macs = scores.loc[KernelModel.name], scores.loc[MacsLinear.name]
    timing = {"evidence": Evidence.TIMING, "machine": results["machine"]}   # stored timings: never must-hold
    gain = 100 * (2 ** figure_value("mnasnet/sec3/w") - 1)
    return [
        compare("nn_meter/within10/pixel4_cpu", 100 * kernel.within_10, what="kernel-level predictor: within ±10%",
                tolerance=0.05, note="held-out families", **timing),
        statement("kernel-level predictor reaches the chapter's target", "≥ 95% within ±10%",
                  f"{kernel.within_10:.0%}", kernel.within_10 >= 0.95, source="nn_meter", tolerance="≥ 95%",
                  note="held-out families", **timing),
        statement("a second measurement agrees with the first within ±10%", "the ceiling of any predictor",
                  f"{results['repeatable']:.0%} of configurations", results["repeatable"] >= 0.95,
                  source="nn_meter", tolerance="≥ 95% (the target's premise)",
                  note="two runs of the whole data set", **timing),
        compare("nn_meter/within10/flops", 100 * macs.within_10, what="MACs (FLOPs) baseline: within ±10%",
                tolerance=0.25, note="held-out families", **timing),
        compare("nn_meter/within10/op_sum_cpu", 100 * lookup.within_10, what="per-op sum without fusion: within ±10%",
                tolerance=0.05, note=f"{int(lookup.n)} networks", **timing),
        statement("kernels predict latency better than MACs",
                  f"{_printed('nn_meter/within10/pixel4_cpu')} vs {_printed('nn_meter/within10/flops')} within ±10%",
                  f"{kernel.within_10:.0%} vs {macs.within_10:.0%}; ρ {kernel.spearman:.3f} vs {macs.spearman:.3f}",
                  kernel.within_10 > macs.within_10 and kernel.spearman > macs.spearman, source="nn_meter",
                  tolerance="higher share and higher ρ", note="held-out families", **timing),
        statement("NetAdapt meets a latency budget found with a predictor", "the adapted network meets the budget",
                  f"{adapt['measured']:.2f}× MobileNetV2 measured, budget {adapt['budget']:.2f}×",
                  adapt["measured"] <= 1.05 * adapt["budget"], source="netadapt", tolerance="≤ budget + 5%",
                  note="one interleaved run", **timing),
        statement("a per-layer search keeps more MACs than a uniform width at equal latency",
                  "NetAdapt beats multipliers at equal latency",
                  f"{adapt['macs'] / 1e6:.0f}M vs {adapt['uniform_macs'] / 1e6:.0f}M MACs",
                  adapt["macs"] > adapt["uniform_macs"], source="netadapt", tolerance="more MACs kept",
                  note="MACs stand in for accuracy: nothing is trained here", **timing),
        compare("mnasnet/sec3/doubling_gain", gain, what="MnasNet reward: accuracy that pays for twice the latency",
                tolerance=0.02, note="(2^0.07 − 1), from w = −0.07; arithmetic on the published exponent"),
    ]


def figure_value(key: str) -> float:
    """The value of a published figure (:func:`mnlab.papers.figure`)."""
    from mnlab.papers import figure

    return figure(key).value


def _printed(key: str) -> str:
    from mnlab.papers import figure

    return figure(key).printed


# --------------------------------------------------------------------------- building everything

#: Where the chapter keeps its data, and the backend it was measured on.
DATASET_CSV, KERNELS_CSV, SEARCH_CSV = "latency_dataset.csv", "latency_kernels.csv", "latency_netadapt.csv"
#: A second measurement of the data set taken right after the first (how repeatable it is).
REPEAT_CSV = "latency_dataset_repeat.csv"
#: The kernels each split's kernel-level predictor was trained on (its adaptive sampling's outcome).
TRAINING_CSV = "latency_training.csv"
TRAINING_COLUMNS = ["split", "kind", "key", "adaptive", "backend", "fingerprint"]


def predictors(bank: KernelBank, training: pd.DataFrame | None = None) -> dict:
    """The four predictors of :mod:`mnlab.analysis.predict`, by name, the last two on ``bank``
    (the kernel-level one on a stored ``training`` set, if given)."""
    from mnlab.analysis.predict import KernelModel, LookupTable, MacsLinear, Roofline

    return {p.name: p for p in (MacsLinear(), Roofline(), LookupTable(bank), KernelModel(bank, training=training))}


def build(data: pd.DataFrame, described: list, bank: KernelBank, latency: str = "latency_ms",
          training: str | os.PathLike | None = None) -> dict:
    """Fit and score every predictor on both splits (timing the kernels and ops they need on
    ``bank``'s backend, unless stored): ``{split: (scores, predictions, fitted predictors)}``.

    ``training``: a CSV of the kernel-level predictor's training sets, one per split. When the
    bank measures, a split this machine has not stored is sampled adaptively and added to it;
    when the bank only reads, the stored sets are used (a ``ValueError`` if one is missing), so
    that every machine fits the same predictors on the same kernels.
    """
    from mnlab.analysis.kernel_bank import read_table, stored_machine
    from mnlab.analysis.predict import KernelModel
    from mnlab.storage import write_csv

    path = None if training is None else Path(training)
    table = read_table(path, TRAINING_COLUMNS)
    stored = stored_machine(table, bank.backend, bank.fingerprint if bank.measure else None)
    result = {}
    for split in ("random", "by family"):
        rows = stored[stored.split == split]
        if not len(rows) and not bank.measure and path is not None:
            raise ValueError(f"no stored training set for split {split!r} on backend {bank.backend!r} in "
                             f"{str(path)!r}; build it with a measuring KernelBank")
        fitted = predictors(bank, rows[["kind", "key", "adaptive"]] if len(rows) else None)
        scores, predicted = evaluate(fitted, described, data, split, latency)
        result[split] = (scores, predicted, fitted)
        if path is not None and not len(rows):
            chosen = next(p for p in fitted.values() if isinstance(p, KernelModel)).training_table()
            new = chosen.assign(split=split, backend=bank.backend, fingerprint=bank.fingerprint)
            table = pd.concat([table, new[TRAINING_COLUMNS]], ignore_index=True)
            write_csv(table, path)
    return result
