"""The counting engine: one forward pass on meta tensors, one :class:`~mnlab.analysis.report.Row`
per op, attributed to the innermost module running it.

``torch.func.functional_call`` runs the model with every parameter and buffer replaced by a meta
copy, inside a :class:`~mnlab.analysis.sandbox.Sandbox` that puts back anything the forward pass
changes. A ``TorchFunctionMode`` sees every torch function the forward calls and asks the op
registry (:mod:`mnlab.analysis.registry`) how to count it; global module pre/post hooks keep
the stack of running modules. See :mod:`mnlab.analysis.counting` for the conventions.
"""
from __future__ import annotations

import re
import weakref
from typing import Any

import torch
from torch import nn
from torch.nn.modules import module as module_hooks
from torch.overrides import TorchFunctionMode

from mnlab.analysis import registry
from mnlab.analysis.inputs import InputShape, check_module, resolve_input_shape
from mnlab.analysis.liveness import LiveBytes
from mnlab.analysis.ops import OpCall
from mnlab.analysis.report import Report, Row, frame
from mnlab.analysis.sandbox import Sandbox, meta_state

BN_MODES = ("count", "fold", "ignore")
SWITCH_MODES = ("count", "ignore")
_CPU, _META = torch.device("cpu"), torch.device("meta")
_SWITCHED = {"batchnorm": "bn", "activation": "activations", "elementwise": "elementwise"}


class HandlerError(RuntimeError):
    """A handler of the op registry failed: a fault of the counter, not of the model."""


def analyze(model: nn.Module, input_shape: InputShape, *, dtype: torch.dtype = torch.float32,
            bn: str = "count", activations: str = "count", elementwise: str = "count") -> Report:
    """Count ``model`` on an input of ``input_shape``: every op, per layer and in total.

    ``input_shape`` is a resolution ``r`` (an input of (1, C, r, r), C the input channels of the
    first conv or linear layer, or 3) or a 4-tuple (N, C, H, W). ``dtype`` sets the element
    size for bytes (parameters, buffers and activations are all taken as ``dtype``). ``bn``
    ("count" | "fold" | "ignore"), ``activations`` and ``elementwise`` ("count" | "ignore")
    choose how those ops appear (see ``mnlab.analysis.counting``). The model is left exactly as
    it was: it runs on meta copies of its parameters and buffers, its user forward hooks are
    suspended, and whatever the forward pass assigns to the model is undone.

    Raises ``ValueError`` for a non-module, a model that runs TorchScript, a bad switch or a
    bad ``input_shape`` (also one an op of the model rejects, such as a resolution too small for
    a convolution). An exception the model's own code raises is re-raised as the model's error
    (``ValueError`` for a ``ValueError`` or ``TypeError``, else ``RuntimeError``), naming the
    module that raised it and chained to the original. A model that needs real values (``.item()``,
    data-dependent control flow) cannot be counted on meta tensors: ``RuntimeError``.
    """
    check_module(model)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch.dtype such as torch.float32 or "
                         f"torch.float16, got {dtype!r}")
    settings = {"bn": bn, "activations": activations, "elementwise": elementwise}
    for argument, value in settings.items():
        allowed = BN_MODES if argument == "bn" else SWITCH_MODES
        if value not in allowed:
            raise ValueError(f"{argument} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    shape = resolve_input_shape(model, input_shape)
    sandbox = Sandbox(model)  # refuses TorchScript

    names, meta, param_numel, buffer_ids = meta_state(model, dtype)
    counter = Counter(names, param_numel, buffer_ids, settings)
    x = torch.empty(shape, dtype=dtype, device="meta")
    counter.memory.allocate(x, event="input")
    try:
        with sandbox:  # also sets the global hooks back, ours included
            module_hooks.register_module_forward_pre_hook(counter.enter)
            module_hooks.register_module_forward_hook(counter.exit)
            with torch.no_grad(), counter:
                torch.func.functional_call(model, meta, (x,), tie_weights=False)
    except Exception as err:
        explained = _explain(err, counter, model, input_shape, shape)
        if explained is None:
            raise
        raise explained from err
    finally:
        counter.memory.close()
    return _report(counter, shape, dtype, settings, x.numel() * x.element_size())


def _report(counter: "Counter", shape, dtype, settings, input_bytes: int) -> Report:
    rows = counter.rows
    macs = sum(row.macs for row in rows)
    totals = {
        "params": sum(counter.param_numel.values()),  # = sum(p.numel() for p in model.parameters())
        "params_unused": sum(n for i, n in counter.param_numel.items() if i not in counter.seen_params),
        "macs": macs,
        "flops": 2 * macs,
        "ops": sum(row.ops for row in rows),
        "bytes_read": sum(row.bytes_read for row in rows),
        "bytes_written": sum(row.bytes_written for row in rows),
        "memory_access_elems": sum(row.memory_access_elems for row in rows),
        "peak_activation_bytes": counter.memory.peak,
        "input_bytes": input_bytes,
        "unknown_ops": sum(row.kind == "unknown" for row in rows),
    }
    if max(totals.values()) >= 2 ** 63:  # the table's int64 columns could not hold them
        raise ValueError(f"input_shape {shape} is too large to count: its totals exceed 2**63")
    unknown = list(dict.fromkeys(row.op for row in rows if row.kind == "unknown"))
    return Report(layers=frame(rows), totals=totals, input_shape=shape, dtype=dtype,
                  settings=settings, unknown_ops=unknown, module_outputs=counter.module_outputs,
                  memory_events=counter.memory.events)


def _explain(err: Exception, counter: "Counter", model: nn.Module, input_shape, shape):
    """The exception ``analyze`` raises for ``err`` (None: re-raise ``err`` itself)."""
    if isinstance(err, HandlerError):
        return None
    reason = " ".join(str(err).split())
    shown = f"{input_shape!r} (an input of shape {shape})" if not isinstance(input_shape, tuple) \
        else repr(input_shape)
    failure = counter.failure
    if failure is not None and failure[2] is err:  # an op rejected its arguments
        op, where = failure[0], _where(model, failure[1])
        if isinstance(err, NotImplementedError) or re.search(r"\bmeta\b", reason):
            return RuntimeError(f"{type(model).__name__} cannot be counted on meta tensors: {op} in "
                                f"{where} needs real values or a real device ({reason})")
        return ValueError(f"input_shape {shown} cannot be run through {type(model).__name__}: {op} "
                          f"in {where} failed ({type(err).__name__}: {reason}); give an (N, C, H, W) "
                          "shape or resolution the model accepts")
    where = _where(model, counter.stack[-1] if counter.stack else None)
    kind = ValueError if isinstance(err, (ValueError, TypeError)) else RuntimeError
    return kind(f"{type(model).__name__} raised {type(err).__name__} in {where} at input_shape "
                f"{shown}: {reason}")


def _where(model: nn.Module, name: str | None) -> str:
    if not name:
        return f"its own forward ({type(model).__name__})"
    module = dict(model.named_modules()).get(name)
    return f"module {name!r} ({type(module).__name__})"


class Counter(TorchFunctionMode):
    """Records one :class:`~mnlab.analysis.report.Row` per tensor op run inside the model.

    Module attribution: global forward pre/post hooks keep a stack of the qualified names of the
    modules currently running; an op belongs to the top of the stack. ``failure`` is
    ``(op, module name, exception)`` of the last op that raised, so that ``analyze`` can tell a
    bad input (an op refused it) from the model's own error.
    """

    def __init__(self, names: dict[int, str], param_numel: dict[int, int], buffer_ids: set[int],
                 settings: dict[str, str]) -> None:
        super().__init__()
        self.names, self.param_numel, self.buffer_ids = names, param_numel, buffer_ids
        self.bn = settings["bn"]
        self.ignored = {kind for kind, switch in _SWITCHED.items() if settings[switch] == "ignore"}
        self.seen_params: set[int] = set()
        self.stack: list[str] = []
        self.rows: list[Row] = []
        self.module_outputs: dict[str, tuple[int, ...]] = {}
        self.memory = LiveBytes()
        self.step = -1
        self.producers: dict[int, tuple] = {}  # id of a conv/linear output -> (weakref, row, has bias)
        self.specs: dict = {}  # func -> registry entry, cached per function object
        self.failure: tuple | None = None

    # -- module attribution ---------------------------------------------------------------
    def enter(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        name = self.names.get(id(module))
        self.stack.append(name if name is not None else (self.stack[-1] if self.stack else ""))

    def exit(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        name = self.stack.pop()
        if isinstance(output, torch.Tensor) and id(module) in self.names:
            self.module_outputs[name] = tuple(output.shape)

    # -- op capture ---------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if kwargs is None:
            kwargs = {}
        if not self.stack:  # not inside the model (functional_call's own bookkeeping)
            return func(*args, **kwargs)
        try:
            spec = self.specs[func]
        except KeyError:
            spec = self.specs[func] = registry.lookup(func)
        except TypeError:  # an unhashable callable
            spec = registry.lookup(func)
        if spec.factory and kwargs.get("device") in (None, "cpu", _CPU):
            kwargs = {**kwargs, "device": _META}
        try:
            out = spec.shortcut(func, spec.name, args, kwargs) if spec.shortcut is not None else None
            if out is None:
                out = func(*args, **kwargs)
        except Exception as err:
            self.failure = (spec.name, self.stack[-1], err)
            raise
        if spec.handler is None:
            return out
        outputs = _tensor_outputs(out)
        if not outputs:
            return out  # size(), dim(), item(), ...: queries, not ops
        inputs = _tensors(args, kwargs)
        if inputs and out is inputs[0] and id(out) in self.buffer_ids:
            return out  # in-place update of a buffer (BN's num_batches_tracked): bookkeeping

        self.step += 1
        memory = self.memory
        memory.step, memory.name, memory.op = self.step, self.stack[-1], spec.name
        self._track_allocations(inputs, outputs)
        call = OpCall(spec.name, args, kwargs, spec.positions, inputs, outputs)
        try:
            count = spec.handler(call)
        except Exception as err:
            raise HandlerError(f"the counting handler of op {spec.name!r} failed on input shapes "
                               f"{[tuple(t.shape) for t in inputs]}: {type(err).__name__}: {err}") from err
        self._add(spec, call, count)
        return out

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

    def _add(self, spec, call: OpCall, count) -> None:
        """Record a row for ``count`` (or fold it into the conv before it, or drop it)."""
        if count.kind == "batchnorm" and self.bn == "fold" and self._fold(call):
            return
        params = self._claim_params(call.inputs)
        if count.kind in self.ignored:
            return
        inputs, outputs = call.inputs, call.outputs
        read = written = read_elems = written_elems = 0
        if count.moves_bytes:
            for t in inputs:
                n = t.numel()
                read_elems += n
                read += n * t.element_size()
            for o in outputs:
                n = o.numel()
                written_elems += n
                written += n * o.element_size()
        first = call.arg(spec.input) if spec.input else None
        if first is None or first.__class__ is not torch.Tensor and not isinstance(first, torch.Tensor):
            first = inputs[0] if inputs else None
        row = Row(self.stack[-1], spec.name, count.kind, tuple(first.shape) if first is not None else (),
                  tuple(outputs[0].shape), count.kernel, count.stride, count.groups, params,
                  count.macs, count.ops, read, written, read_elems + written_elems)
        self.rows.append(row)
        if count.bias is not None and self.bn == "fold":
            out = outputs[0]
            self.producers[id(out)] = (weakref.ref(out), row, count.bias)

    def _fold(self, call: OpCall) -> bool:
        """Fold a BatchNorm into the conv or linear layer whose output it normalizes, if any:
        γ and β join that row's parameters, and a conv without bias now reads one (C_out)."""
        x = call.arg("input")
        entry = self.producers.pop(id(x), None)
        if entry is None or entry[0]() is not x:
            return False
        _, row, has_bias = entry
        row.params += self._claim_params(call.inputs)
        if not has_bias:
            c_out = x.shape[1]
            row.bytes_read += c_out * x.element_size()
            row.memory_access_elems += c_out
        out = call.out
        self.producers[id(out)] = (weakref.ref(out), row, True)
        return True

    def _claim_params(self, inputs) -> int:
        """Parameters among ``inputs`` not read by an earlier op (shared weights count once)."""
        params = 0
        for t in inputs:
            key = id(t)
            if key in self.param_numel and key not in self.seen_params:
                self.seen_params.add(key)
                params += self.param_numel[key]
        return params


def _tensor_outputs(out) -> list[torch.Tensor]:
    """The tensors an op returned: one, or those of a (nested) tuple such as LSTM's
    ``(output, (h, c))`` or attention's ``(output, None)``."""
    if isinstance(out, torch.Tensor):
        return [out]
    if not isinstance(out, (tuple, list)):
        return []
    found = []
    for o in out:
        if isinstance(o, torch.Tensor):
            found.append(o)
        elif isinstance(o, (tuple, list)):
            found.extend(t for t in o if isinstance(t, torch.Tensor))
    return found


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
