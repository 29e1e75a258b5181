"""CPU latency of any ``nn.Module``: the timer every chapter uses.

The MobileNet papers report latency at batch 1 on one large mobile core (MobileNetV2 Table 4,
MobileNetV3 Table 3, MobileOne Table 4 times on an iPhone). We reproduce the *protocol* on the
CPU at hand: batch 1, eval mode, ``torch.inference_mode()``, one thread unless asked, a warm-up,
then samples until their spread is small or a time budget runs out. The median and the IQR are
reported, never the mean alone, because a shared machine adds a long right tail of slow runs.

Two backends:

``"eager"``
    the module as written, one Python call per layer.
``"deploy"``
    what a deployment would run: BatchNorm folded into the convolution before it
    (:func:`fold_batchnorm`), then TorchScript-traced, frozen and passed through
    ``torch.jit.optimize_for_inference`` (which also picks oneDNN kernels). :func:`deploy`
    compares its output with the eager model's and refuses to return a model that disagrees by
    more than ``rtol`` (1e-4 relative by default).

Only this module and :mod:`mnlab.analysis.profile` time things; both leave the process as they
found it (thread count, every submodule's training flag, no hooks), also when the model raises.
"""
from __future__ import annotations

import copy
import gc
import hashlib
import os
import platform
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from mnlab.analysis.inputs import check_module, resolve_input_shape
from mnlab.validation import check_int

BACKENDS = ("eager", "deploy")


# --------------------------------------------------------------------------- input validation

def check_threads(threads) -> int:
    """Threads must be an integer >= 1."""
    return check_int(threads, "threads", at_least=1)


def example_input(shape: tuple[int, ...]) -> torch.Tensor:
    """A fixed random input of ``shape`` (seed 0, own generator: the global RNG is not touched)."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(0))


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


def environment(threads: int = 1, backend: str = "eager") -> dict:
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


# --------------------------------------------------------------------------- deploy form

def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Return an eval-mode deep copy in which every BatchNorm that directly follows a convolution
    inside an ``nn.Sequential`` is folded into that convolution; the BN becomes ``nn.Identity``.

    The folding of every inference engine (and MobileOne Sec. 3.2): in eval mode
    BN(y) = γ·(y − μ)/σ + β with σ = sqrt(var + ε) is affine per channel, so
    W' = W·γ/σ and b' = (b − μ)·γ/σ + β give one conv with the same output. Only
    ``Sequential`` neighbours are folded, because only there the execution order is known
    without tracing; a BN elsewhere is left as it is (still correct, just not folded).
    The model passed in is never modified.
    """
    check_module(model)
    folded = copy.deepcopy(model).eval()
    with torch.no_grad():
        for module in folded.modules():
            if not isinstance(module, nn.Sequential):
                continue
            names = list(module._modules)
            for first, second in zip(names, names[1:]):
                conv, bn = module._modules[first], module._modules[second]
                if (isinstance(conv, (nn.Conv1d, nn.Conv2d, nn.Conv3d))
                        and isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d))
                        and bn.track_running_stats and bn.running_mean is not None
                        and bn.num_features == conv.out_channels):
                    module._modules[first] = fuse_conv_bn_eval(conv, bn)
                    module._modules[second] = nn.Identity()
    return folded


def deploy(model: nn.Module, input_shape, *, rtol: float = 1e-4) -> torch.jit.ScriptModule:
    """The deploy form of ``model``: BN folded, traced, frozen, ``optimize_for_inference``.

    The result is checked against the eager model on a fixed random input: if
    max|deploy − eager| > ``rtol`` · max|eager| a ``RuntimeError`` says so, so a timing is never
    reported for a model that computes something else. The original model is not modified.
    TorchScript is deprecated in recent torch releases but is still the one CPU path that folds
    and fuses without a compiler toolchain; its deprecation warnings are silenced here.
    """
    check_module(model)
    x = example_input(resolve_input_shape(model, input_shape))
    folded = fold_batchnorm(model)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarning (shape checks) and the deprecation notices
        traced = torch.jit.trace(folded, x)
        deployed = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.inference_mode():
            expected = model(x)
            got = deployed(x)
    finally:
        for module, training in flags:
            module.training = training
    scale = expected.abs().max().item() or 1.0
    error = (got - expected).abs().max().item() / scale
    if not error <= rtol:
        raise RuntimeError(f"deploy form disagrees with the eager model: max relative error "
                           f"{error:.2e} > rtol={rtol:.0e}")
    return deployed


# --------------------------------------------------------------------------- the timer

@dataclass
class LatencyResult:
    """Samples of one latency measurement and their summary statistics, in milliseconds."""

    samples_ms: list[float]
    median_ms: float
    iqr_ms: float
    p90_ms: float
    mean_ms: float
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
                   p90_ms=float(p90), mean_ms=float(s.mean()), runs=len(s), rel_iqr=rel_iqr,
                   noisy=rel_iqr > target_rel_iqr, env=dict(env))

    def __str__(self) -> str:
        return (f"{self.median_ms:.2f} ms median (IQR {self.iqr_ms:.2f} ms = {100 * self.rel_iqr:.1f}%, "
                f"p90 {self.p90_ms:.2f} ms, {self.runs} runs; {self.env.get('backend')}, "
                f"{self.env.get('threads')} thread(s), {self.env.get('cpu')}, torch {self.env.get('torch')})")


def _relative_iqr(samples: list[float]) -> float:
    q1, median, q3 = np.percentile(samples, [25, 50, 75])
    return (q3 - q1) / median if median > 0 else float("inf")


def measure_latency(model: nn.Module, input_shape=224, *, threads: int = 1, backend: str = "eager",
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

    ``input_shape`` is a resolution ``r`` (→ ``(1, 3, r, r)``) or a 4-tuple. ``backend`` is
    ``"eager"`` or ``"deploy"`` (see :func:`deploy`; the deploy form is built on a copy, outside
    the timed region). The thread count, each submodule's training flag and the GC state are
    restored afterwards, also if the model raises.
    """
    check_module(model)
    threads = check_threads(threads)
    shape = resolve_input_shape(model, input_shape)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    for name, value, low in (("warmup", warmup, 0), ("min_runs", min_runs, 1), ("max_runs", max_runs, 1)):
        check_int(value, name, at_least=low)
    if max_runs < min_runs:
        raise ValueError(f"max_runs must be >= min_runs ({min_runs}), got {max_runs!r}")
    if not target_rel_iqr > 0:
        raise ValueError(f"target_rel_iqr must be > 0, got {target_rel_iqr!r}")
    if not budget_s > 0:
        raise ValueError(f"budget_s must be > 0 seconds, got {budget_s!r}")

    x = example_input(shape)
    samples: list[float] = []
    with preserved_state(model, threads):
        runner = deploy(model, shape) if backend == "deploy" else model
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
    result = LatencyResult.from_samples(samples, target_rel_iqr, environment(threads, backend))
    if result.noisy:
        warnings.warn(f"noisy latency measurement: relative IQR {100 * result.rel_iqr:.1f}% > target "
                      f"{100 * target_rel_iqr:.1f}% after {result.runs} runs (median "
                      f"{result.median_ms:.3f} ms); close other programs or raise budget_s",
                      stacklevel=2)
    return result


class DeployedModule(nn.Module):
    """A deploy form (:func:`deploy`: frozen TorchScript) behind a plain ``nn.Module`` face, so
    the timer treats it like any model (a frozen module has no ``training`` flag to save and
    restore). The scripted module is held outside the module tree. Built by :func:`deployed`."""

    def __init__(self, scripted: torch.jit.ScriptModule):
        super().__init__()
        object.__setattr__(self, "scripted", scripted)   # not a submodule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scripted(x)


def deployed(model: nn.Module, input_shape) -> DeployedModule:
    """Build ``model``'s deploy form once for ``input_shape`` (checked against eager by
    :func:`deploy`), ready to be timed many times."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # TorchScript's deprecation notices
        return DeployedModule(deploy(model, input_shape))


def compare_latency(models: "dict[str, nn.Module]", input_shape=224, *, rounds: int = 5, threads: int = 1,
                    backend: str = "eager", budget_s: float = 0.2, min_runs: int = 10):
    """Time several models *interleaved*, so that a load on the machine hits them all alike.

    Each of ``rounds`` rounds runs :func:`measure_latency` once per model, in turn; a model's
    latency is the median of its round medians. Ratios between models measured this way survive
    a busy machine far better than ratios of separate measurements. ``input_shape`` is one shape
    for all, or a dict giving each model's. ``backend="deploy"`` builds each model's deploy form
    once (:func:`deployed`) and times those. Returns a DataFrame indexed by name with
    ``median_ms``, ``min_ms`` and ``max_ms`` (over the round medians), ``best_ms`` (the fastest
    single sample: what an uninterrupted run costs, the most robust estimate when the machine
    is oversubscribed, since long runs are preempted more often than short ones) and ``runs``.
    """
    import pandas as pd

    if not isinstance(models, dict) or not models:
        raise ValueError(f"models must be a non-empty dict of name -> nn.Module, got {models!r:.80}")
    for name, model in models.items():
        check_module(model, f"models[{name!r}]")
    check_int(rounds, "rounds", at_least=1)
    shapes = input_shape if isinstance(input_shape, dict) else {name: input_shape for name in models}
    missing = [name for name in models if name not in shapes]
    if missing:
        raise ValueError(f"input_shape has no entry for {missing}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "deploy":
        models = {name: deployed(model, shapes[name]) for name, model in models.items()}
    medians: dict[str, list[float]] = {name: [] for name in models}
    best = dict.fromkeys(models, float("inf"))
    runs = dict.fromkeys(models, 0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="noisy latency measurement")
        for _ in range(rounds):
            for name, model in models.items():
                result = measure_latency(model, shapes[name], threads=threads, warmup=2,
                                         min_runs=min_runs, budget_s=budget_s)
                medians[name].append(result.median_ms)
                best[name] = min(best[name], min(result.samples_ms))
                runs[name] += result.runs
    return pd.DataFrame({"median_ms": {n: float(np.median(v)) for n, v in medians.items()},
                         "min_ms": {n: min(v) for n, v in medians.items()},
                         "max_ms": {n: max(v) for n, v in medians.items()},
                         "best_ms": best, "runs": runs})
