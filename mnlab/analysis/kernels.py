"""A model as the runtime executes it: ops, and kernels (fused groups of ops).

nn-Meter (Zhang et al. 2021, Sec. 4) predicts a model's latency from the *kernels* a runtime
executes after fusion, not from the ops the framework writes: on ONNX Runtime or TFLite a
convolution, the BatchNorm after it and its activation run as one kernel. This module splits a
counted model (:func:`mnlab.analysis.analyze`) both ways, from the report's rows alone, so it
works on any ``nn.Module`` and never on a model's name:

* :func:`ops` — one :class:`Kernel` per counted op (conv, BatchNorm, activation, add, pool, …):
  what a per-op lookup table sums (nn-Meter's "no fusion" baseline).
* :func:`kernels` (and :func:`fusion`, which lists each kernel's ops) — BatchNorm folded into the conv before it, an activation grouped with the
  conv or linear layer that produced its input, and a squeeze-and-excite block (global pool →
  1×1 → act → 1×1 → gate → rescale) kept as one kernel, as nn-Meter treats it.

Each :class:`Kernel` can be rebuilt as a small module (:func:`build_kernel`) and timed alone on
any backend, and described by the features a regressor learns from (:func:`kernel_features`).
Shape ops (flatten, dropout, views) move no data and are left out.
"""
from __future__ import annotations

from dataclasses import astuple, dataclass, fields
from typing import cast

import numpy as np
import pandas as pd
import torch
from torch import nn

from mnlab.analysis.report import Report

#: Activation op names (as :func:`~mnlab.analysis.analyze` records them) → module, and a code
#: a regressor can split on. ``hardtanh`` is how ``nn.ReLU6`` runs.
ACTIVATIONS: dict[str, tuple[type[nn.Module], int]] = {
    "": (nn.Identity, 0), "relu": (nn.ReLU, 1), "hardtanh": (nn.ReLU6, 2), "relu6": (nn.ReLU6, 2),
    "hardswish": (nn.Hardswish, 3), "hardsigmoid": (nn.Hardsigmoid, 4), "sigmoid": (nn.Sigmoid, 5),
    "silu": (nn.SiLU, 6), "gelu": (nn.GELU, 7), "tanh": (nn.Tanh, 8),
}
#: Kernel types, as :func:`kernels` names them.
KINDS = ("conv", "depthwise", "pointwise", "grouped", "linear", "se", "elementwise", "pool",
         "activation", "batchnorm")
_ELEMENTWISE = {"add": "add", "__add__": "add", "__iadd__": "add", "__radd__": "add", "add_": "add",
                "mul": "mul", "__mul__": "mul", "__imul__": "mul", "__rmul__": "mul", "mul_": "mul"}
_GLOBAL_POOL = {"adaptive_avg_pool2d", "mean"}


@dataclass(frozen=True)
class Kernel:
    """One unit of execution: its type and shape.

    ``h``, ``w``: input spatial size; ``c_in``, ``c_out``: channels (features for ``linear``);
    ``k``, ``stride``, ``groups``: of a conv or pool; ``act``: the activation grouped with a conv
    or linear layer, the gate of an SE block, the op of an ``elementwise`` or ``activation``
    kernel, the pool op of a ``pool`` kernel, "inner+gate" activations of an ``se`` kernel;
    ``mid``: an SE block's squeeze channels.
    """

    kind: str
    h: int
    w: int
    c_in: int
    c_out: int
    k: int = 1
    stride: int = 1
    groups: int = 1
    act: str = ""
    mid: int = 0

    @property
    def key(self) -> str:
        """A stable text key (the cache's)."""
        return "|".join(str(v) for v in astuple(self))

    @classmethod
    def from_key(cls, key: str) -> "Kernel":
        values = key.split("|")
        kinds = [f.type for f in fields(cls)]
        # Each field converted to its own type, which mypy cannot follow through the list.
        return cls(*[v if t == "str" else int(v) for v, t in zip(values, kinds)])  # type: ignore[arg-type]

    @property
    def out_hw(self) -> tuple[int, int]:
        if self.kind in ("conv", "depthwise", "pointwise", "grouped") or (self.kind == "pool" and self.k > 1):
            pad = self.k // 2 if self.kind != "pool" else 0
            return ((self.h + 2 * pad - self.k) // self.stride + 1, (self.w + 2 * pad - self.k) // self.stride + 1)
        if self.kind == "pool":
            return (1, 1)
        return (self.h, self.w)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the convs and linear layers (of SE, its two 1×1 convs)."""
        oh, ow = self.out_hw
        if self.kind in ("conv", "depthwise", "pointwise", "grouped"):
            return oh * ow * self.c_out * (self.c_in // self.groups) * self.k * self.k
        if self.kind == "linear":
            return self.c_in * self.c_out
        if self.kind == "se":
            return 2 * self.c_in * self.mid
        return 0

    @property
    def bytes(self) -> int:
        """The float32 bytes read and written (input(s), weights and bias, output)."""
        oh, ow = self.out_hw
        x, y = self.h * self.w * self.c_in, oh * ow * self.c_out
        weights = 0
        if self.kind in ("conv", "depthwise", "pointwise", "grouped"):
            weights = self.c_out * (self.c_in // self.groups) * self.k * self.k + self.c_out   # and the bias
        elif self.kind == "linear":
            weights = self.c_in * self.c_out + self.c_out
        elif self.kind == "se":
            weights = 2 * self.c_in * self.mid + self.c_in + self.mid
            y = x
        elif self.kind == "elementwise":
            x *= 2
        elif self.kind == "batchnorm":
            weights = 2 * self.c_in
        return 4 * (x + weights + y)


def _spatial(shape: tuple) -> tuple[int, int]:
    return (int(shape[2]), int(shape[3])) if len(shape) == 4 else (1, 1)


def _op_kernel(row) -> Kernel | None:
    """The kernel of one report row alone, None for a shape op; ValueError for an unknown op."""
    kind, op = row.kind, row.op
    h, w = _spatial(row.input_shape)
    c_in = int(row.input_shape[1]) if len(row.input_shape) > 1 else int(row.input_shape[0])
    c_out = int(row.output_shape[1]) if len(row.output_shape) > 1 else int(row.output_shape[0])
    if kind == "shape":
        return None
    if kind.startswith(("conv ", "depthwise ", "grouped ")):
        if len(row.kernel) != 2 or row.kernel[0] != row.kernel[1] or row.stride[0] != row.stride[1]:
            raise ValueError(f"op {op!r} in {row.name!r}: only square 2-D convolutions are modelled, "
                             f"got kernel {row.kernel}, stride {row.stride}")
        k, groups = int(row.kernel[0]), int(row.groups)
        name = "depthwise" if kind.startswith("depthwise") else "grouped" if groups > 1 else \
            "pointwise" if k == 1 else "conv"
        return Kernel(name, h, w, c_in, c_out, k, int(row.stride[0]), groups)
    if kind == "linear":
        return Kernel("linear", 1, 1, int(row.input_shape[-1]), int(row.output_shape[-1]))
    if kind == "activation":
        if op not in ACTIVATIONS:
            raise ValueError(f"activation {op!r} in {row.name!r} has no kernel model; known: "
                             f"{sorted(a for a in ACTIVATIONS if a)}")
        return Kernel("activation", h, w, c_in, c_in, act=op)
    if kind == "batchnorm":
        return Kernel("batchnorm", h, w, c_in, c_in)
    if kind == "elementwise" and op in _ELEMENTWISE:
        return Kernel("elementwise", h, w, c_out, c_out, act=_ELEMENTWISE[op])
    if kind == "pool" and len(row.input_shape) == 4:
        if op in _GLOBAL_POOL:
            return Kernel("pool", h, w, c_in, c_in, k=0, act="avg")
        if op in ("avg_pool2d", "max_pool2d", "max_pool2d_with_indices") and row.kernel:
            return Kernel("pool", h, w, c_in, c_in, int(row.kernel[0]), int(row.stride[0]),
                          act="max" if "max" in op else "avg")
    raise ValueError(f"op {op!r} (kind {kind!r}) in {row.name!r} is not a kernel type this predictor "
                     f"knows; known kernel types: {', '.join(KINDS)}")


def ops(report: Report) -> list[Kernel]:
    """One :class:`Kernel` per op of ``report`` (an :func:`~mnlab.analysis.analyze` report,
    best taken with ``bn="count"``), shape ops left out: the unfused view."""
    result = []
    for row in report.layers.itertuples(index=False):
        kernel = _op_kernel(row)
        if kernel is not None:
            result.append(kernel)
    return result


def _se_end(rows: list, start: int) -> int | None:
    """If rows[start] opens a squeeze-and-excite block, the index of its closing rescale."""
    pool = rows[start]
    if pool.kind != "pool" or pool.op not in _GLOBAL_POOL or _spatial(pool.output_shape) != (1, 1):
        return None
    for j in range(start + 1, min(start + 8, len(rows))):
        row = rows[j]
        if row.kind == "elementwise" and _ELEMENTWISE.get(row.op) == "mul" \
                and tuple(row.output_shape) == tuple(pool.input_shape):
            return j
        if _spatial(row.output_shape) != (1, 1) or row.kind not in ("conv 1×1", "activation", "linear", "shape"):
            return None
    return None


def _se_kernel(rows: list) -> Kernel:
    pool = rows[0]
    convs = [r for r in rows if r.kind in ("conv 1×1", "linear")]
    acts = [r.op for r in rows[1:-1] if r.kind == "activation"]
    h, w = _spatial(pool.input_shape)
    mid = int(convs[0].output_shape[1]) if convs else 0
    inner = acts[0] if len(acts) > 1 else ""
    outer = acts[-1] if acts else ""
    for op in (inner, outer):
        if op not in ACTIVATIONS:
            raise ValueError(f"activation {op!r} in {pool.name!r} has no kernel model; known: "
                             f"{sorted(a for a in ACTIVATIONS if a)}")
    return Kernel("se", h, w, int(pool.input_shape[1]), int(pool.input_shape[1]),
                  act=f"{inner}+{outer}", mid=mid)


def _kernel_of(row) -> Kernel:
    """:func:`_op_kernel` of a row that is not a shape op (only those have no kernel)."""
    return cast(Kernel, _op_kernel(row))


def fusion(report: Report) -> list[tuple[Kernel, list[Kernel]]]:
    """Each kernel of ``report`` with the ops it runs (as :func:`ops` lists them), in order: the
    rule of :func:`kernels`, spelled out op by op (how chapter 8's fusion diagram is drawn)."""
    rows = [r for r in report.layers.itertuples(index=False) if r.kind != "shape"]
    result: list[tuple[Kernel, list[Kernel]]] = []
    i = 0
    while i < len(rows):
        end = _se_end(rows, i)
        if end is not None:
            result.append((_se_kernel(rows[i:end + 1]), [_kernel_of(r) for r in rows[i:end + 1]]))
            i = end + 1
            continue
        kernel, produced = _kernel_of(rows[i]), tuple(rows[i].output_shape)
        group = [kernel]
        if kernel.kind in ("conv", "depthwise", "pointwise", "grouped", "linear"):
            for follower in ("batchnorm", "activation"):
                nxt = rows[i + 1] if i + 1 < len(rows) else None
                if nxt is not None and nxt.kind == follower and tuple(nxt.input_shape) == produced:
                    group.append(_kernel_of(nxt))
                    if follower == "activation":
                        kernel = Kernel(**{**kernel.__dict__, "act": group[-1].act})
                    i += 1
        result.append((kernel, group))
        i += 1
    return result


def kernels(report: Report) -> list[Kernel]:
    """The kernels of ``report`` as a fusing runtime executes them (module docstring).

    ``report`` is an :func:`~mnlab.analysis.analyze` report with BatchNorm counted (the
    default): a BatchNorm right after a conv or linear layer, on its output, is folded into it
    here; one that follows anything else stays a kernel of its own. :func:`fusion` gives the
    ops each kernel runs.
    """
    return [kernel for kernel, _ in fusion(report)]


class _SqueezeExcite(nn.Module):
    def __init__(self, channels: int, mid: int, inner: str, gate: str):
        super().__init__()
        self.reduce, self.expand = nn.Conv2d(channels, mid, 1), nn.Conv2d(mid, channels, 1)
        self.inner, self.gate = ACTIVATIONS[inner][0](), ACTIVATIONS[gate][0]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.inner(self.reduce(nn.functional.adaptive_avg_pool2d(x, 1)))))


class _Elementwise(nn.Module):
    """``x + y`` or ``x * y`` with y a fixed tensor of x's shape (a runtime reads both)."""

    def __init__(self, op: str, shape: tuple[int, ...]):
        super().__init__()
        self.op = op
        self.register_buffer("other", torch.randn(shape, generator=torch.Generator().manual_seed(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.other if self.op == "add" else x * self.other


def build_kernel(kernel: Kernel) -> tuple[nn.Module, tuple[int, int, int, int]]:
    """A small eval-mode module that runs ``kernel`` alone, and its (1, C, H, W) input shape.

    Weights are random (seeded): latency does not depend on their values. A linear kernel
    takes a (1, C, 1, 1) input and flattens it first (a view, no data moved).
    """
    torch.manual_seed(0)
    act = ACTIVATIONS[kernel.act][0] if kernel.kind in ("conv", "depthwise", "pointwise", "grouped", "linear",
                                                         "activation") else nn.Identity   # (not used)
    shape = (1, kernel.c_in, kernel.h, kernel.w)
    module: nn.Module
    if kernel.kind in ("conv", "depthwise", "pointwise", "grouped"):
        module = nn.Sequential(nn.Conv2d(kernel.c_in, kernel.c_out, kernel.k, kernel.stride, kernel.k // 2,
                                         groups=kernel.groups), act())
    elif kernel.kind == "linear":
        module = nn.Sequential(nn.Flatten(1), nn.Linear(kernel.c_in, kernel.c_out), act())
    elif kernel.kind == "se":
        inner, gate = kernel.act.split("+")
        module = _SqueezeExcite(kernel.c_in, kernel.mid, inner, gate)
    elif kernel.kind == "elementwise":
        module = _Elementwise(kernel.act, shape)
    elif kernel.kind == "pool":
        module = nn.AdaptiveAvgPool2d(1) if kernel.k == 0 else \
            (nn.MaxPool2d if kernel.act == "max" else nn.AvgPool2d)(kernel.k, kernel.stride)
    elif kernel.kind == "activation":
        module = act()
    elif kernel.kind == "batchnorm":
        module = nn.BatchNorm2d(kernel.c_in)
    else:
        raise ValueError(f"kernel.kind must be one of {KINDS}, got {kernel.kind!r}")
    return module.eval(), shape


#: The features a kernel regressor learns from, the kernel's configuration (nn-Meter, Sec. 5).
FEATURES = ["h", "w", "c_in", "c_out", "k", "stride", "mid", "act_code", "macs", "bytes"]


def kernel_features(kernel_list: list[Kernel]) -> pd.DataFrame:
    """One row of :data:`FEATURES` per kernel (``act_code``: the activation's code; an SE
    kernel's is its gate's)."""
    rows = []
    for k in kernel_list:
        act = k.act.split("+")[-1] if k.kind == "se" else k.act
        code = ACTIVATIONS[act][1] if act in ACTIVATIONS else {"add": 1, "mul": 2, "avg": 1, "max": 2}.get(act, 0)
        rows.append([k.h, k.w, k.c_in, k.c_out, k.k, k.stride, k.mid, code, k.macs, k.bytes])
    return pd.DataFrame(np.asarray(rows, dtype=float).reshape(-1, len(FEATURES)), columns=FEATURES)
