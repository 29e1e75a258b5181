"""Kernels timed alone on a backend, cached: the measurements latency predictors are built from.

A :class:`KernelBank` times each :class:`~mnlab.analysis.kernels.Kernel` it is asked about as
a small module of its own (:func:`~mnlab.analysis.kernels.build_kernel`) with
:func:`~mnlab.analysis.compare_latency` — in chunks, *interleaved* over ``rounds`` rounds so that
a neighbour's load hits every kernel of a chunk alike — and keeps the result in a CSV keyed by
machine fingerprint and backend, like the zoo sweep: a second run on the same machine measures
only what is missing; another machine's rows stay in the file beside this one's.

``measure=False`` turns the bank into a read-only table of what is stored, whatever machine
measured it (how the book reads its data on any machine); asking it for a kernel that was never
measured raises a ``ValueError`` naming the kernel.
"""
from __future__ import annotations

import os
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mnlab.analysis.kernels import Kernel, build_kernel
from mnlab.analysis.deployment import Backend, check_backend
from mnlab.analysis.latency import check_threads, compare_latency, environment, machine_fingerprint
from mnlab.storage import write_csv

#: Columns of a bank's CSV.
COLUMNS = ["key", "kind", "latency_ms", "best_ms", "spread", "backend", "threads", "cpu",
           "logical_cores", "torch", "fingerprint", "measured_at"]
#: The empty kernel (one float multiplied) — what a call into the runtime costs by itself.
EMPTY = Kernel("elementwise", 1, 1, 1, 1, act="mul")
#: The smallest kernel of each type (one pixel and eight channels) — what a call of that type
#: costs with almost nothing to compute — the runtime's call, plus whatever a kernel timed alone pays
#: that it does not pay inside a network (on ONNX Runtime, converting in and out of its blocked
#: layout).
EMPTIES = {"conv": Kernel("conv", 1, 1, 3, 8, 3, 2), "pointwise": Kernel("pointwise", 1, 1, 8, 8),
           "depthwise": Kernel("depthwise", 1, 1, 8, 8, 3, 1, 8, "relu"), "grouped": Kernel("grouped", 1, 1, 8, 8, 3, 1, 2),
           "linear": Kernel("linear", 1, 1, 8, 8), "se": Kernel("se", 1, 1, 8, 8, act="relu+hardsigmoid", mid=8),
           "elementwise": Kernel("elementwise", 1, 1, 8, 8, act="add"), "pool": Kernel("pool", 1, 1, 8, 8, k=0, act="avg"),
           "activation": Kernel("activation", 1, 1, 8, 8, act="relu"), "batchnorm": Kernel("batchnorm", 1, 1, 8, 8)}


class KernelBank:
    """Latencies (ms) of kernels timed alone on ``backend``.

    ``statistic``: which latency a predictor gets — ``"latency_ms"`` (the median of the round
    medians, the book's statistic) or ``"best_ms"`` (the fastest run: what an uninterrupted
    kernel costs). ``cache``: CSV path or None. ``measure``: time missing kernels on this machine (True) or
    only read what ``cache`` holds (False). ``rounds``, ``budget_s``, ``min_runs``: of each
    interleaved :func:`~mnlab.analysis.compare_latency` call; ``chunk``: kernels per call.
    """

    def __init__(self, backend: Backend, *, threads: int = 1, cache: str | os.PathLike | None = None,
                 measure: bool = True, rounds: int = 2, budget_s: float = 0.01, min_runs: int = 5,
                 chunk: int = 40, progress: bool = True, statistic: str = "latency_ms") -> None:
        if statistic not in ("best_ms", "latency_ms"):
            raise ValueError(f"statistic must be 'best_ms' or 'latency_ms', got {statistic!r}")
        self.statistic = statistic
        self.backend, self.threads = check_backend(backend), check_threads(threads)
        self.path = None if cache is None else Path(cache)
        if not isinstance(measure, (bool, np.bool_)):
            raise ValueError(f"measure must be True or False, got {measure!r}")
        self.measure, self.rounds, self.budget_s, self.min_runs = bool(measure), rounds, budget_s, min_runs
        self.chunk, self.progress = chunk, progress
        self.fingerprint = machine_fingerprint(environment(self.threads, backend))
        self.table = read_table(self.path)
        mine = stored_machine(self.table, backend, self.fingerprint if self.measure else None)
        self.latencies: dict[str, float] = dict(zip(mine.key, mine[statistic]))

    def __len__(self) -> int:
        return len(self.latencies)

    def __contains__(self, kernel: Kernel) -> bool:
        return kernel.key in self.latencies

    @property
    def overhead_ms(self) -> float:
        """What one call into the runtime costs with nothing to compute (:data:`EMPTY`)."""
        return float(self.latency([EMPTY])[0])

    def latency(self, kernels: list[Kernel]) -> np.ndarray:
        """The latency of each kernel in ``kernels``, measuring the missing ones (if allowed)."""
        missing = list(dict.fromkeys(k for k in kernels if k.key not in self.latencies))
        if missing and not self.measure:
            shown = ", ".join(k.key for k in missing[:3])
            raise ValueError(f"{len(missing)} kernel(s) were never measured on backend {self.backend!r} "
                             f"(e.g. {shown}); measure them with KernelBank(..., measure=True)")
        if missing:
            self._measure(missing)
        return np.array([self.latencies[k.key] for k in kernels], dtype=float)

    def _measure(self, kernels: list[Kernel]) -> None:
        env = environment(self.threads, self.backend)
        bar = tqdm(total=len(kernels), desc=f"timing kernels ({self.backend})", unit="kernel",
                   disable=not self.progress)
        for start in range(0, len(kernels), self.chunk):
            part = kernels[start:start + self.chunk]
            built = {k.key: build_kernel(k) for k in part}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = compare_latency({key: m for key, (m, _) in built.items()},
                                         {key: s for key, (_, s) in built.items()}, rounds=self.rounds,
                                         threads=self.threads, backend=self.backend,
                                         budget_s=self.budget_s, min_runs=self.min_runs)
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            rows = [{"key": k.key, "kind": k.kind, "latency_ms": result.median_ms[k.key],
                     "best_ms": result.best_ms[k.key],
                     "spread": (result.max_ms[k.key] - result.min_ms[k.key]) / result.median_ms[k.key],
                     "backend": self.backend, "threads": self.threads, "cpu": env["cpu"],
                     "logical_cores": env["logical_cores"], "torch": env["torch"],
                     "fingerprint": self.fingerprint, "measured_at": now} for k in part]
            self.latencies.update({r["key"]: r[self.statistic] for r in rows})
            self.table = pd.concat([self.table, pd.DataFrame(rows, columns=COLUMNS)], ignore_index=True)
            if self.path is not None:
                write_csv(self.table, self.path)
            bar.update(len(part))
        bar.close()


def read_table(path: Path | None, columns: list[str] = COLUMNS) -> pd.DataFrame:
    """A cached measurement table (empty if ``path`` is None or absent); ``ValueError`` if it
    lacks one of ``columns``."""
    if path is None or not path.exists():
        return pd.DataFrame(columns=columns)
    table = pd.read_csv(path, dtype={"fingerprint": str, "cpu": str, "torch": str, "key": str})
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"cache {str(path)!r} is not the expected table (missing columns {missing}); "
                         "pass another cache path or delete it")
    return table[columns]


def stored_machine(table: pd.DataFrame, backend: str, fingerprint: str | None) -> pd.DataFrame:
    """The rows of ``backend`` measured on machine ``fingerprint``, or, when it is None, on the
    machine with most rows (how a stored table is read on any machine)."""
    rows = table[table.backend == backend]
    if fingerprint is None and len(rows):
        fingerprint = rows.fingerprint.value_counts().index[0]
    return rows[rows.fingerprint == fingerprint]


