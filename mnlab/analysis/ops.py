"""What an op handler sees and returns, and the handlers of the ops that carry no MACs.

A handler is a function ``handler(call: OpCall) -> Count``: it reads the op's arguments and
its input and output tensors (all on the meta device: shapes and dtypes, no values) and
returns the row's kind and counts. :mod:`mnlab.analysis.products` holds the handlers of the ops
that carry multiply-accumulates (convolutions, matrix products, attention, recurrent layers);
:mod:`mnlab.analysis.registry` maps op names to handlers and lets users add their own.

The kinds defined here, and what their ``ops`` column counts (element operations; never MACs):

=============  ==========================================================================
kind           ``ops``
=============  ==========================================================================
batchnorm      2 per element (the inference form y = a·x + b)
normalization  layer/group/instance/RMS norm: 5 per element with an affine transform, 4
               without (mean, variance, normalize[, scale and shift]; fvcore's rule)
activation     1 per output element (ReLU, ReLU6, h-swish, h-sigmoid, sigmoid, SiLU, …)
pool           1 per input element in each window (k_h·k_w per output; global pool: input size)
interpolate    per output element, the input values it weighs: 1 nearest, 2 linear, 4
               bilinear, 8 trilinear, 16 bicubic; ``area`` mode: 1 per input element
elementwise    1 per output element (add, sub, mul, div, … — residual adds, SE rescaling)
shape          0 (flatten, view, cat, dropout, …); views move no bytes, copies (cat) do
unknown        the output element count, as a visible stand-in: see ``Report.unknown_ops``
=============  ==========================================================================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import torch


@dataclass(slots=True)
class Count:
    """What a handler reports for one op: its ``kind`` and counts.

    ``macs``: multiply-accumulates (convolutions and matrix products only); ``ops``: element
    operations of every other kind (see the module docstring). ``kernel``, ``stride`` (tuples)
    and ``groups`` describe convolutions and pools. ``bias`` is set only by the ops a following
    BatchNorm can fold into (convolutions, linear layers): whether they have a bias already.
    ``moves_bytes=False`` marks an op that only re-views its input (no bytes read or written).
    """

    kind: str
    macs: int = 0
    ops: int = 0
    kernel: tuple | None = None
    stride: tuple | None = None
    groups: int | None = None
    bias: bool | None = None
    moves_bytes: bool = True


class OpCall:
    """One call of a torch function, as a handler sees it.

    ``op`` is the function's name (``func.__name__``: ``conv2d``, ``matmul``, ``__rmatmul__``,
    ``lstm``, …); ``inputs`` are the distinct tensors among the arguments (one level into lists)
    and ``outputs`` the tensors it returned, all on the meta device. :meth:`arg` reads an
    argument by name, whether it was passed by position or by keyword, using the parameter
    names the op was registered with.
    """

    __slots__ = ("op", "args", "kwargs", "positions", "inputs", "outputs")

    def __init__(self, op: str, args: tuple[Any, ...], kwargs: dict[str, Any], positions: dict[str, int],
                 inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> None:
        self.op, self.args, self.kwargs, self.positions = op, args, kwargs, positions
        self.inputs, self.outputs = inputs, outputs

    def arg(self, name: str, default: Any = None) -> Any:
        """The argument called ``name`` (by position or keyword), else ``default``."""
        i = self.positions.get(name)
        if i is not None and i < len(self.args):
            return self.args[i]
        if name in self.kwargs:
            return self.kwargs[name]
        if i == 0 and "self" in self.kwargs:  # Tensor methods call their first argument self
            return self.kwargs["self"]
        return default

    @property
    def out(self) -> torch.Tensor:
        """The first output tensor."""
        return self.outputs[0]


def prod(values: Iterable[int]) -> int:
    result = 1
    for v in values:
        result *= v
    return result


def as_tuple(value: int | tuple[int, ...] | list[int], dims: int) -> tuple[int, ...]:
    """A kernel/stride argument as a tuple of ``dims`` entries (an int repeats)."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


# ---------------------------------------------------------------------------------- handlers

def activation(call: OpCall) -> Count:
    return Count("activation", ops=call.out.numel())


def elementwise(call: OpCall) -> Count:
    return Count("elementwise", ops=call.out.numel())


def shape(call: OpCall) -> Count:
    """A view moves nothing; a copy (cat, clone, pad) reads and writes."""
    inputs = call.inputs
    moved = any(o._base is None and not any(o is t for t in inputs) for o in call.outputs)
    return Count("shape", moves_bytes=moved)


def batchnorm(call: OpCall) -> Count:
    return Count("batchnorm", ops=2 * call.arg("input").numel())


def normalization(call: OpCall) -> Count:
    affine = call.arg("weight") is not None
    return Count("normalization", ops=(5 if affine else 4) * call.arg("input").numel())


def pool(call: OpCall) -> Count:
    """Windowed pooling: k_h·k_w reads per output element; no stride means stride = kernel."""
    out = call.out
    dims = max(out.dim() - 2, 1)
    kernel = as_tuple(call.arg("kernel_size"), dims)
    stride = call.arg("stride") or kernel
    return Count("pool", ops=out.numel() * prod(kernel), kernel=kernel, stride=as_tuple(stride, dims))


def global_pool(call: OpCall) -> Count:
    """Adaptive pooling and reductions (mean, sum, amax): one op per input element. An adaptive
    pool whose output divides its input has an equivalent fixed kernel, reported as such."""
    x, out = call.arg("input"), call.out
    if not isinstance(x, torch.Tensor):
        x = call.inputs[0]
    kernel = None
    spatial_in, spatial_out = tuple(x.shape[2:]), tuple(out.shape[2:])
    if call.op.startswith("adaptive") and spatial_out and all(
            o and i % o == 0 for i, o in zip(spatial_in, spatial_out)):
        kernel = tuple(i // o for i, o in zip(spatial_in, spatial_out))
    return Count("pool", ops=x.numel(), kernel=kernel)


_INTERPOLATION_POINTS = {"nearest": 1, "nearest-exact": 1, "linear": 2, "bilinear": 4,
                         "bicubic": 16, "trilinear": 8}


def interpolate(call: OpCall) -> Count:
    """F.interpolate / nn.Upsample: the input values each output element weighs."""
    if call.op == "upsample_bilinear":
        mode = "bilinear"
    elif call.op == "upsample_nearest":
        mode = "nearest"
    else:
        mode = call.arg("mode", "nearest")
    if mode == "area":  # an adaptive average pool
        return Count("interpolate", ops=call.arg("input").numel())
    return Count("interpolate", ops=call.out.numel() * _INTERPOLATION_POINTS.get(mode, 1))


def unknown(call: OpCall) -> Count:
    return Count("unknown", ops=sum(o.numel() for o in call.outputs))


# ------------------------------------------------------------------------- names → handlers
# Op names (``func.__name__`` as the counter sees it) and the parameter names of their
# arguments, in order (OpCall.arg looks them up). Shortcuts: see mnlab.analysis.shapes.

ACTIVATIONS = (
    "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "hardswish", "hardswish_", "hardsigmoid",
    "hardsigmoid_", "sigmoid", "sigmoid_", "silu", "silu_", "gelu", "tanh", "tanh_", "softmax",
    "log_softmax", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "celu", "mish", "softplus",
    "clamp", "clamp_", "clamp_min", "clamp_max", "clip", "glu", "prelu", "softsign", "logsigmoid",
)
ELEMENTWISE = (
    "add", "add_", "__add__", "__iadd__", "__radd__", "sub", "sub_", "__sub__", "__isub__",
    "__rsub__", "rsub", "mul", "mul_", "__mul__", "__imul__", "__rmul__", "div", "div_",
    "__truediv__", "__itruediv__", "__rtruediv__", "true_divide", "neg", "__neg__", "reciprocal",
    "exp", "sqrt", "rsqrt", "pow", "__pow__", "abs", "maximum", "minimum", "where", "addcmul",
    "addcdiv", "square", "log", "erf", "masked_fill", "masked_fill_", "kron", "lerp", "_weight_norm",
)
SHAPES = (
    "flatten", "view", "reshape", "permute", "transpose", "t", "squeeze", "unsqueeze", "expand",
    "expand_as", "contiguous", "__getitem__", "chunk", "split", "split_with_sizes", "narrow",
    "select", "unbind", "view_as", "reshape_as", "unflatten", "movedim", "dropout", "dropout_",
    "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "cat",
    "concat", "concatenate", "stack", "clone", "to", "type", "float", "half", "double", "detach",
    "pad", "channel_shuffle", "pixel_shuffle", "pixel_unshuffle", "flip", "roll", "repeat",
    "zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like", "full_like",
    "arange", "tile", "swapaxes", "tensor", "as_tensor", "eye", "linspace", "rand", "randn",
    "randint", "randperm", "logspace", "scalar_tensor", "tril_indices", "triu_indices", "transpose_", "unsqueeze_", "squeeze_", "masked_select",
    "broadcast_to", "tril", "triu", "new_zeros", "new_ones", "new_empty", "new_full",
)
POOLS = ("avg_pool1d", "avg_pool2d", "avg_pool3d", "max_pool1d", "max_pool2d", "max_pool3d",
         "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
         "lp_pool1d", "lp_pool2d")
GLOBAL_POOLS = ("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
                "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
                "mean", "sum", "amax", "amin")
NORMALIZATIONS = {  # name -> parameters, up to the affine weight
    "layer_norm": ("input", "normalized_shape", "weight"),
    "group_norm": ("input", "num_groups", "weight"),
    "instance_norm": ("input", "running_mean", "running_var", "weight"),
    "rms_norm": ("input", "normalized_shape", "weight"),
    "local_response_norm": ("input",),
    "normalize": ("input",),
}
#: Functions that make a tensor from nothing: the counter makes them on the meta device (a
#: forward pass on CPU makes CPU tensors next to CPU activations; here they meet meta ones).
FACTORIES = ("arange", "zeros", "ones", "empty", "full", "rand", "randn", "randint", "randperm",
             "eye", "linspace", "logspace", "tensor", "as_tensor", "scalar_tensor", "tril_indices",
             "triu_indices")
#: Calls that are attribute access or bookkeeping, never rows.
IGNORED = ("__get__", "__set__", "requires_grad_", "detach_")


def table() -> dict[str, tuple]:
    """The non-MAC ops: name -> (handler, parameter names)."""
    entries: dict[str, tuple] = {}
    entries.update({name: (activation, ("input",)) for name in ACTIVATIONS})
    entries.update({name: (elementwise, ("input", "other")) for name in ELEMENTWISE})
    entries.update({name: (shape, ("input",)) for name in SHAPES})
    entries.update({name: (pool, ("input", "kernel_size", "stride")) for name in POOLS})
    entries.update({name: (global_pool, ("input",)) for name in GLOBAL_POOLS})
    entries.update({name: (normalization, params) for name, params in NORMALIZATIONS.items()})
    entries["batch_norm"] = (batchnorm, ("input", "running_mean", "running_var", "weight", "bias"))
    entries["interpolate"] = (interpolate, ("input", "size", "scale_factor", "mode"))
    entries["upsample"] = (interpolate, ("input", "size", "scale_factor", "mode"))
    entries["upsample_nearest"] = entries["upsample_bilinear"] = (interpolate, ("input",))
    return entries
