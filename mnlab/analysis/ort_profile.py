"""Per-layer latency on ONNX Runtime, from ORT's own profiler, joined to the counter's report.

ORT runs an *optimized* graph: BatchNorm folded into the convolution at export, activations
and residual additions fused into the convolution's kernel, layout conversions (NCHWc
"Reorder" nodes) inserted. Its profiler times each of those nodes. This module maps every
node back to the modules of the model, and to the rows of :func:`~mnlab.analysis.analyze`.
The same mapping serves the int8 model (``"onnxruntime-int8"``), whose QDQ pattern ORT fuses
into ``QLinearConv``/``QLinearAdd``/``QLinearMul`` kernels named after the float op they
replace, with ``QuantizeLinear``/``DequantizeLinear`` conversions left around the ops that
stay in float (e.g. an inlined h-swish's ``HardSigmoid``):

1. The exporter names every node and tensor after its module path
   (``/features/features.1/block/depthwise/depthwise.2/Relu``), and ORT names a fused node
   after an original node or tensor (``…/Relu_output_0_nchwc``), so each optimized node leads
   to an original node: by its own name, else its outputs', else (layout conversions and
   inlined functions) its consumers'.
2. A fused convolution named after its activation or addition is walked back through the
   original graph to the convolution it starts from; the nodes on the way are what ORT fused.
   An activation the int8 quantizer removed (a ReLU/ReLU6 is the clamp of the uint8 range)
   survives only as the name of the convolution's output tensor (``…/depthwise.2/Relu_output_0``);
   it counts as fused into that convolution.
3. Each original node's module and op kind pick a report row (the k-th node of a module and
   kind takes the k-th such row). The node's time goes to the row of its first original node
   (the convolution); the rows of the others get ``fused_into`` = that row's name. A node with
   no row of its own kind left (the ``Mul`` of an inlined h-swish) joins its module's row.
4. Conversions are charged to the kernel they serve: a layout ``ReorderInput``, a
   ``QuantizeLinear`` or a ``Transpose`` to the kernel it feeds, a ``ReorderOutput`` or a
   ``DequantizeLinear`` to the kernel it drains (through other conversions, e.g. the input's
   Quantize → Transpose → first convolution).

Unnamed nodes (inlined functions) are named after their module's scope before profiling, since
ORT's profiler would call them by an internal index. Rows no ORT node runs keep ``time_ms``
NaN: BatchNorm folded at export, shape ops removed. Nodes that lead to no row (rare: a kernel
of the root module) are listed in ``unmatched``.
"""
from __future__ import annotations

import re
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from mnlab.analysis import runtimes
from mnlab.analysis.report import Report

if TYPE_CHECKING:
    import onnx

    from mnlab.analysis.deployment import DeployedModule

_COMPUTE = {"Conv", "FusedConv", "Gemm", "FusedGemm", "MatMul", "FusedMatMul", "QLinearConv",
            "QLinearMatMul", "QGemm", "ConvInteger", "MatMulInteger", "NhwcFusedConv"}
#: ONNX op type → the counter's kinds a node of that type can stand for.
_KINDS = {"Conv": ("conv", "depthwise"), "Gemm": ("linear",), "MatMul": ("linear",),
          "GlobalAveragePool": ("pool",), "AveragePool": ("pool",), "MaxPool": ("pool",),
          "ReduceMean": ("pool",), "Add": ("elementwise",), "Mul": ("elementwise",),
          "Sub": ("elementwise",), "Div": ("elementwise",), "Sum": ("elementwise",),
          "Relu": ("activation",), "Clip": ("activation",), "HardSigmoid": ("activation",),
          "HardSwish": ("activation",), "Sigmoid": ("activation",), "Tanh": ("activation",),
          "BatchNormalization": ("batchnorm",), "Flatten": ("shape",), "Reshape": ("shape",)}
_SUFFIX = re.compile(r"(_nchwc|_token_\d+)+$")
_OUTPUT = re.compile(r"^(/.*)/([A-Za-z]+)_output_\d+$")
#: Conversion nodes → whether they are charged to the kernel they feed (their consumer) first.
_CONVERSIONS = {"ReorderInput": True, "QuantizeLinear": True, "Transpose": True,
                "ReorderOutput": False, "DequantizeLinear": False}


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
        if chain[-1].op_type not in _COMPUTE:
            return chain
        return chain[::-1] + self.absorbed(seed)

    def absorbed(self, node) -> list:
        """The op the int8 quantizer removed after ``node``, known only by the name of
        ``node``'s output tensor (``/…/depthwise.2/Relu_output_0`` out of a Conv): a stand-in
        node for it, or nothing."""
        match = _OUTPUT.match(node.output[0]) if node.output else None
        if match is None or match.group(2) not in _KINDS or match.group(2) == node.op_type:
            return []
        name = f"{match.group(1)}/{match.group(2)}"
        return [] if name in self.by_name else [SimpleNamespace(name=name, op_type=match.group(2))]


def name_unnamed_nodes(model: onnx.ModelProto) -> None:
    """Name every unnamed node (ORT's profiler would call it ``<op>_<internal index>``) in its
    module's scope: the scope of its output tensor (``/…/features.0.2/HardSwish_output_0`` →
    ``/…/features.0.2/HardSwish/Mul``), else that of the nearest consumer that has one (an
    inlined h-swish's ``HardSigmoid`` → quantize → dequantize → that ``Mul``). Modifies ``model``
    in place."""
    consumers: dict[str, list] = {}   # tensor → the nodes reading it
    for node in model.graph.node:
        for tensor in node.input:
            consumers.setdefault(tensor, []).append(node)

    def scope(node, hops: int) -> str | None:
        if node.name.startswith("/"):
            return node.name.rsplit("/", 1)[0]
        paths = [_OUTPUT.sub(r"\1/\2", t) for t in node.output if t.startswith("/")]
        if paths or hops == 0:
            return paths[0] if paths else None
        found = (scope(c, hops - 1) for t in node.output for c in consumers.get(t, []))
        return next((s for s in found if s), None)

    taken = {node.name for node in model.graph.node if node.name}
    for node in reversed(model.graph.node):   # consumers are named before their producers
        if node.name:
            continue
        where = scope(node, 3)
        base = f"{where}/{node.op_type}" if where else f"{node.op_type}_unnamed"
        name, k = base, 0
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        node.name = name
        taken.add(name)


def _time_nodes(runner, x: torch.Tensor, threads: int, runs: int, warmup: int):
    """Alternate one plain run of ``runner`` (timed) and one run of its model, with every node
    named (:func:`name_unnamed_nodes`), under ORT's profiler. Returns the named original graph,
    the optimized graph that ran, the per-run node times and ``model_run`` totals, and the plain
    times."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="mnlab_ort_profile_") as workdir:
        original = onnx.load(str(runner.artefact))
        name_unnamed_nodes(original)
        named = Path(workdir) / "named.onnx"
        onnx.save(original, str(named))
        profiled = runtimes.ProfiledSession(named, threads, Path(workdir))
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
    return original, optimized, per_run[warmup:], totals[warmup:], plain


def profile_onnxruntime(runner: DeployedModule, model: torch.nn.Module, report: Report, x: torch.Tensor,
                        threads: int, runs: int, warmup: int) -> dict[str, Any]:
    """Time ``runner`` (a :class:`~mnlab.analysis.DeployedModule` on ONNX Runtime, fp32 or
    int8) node by node and join the times to ``report``; returns
    :class:`~mnlab.analysis.profile.LayerProfile`'s fields."""
    original, optimized, per_run, totals, plain = _time_nodes(runner, x, threads, runs, warmup)
    frames = [pd.DataFrame(nodes, columns=["node", "op_type", "us"]) for nodes in per_run]
    times = pd.concat(frames).groupby("node", sort=False).agg(op_type=("op_type", "first"),
                                                             time_ms=("us", "median"))
    times["time_ms"] /= 1e3
    layers, unmatched, charged = _join(report.layers, times, optimized, _Graph(original),
                                       {name for name, _ in model.named_modules()})
    layer_sum = float(times["time_ms"].sum())
    layers["time_share"] = layers["time_ms"] / layer_sum
    nodes = times.reset_index().assign(row=lambda t: t["node"].map(charged).fillna(""))
    return dict(layers=layers, unmatched=unmatched, nodes=nodes, end_to_end_ms=float(np.median(plain)),
                instrumented_ms=float(np.median(totals)) / 1e3, layer_sum_ms=layer_sum,
                hook_floor_ms=float("nan"), hooked_calls=len(per_run[0]), runs=runs)


def _join(report_layers: pd.DataFrame, times: pd.DataFrame, optimized, graph: _Graph, modules: set[str]):
    """Report rows with ``time_ms``, ``ort_nodes`` and ``fused_into``; the unmatched nodes; and
    each matched node's row name (node name → row).

    Kernels claim rows first (steps 2-3 of the module docstring); a kernel with no row of its
    kind joins its module's row; conversions go to the kernel they serve (step 4).
    """
    layers = report_layers.copy().reset_index(drop=True)
    layers["time_ms"], layers["ort_nodes"], layers["fused_into"] = np.nan, "", ""
    free: dict[tuple[str, str], list[int]] = {}   # (module, kind family) → row indices not yet claimed, in order
    for i, (name, kind) in enumerate(zip(layers["name"], layers["kind"])):
        free.setdefault((name, kind.split(" ")[0]), []).append(i)
    consumers: dict[str, list] = {}   # tensor → the nodes reading it
    for node in optimized.graph.node:
        for tensor in node.input:
            consumers.setdefault(tensor, []).append(node)
    nodes = [n for n in optimized.graph.node if n.name in times.index]
    head_of: dict[str, int] = {}          # ORT node → the report row its time goes to
    module_row: dict[str, int] = {}       # module → its first row a kernel claimed
    module_of_node: dict[str, str | None] = {}
    for node in [n for n in nodes if n.op_type not in _CONVERSIONS]:
        chain = graph.chain(node, [c for out in node.output for c in consumers.get(out, [])])
        if chain:
            module_of_node[node.name] = module_of(chain[0].name, modules)
        rows = [r for r in (_claim(free, module_of(o.name, modules), o) for o in chain) if r is not None]
        for r in rows:
            module_row.setdefault(layers.loc[r, "name"], r)
        if rows:
            head_of[node.name] = rows[0]
            layers.loc[rows[1:], "fused_into"] = layers.loc[rows[0], "name"]
    for node in nodes:   # a kernel with no row of its kind left: its module's row
        module = module_of_node.get(node.name)
        if node.name not in head_of and module is not None and module in module_row:
            head_of[node.name] = module_row[module]
    _charge_conversions(nodes, head_of, optimized, consumers)
    unmatched, charged = [], {}
    for node in nodes:
        ms = float(times.loc[node.name, "time_ms"])
        head = head_of.get(node.name)
        if head is None:
            unmatched.append({"node": node.name, "op_type": node.op_type, "time_ms": ms})
            continue
        charged[node.name] = layers.loc[head, "name"]
        layers.loc[head, "time_ms"] = np.nansum([layers.loc[head, "time_ms"], ms])
        layers.loc[head, "ort_nodes"] = ",".join(filter(None, [layers.loc[head, "ort_nodes"], node.name]))
    return layers, pd.DataFrame(unmatched, columns=["node", "op_type", "time_ms"]), charged


def _charge_conversions(nodes, head_of: dict, optimized, consumers: dict) -> None:
    """Give every conversion node the row of the kernel it feeds (consumer side) or drains
    (producer side), as :data:`_CONVERSIONS` orders, looking through other conversions."""
    producer = {out: n for n in optimized.graph.node for out in n.output}

    def served(node, feeds: bool, seen: set):
        if node.name in head_of and node.op_type not in _CONVERSIONS:
            return head_of[node.name]
        if node.name in seen:
            return None
        seen.add(node.name)
        after = [c for out in node.output for c in consumers.get(out, [])]
        before = [producer[i] for i in node.input if i in producer]
        for neighbour in (after if feeds else before):
            if neighbour.op_type in _CONVERSIONS or neighbour.name in head_of:
                found = served(neighbour, feeds, seen)
                if found is not None:
                    return found
        return None

    for node in nodes:
        if node.op_type in _CONVERSIONS and node.name not in head_of:
            feeds = _CONVERSIONS[node.op_type]
            head = served(node, feeds, set())
            head = head if head is not None else served(node, not feeds, set())
            if head is not None:
                head_of[node.name] = head


def _claim(free: dict, module: str | None, node) -> int | None:
    """The next unclaimed report row of ``module`` whose kind ``node``'s op type can stand for,
    or the op whose scope it was named in (the ``Mul`` of ``/…/features.0.2/HardSwish/Mul``, an
    inlined h-swish, stands for a HardSwish)."""
    if module is None:
        return None
    parent = node.name.rsplit("/", 2)[-2] if node.name.count("/") >= 2 else ""
    for family in (*_KINDS.get(node.op_type, ()), *_KINDS.get(parent, ())):
        for (name, kind), rows in free.items():
            if name == module and kind.startswith(family) and rows:
                return rows.pop(0)
    return None
