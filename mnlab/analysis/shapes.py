"""Output shapes the counter computes itself instead of running an op on meta tensors.

PyTorch's meta kernels for convolution, batch_norm, most activations, broadcasting element-wise
ops, linear and adaptive pooling are Python functions (decompositions, shape checks), 5-1000x
slower than making an empty meta tensor. Their output shape is plain arithmetic on the input
shapes, so the counter makes the output tensor itself. Anything unusual (an ``out=`` argument,
a non-meta tensor, shapes that do not fit, a non-float result) returns None: the op then runs,
and raises PyTorch's own errors. The registry test checks every module's output shape against
a real forward pass.

Each function here takes ``(func, op, args, kwargs)`` and returns the output tensor (empty, on
the meta device) or None. :mod:`mnlab.analysis.registry` attaches them to op names.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch.nn import functional as F

META = torch.device("meta")
_CONVS = (F.conv1d, F.conv2d, F.conv3d)

#: ``(func, op name, args, kwargs) -> output or None``: the signature of every shortcut here.
Shortcut = Callable[[Callable[..., Any], str, tuple[Any, ...], dict[str, Any]], "torch.Tensor | None"]


def _meta_input(args, kwargs) -> bool:
    """The call is one a shortcut may answer: positional, first argument a meta tensor, no ``out=``."""
    return bool(args) and "out" not in kwargs and isinstance(args[0], torch.Tensor) and args[0].is_meta


_UNARY = {  # function -> position of its ``inplace`` argument (None: has none)
    F.batch_norm: None, F.relu: 1, F.relu6: 1, F.hardtanh: 3, F.hardswish: 1, F.hardsigmoid: 1,
    F.silu: 1, F.mish: 1, torch.relu: None, torch.Tensor.relu: None, torch.sigmoid: None,
    torch.Tensor.sigmoid: None, torch.tanh: None, torch.Tensor.tanh: None,
}
BINARY = ("add", "sub", "mul", "div", "true_divide", "__add__", "__radd__", "__sub__", "__rsub__",
          "rsub", "__mul__", "__rmul__", "__truediv__", "__rtruediv__")
INPLACE_BINARY = ("add_", "sub_", "mul_", "div_", "__iadd__", "__isub__", "__imul__", "__itruediv__")


def unary_output(func: Callable[..., Any], op: str, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> torch.Tensor | None:
    """Activations and batch_norm: the input's shape, or the input itself when in place."""
    try:
        inplace_arg = _UNARY[func]
    except (KeyError, TypeError):  # another function of that name; TypeError: unhashable
        return None
    if not _meta_input(args, kwargs):
        return None
    x = args[0]
    if func is F.batch_norm:
        weight = args[3] if len(args) > 3 else kwargs.get("weight")
        if x.dim() < 2 or (weight is not None and weight.shape[0] != x.shape[1]):
            return None
    if inplace_arg is None or len(args) <= inplace_arg:
        inplace = kwargs.get("inplace", False)
    else:
        inplace = args[inplace_arg]
    return x if inplace else torch.empty(x.shape, dtype=x.dtype, device=META)


def binary_output(func: Callable[..., Any], op: str, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> torch.Tensor | None:
    """Broadcasting add/sub/mul/div of two meta tensors or a tensor and a Python number."""
    if len(args) != 2 or not _meta_input(args, kwargs) or any(k not in ("alpha", "rounding_mode") for k in kwargs):
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
    if op in INPLACE_BINARY:
        return a if shape == tuple(a.shape) and dtype == a.dtype else None
    return torch.empty(shape, dtype=dtype, device=META)


def conv_output(func: Callable[..., Any], op: str, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> torch.Tensor | None:
    """Output of conv{1,2,3}d called as nn.Conv*d calls it (all seven arguments, numeric
    padding): H_out = ⌊(H + 2·padding − dilation·(k − 1) − 1) / stride⌋ + 1 (PyTorch's Conv2d docs).
    """
    if kwargs or len(args) != 7 or func not in _CONVS or not _meta_input(args, kwargs):
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
    return torch.empty((x.shape[0], weight.shape[0], *size), dtype=x.dtype, device=META)


def linear_output(func: Callable[..., Any], op: str, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> torch.Tensor | None:
    """F.linear: (*, in) → (*, out)."""
    if func is not F.linear or not _meta_input(args, kwargs):
        return None
    x = args[0]
    weight = args[1] if len(args) > 1 else kwargs.get("weight")
    if (not isinstance(weight, torch.Tensor) or not weight.is_meta or weight.dim() != 2 or x.dim() < 1
            or x.shape[-1] != weight.shape[1]):
        return None
    return torch.empty((*x.shape[:-1], weight.shape[0]), dtype=x.dtype, device=META)


def adaptive_pool_output(func: Callable[..., Any], op: str, args: tuple[Any, ...],
                         kwargs: dict[str, Any]) -> torch.Tensor | None:
    """F.adaptive_avg_pool2d: the spatial size becomes ``output_size`` (None keeps a side)."""
    if func is not F.adaptive_avg_pool2d or not _meta_input(args, kwargs):
        return None
    x = args[0]
    size: Any = args[1] if len(args) > 1 else kwargs.get("output_size")  # an int or a pair
    size = (size, size) if isinstance(size, int) else tuple(size)
    if x.dim() not in (3, 4) or len(size) != 2:
        return None
    size = tuple(x.shape[-2 + i] if s is None else s for i, s in enumerate(size))
    if not all(isinstance(s, int) and s > 0 for s in size):
        return None
    return torch.empty((*x.shape[:-2], *size), dtype=x.dtype, device=META)


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
