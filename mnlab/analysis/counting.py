"""Counting: parameters, multiply-adds, bytes moved and activation memory of any ``nn.Module``.

:func:`analyze` runs the model once on *meta* tensors — shapes and dtypes only, no arithmetic,
no memory — and records every operation the forward pass executes, attributed to the innermost
module running it. The result, a :class:`Report`, is data: one DataFrame row per op, totals, and
the paper views built from them:

* ``Report.by_kind()`` — MobileNetV1 (Howard et al. 2017) Table 2: share of Mult-Adds and of
  parameters per layer kind (Conv 1×1, Conv DW 3×3, Conv 3×3, Fully Connected).
* ``Report.architecture_table()`` — MobileNetV1 Table 1: type / stride, filter shape, input size.
* the ``mac_elems`` column — ShuffleNetV2 (Ma et al. 2018) memory access cost, Sec. 2, guideline
  G1: for a 1×1 conv, MAC = h·w·(c1 + c2) + c1·c2 ≥ 2·√(h·w·B) + B/(h·w) at fixed FLOPs B.
* ``Report.totals["peak_activation_bytes"]`` and ``Report.memory_timeline()`` — activation
  memory from tensor lifetimes (:mod:`mnlab.analysis.memory`).

Conventions (see DESIGN.md)
---------------------------
``macs`` are the papers' Mult-Adds and are only counted for convolutions and matrix products:
conv = N · C_out · H_out · W_out · (C_in / groups) · k_h · k_w, linear = batch · in · out; a bias
add is not counted. ``flops`` = 2 × ``macs``, nothing else. Every other op keeps its own count in
the ``ops`` column, element operations per op, so that it never leaks into the Mult-Adds:

=============  ==========================================================================
kind           ``ops``
=============  ==========================================================================
batchnorm      2 per element (the inference form y = a·x + b)
activation     1 per output element (ReLU, ReLU6, h-swish, h-sigmoid, sigmoid, SiLU, …)
pool           1 per input element in each window (k_h·k_w per output; global pool: input size)
elementwise    1 per output element (add, sub, mul, div, … — residual adds, SE rescaling)
shape          0 (flatten, view, cat, dropout, …); views move no bytes, copies (cat) do
unknown        the output element count, as a visible stand-in: see ``Report.unknown_ops``
=============  ==========================================================================

Switches: ``bn="fold"`` removes each BatchNorm that directly follows a conv or linear and moves
its parameters (γ, β) into that layer's row, whose folded bias (C_out elements) is then read
too; a BN that follows anything else stays a row. ``"ignore"`` (for BN, activations,
element-wise ops) drops those rows. The switches change rows and sums of rows, never
``totals["params"]`` (every parameter tensor of the model, once) nor the peak activation memory,
which describe the model as it runs.

How it runs
-----------
``torch.func.functional_call`` runs the model with every parameter and buffer replaced by a
meta copy (the model itself keeps its tensors, mode and hooks). A ``TorchFunctionMode`` sees
every torch function the forward calls; global module pre/post hooks (removed afterwards) keep
the stack of running modules, so an op is attributed to the innermost one, by its qualified name
from ``model.named_modules()``. The model is counted in the mode it is in (use ``eval()`` for
inference counts; dropout is then the identity, a "shape" op); in-place updates of buffers, such
as BatchNorm's ``num_batches_tracked`` in training mode, are bookkeeping, not rows. Matrix
products (``matmul``, ``addmm``) are of kind "linear".
"""
from __future__ import annotations

import numbers
import re
import weakref
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.modules import module as module_hooks
from torch.overrides import TorchFunctionMode

from mnlab.analysis.inputs import check_module, resolve_input_shape
from mnlab.analysis.memory import TIMELINE_COLUMNS, LiveBytes

#: Columns of ``Report.layers``, in order.
COLUMNS = ["name", "op", "kind", "input_shape", "output_shape", "kernel", "stride", "groups",
           "params", "macs", "flops", "ops", "bytes_read", "bytes_written", "intensity",
           "mac_elems"]

# The columns the engine records; flops and intensity are derived once at the end.
_RECORDED = ["name", "op", "kind", "input_shape", "output_shape", "kernel", "stride", "groups",
             "params", "macs", "ops", "bytes_read", "bytes_written", "mac_elems"]
(_NAME, _OP, _KIND, _IN, _OUT, _KERNEL, _STRIDE, _GROUPS,
 _PARAMS, _MACS, _OPS, _READ, _WRITTEN, _ELEMS) = range(len(_RECORDED))

BN_MODES = ("count", "fold", "ignore")
SWITCH_MODES = ("count", "ignore")

# Op names (``func.__name__`` as the function mode sees it) by category.
_CONV = {"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"}
_LINEAR = {"linear", "addmm", "matmul", "mm", "bmm", "__matmul__", "__rmatmul__"}
_BATCHNORM = {"batch_norm"}
_ACTIVATION = {
    "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "hardswish", "hardswish_", "hardsigmoid",
    "hardsigmoid_", "sigmoid", "sigmoid_", "silu", "silu_", "gelu", "tanh", "tanh_", "softmax",
    "log_softmax", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "celu", "mish", "softplus",
    "clamp", "clamp_", "clamp_min", "clamp_max", "clip",
}
_POOL = {
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "max_pool1d", "max_pool2d", "max_pool3d",
    "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
    "lp_pool2d",
}
_GLOBAL_POOL = {  # no kernel/stride argument: every input element is read once
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
    "adaptive_max_pool2d", "adaptive_max_pool3d", "mean", "sum", "amax", "amin",
}
_ELEMENTWISE = {
    "add", "add_", "__add__", "__iadd__", "__radd__", "sub", "sub_", "__sub__", "__isub__",
    "__rsub__", "rsub", "mul", "mul_", "__mul__", "__imul__", "__rmul__", "div", "div_",
    "__truediv__", "__itruediv__", "__rtruediv__", "true_divide", "neg", "__neg__", "reciprocal",
    "exp", "sqrt", "rsqrt", "pow", "__pow__", "abs", "maximum", "minimum", "where", "addcmul",
}
_SHAPE = {
    "flatten", "view", "reshape", "permute", "transpose", "t", "squeeze", "unsqueeze", "expand",
    "expand_as", "contiguous", "__getitem__", "chunk", "split", "split_with_sizes", "narrow",
    "select", "unbind", "view_as", "reshape_as", "unflatten", "movedim", "dropout", "dropout_",
    "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "cat",
    "concat", "concatenate", "stack", "clone", "to", "type", "float", "half", "double", "detach",
    "pad", "channel_shuffle", "pixel_shuffle", "pixel_unshuffle", "flip", "roll", "repeat",
    "zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like", "full_like",
    "arange",
}
_CATEGORY = {}
for _names, _category in [(_CONV, "conv"), (_LINEAR, "linear"), (_BATCHNORM, "batchnorm"),
                          (_ACTIVATION, "activation"), (_POOL, "pool"),
                          (_GLOBAL_POOL, "global_pool"), (_ELEMENTWISE, "elementwise"),
                          (_SHAPE, "shape")]:
    _CATEGORY.update(dict.fromkeys(_names, _category))
_WEIGHT_KINDS = r"(conv|depthwise|grouped) |linear$"  # the kinds that carry MACs
_META = torch.device("meta")
_SHORTCUT_CATEGORIES = {"conv", "batchnorm", "activation", "elementwise", "linear", "global_pool"}
_IGNORED = {"__get__", "__set__", "requires_grad_", "detach_"}  # attribute access, bookkeeping


@dataclass(repr=False)
class Report:
    """What :func:`analyze` measured: one row per executed op, totals and the paper views.

    ``layers`` columns (``mnlab.analysis.COLUMNS``): ``name`` (qualified module name of the innermost
    module that ran the op, "" for the model itself), ``op`` (function name, e.g. ``conv2d``,
    ``add``), ``kind`` ("conv 1×1", "depthwise 3×3", "conv 3×3", "grouped 3×3", "linear",
    "batchnorm", "activation", "pool", "elementwise", "shape", "unknown"), ``input_shape`` and
    ``output_shape`` (tuples), ``kernel`` and ``stride`` (tuples or None), ``groups``,
    ``params`` (parameters the op reads, each parameter tensor counted at its first use only),
    ``macs``, ``flops`` (= 2 × macs), ``ops`` (element ops of non-MAC kinds, see the module
    docstring), ``bytes_read`` (input activations, weights and buffers), ``bytes_written``
    (outputs), ``intensity`` (flops / bytes moved; NaN when nothing moves), ``mac_elems``
    (ShuffleNetV2 memory access cost in elements: inputs + outputs + weights).

    ``totals``: ``params`` (every parameter tensor of the model once, = ``sum(p.numel())``),
    ``params_unused`` (parameters no op read), the sums of ``macs``, ``flops``, ``ops``,
    ``bytes_read``, ``bytes_written``, ``mac_elems`` over the rows, ``peak_activation_bytes``,
    ``input_bytes`` and ``unknown_ops`` (number of unknown rows).

    Also: ``input_shape`` (N, C, H, W) and ``dtype`` used, ``settings`` (the switches),
    ``unknown_ops`` (names of ops the counter does not know, in order of first use),
    ``module_outputs`` (qualified module name → output shape, for
    :func:`~mnlab.analysis.block_memory_table`) and ``memory_events`` (see
    :meth:`memory_timeline`).
    """

    layers: pd.DataFrame
    totals: dict
    input_shape: tuple[int, int, int, int]
    dtype: torch.dtype
    settings: dict
    unknown_ops: list[str]
    module_outputs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    memory_events: list[tuple] = field(default_factory=list)

    def __repr__(self) -> str:
        t = self.totals
        return (f"Report(input_shape={self.input_shape}, dtype={self.dtype}, rows={len(self.layers)}, "
                f"params={t['params']:,}, macs={t['macs']:,}, "
                f"peak_activation_bytes={t['peak_activation_bytes']:,}, "
                f"unknown_ops={self.unknown_ops})")

    def by_kind(self, weight_layers_only: bool = False) -> pd.DataFrame:
        """MobileNetV1 paper, Table 2: Mult-Adds and parameters per layer kind.

        Index ``kind``; columns ``macs``, ``macs_pct``, ``params``, ``params_pct`` (percentages
        of the sums over the kinds shown), ``ops`` and ``layers`` (number of rows). Sorted by
        MACs, largest first; kinds with nothing to count (shape ops) are left out.
        ``weight_layers_only=True`` keeps the conv and linear kinds only, the paper's basis (its
        rows Conv 1×1, Conv DW 3×3, Conv 3×3, Fully Connected sum to 100%); the same shares come
        from ``analyze(..., bn="ignore", activations="ignore", elementwise="ignore")``.
        """
        layers = self.layers
        if weight_layers_only:
            layers = layers[layers["kind"].str.match(_WEIGHT_KINDS)]
        table = (layers.groupby("kind", sort=False)
                 .agg(macs=("macs", "sum"), params=("params", "sum"), ops=("ops", "sum"),
                      layers=("op", "size")))
        table = table[(table[["macs", "params", "ops"]] != 0).any(axis=1)].copy()
        table["macs_pct"] = 100 * table["macs"] / max(table["macs"].sum(), 1)
        table["params_pct"] = 100 * table["params"] / max(table["params"].sum(), 1)
        table = table.sort_values(["macs", "params"], ascending=False, kind="stable")
        return table[["macs", "macs_pct", "params", "params_pct", "ops", "layers"]]

    def architecture_table(self) -> pd.DataFrame:
        """MobileNetV1 paper, Table 1, generated from the model: one row per conv, pool and FC.

        Columns ``Type / Stride`` ("Conv / s2", "Conv dw / s1", "Avg Pool / s1", "FC / s1"),
        ``Filter Shape`` ("3 × 3 × 3 × 32", "3 × 3 × 32 dw", "1 × 1 × 32 × 64", "Pool 7 × 7",
        "1024 × 1000") and ``Input Size`` ("224 × 224 × 3"), plus ``name``. BN and activations
        are left out, as in the paper ("all layers are followed by a batchnorm and ReLU").
        """
        rows = []
        for row in self.layers.itertuples(index=False):
            kind, op = row.kind, row.op
            stride = f"s{row.stride[0]}" if row.stride else "s1"
            cin = row.input_shape[1] if len(row.input_shape) > 1 else row.input_shape[0]
            cout = row.output_shape[1] if len(row.output_shape) > 1 else row.output_shape[0]
            kernel = " × ".join(map(str, row.kernel)) if row.kernel else ""
            if kind.startswith(("conv ", "depthwise ", "grouped ")):
                if kind.startswith("depthwise"):
                    layer, filt = "Conv dw", f"{kernel} × {cin} dw"
                elif kind.startswith("grouped"):
                    layer, filt = f"Conv g{row.groups}", f"{kernel} × {cin // row.groups} × {cout}"
                else:
                    layer, filt = "Conv", f"{kernel} × {cin} × {cout}"
            elif kind == "linear":
                layer, filt, stride = "FC", f"{row.input_shape[-1]} × {row.output_shape[-1]}", "s1"
            elif kind == "pool":
                layer = "Max Pool" if "max" in op else "Avg Pool"
                filt = f"Pool {kernel}" if kernel else "Pool"
            else:
                continue
            shape = row.input_shape
            if len(shape) == 2:  # (N, features): the paper writes 1 × 1 × features
                size = f"1 × 1 × {shape[1]}"
            elif len(shape) > 2:  # (N, C, spatial...) → spatial × C
                size = " × ".join(map(str, (*shape[2:], shape[1])))
            else:
                size = " × ".join(map(str, shape))
            rows.append({"Type / Stride": f"{layer} / {stride}", "Filter Shape": filt,
                         "Input Size": size, "name": row.name})
        return pd.DataFrame(rows, columns=["Type / Stride", "Filter Shape", "Input Size", "name"])

    def memory_timeline(self) -> pd.DataFrame:
        """Live activation bytes over the forward pass: one row per allocation or free.

        Columns ``step`` (index of the op, counting every tensor op the model ran, −1 for the
        input), ``name``, ``op``, ``event`` ("input", "alloc", "free"), ``bytes`` (negative for
        a free) and ``live_bytes`` after the event; its maximum is
        ``totals["peak_activation_bytes"]``.
        """
        return pd.DataFrame(self.memory_events, columns=TIMELINE_COLUMNS)


def analyze(model: nn.Module, input_shape, *, dtype: torch.dtype = torch.float32,
            bn: str = "count", activations: str = "count", elementwise: str = "count") -> Report:
    """Count ``model`` on an input of ``input_shape``: every op, per layer and in total.

    ``input_shape`` is a resolution ``r`` (an input of (1, C, r, r), C the input channels of the
    first conv or linear layer, or 3) or a 4-tuple (N, C, H, W). ``dtype`` sets the element
    size for bytes (parameters, buffers and activations are all taken as ``dtype``). ``bn``
    ("count" | "fold" | "ignore"), ``activations`` and ``elementwise`` ("count" | "ignore")
    choose how those ops appear (module docstring). The model is not modified: it runs through
    ``torch.func.functional_call`` with meta copies of its parameters and buffers, so nothing
    is computed and its state, mode and hooks stay as they were.

    Raises ``ValueError`` for a non-module, a bad ``input_shape`` (also one the model rejects,
    such as a resolution too small for it) or a bad switch.
    """
    check_module(model)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch.dtype such as torch.float32 or "
                         f"torch.float16, got {dtype!r}")
    _check_switch("bn", bn, BN_MODES)
    _check_switch("activations", activations, SWITCH_MODES)
    _check_switch("elementwise", elementwise, SWITCH_MODES)
    shape = resolve_input_shape(model, input_shape)

    names, meta, param_numel, buffer_ids = _meta_state(model, dtype)
    counter = _Counter(names=names, param_numel=param_numel, buffer_ids=buffer_ids,
                       bn=bn, activations=activations, elementwise=elementwise)
    x = torch.empty(shape, dtype=dtype, device="meta")
    x_bytes = x.numel() * x.element_size()
    counter.memory.allocate(x, event="input")

    pre = module_hooks.register_module_forward_pre_hook(counter.enter)
    post = module_hooks.register_module_forward_hook(counter.exit)
    try:
        with torch.no_grad(), counter:
            torch.func.functional_call(model, meta, (x,), tie_weights=False)
    except NotImplementedError:
        raise  # an op without a meta kernel: a limit of the counter, not of input_shape
    except (RuntimeError, ValueError, TypeError, IndexError) as err:
        if re.search(r"\bmeta\b", str(err)):  # e.g. .item(), or a tensor kept outside the state
            raise RuntimeError(f"{type(model).__name__} cannot be counted on meta tensors: "
                               f"{err}") from err
        shown = f"{input_shape!r} (an input of shape {shape})" \
            if isinstance(input_shape, numbers.Integral) else repr(input_shape)
        reason = " ".join(str(err).split())
        raise ValueError(f"input_shape {shown} cannot be run through {type(model).__name__} "
                         f"({type(err).__name__}: {reason}); give an (N, C, H, W) shape or "
                         "resolution the model accepts") from err
    finally:
        pre.remove()
        post.remove()
        counter.memory.close()
    del x

    records = counter.records
    macs = sum(row[_MACS] for row in records)
    totals = {
        "params": sum(param_numel.values()),  # = sum(p.numel() for p in model.parameters())
        "params_unused": sum(n for i, n in param_numel.items() if i not in counter.seen_params),
        "macs": macs,
        "flops": 2 * macs,
        "ops": sum(row[_OPS] for row in records),
        "bytes_read": sum(row[_READ] for row in records),
        "bytes_written": sum(row[_WRITTEN] for row in records),
        "mac_elems": sum(row[_ELEMS] for row in records),
        "peak_activation_bytes": counter.memory.peak,
        "input_bytes": x_bytes,
        "unknown_ops": sum(row[_KIND] == "unknown" for row in records),
    }
    unknown = list(dict.fromkeys(row[_OP] for row in records if row[_KIND] == "unknown"))
    layers = _frame(records)
    return Report(layers=layers, totals=totals, input_shape=shape, dtype=dtype,
                  settings={"bn": bn, "activations": activations, "elementwise": elementwise},
                  unknown_ops=unknown, module_outputs=counter.module_outputs,
                  memory_events=counter.memory.events)


class _Counter(TorchFunctionMode):
    """Records one row per tensor op run inside the model; see :func:`analyze`.

    Module attribution: global forward pre/post hooks keep a stack of the qualified names of
    the modules currently running; an op belongs to the top of the stack. Rows are plain lists
    (the DataFrame is built once at the end).
    """

    def __init__(self, names, param_numel, buffer_ids, bn, activations, elementwise):
        super().__init__()
        self.names = names
        self.param_numel = param_numel
        self.buffer_ids = buffer_ids
        self.seen_params: set[int] = set()
        self.stack: list[str] = []
        self.records: list[list] = []
        self.module_outputs: dict[str, tuple[int, ...]] = {}
        self.memory = LiveBytes()
        self.step = -1
        self.bn, self.activations, self.elementwise = bn, activations, elementwise
        self.producers: dict[int, tuple[weakref.ref, list, bool]] = {}  # conv/linear outputs, for BN fold
        self.categories: dict = {}  # func -> (op name, category)

    # -- module attribution ---------------------------------------------------------------
    def enter(self, module, args):
        name = self.names.get(id(module))
        self.stack.append(name if name is not None else (self.stack[-1] if self.stack else ""))

    def exit(self, module, args, output):
        name = self.stack.pop()
        if isinstance(output, torch.Tensor) and id(module) in self.names:
            self.module_outputs[name] = tuple(output.shape)

    # -- op capture ---------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if kwargs is None:
            kwargs = {}
        if not self.stack:  # not inside the model (functional_call's own bookkeeping)
            return func(*args, **kwargs)
        op, category = self._classify(func)
        out = None
        if category in _SHORTCUT_CATEGORIES:
            out = _shortcut(func, op, args, kwargs)
        if out is None:
            out = func(*args, **kwargs)
        if category == "ignored":
            return out
        if isinstance(out, torch.Tensor):
            outputs = [out]
        elif isinstance(out, (tuple, list)) and out and all(isinstance(o, torch.Tensor) for o in out):
            outputs = list(out)
        else:
            return out  # size(), dim(), item(), ...: queries, not ops
        inputs = _tensors(args, kwargs)
        if inputs and out is inputs[0] and id(out) in self.buffer_ids:
            return out  # in-place update of a buffer (BN's num_batches_tracked): bookkeeping

        self.step += 1
        memory = self.memory
        memory.step, memory.name, memory.op = self.step, self.stack[-1], op
        self._track_allocations(inputs, outputs)

        if category == "conv":
            self._conv(op, args, kwargs, inputs, out)
        elif category == "linear":
            self._linear(op, args, inputs, out)
        elif category == "batchnorm":
            self._batchnorm(op, inputs, out)
        elif category == "activation":
            self._record(op, "activation", inputs, outputs, ops=out.numel(),
                         keep=self.activations == "count")
        elif category == "elementwise":
            self._record(op, "elementwise", inputs, outputs, ops=out.numel(),
                         keep=self.elementwise == "count")
        elif category in ("pool", "global_pool"):
            self._pool(op, category, args, kwargs, inputs, outputs)
        elif category == "shape":
            moved = any(o._base is None and not _is_input(o, inputs) for o in outputs)
            self._record(op, "shape", inputs, outputs, ops=0, moves_bytes=moved)
        else:
            self._record(op, "unknown", inputs, outputs, ops=sum(o.numel() for o in outputs))
        return out

    def _classify(self, func) -> tuple[str, str]:
        """(op name, category) of a function, cached per function object."""
        try:
            return self.categories[func]
        except KeyError:
            pass
        except TypeError:  # an unhashable callable
            return _classify(func)
        result = self.categories[func] = _classify(func)
        return result

    def _track_allocations(self, inputs, outputs):
        """Count the outputs this op allocated: not an input (in place) and not a view of one."""
        bases = []
        for o in outputs:
            if _is_input(o, inputs):
                continue
            base = o._base
            if base is None:
                self.memory.allocate(o)
            elif not _is_input(base, bases) and not any(base is t or base is t._base for t in inputs):
                bases.append(base)  # a view of a tensor the op created internally
                self.memory.allocate(base)

    def _record(self, op, kind, inputs, outputs, *, ops=0, macs=0, kernel=None, stride=None,
                groups=None, keep=True, moves_bytes=True):
        """Append one row; returns it (a list, so BN folding can amend it) or None if dropped."""
        params = self._claim_params(inputs)
        if not keep:
            return None
        if moves_bytes:
            read_elems = read = 0
            for t in inputs:
                n = t.numel()
                read_elems += n
                read += n * t.element_size()
            written_elems = written = 0
            for o in outputs:
                n = o.numel()
                written_elems += n
                written += n * o.element_size()
        else:
            read_elems = read = written_elems = written = 0
        first = inputs[0].shape if inputs else ()
        row = [self.stack[-1], op, kind, tuple(first), tuple(outputs[0].shape), kernel, stride,
               groups, params, macs, ops, read, written, read_elems + written_elems]
        self.records.append(row)
        return row

    def _claim_params(self, inputs) -> int:
        """Parameters among ``inputs`` not read by an earlier op (shared weights count once)."""
        params = 0
        for t in inputs:
            key = id(t)
            if key in self.param_numel and key not in self.seen_params:
                self.seen_params.add(key)
                params += self.param_numel[key]
        return params

    def _conv(self, op, args, kwargs, inputs, out):
        x = args[0]
        weight = args[1] if len(args) > 1 else kwargs["weight"]
        bias = args[2] if len(args) > 2 else kwargs.get("bias")
        stride = args[3] if len(args) > 3 else kwargs.get("stride", 1)
        groups = args[6] if len(args) > 6 else kwargs.get("groups", 1)
        w = weight.shape
        kernel = tuple(w[2:])
        stride = tuple(stride) if isinstance(stride, (tuple, list)) else (stride,) * len(kernel)
        per_output = _prod(w[1:])  # (C_in / groups) · k_h · k_w
        if "transpose" in op:  # weight (C_in, C_out / groups, k...): each input pixel scatters
            c_in, macs = w[0], x.numel() * per_output
        else:
            c_in, macs = w[1] * groups, out.numel() * per_output
        size = "×".join(map(str, kernel))
        if groups == 1:
            kind = f"conv {size}"
        elif groups == c_in:
            kind = f"depthwise {size}"
        else:
            kind = f"grouped {size}"
        row = self._record(op, kind, inputs, [out], macs=macs, kernel=kernel, stride=stride,
                           groups=groups)
        self._remember_producer(out, row, has_bias=bias is not None)

    def _linear(self, op, args, inputs, out):
        if op == "addmm":  # addmm(bias, x, weight_t)
            x, k = args[1], args[1].shape[-1]
            inputs = [x] + [t for t in inputs if t is not x]
        else:
            x = args[0]
            k = x.shape[-1]
        row = self._record(op, "linear", inputs, [out], macs=out.numel() * k)
        self._remember_producer(out, row, has_bias=op == "addmm" or (op == "linear" and len(inputs) > 2))

    def _remember_producer(self, out, row, has_bias):
        if self.bn == "fold":
            self.producers[id(out)] = (weakref.ref(out), row, has_bias)

    def _batchnorm(self, op, inputs, out):
        x = inputs[0]
        if self.bn == "fold":
            entry = self.producers.pop(id(x), None)
            if entry is not None and entry[0]() is x:  # BN directly after a conv or linear
                _, conv_row, has_bias = entry
                conv_row[_PARAMS] += self._claim_params(inputs)  # γ and β
                if not has_bias:  # the folded conv gains a bias of C_out elements
                    c_out = x.shape[1]
                    conv_row[_READ] += c_out * x.element_size()
                    conv_row[_ELEMS] += c_out
                self._remember_producer(out, conv_row, has_bias=True)
                return
        self._record(op, "batchnorm", inputs, [out], ops=2 * x.numel(), keep=self.bn != "ignore")

    def _pool(self, op, category, args, kwargs, inputs, outputs):
        x, out = inputs[0], outputs[0]
        spatial_in, spatial_out = tuple(x.shape[2:]), tuple(out.shape[2:])
        if category == "pool":
            kernel = args[1] if len(args) > 1 else kwargs["kernel_size"]
            stride = args[2] if len(args) > 2 else kwargs.get("stride")
            dims = len(spatial_out) or 1
            kernel = tuple(kernel) if isinstance(kernel, (tuple, list)) else (kernel,) * dims
            if not stride:
                stride = kernel
            stride = tuple(stride) if isinstance(stride, (tuple, list)) else (stride,) * dims
            ops = out.numel() * _prod(kernel)
        else:  # adaptive pooling, mean/sum: one op per input element, no stride
            stride = None
            if op.startswith("adaptive") and all(o and i % o == 0 for i, o in zip(spatial_in, spatial_out)):
                kernel = tuple(i // o for i, o in zip(spatial_in, spatial_out))
            else:
                kernel = None
            ops = x.numel()
        self._record(op, "pool", inputs, outputs, ops=ops, kernel=kernel, stride=stride)


def _classify(func) -> tuple[str, str]:
    op = getattr(func, "__name__", None) or repr(func)
    return op, "ignored" if op in _IGNORED else _CATEGORY.get(op, "unknown")


# PyTorch's meta kernels for convolution, batch_norm, most activations, broadcasting element-wise
# ops, linear and adaptive pooling are Python functions (decompositions, shape checks), 5-1000x
# slower than making an empty meta tensor. Their output shape is plain arithmetic on the input
# shapes, so the counter makes the output tensor itself. Anything unusual (an ``out=`` argument,
# a non-meta tensor, shapes that do not fit, a non-float result) returns None: the op then runs,
# and raises PyTorch's own errors. The registry test checks every module's output shape against
# a real forward pass.
_UNARY_SHORTCUTS = {  # function -> position of its ``inplace`` argument (None: has none)
    F.batch_norm: None, F.relu: 1, F.relu6: 1, F.hardtanh: 3, F.hardswish: 1, F.hardsigmoid: 1,
    F.silu: 1, F.mish: 1, torch.relu: None, torch.Tensor.relu: None, torch.sigmoid: None,
    torch.Tensor.sigmoid: None, torch.tanh: None, torch.Tensor.tanh: None,
}
_BINARY_SHORTCUTS = {"add", "sub", "mul", "div", "true_divide", "__add__", "__radd__", "__sub__",
                     "__rsub__", "rsub", "__mul__", "__rmul__", "__truediv__", "__rtruediv__"}
_INPLACE_BINARY_SHORTCUTS = {"add_", "sub_", "mul_", "div_", "__iadd__", "__isub__", "__imul__",
                             "__itruediv__"}


def _shortcut(func, op, args, kwargs):
    """The output of ``func(*args, **kwargs)`` made without running it, or None to run it."""
    if "out" in kwargs or not args or not isinstance(args[0], torch.Tensor) or not args[0].is_meta:
        return None
    try:
        inplace_arg = _UNARY_SHORTCUTS[func]
    except (KeyError, TypeError):
        inplace_arg = False
    if inplace_arg is not False:
        return _unary_output(func, inplace_arg, args, kwargs)
    if op in _BINARY_SHORTCUTS or op in _INPLACE_BINARY_SHORTCUTS:
        return _binary_output(op, args, kwargs)
    if func is F.conv2d or func is F.conv1d or func is F.conv3d:
        return _conv_output(args, kwargs)
    if func is F.linear:
        return _linear_output(args, kwargs)
    if func is F.adaptive_avg_pool2d:
        return _adaptive_pool_output(args, kwargs)
    return None


def _unary_output(func, inplace_arg, args, kwargs):
    x = args[0]
    if func is F.batch_norm:
        weight = args[3] if len(args) > 3 else kwargs.get("weight")
        if x.dim() < 2 or (weight is not None and weight.shape[0] != x.shape[1]):
            return None
    if inplace_arg is None or len(args) <= inplace_arg:
        inplace = kwargs.get("inplace", False)
    else:
        inplace = args[inplace_arg]
    return x if inplace else torch.empty(x.shape, dtype=x.dtype, device=_META)


def _binary_output(op, args, kwargs):
    if len(args) != 2 or any(k not in ("alpha", "rounding_mode") for k in kwargs):
        return None
    a, b = args
    if isinstance(b, torch.Tensor):
        if not b.is_meta:
            return None
        shape = _broadcast(tuple(a.shape), tuple(b.shape))
    elif isinstance(b, (int, float, bool)):
        shape = tuple(a.shape)
    else:
        return None
    dtype = torch.result_type(a, b)
    if shape is None or not dtype.is_floating_point:
        return None
    if op in _INPLACE_BINARY_SHORTCUTS:
        return a if shape == tuple(a.shape) and dtype == a.dtype else None
    return torch.empty(shape, dtype=dtype, device=_META)


def _conv_output(args, kwargs):
    """Output of conv{1,2,3}d called as nn.Conv*d calls it (all seven arguments, numeric
    padding): H_out = ⌊(H + 2·padding − dilation·(k − 1) − 1) / stride⌋ + 1 (PyTorch's Conv2d docs).
    """
    if kwargs or len(args) != 7:
        return None
    x, weight, bias, stride, padding, dilation, groups = args
    dims = weight.dim() - 2
    if (isinstance(padding, str) or not isinstance(weight, torch.Tensor) or not weight.is_meta
            or x.dim() != dims + 2 or x.shape[1] != weight.shape[1] * groups
            or weight.shape[0] % groups or (bias is not None and tuple(bias.shape) != (weight.shape[0],))):
        return None
    size = []
    for i in range(dims):
        s = stride[i] if isinstance(stride, (tuple, list)) else stride
        p = padding[i] if isinstance(padding, (tuple, list)) else padding
        d = dilation[i] if isinstance(dilation, (tuple, list)) else dilation
        out = (x.shape[2 + i] + 2 * p - d * (weight.shape[2 + i] - 1) - 1) // s + 1
        if out <= 0:
            return None  # let conv raise "kernel size can't be greater than actual input size"
        size.append(out)
    return torch.empty((x.shape[0], weight.shape[0], *size), dtype=x.dtype, device=_META)


def _linear_output(args, kwargs):
    x = args[0]
    weight = args[1] if len(args) > 1 else kwargs.get("weight")
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2 or x.dim() < 1 \
            or x.shape[-1] != weight.shape[1]:
        return None
    return torch.empty((*x.shape[:-1], weight.shape[0]), dtype=x.dtype, device=_META)


def _adaptive_pool_output(args, kwargs):
    x = args[0]
    size = args[1] if len(args) > 1 else kwargs.get("output_size")
    size = (size, size) if isinstance(size, int) else tuple(size)
    if x.dim() not in (3, 4) or len(size) != 2:
        return None
    size = tuple(x.shape[-2 + i] if s is None else s for i, s in enumerate(size))
    if not all(isinstance(s, int) and s > 0 for s in size):
        return None
    return torch.empty((*x.shape[:-2], *size), dtype=x.dtype, device=_META)


def _broadcast(a: tuple, b: tuple):
    """NumPy broadcasting of two shapes; None if they do not broadcast."""
    if a == b:
        return a
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for i, j in zip(a, b):
        if i == j or j == 1:
            out.append(i)
        elif i == 1:
            out.append(j)
        else:
            return None
    return tuple(out)


def _tensors(args, kwargs) -> list[torch.Tensor]:
    """The distinct tensors among the arguments (one level into lists, for cat and stack)."""
    found: list[torch.Tensor] = []
    for value in (*args, *kwargs.values()) if kwargs else args:
        if isinstance(value, torch.Tensor):
            if not _is_input(value, found):
                found.append(value)
        elif isinstance(value, (list, tuple)) and value and isinstance(value[0], torch.Tensor):
            for item in value:
                if isinstance(item, torch.Tensor) and not _is_input(item, found):
                    found.append(item)
    return found


def _is_input(tensor, inputs) -> bool:
    for t in inputs:
        if t is tensor:
            return True
    return False


def _frame(records: list[list]) -> pd.DataFrame:
    """Build ``Report.layers`` from the recorded rows, deriving flops and intensity."""
    columns = dict(zip(_RECORDED, zip(*records))) if records else dict.fromkeys(_RECORDED, ())
    data = {}
    for name, values in columns.items():
        if name in ("params", "macs", "ops", "bytes_read", "bytes_written", "mac_elems"):
            data[name] = np.array(values, dtype=np.int64)
        elif name == "groups":
            data[name] = pd.array(values, dtype="Int64")
        else:  # strings and shape tuples; filled one by one so numpy keeps tuples whole
            data[name] = np.empty(len(values), dtype=object)
            for i, value in enumerate(values):
                data[name][i] = value
    data["flops"] = 2 * data["macs"]
    moved = data["bytes_read"] + data["bytes_written"]
    with np.errstate(divide="ignore", invalid="ignore"):
        data["intensity"] = np.where(moved > 0, data["flops"] / np.maximum(moved, 1), np.nan)
    return pd.DataFrame({name: data[name] for name in COLUMNS}, copy=False)


def _meta_state(model: nn.Module, dtype: torch.dtype):
    """Meta copies of the model's parameters and buffers, for ``functional_call``.

    Returns ``(names, meta, param_numel, buffer_ids)``: qualified module names by ``id``, the
    ``{name: meta copy}`` dict, the element count of each parameter copy by ``id`` and the ``id``
    of each buffer copy. A tensor gets one copy under every name it has (a weight tied between
    two modules stays one tensor). Each module is visited once: a module registered under two
    names must be swapped once, or functional_call would restore it wrongly.
    """
    names: dict[int, str] = {}
    meta: dict[str, torch.Tensor] = {}
    copies: dict[int, torch.Tensor] = {}  # id of the real tensor -> its copy
    param_numel: dict[int, int] = {}
    for module_name, module in model.named_modules():
        names[id(module)] = module_name
        for name, t in module.named_parameters(module_name, recurse=False, remove_duplicate=False):
            if id(t) not in copies:
                copy = copies[id(t)] = _meta_copy(t, dtype)
                param_numel[id(copy)] = t.numel()
            meta[name] = copies[id(t)]
        for name, t in module.named_buffers(module_name, recurse=False, remove_duplicate=False):
            if id(t) not in copies:
                copies[id(t)] = _meta_copy(t, dtype)
            meta[name] = copies[id(t)]
    buffer_ids = {id(t) for t in copies.values()} - param_numel.keys()
    return names, meta, param_numel, buffer_ids


def _meta_copy(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.empty(tensor.shape, dtype=dtype if tensor.is_floating_point() else tensor.dtype,
                       device="meta")


def _check_switch(argument: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{argument} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def _prod(values) -> int:
    result = 1
    for v in values:
        result *= v
    return result
