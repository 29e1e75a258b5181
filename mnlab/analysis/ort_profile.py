"""Per-layer latency on ONNX Runtime, from ORT's own profiler, joined to the counter's report.

ORT runs an *optimized* graph: BatchNorm folded into the convolution at export, activations
and residual additions fused into the convolution's kernel, layout conversions (NCHWc
"Reorder" nodes) inserted. Its profiler times each of those nodes. This module maps every
node back to the modules of the model, and to the rows of :func:`~mnlab.analysis.analyze`:

1. The exporter names every node and tensor after its module path
   (``/features/features.1/block/depthwise/depthwise.2/Relu``), and ORT names a fused node
   after an original node or tensor (``…/Relu_output_0_nchwc``), so each optimized node leads
   to an original node: by its own name, else its outputs', else (layout conversions and
   inlined functions) its consumers'.
2. A fused convolution named after its activation or addition is walked back through the
   original graph to the convolution it starts from; the nodes on the way are what ORT fused.
3. Each original node's module and op kind pick a report row (the k-th node of a module and
   kind takes the k-th such row). The node's time goes to the row of its first original node
   (the convolution); the rows of the others get ``fused_into`` = that row's name.

Rows no ORT node runs keep ``time_ms`` NaN: BatchNorm folded at export, shape ops removed.
Nodes that lead to no row (rare: a kernel of the root module) are listed in ``unmatched``.
"""
from __future__ import annotations

import re
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mnlab.analysis import runtimes

_COMPUTE = {"Conv", "FusedConv", "Gemm", "FusedGemm", "MatMul", "FusedMatMul", "QLinearConv",
            "QLinearMatMul", "ConvInteger", "MatMulInteger", "NhwcFusedConv"}
#: ONNX op type → the counter's kinds a node of that type can stand for.
_KINDS = {"Conv": ("conv", "depthwise"), "Gemm": ("linear",), "MatMul": ("linear",),
          "GlobalAveragePool": ("pool",), "AveragePool": ("pool",), "MaxPool": ("pool",),
          "ReduceMean": ("pool",), "Add": ("elementwise",), "Mul": ("elementwise",),
          "Sub": ("elementwise",), "Div": ("elementwise",), "Sum": ("elementwise",),
          "Relu": ("activation",), "Clip": ("activation",), "HardSigmoid": ("activation",),
          "HardSwish": ("activation",), "Sigmoid": ("activation",), "Tanh": ("activation",),
          "BatchNormalization": ("batchnorm",), "Flatten": ("shape",), "Reshape": ("shape",)}
_SUFFIX = re.compile(r"(_nchwc|_token_\d+)+$")


def module_of(onnx_name: str, modules: set[str]) -> str | None:
    """The qualified module name in an exporter's scope path, e.g.
    ``/features/features.1/block/depthwise/depthwise.0/Conv`` → ``features.1.block.depthwise.0``
    (a child of a container is scoped as "<container's scope>.<index>"); None if the name has no
    path, "" for the root module."""
    if not onnx_name.startswith("/"):
        return None
    qualified, previous = "", ""
    for part in onnx_name.split("/")[1:-1]:
        child = part[len(previous) + 1:] if previous and part.startswith(previous + ".") else part
        nested = f"{qualified}.{child}" if qualified else child
        if nested not in modules:
            break
        qualified, previous = nested, part
    return qualified


class _Graph:
    """The original (exported) graph, indexed by node name and by produced tensor."""

    def __init__(self, model):
        self.by_name = {n.name: n for n in model.graph.node}
        self.producer = {out: n for n in model.graph.node for out in n.output}
        self.uses = Counter(tensor for n in model.graph.node for tensor in n.input)

    def lookup(self, name: str):
        for candidate in (name, _SUFFIX.sub("", name)):
            node = self.by_name.get(candidate) or self.producer.get(candidate)
            if node is not None:
                return node
        return None

    def chain(self, optimized_node, consumers) -> list:
        """The original nodes an optimized node executes, the one it starts from first."""
        seed = None
        for name in (optimized_node.name, *optimized_node.output):
            seed = seed or self.lookup(name)
        for consumer in consumers if seed is None else ():
            for name in (consumer.name, *consumer.output):
                seed = seed or self.lookup(name)
        if seed is None:
            return []
        chain = [seed]
        if optimized_node.op_type in _COMPUTE:
            while chain[-1].op_type not in _COMPUTE:
                preds = [self.producer[i] for i in chain[-1].input if i in self.producer]
                preds = [p for p in preds if p.op_type in _COMPUTE or p.op_type in _KINDS]
                if not preds:
                    break
                # The branch ORT fused is the one only this node reads (not a residual's skip input).
                preds.sort(key=lambda p: (p.op_type not in _COMPUTE, self.uses[p.output[0]] > 1))
                chain.append(preds[0])
        return chain[::-1] if chain[-1].op_type in _COMPUTE else chain


def _time_nodes(runner, path: Path, x: torch.Tensor, threads: int, runs: int, warmup: int):
    """Alternate one plain run of ``runner`` (timed) and one run under ORT's profiler."""
    with tempfile.TemporaryDirectory(prefix="mnlab_ort_profile_") as workdir:
        profiled = runtimes.ProfiledSession(path, threads, Path(workdir))
        plain = []
        clock = time.perf_counter
        with torch.inference_mode():
            for i in range(warmup + runs):
                t0 = clock()
                runner(x)
                t1 = clock()
                profiled.run(x)
                if i >= warmup:
                    plain.append((t1 - t0) * 1e3)
        optimized, per_run, totals = profiled.finish()
    return optimized, per_run[warmup:], totals[warmup:], plain


def profile_onnxruntime(runner, model: torch.nn.Module, report, x: torch.Tensor, threads: int,
                        runs: int, warmup: int) -> dict:
    """Time ``runner`` (a :class:`~mnlab.analysis.DeployedModule` on ONNX Runtime) node by
    node and join the times to ``report``; returns :class:`~mnlab.analysis.profile.LayerProfile`'s
    fields."""
    import onnx

    optimized, per_run, totals, plain = _time_nodes(runner, runner.artefact, x, threads, runs, warmup)
    frames = [pd.DataFrame(nodes, columns=["node", "op_type", "us"]) for nodes in per_run]
    times = pd.concat(frames).groupby("node", sort=False).agg(op_type=("op_type", "first"),
                                                             time_ms=("us", "median"))
    times["time_ms"] /= 1e3
    layers, unmatched = _join(report.layers, times, optimized, _Graph(onnx.load(str(runner.artefact))),
                              {name for name, _ in model.named_modules()})
    layer_sum = float(times["time_ms"].sum())
    layers["time_share"] = layers["time_ms"] / layer_sum
    return dict(layers=layers, unmatched=unmatched, end_to_end_ms=float(np.median(plain)),
                instrumented_ms=float(np.median(totals)) / 1e3, layer_sum_ms=layer_sum,
                hook_floor_ms=float("nan"), hooked_calls=len(per_run[0]), runs=runs)


_LAYOUT = ("ReorderInput", "ReorderOutput")


def _join(report_layers: pd.DataFrame, times: pd.DataFrame, optimized, graph: _Graph, modules: set[str]):
    """Report rows with ``time_ms``, ``ort_nodes`` and ``fused_into``; and the unmatched nodes.

    A layout conversion (NCHWc reorder) is charged to the row of the kernel it feeds or drains.
    """
    layers = report_layers.copy().reset_index(drop=True)
    layers["time_ms"], layers["ort_nodes"], layers["fused_into"] = np.nan, "", ""
    free = {}   # (module, kind family) → row indices not yet claimed, in order
    for i, (name, kind) in enumerate(zip(layers["name"], layers["kind"])):
        free.setdefault((name, kind.split(" ")[0]), []).append(i)
    producer = {out: n for n in optimized.graph.node for out in n.output}
    consumers = {}
    for node in optimized.graph.node:
        for tensor in node.input:
            consumers.setdefault(tensor, []).append(node)
    head_of, unmatched = {}, []
    nodes = [n for n in optimized.graph.node if n.name in times.index]
    for node in [n for n in nodes if n.op_type not in _LAYOUT] + [n for n in nodes if n.op_type in _LAYOUT]:
        if node.op_type == "ReorderInput":
            neighbours = [c.name for out in node.output for c in consumers.get(out, [])]
        elif node.op_type == "ReorderOutput":
            neighbours = [producer[i].name for i in node.input if i in producer]
        else:
            after = [c for out in node.output for c in consumers.get(out, [])]
            rows = [_claim(free, module_of(o.name, modules), o.op_type) for o in graph.chain(node, after)]
            rows = [r for r in rows if r is not None]
            for r in rows[1:]:
                layers.loc[r, "fused_into"] = layers.loc[rows[0], "name"]
            neighbours = []
            if rows:
                head_of[node.name] = rows[0]
        head = head_of.get(node.name, next((head_of[n] for n in neighbours if n in head_of), None))
        ms = float(times.loc[node.name, "time_ms"])
        if head is None:
            unmatched.append({"node": node.name, "op_type": node.op_type, "time_ms": ms})
            continue
        layers.loc[head, "time_ms"] = np.nansum([layers.loc[head, "time_ms"], ms])
        layers.loc[head, "ort_nodes"] = ",".join(filter(None, [layers.loc[head, "ort_nodes"], node.name]))
    return layers, pd.DataFrame(unmatched, columns=["node", "op_type", "time_ms"])


def _claim(free: dict, module: str | None, op_type: str) -> int | None:
    """The next unclaimed report row of ``module`` whose kind ``op_type`` can stand for."""
    if module is None:
        return None
    for family in _KINDS.get(op_type, ()):
        for (name, kind), rows in free.items():
            if name == module and kind.startswith(family) and rows:
                return rows.pop(0)
    return None
