"""CPU latency of any ``nn.Module``, eager or deployed: the timer every chapter uses.

The MobileNet papers report latency at batch 1 on one large mobile core (MobileNetV2 Table 4,
MobileNetV3 Table 3, MobileOne Table 4 times on an iPhone). We reproduce the *protocol* on the
CPU at hand: batch 1, eval mode, ``torch.inference_mode()``, one thread unless asked, a warm-up,
then samples until their spread is small or a time budget runs out. The median and the IQR are
reported, never the mean alone, because a shared machine adds a long right tail of slow runs.

``backend`` (``mnlab.analysis.BACKENDS``) says *what* is timed: ``"eager"``, the
module as written, or a deployed form built by :func:`~mnlab.analysis.deploy` (TorchScript
``"deploy"``, ``"onnxruntime"``, ``"onnxruntime-int8"``, ``"xnnpack"``), built once outside the
timed region and checked against eager. A :class:`~mnlab.analysis.DeployedModule` passed
in is timed as it is.

Only this module and :mod:`mnlab.analysis.profile` time things; both leave the process as they
found it (thread count, every submodule's training flag, no hooks), also when the model raises.
"""
from __future__ import annotations

import gc
import hashlib
import numbers
import os
import platform
import time
import warnings
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Sequence, TypeVar

import numpy as np
import torch
from torch import nn

from mnlab.analysis.deployment import Backend, DeployedModule, check_backend, deploy, example_input
from mnlab.analysis.inputs import InputShape, check_module, resolve_input_shape
from mnlab.validation import check_int

if TYPE_CHECKING:
    import pandas as pd

_Model = TypeVar("_Model", bound=nn.Module)       # compare_latency takes a dict of any module type
_Shape = TypeVar("_Shape", bound=InputShape)      # and of any kind of input shape


# --------------------------------------------------------------------------- input validation

def check_threads(threads: object) -> int:
    """Threads must be an integer >= 1; more than the machine's logical cores gives a warning
    (the threads then share cores and the timing measures the scheduler)."""
    threads = check_int(threads, "threads", at_least=1)
    cores = os.cpu_count() or 1
    if threads > cores:
        warnings.warn(f"threads={threads} is more than this machine's {cores} logical cores; "
                      f"threads will share cores", stacklevel=3)
    return threads


# --------------------------------------------------------------------------- environment

def cpu_model() -> str:
    """The CPU's marketing name from ``/proc/cpuinfo`` (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def environment(threads: int = 1, backend: Backend = "eager") -> dict:
    """What a timing depends on: CPU model, logical cores, threads used, torch version, backend."""
    return {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count() or 1,
        "threads": int(threads),
        "torch": torch.__version__,
        "backend": backend,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def machine_fingerprint(env: dict) -> str:
    """A short stable key for "same machine, same setup": CPU model, cores, torch version, threads.

    Two timings with the same fingerprint are comparable; the zoo cache is keyed by it.
    """
    key = "|".join(str(env[k]) for k in ("cpu", "logical_cores", "torch", "threads"))
    return hashlib.sha1(key.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- leaving no trace

@contextmanager
def preserved_state(model: nn.Module, threads: int) -> Iterator[None]:
    """Run a block with ``threads`` intra-op threads and the model in eval mode, then put back the
    previous thread count, every submodule's own training flag and the garbage collector's state,
    whatever happens inside."""
    previous_threads = torch.get_num_threads()
    flags = [(m, m.training) for m in model.modules()]
    gc_enabled = gc.isenabled()
    try:
        torch.set_num_threads(threads)
        model.eval()
        yield
    finally:
        if gc_enabled:
            gc.enable()
        torch.set_num_threads(previous_threads)
        for module, training in flags:
            module.training = training


# --------------------------------------------------------------------------- the timer

@dataclass
class LatencyResult:
    """Samples of one latency measurement and their summary statistics, in milliseconds; each
    statistic carries its name (``median_ms``, ``best_ms`` = the fastest sample, ...)."""

    samples_ms: list[float]
    median_ms: float
    iqr_ms: float
    p90_ms: float
    mean_ms: float
    best_ms: float
    runs: int
    rel_iqr: float
    noisy: bool
    env: dict = field(default_factory=dict)

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float], target_rel_iqr: float, env: dict) -> "LatencyResult":
        s = np.asarray(samples_ms, dtype=float)
        q1, median, q3, p90 = np.percentile(s, [25, 50, 75, 90])
        rel_iqr = float((q3 - q1) / median) if median > 0 else float("inf")
        return cls(samples_ms=[float(v) for v in s], median_ms=float(median), iqr_ms=float(q3 - q1),
                   p90_ms=float(p90), mean_ms=float(s.mean()), best_ms=float(s.min()), runs=len(s),
                   rel_iqr=rel_iqr, noisy=rel_iqr > target_rel_iqr, env=dict(env))

    def __str__(self) -> str:
        # Microsecond models print in µs: "0.00 ms" says nothing.
        scale, unit = (1e3, "µs") if self.median_ms < 1 else (1.0, "ms")
        return (f"{scale * self.median_ms:.2f} {unit} median (IQR {scale * self.iqr_ms:.2f} {unit} = "
                f"{100 * self.rel_iqr:.1f}%, p90 {scale * self.p90_ms:.2f} {unit}, {self.runs} runs; "
                f"{self.env.get('backend')}, {self.env.get('threads')} thread(s), {self.env.get('cpu')}, "
                f"torch {self.env.get('torch')})")


def _relative_iqr(samples: list[float]) -> float:
    q1, median, q3 = np.percentile(samples, [25, 50, 75])
    return (q3 - q1) / median if median > 0 else float("inf")


def runner_for(model: nn.Module, shape: tuple[int, int, int, int], backend: Backend, threads: int) -> nn.Module:
    """What ``backend`` times for ``model``: the model itself (``"eager"``, or a
    :class:`~mnlab.analysis.DeployedModule` given ready), else its deployed form."""
    check_backend(backend)
    if isinstance(model, DeployedModule):
        if backend not in ("eager", model.backend):
            raise ValueError(f"backend must be 'eager' or {model.backend!r} for a model already deployed "
                             f"with {model.backend!r}, got {backend!r}")
        return model
    return model if backend == "eager" else deploy(model, shape, backend=backend, threads=threads)


def _sample(runner: nn.Module, x: torch.Tensor, warmup: int, min_runs: int, max_runs: int,
            target_rel_iqr: float, budget_s: float) -> list[float]:
    """The timing loop: warm-up, then one sample per forward pass until a stopping rule holds."""
    samples: list[float] = []
    with torch.inference_mode():
        for _ in range(warmup):
            runner(x)
        gc.collect()
        gc.disable()
        clock = time.perf_counter
        start = clock()
        while True:
            t0 = clock()
            runner(x)
            t1 = clock()
            samples.append((t1 - t0) * 1e3)
            n = len(samples)
            if n >= max_runs:
                break
            if n >= min_runs and (_relative_iqr(samples) <= target_rel_iqr or t1 - start >= budget_s):
                break
    return samples


def measure_latency(model: nn.Module, input_shape: InputShape = 224, *, threads: int = 1, backend: Backend = "eager",
                    warmup: int = 5, min_runs: int = 20, max_runs: int = 1000,
                    target_rel_iqr: float = 0.02, budget_s: float = 2.0) -> LatencyResult:
    """Time one forward pass of ``model`` at batch 1 on the CPU; return every sample and their summary.

    Protocol (the papers' batch-1, one-core setting, see the module docstring): ``threads``
    intra-op threads, eval mode, ``torch.inference_mode()``, garbage collector paused while
    sampling, ``warmup`` untimed runs, then one ``time.perf_counter`` sample per forward pass.
    Sampling stops at the first of: ``max_runs`` samples; at least ``min_runs`` samples whose
    relative IQR (IQR / median) is ≤ ``target_rel_iqr``; ``budget_s`` seconds of sampling once
    ``min_runs`` samples exist. With the defaults a MobileNet at 224 takes about two seconds.
    If the relative IQR is still above the target the result is flagged ``noisy`` and a
    ``UserWarning`` is issued.

    ``input_shape`` is a resolution ``r`` (→ ``(1, 3, r, r)``) or a 4-tuple. ``backend``: one of
    ``mnlab.analysis.BACKENDS``; a deployed form is built once by
    :func:`~mnlab.analysis.deploy` on a copy, outside the timed region, and runs on
    ``threads`` threads. The thread count, each submodule's training flag and the GC state are
    restored afterwards, also if the model raises.
    """
    check_module(model)
    threads = check_threads(threads)
    shape = resolve_input_shape(model, input_shape)
    check_backend(backend)
    warmup = check_int(warmup, "warmup", at_least=0)
    min_runs = check_int(min_runs, "min_runs", at_least=1)
    max_runs = check_int(max_runs, "max_runs", at_least=1)
    if max_runs < min_runs:
        raise ValueError(f"max_runs must be >= min_runs ({min_runs}), got {max_runs!r}")
    if not target_rel_iqr > 0:
        raise ValueError(f"target_rel_iqr must be > 0, got {target_rel_iqr!r}")
    if not budget_s > 0:
        raise ValueError(f"budget_s must be > 0 seconds, got {budget_s!r}")

    runner = runner_for(model, shape, backend, threads)
    with ExitStack() as stack:
        stack.enter_context(preserved_state(model, threads))
        if isinstance(runner, DeployedModule):
            stack.enter_context(runner.threads(threads))
        samples = _sample(runner, example_input(shape), warmup, min_runs, max_runs, target_rel_iqr, budget_s)
    timed = runner.backend if isinstance(runner, DeployedModule) else "eager"
    result = LatencyResult.from_samples(samples, target_rel_iqr, environment(threads, timed))
    if result.noisy:
        warnings.warn(f"noisy latency measurement: relative IQR {100 * result.rel_iqr:.1f}% > target "
                      f"{100 * target_rel_iqr:.1f}% after {result.runs} runs (median "
                      f"{result.median_ms:.3f} ms); close other programs or raise budget_s",
                      stacklevel=2)
    return result


def compare_latency(models: dict[str, _Model], input_shape: InputShape | dict[str, _Shape] = 224, *,
                    rounds: int = 5, threads: int = 1, backend: Backend = "eager", budget_s: float = 0.2,
                    min_runs: int = 10) -> pd.DataFrame:
    """Time several models *interleaved*, so that a load on the machine hits them all alike.

    Each of ``rounds`` rounds runs :func:`measure_latency` once per model, in turn; a model's
    latency is the median of its round medians. Ratios between models measured this way survive
    a busy machine far better than ratios of separate measurements. ``input_shape`` is one shape
    for all, or a dict giving each model's. With a deployed ``backend`` each model is deployed
    once (:func:`~mnlab.analysis.deploy`) before the first round; a
    :class:`~mnlab.analysis.DeployedModule` among ``models`` is timed as it is, so
    backends can be compared in one interleaved run. Returns a DataFrame indexed by name with
    ``median_ms``, ``min_ms``, ``max_ms`` and ``median_cv`` (their coefficient of variation,
    0 for one round) over the round medians, ``best_ms`` (the fastest
    single sample: what an uninterrupted run costs, the most robust estimate when the machine
    is oversubscribed, since long runs are preempted more often than short ones), ``runs`` and
    ``backend`` (what was timed).
    """
    import pandas as pd

    if not isinstance(models, dict) or not models:
        raise ValueError(f"models must be a non-empty dict of name -> nn.Module, got {models!r:.80}")
    for name, model in models.items():
        check_module(model, f"models[{name!r}]")
    rounds = check_int(rounds, "rounds", at_least=1)
    threads = check_threads(threads)
    check_backend(backend)
    shapes = input_shape if isinstance(input_shape, dict) else {name: input_shape for name in models}
    missing = [name for name in models if name not in shapes]
    if missing:
        raise ValueError(f"input_shape has no entry for {missing}")
    runners = {name: runner_for(model, resolve_input_shape(model, shapes[name]), backend, threads)
               for name, model in models.items()}
    medians: dict[str, list[float]] = {name: [] for name in runners}
    best = dict.fromkeys(runners, float("inf"))
    runs = dict.fromkeys(runners, 0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="noisy latency measurement")
        for _ in range(rounds):
            for name, runner in runners.items():
                result = measure_latency(runner, shapes[name], threads=threads, warmup=2,
                                         min_runs=min_runs, budget_s=budget_s)
                medians[name].append(result.median_ms)
                best[name] = min(best[name], result.best_ms)
                runs[name] += result.runs
    timed = {n: r.backend if isinstance(r, DeployedModule) else "eager" for n, r in runners.items()}
    return pd.DataFrame({"median_ms": {n: float(np.median(v)) for n, v in medians.items()},
                         "min_ms": {n: min(v) for n, v in medians.items()},
                         "max_ms": {n: max(v) for n, v in medians.items()},
                         "median_cv": {n: float(np.std(v) / np.mean(v)) for n, v in medians.items()},
                         "best_ms": best, "runs": runs, "backend": timed})
