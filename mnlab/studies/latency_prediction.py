"""Chapter 8 — predicting latency, and searching under a latency budget.

The data behind the chapter, and the experiments that use :mod:`mnlab.analysis.predict`:

* :class:`Architecture`, :func:`sample_architecture` — a MobileNetV2/V3-like search space (per
  stage: width, depth, kernel 3/5/7, expansion, squeeze-and-excite on or off, activation), the
  space nn-Meter (Zhang et al. 2021) and MnasNet (Tan et al. 2019) sample from.
* :class:`Config`, :func:`dataset_configs` — the book's data set: the V1/V2/V3 width ×
  resolution grids, V2's expansion sweep, Lite0–4, MobileOne S0–S4 re-parameterized, and
  random samples of the search space, each measured end to end (:func:`measure_dataset`),
  cached in a CSV keyed by machine fingerprint and backend like the zoo sweep.
* :func:`netadapt` — NetAdapt (Yang et al. 2018), small: shrink one layer's channels per step,
  chosen with a latency predictor, until a budget is met.
* :func:`mnasnet_reward` — MnasNet's reward ACC × (LAT/T)^w (Tan et al. 2019, eq. 2).
* :func:`claims` — the chapter's paper-vs-measured table, from the results.
"""
from __future__ import annotations

import random
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from torch import nn
from tqdm.auto import tqdm

from mnlab.models import build_mobilenet_v3, create_model, family, reparameterize
from mnlab.models.layers import make_divisible
from mnlab.models.mobilenet_v3 import HS, RE, Bneck

# --------------------------------------------------------------------------- the search space

#: Stages of the space, MobileNetV3-Large's skeleton: (base output channels, stride of the first
#: block, choices of depth). The first stage is one block without expansion, as in V2/V3.
STAGES: list[tuple[int, int, tuple[int, ...]]] = [
    (16, 1, (1,)), (24, 2, (1, 2, 3)), (40, 2, (2, 3, 4)), (80, 2, (2, 3, 4)),
    (112, 1, (1, 2, 3)), (160, 2, (2, 3, 4)),
]
WIDTHS = (0.5, 0.75, 1.0, 1.25, 1.5)
KERNELS = (3, 5, 7)
EXPANSIONS = (3, 4, 6)
RESOLUTIONS = (160, 192, 224, 256)


@dataclass(frozen=True)
class Stage:
    """One stage of a sampled network: ``depth`` blocks of ``out`` channels, the first with
    ``stride``; every block has ``kernel``, ``expansion``, ``se`` and activation ``nl``."""

    out: int
    depth: int
    stride: int
    kernel: int
    expansion: int
    se: bool
    nl: str


@dataclass(frozen=True)
class Architecture:
    """A network of the search space, and the input resolution it runs at."""

    stages: tuple[Stage, ...]
    resolution: int

    def rows(self) -> list[Bneck]:
        """MobileNetV3 table rows (k, exp, out, SE, NL, s) for :func:`~mnlab.models.build_mobilenet_v3`."""
        rows, in_channels = [], 16
        for stage in self.stages:
            for i in range(stage.depth):
                hidden = in_channels if stage.expansion == 1 else make_divisible(in_channels * stage.expansion, 8)
                rows.append(Bneck(stage.kernel, hidden, stage.out, stage.se, stage.nl, stage.stride if i == 0 else 1))
                in_channels = stage.out
        return rows

    def build(self) -> nn.Module:
        return build_mobilenet_v3(self.rows(), 1280).eval()

    @property
    def spec(self) -> str:
        """Compact text: per stage out×depth k kernel e expansion [+se] nl, then @resolution."""
        parts = [f"{s.out}x{s.depth}k{s.kernel}e{s.expansion}{'+se' if s.se else ''}{s.nl}" for s in self.stages]
        return " ".join(parts) + f" @{self.resolution}"


def sample_architecture(seed: int) -> Architecture:
    """The search-space network number ``seed`` (the same on every machine)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    rng = random.Random(seed)
    stages = []
    for i, (base, stride, depths) in enumerate(STAGES):
        out = make_divisible(base * rng.choice(WIDTHS), 8)
        expansion = 1 if i == 0 else rng.choice(EXPANSIONS)
        nl = RE if i < 2 else rng.choice((RE, HS))
        stages.append(Stage(out, rng.choice(depths), stride, rng.choice(KERNELS), expansion,
                            rng.random() < 0.5, nl))
    return Architecture(tuple(stages), rng.choice(RESOLUTIONS))


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
        kwargs = {} if self.width is None else {"width" if self.model.startswith("efficientnet") else "width_mult":
                                                self.width}
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


def measure_dataset(configs: list[Config], *, backend: str = "onnxruntime", cache=None, measure: bool = True,
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
    from mnlab.analysis import compare_latency
    from mnlab.analysis.kernel_bank import read_table, stored_machine, write_table
    from mnlab.analysis.latency import check_threads, environment, machine_fingerprint

    threads = check_threads(threads)
    path = None if cache is None else Path(cache)
    table = read_table(path, COLUMNS)
    env = environment(threads, backend)
    fingerprint = machine_fingerprint(env)
    done = stored_machine(table, backend, fingerprint if measure else None).set_index("key")
    missing = [c for c in configs if c.key not in done.index]
    if missing and not measure:
        raise ValueError(f"{len(missing)} configuration(s) are not stored for backend {backend!r} "
                         f"(e.g. {missing[0].key}); measure them with measure=True")
    order = random.Random(0).sample(missing, len(missing))
    bar = tqdm(total=len(order), desc=f"timing models ({backend})", unit="model", disable=not progress)
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        models = {c.key: c.build() for c in part}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = compare_latency(models, {c.key: c.resolution for c in part}, rounds=rounds, threads=threads,
                                     backend=backend, budget_s=budget_s, min_runs=5)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rows = [{**_row(c, models[c.key]), "latency_ms": result.median_ms[c.key], "best_ms": result.best_ms[c.key],
                 "spread": (result.max_ms[c.key] - result.min_ms[c.key]) / result.median_ms[c.key],
                 "backend": backend, "threads": threads, "cpu": env["cpu"], "logical_cores": env["logical_cores"],
                 "torch": env["torch"], "fingerprint": fingerprint, "measured_at": now} for c in part]
        table = pd.concat([table, pd.DataFrame(rows, columns=COLUMNS)], ignore_index=True)
        done = pd.concat([done, pd.DataFrame(rows).set_index("key")])
        if path is not None:
            write_table(path, table)
        bar.update(len(part))
    bar.close()
    return done.loc[[c.key for c in configs]].reset_index()[COLUMNS]
