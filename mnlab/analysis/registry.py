"""The op registry: which handler counts each torch function the counter meets.

Ops are named as the counter sees them, ``func.__name__`` (``conv2d``, ``matmul``, ``lstm``,
``__rmatmul__``, …): the names ``Report.unknown_ops`` lists. Every name maps to a handler, ``handler(call) -> Count`` (see :mod:`mnlab.analysis.ops`
for the non-MAC kinds and :mod:`mnlab.analysis.products` for convolutions and matrix products);
a name the table lacks is counted as "unknown", never silently as zero.

Adding an op, in the spirit of fvcore's ``set_op_handle``::

    from mnlab.analysis import Count, register_op

    def cumsum(call):  # one add per output element
        return Count("elementwise", ops=call.out.numel())

    register_op("cumsum", cumsum, params=("input", "dim"))

``params`` names the op's positional parameters in order, so that ``call.arg("dim")`` finds the
argument whether it was passed by position or by keyword. ``register_op(name, None)`` makes the
counter ignore an op (no row); :func:`unregister_op` restores the built-in entry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from mnlab.analysis import ops, products, shapes
from mnlab.analysis.ops import Count, OpCall

Handler = Callable[[OpCall], Count]


@dataclass(frozen=True)
class OpSpec:
    """One registry entry: the handler of op ``name`` (None: ignored), its parameter names in
    order, the parameter that is the row's input (None: the first tensor argument), an optional
    output-shape shortcut (:mod:`mnlab.analysis.shapes`) and whether the op makes a tensor from
    nothing (then made on the meta device)."""

    name: str
    handler: Handler | None
    params: tuple[str, ...] = ("input",)
    primary: str | None = None
    shortcut: shapes.Shortcut | None = None
    factory: bool = False
    positions: dict[str, int] = field(init=False, repr=False, compare=False)
    input: str | None = field(init=False, repr=False, compare=False)  # primary, else the first parameter

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", {p: i for i, p in enumerate(self.params)})
        object.__setattr__(self, "input", self.primary or (self.params[0] if self.params else None))


def _defaults() -> dict[str, OpSpec]:
    table = {name: OpSpec(name, handler, params) for name, (handler, params) in ops.table().items()}
    table.update({name: OpSpec(name, handler, params, primary)
                  for name, (handler, params, primary) in products.table().items()})
    table.update({name: OpSpec(name, None) for name in ops.IGNORED})
    shortcuts = {name: shapes.unary_output for name in (*ops.ACTIVATIONS, "batch_norm")}
    shortcuts.update(dict.fromkeys((*shapes.BINARY, *shapes.INPLACE_BINARY), shapes.binary_output))
    shortcuts.update({"conv1d": shapes.conv_output, "conv2d": shapes.conv_output,
                      "conv3d": shapes.conv_output, "linear": shapes.linear_output,
                      "adaptive_avg_pool2d": shapes.adaptive_pool_output})
    for name, shortcut in shortcuts.items():
        spec = table[name]
        table[name] = OpSpec(name, spec.handler, spec.params, spec.primary, shortcut)
    for name in ops.FACTORIES:
        table[name] = OpSpec(name, table[name].handler, factory=True)
    return table


_DEFAULTS = _defaults()
_TABLE = dict(_DEFAULTS)


def register_op(name: str, handler: Handler | None, params: Sequence[str] = ("input",), *,
                primary: str | None = None) -> None:
    """Count op ``name`` with ``handler`` from now on (None: ignore the op); see the module docstring.

    ``params``: the op's parameter names in order; ``primary``: the parameter whose tensor is the
    row's ``input_shape`` (default: the first tensor argument).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be an op name such as 'cumsum' (func.__name__), got {name!r}")
    if handler is not None and not callable(handler):
        raise ValueError(f"handler must be a function call -> Count, or None to ignore {name!r}, "
                         f"got {handler!r}")
    if isinstance(params, str) or not all(isinstance(p, str) for p in params):
        raise ValueError(f"params must be a tuple of parameter names, got {params!r}")
    if primary is not None and primary not in params:
        raise ValueError(f"primary must be one of params {tuple(params)}, got {primary!r}")
    _TABLE[name] = OpSpec(name, handler, tuple(params), primary, factory=name in ops.FACTORIES)


def unregister_op(name: str) -> None:
    """Undo :func:`register_op`: the built-in entry of ``name`` again, or none (unknown op)."""
    if name in _DEFAULTS:
        _TABLE[name] = _DEFAULTS[name]
    else:
        _TABLE.pop(name, None)


def lookup(func: Callable[..., Any]) -> OpSpec:
    """The registry entry of a torch function (an "unknown" entry if it has none)."""
    name = getattr(func, "__name__", None) or repr(func)
    spec = _TABLE.get(name)
    return spec if spec is not None else OpSpec(name, ops.unknown, ())
