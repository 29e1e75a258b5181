"""Per-layer latency, joined to the counter's report: where the milliseconds go, and why.

Three backends: ``"eager"`` (below), ``"onnxruntime"`` and ``"onnxruntime-int8"``, where ORT's
own profiler times the fused nodes of the optimized graph (fp32, or the int8 QDQ model's
``QLinear*`` kernels and their quantize/dequantize conversions) and
:mod:`mnlab.analysis.ort_profile` maps them back to modules and report rows. Under eager, "BN takes 20%" is a statement about eager PyTorch; under
ONNX Runtime the BN rows have no time at all (folded into the convolution at export).

Method (eager): timed sub-modules
---------------------------------
Every *leaf* module (one with no children: a conv, a BN, an activation, a pool, a linear)
gets a forward pre-hook and a forward hook that read ``time.perf_counter()``; the difference is
that call's time. CPU kernels run synchronously, also multi-threaded ones, so the time between
the two hooks is the layer's own work plus the Python cost of one module call. The protocol is
:func:`~mnlab.analysis.measure_latency`'s (batch 1, eval mode, ``inference_mode``, ``threads``
threads, GC paused). Each of ``warmup`` + ``runs`` rounds times one *plain* forward pass and
then one *hooked* pass (hooks installed, pass, hooks removed), so both see the same machine
state; a drifting clock or a neighbour's burst hits both alike. A layer's time is its median
over the hooked passes.

We chose hooks over ``torch.profiler`` because a hook knows the qualified module name, which is
the key of :func:`~mnlab.analysis.analyze`'s report, so the join is exact and needs no mapping
from aten ops back to modules.

What the times do *not* contain is reported, not hidden:

* ``end_to_end_ms`` is the median of the plain passes; ``layer_sum_ms`` is the sum of the
  per-layer medians. Their difference, ``unattributed_ms``, is the work done outside leaf
  modules (the residual additions of an inverted residual, the ``x * scale`` of
  squeeze-excite, container ``forward`` code) minus the hook overhead the layer times include.
* ``instrumented_ms`` is the median of the hooked passes; its excess over
  ``end_to_end_ms`` is ``overhead_ms``, what the instrumentation costs in total.
* ``hook_floor_ms`` is what the hooks measure around an ``nn.Identity``: the smallest time any
  layer can show. Layers near it are dominated by Python overhead, not by arithmetic.
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
import pandas as pd
import torch
from torch import nn

from mnlab.analysis.deployment import DeployedModule, check_backend, deploy
from mnlab.analysis.inputs import InputShape, check_module, resolve_input_shape
from mnlab.analysis.latency import check_threads, environment, example_input, preserved_state
from mnlab.validation import check_int

if TYPE_CHECKING:
    from mnlab.analysis.counting import Report

#: The backends :func:`profile_layers` can time layer by layer.
ProfileBackend = Literal["eager", "onnxruntime", "onnxruntime-int8"]
PROFILE_BACKENDS: tuple[ProfileBackend, ...] = get_args(ProfileBackend)
#: Why not XNNPACK: ExecuTorch (1.5.1) runs the network as one delegate call; with ETDump on,
#: the delegate logs each XNNPACK operator's time, but under XNNPACK's own operator names
#: ("Convolution (NHWC, F32) DWConv #3") with no debug handle (the XNNPACK backend's
#: ``debug_handle_map`` is empty), so no time can be joined to a module or a report row.
_XNNPACK_UNMAPPED = (
    "backend 'xnnpack' cannot be profiled layer by layer: ExecuTorch runs the whole network as one "
    "XNNPACK delegate call, whose per-operator events carry XNNPACK's operator names but no link "
    f"to the model's modules; per-layer profiles are available for backends {PROFILE_BACKENDS} "
    "(measure_latency and compare_latency time 'xnnpack' end to end)")


@dataclass
class LayerProfile:
    """Per-layer times joined to the counting report, and how they add up.

    ``layers``: the report's rows in execution order with ``time_ms`` (median over runs; NaN
    for an op that runs outside any leaf module, e.g. a residual add) and ``time_share``
    (``time_ms`` / ``layer_sum_ms``). ``unmatched`` lists leaf calls that were timed but have no
    row in the report (e.g. an input check or a flatten the counter does not list), with their
    times; they are part of ``layer_sum_ms``.

    On ``"onnxruntime"`` and ``"onnxruntime-int8"`` (``env["backend"]``) ``layers`` also has ``ort_nodes`` (the optimized
    graph's nodes whose time is on the row) and ``fused_into`` (the row whose kernel runs this
    row's op); ``time_ms`` is NaN for rows no kernel runs (BN folded at export);
    ``instrumented_ms`` is the median ``model_run`` under ORT's profiler, ``hook_floor_ms`` NaN
    and ``hooked_calls`` the number of nodes; ``unmatched`` lists nodes with no row; ``nodes``
    lists every node of the optimized graph that ran (``node``, ``op_type``, median ``time_ms``,
    and ``row``: the name of the row its time is charged to, "" if unmatched), e.g. to time the
    layout conversions (``ReorderInput``/``ReorderOutput``) apart from the kernels they serve.
    Under eager ``nodes`` is empty.
    """

    layers: pd.DataFrame
    unmatched: pd.DataFrame
    end_to_end_ms: float
    instrumented_ms: float
    layer_sum_ms: float
    hook_floor_ms: float
    hooked_calls: int
    runs: int
    env: dict = field(default_factory=dict)
    nodes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["node", "op_type", "time_ms", "row"]))

    @property
    def overhead_ms(self) -> float:
        """What the hooks add to one forward pass."""
        return self.instrumented_ms - self.end_to_end_ms

    @property
    def unattributed_ms(self) -> float:
        """End-to-end time not inside any timed layer (negative if hook overhead exceeds it)."""
        return self.end_to_end_ms - self.layer_sum_ms

    def summary(self) -> dict:
        """The bookkeeping as one flat dict (a table row for the book)."""
        return {
            "end_to_end_ms": self.end_to_end_ms,
            "layer_sum_ms": self.layer_sum_ms,
            "layer_sum_ratio": self.layer_sum_ms / self.end_to_end_ms,
            "unattributed_ms": self.unattributed_ms,
            "instrumented_ms": self.instrumented_ms,
            "overhead_ms": self.overhead_ms,
            "overhead_ratio": self.overhead_ms / self.end_to_end_ms,
            "hook_floor_ms": self.hook_floor_ms,
            "hooked_calls": self.hooked_calls,
            "runs": self.runs,
        }


class _LeafTimer:
    """Pre/post forward hooks on leaf modules that record (name, ms) for each call."""

    def __init__(self, leaves: list[tuple[str, nn.Module]]):
        self.leaves = leaves
        self.handles: list = []
        self.calls: list[tuple[str, float]] = []
        self._start: dict[int, float] = {}

    def install(self) -> None:
        clock = time.perf_counter
        for name, module in self.leaves:
            def pre(mod, args, _key=id(module)):
                self._start[_key] = clock()

            def post(mod, args, output, _key=id(module), _name=name):
                self.calls.append((_name, (clock() - self._start[_key]) * 1e3))

            self.handles.append(module.register_forward_pre_hook(pre))
            self.handles.append(module.register_forward_hook(post))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def take(self) -> list[tuple[str, float]]:
        calls, self.calls = self.calls, []
        return calls


def _leaf_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if next(m.children(), None) is None]


def _hook_floor_ms(runs: int) -> float:
    """Median time the hooks measure around an ``nn.Identity``: the timer's floor."""
    timer = _LeafTimer([("identity", nn.Identity())])
    x = torch.zeros(1)
    timer.install()
    try:
        with torch.inference_mode():
            for _ in range(max(runs, 100)):
                timer.leaves[0][1](x)
    finally:
        timer.remove()
    return float(np.median([t for _, t in timer.take()]))


def _time_layers(model: nn.Module, x: torch.Tensor, warmup: int, runs: int):
    """Alternate a plain forward pass and a hooked one so that both see the same machine state.

    Returns per-run lists of (leaf name, ms) from the hooked passes, and the plain and hooked
    end-to-end times in ms. The hooks are removed after every hooked pass, and on error.
    """
    timer = _LeafTimer(_leaf_modules(model))
    clock = time.perf_counter
    per_run, plain, hooked = [], [], []
    try:
        with torch.inference_mode():
            gc.collect()
            gc.disable()
            for i in range(warmup + runs):
                t0 = clock()
                model(x)
                t1 = clock()
                timer.install()
                t2 = clock()
                model(x)
                t3 = clock()
                timer.remove()
                calls = timer.take()
                if i >= warmup:
                    plain.append((t1 - t0) * 1e3)
                    hooked.append((t3 - t2) * 1e3)
                    per_run.append(calls)
    finally:
        timer.remove()
    return per_run, plain, hooked


def _median_per_call(per_run: list[list[tuple[str, float]]]) -> pd.DataFrame:
    """One row per leaf call of a forward pass: name, call (its index among calls of that
    module), time_ms = median over runs."""
    frames = []
    for run, calls in enumerate(per_run):
        frame = pd.DataFrame(calls, columns=["name", "time_ms"])
        frame["call"] = frame.groupby("name").cumcount()
        frame["order"] = np.arange(len(frame))
        frames.append(frame)
    all_runs = pd.concat(frames, ignore_index=True)
    med = all_runs.groupby(["name", "call"], sort=False).agg(time_ms=("time_ms", "median"),
                                                            order=("order", "min"))
    return med.sort_values("order").reset_index().drop(columns="order")


def profile_layers(model: nn.Module, input_shape: InputShape = 224, *, threads: int = 1, runs: int = 50,
                   warmup: int = 5, report: Report | None = None,
                   backend: ProfileBackend = "eager") -> LayerProfile:
    """Time every layer of ``model`` and join the times to ``analyze(model, input_shape)``.

    See the module docstring for the method and for what ``end_to_end_ms``, ``layer_sum_ms``,
    ``overhead_ms`` and ``hook_floor_ms`` mean. ``report`` is a ready
    :func:`~mnlab.analysis.analyze` report for the same model and shape (computed if None).
    ``backend``: ``"eager"`` (forward hooks on leaf modules), ``"onnxruntime"`` or
    ``"onnxruntime-int8"`` (ORT's profiler on the deployed model, :func:`~mnlab.analysis.deploy`;
    int8 with its default calibration set). The join is by
    module name and, for a module called more than once per forward pass, by the order of its
    calls (the k-th report row of a name gets the k-th call's time).
    Thread count, training flags and hooks are restored afterwards, also on error.
    """
    from mnlab.analysis.counting import Report, analyze  # the counter, layer 2 like us

    check_module(model)
    if isinstance(model, DeployedModule):
        raise ValueError(f"model must be the model itself, not its {model.backend} deployed form (which "
                         f"has no layers to time); pass the model with backend='onnxruntime'")
    threads = check_threads(threads)
    shape = resolve_input_shape(model, input_shape)
    runs = check_int(runs, "runs", at_least=1)
    warmup = check_int(warmup, "warmup", at_least=0)
    if backend == "xnnpack":
        raise ValueError(_XNNPACK_UNMAPPED)
    check_backend(backend, PROFILE_BACKENDS)
    if report is not None and not isinstance(report, Report):
        raise ValueError(f"report must be an analyze() Report of this model or None, "
                         f"got {type(report).__name__}: {report!r:.60}")
    if report is None:
        report = analyze(model, shape)

    x = example_input(shape)
    if backend != "eager":
        from mnlab.analysis.ort_profile import profile_onnxruntime

        runner = deploy(model, shape, backend=backend, threads=threads)
        with preserved_state(model, threads), runner.threads(threads):
            fields = profile_onnxruntime(runner, model, report, x, threads, runs, warmup)
    else:
        with preserved_state(model, threads):
            fields = _profile_eager(model, report, x, runs, warmup)
    return LayerProfile(**fields, env=environment(threads, backend))


def _profile_eager(model: nn.Module, report, x: torch.Tensor, runs: int, warmup: int) -> dict:
    """Forward hooks on leaf modules (the module docstring), joined to ``report``."""
    per_run, plain, hooked = _time_layers(model, x, warmup, runs)
    floor = _hook_floor_ms(runs)
    timed = _median_per_call(per_run)

    layers = report.layers.copy().reset_index(drop=True)
    layers["call"] = layers.groupby("name").cumcount()
    # Exact join on (module name, call index); ops outside leaf modules keep NaN.
    joined = layers.merge(timed, on=["name", "call"], how="left", indicator=True)
    matched = set(zip(joined.loc[joined["_merge"] == "both", "name"],
                      joined.loc[joined["_merge"] == "both", "call"]))
    unmatched = timed[[(n, c) not in matched for n, c in zip(timed["name"], timed["call"])]]

    layer_sum = float(timed["time_ms"].sum())
    joined["time_share"] = joined["time_ms"] / layer_sum
    return dict(layers=joined.drop(columns=["call", "_merge"]), unmatched=unmatched.reset_index(drop=True),
                end_to_end_ms=float(np.median(plain)), instrumented_ms=float(np.median(hooked)),
                layer_sum_ms=layer_sum, hook_floor_ms=floor,
                hooked_calls=len(per_run[0]) if per_run else 0, runs=runs)
