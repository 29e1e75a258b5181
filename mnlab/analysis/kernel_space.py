"""Where kernel predictors are trained: the configurations each kernel type is sampled from.

nn-Meter (Zhang et al. 2021, Sec. 5.2) does not train its kernel regressors on the kernels of a
few networks but on *sampled* kernel configurations: first from a prior over the space (which
we take as log-uniform channels and sizes over the ranges mobile networks use, plus the kernels
of the training networks), then *adaptively*: where the regressor's cross-validated error is
high, it samples the neighbourhood of those configurations more finely (:func:`neighbours`).
Channel counts are multiples of 8, as :func:`~mnlab.models.layers.make_divisible` makes them.
"""
from __future__ import annotations

import math
import random

from mnlab.analysis.kernels import Kernel

_ACTS = ("", "relu", "hardtanh", "hardswish")


def _log_int(rng: random.Random, low: int, high: int) -> int:
    return int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))


def _channels(rng: random.Random, low: int, high: int) -> int:
    return max(8, int(round(_log_int(rng, low, high) / 8)) * 8)


def _conv_like(rng, kind: str) -> Kernel:
    if kind == "pointwise":
        h = _log_int(rng, 3, 120)
        return Kernel("pointwise", h, h, _channels(rng, 8, 1280), _channels(rng, 8, 1280), act=rng.choice(_ACTS))
    if kind == "depthwise":
        h, c, k = _log_int(rng, 3, 150), _channels(rng, 8, 1920), rng.choice((3, 5, 7))
        return Kernel("depthwise", h, h, c, c, k, rng.choice((1, 2)), c, rng.choice(_ACTS[1:]))
    # a full convolution: mostly a stem on the image, sometimes inside the network
    stem = rng.random() < 0.7
    h = _log_int(rng, 96, 300) if stem else _log_int(rng, 7, 112)
    c_in = 3 if stem else _channels(rng, 8, 128)
    return Kernel("conv", h, h, c_in, _channels(rng, 8, 64 if stem else 128), rng.choice((3, 3, 5)),
                  2 if stem else rng.choice((1, 2)), act=rng.choice(_ACTS))


def sample_kernel(kind: str, rng: random.Random) -> Kernel:
    """One random configuration of kernel type ``kind`` (see :data:`SAMPLED_KINDS`)."""
    if kind in ("pointwise", "depthwise", "conv"):
        kernel = _conv_like(rng, kind)
        while kernel.macs > 400e6:   # the largest layers of the book's networks stay below
            kernel = _conv_like(rng, kind)
        return kernel
    if kind == "se":
        h, c = _log_int(rng, 3, 60), _channels(rng, 16, 1152)
        return Kernel("se", h, h, c, c, act=rng.choice(("relu+hardsigmoid", "relu+sigmoid", "silu+sigmoid")),
                      mid=max(8, (c // rng.choice((4, 16))) // 8 * 8))
    if kind == "elementwise":
        h, c = _log_int(rng, 3, 112), _channels(rng, 8, 384)
        return Kernel("elementwise", h, h, c, c, act="add")
    if kind == "pool":
        h, c = _log_int(rng, 3, 12), _channels(rng, 128, 2048)
        return Kernel("pool", h, h, c, c, k=0, act="avg")
    if kind == "linear":
        return Kernel("linear", 1, 1, _channels(rng, 256, 2048), _channels(rng, 96, 1280),
                      act=rng.choice(("", "hardswish")))
    if kind == "activation":
        h, c = _log_int(rng, 3, 112), _channels(rng, 16, 2048)
        return Kernel("activation", h, h, c, c, act=rng.choice(("relu", "hardswish")))
    raise ValueError(f"kind must be one of {SAMPLED_KINDS}, got {kind!r}")


#: Kernel types with a sampling space.
SAMPLED_KINDS = ("pointwise", "depthwise", "conv", "se", "elementwise", "pool", "linear", "activation")
#: How many samples each kernel type gets before adaptive sampling.
INITIAL_SAMPLES = {"pointwise": 60, "depthwise": 60, "conv": 25, "se": 30, "elementwise": 20, "pool": 10,
                   "linear": 10, "activation": 10}


def neighbours(kernel: Kernel, rng: random.Random, n: int = 2) -> list[Kernel]:
    """``n`` configurations close to ``kernel``: channels and size moved by up to ±25%."""
    result = []
    for _ in range(n):
        def near(v: int, step: int = 1) -> int:
            return max(step, int(round(v * rng.uniform(0.75, 1.25) / step)) * step) if v > 3 else v
        h = near(kernel.h)
        c_in = near(kernel.c_in, 8 if kernel.c_in >= 8 else 1)
        c_out = c_in if kernel.kind in ("depthwise", "se", "elementwise", "pool", "activation") else \
            near(kernel.c_out, 8)
        groups = c_in if kernel.kind == "depthwise" else kernel.groups
        mid = max(8, near(kernel.mid, 8)) if kernel.kind == "se" else 0
        w = h if kernel.h == kernel.w else near(kernel.w)
        result.append(Kernel(kernel.kind, h, w, c_in, c_out, kernel.k, kernel.stride, groups, kernel.act, mid))
    return result
