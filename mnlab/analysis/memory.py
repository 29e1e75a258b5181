"""Activation memory: what a forward pass must keep in RAM besides the weights.

Two views:

* :class:`LiveBytes` follows every activation tensor from the moment an op allocates it to the
  moment Python frees it, and records the peak of the bytes alive at once. The counting engine
  (:func:`mnlab.analysis.analyze`) feeds it; ``Report.totals["peak_activation_bytes"]`` and
  ``Report.memory_timeline()`` come from it. This is eager PyTorch's own behaviour: a tensor
  lives while some variable (a caller's ``x``, a residual shortcut) still refers to it.
* :func:`block_memory_table` is the MobileNetV2 paper's Table 3 (Sandler et al. 2018, Sec. 5.1):
  for each spatial resolution, the largest number of channels a block outputs and the memory
  that tensor needs (16-bit by default), and the maximum over resolutions — 1600K for
  MobileNetV1, 400K for MobileNetV2 in the paper.
"""
from __future__ import annotations

import numbers
import weakref
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

TIMELINE_COLUMNS = ["step", "name", "op", "event", "bytes", "live_bytes"]


class LiveBytes:
    """Live activation bytes over a forward pass, from tensor lifetimes.

    :meth:`allocate` is called for every *newly allocated* tensor (an op's output that is
    neither one of its inputs — in-place ops allocate nothing — nor a view of one). A weakref
    callback subtracts the bytes again when the tensor is freed. ``peak`` is the largest
    number of bytes alive at once; ``events`` is the timeline, one tuple per allocation or
    free: ``(step, module name, op, event, bytes, live bytes after)``. A free is attributed to
    the op that ran last before it.
    """

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0
        self.events: list[tuple[int, str, str, str, int, int]] = []
        self.step = -1
        self.name = ""
        self.op = "input"
        self._refs: dict[int, tuple[weakref.ref, int]] = {}
        self._active = True
        self._on_free = self._free  # one bound method for every weakref

    def allocate(self, tensor: torch.Tensor, event: str = "alloc") -> None:
        """Count ``tensor`` as alive until Python frees it."""
        nbytes = tensor.numel() * tensor.element_size()
        ref = weakref.ref(tensor, self._on_free)
        self._refs[id(ref)] = (ref, nbytes)
        self.live += nbytes
        if self.live > self.peak:
            self.peak = self.live
        self.events.append((self.step, self.name, self.op, event, nbytes, self.live))

    def _free(self, ref: weakref.ref) -> None:
        entry = self._refs.pop(id(ref), None)
        if entry is None or not self._active:
            return
        self.live -= entry[1]
        self.events.append((self.step, self.name, self.op, "free", -entry[1], self.live))

    def close(self) -> None:
        """Stop following tensors (those still alive, like the output, are simply dropped)."""
        self._active = False
        self._refs.clear()

    def timeline(self) -> pd.DataFrame:
        """The events as a DataFrame with columns ``TIMELINE_COLUMNS``."""
        return pd.DataFrame(self.events, columns=TIMELINE_COLUMNS)


@dataclass
class BlockMemory:
    """MobileNetV2 Table 3 for one model.

    ``table`` has one row per spatial resolution, largest first: ``size`` ("112 × 112"),
    ``height``, ``width``, ``channels`` (the largest block output at that resolution),
    ``memory_kb`` (that tensor at ``dtype_bytes`` per element, 1 KB = 1000 bytes, one image)
    and ``block`` (the block that outputs it). ``max_kb`` is the overall maximum, the last row
    of the paper's table.
    """

    table: pd.DataFrame
    max_kb: float
    dtype_bytes: int


def default_blocks(model: nn.Module) -> list[str]:
    """The direct children of the model's first ``nn.Sequential`` child (e.g. ``features.0``,
    ``features.1``, …): the blocks of a sequential-block network."""
    for child_name, child in model.named_children():
        if isinstance(child, nn.Sequential):
            return [f"{child_name}.{name}" for name, _ in child.named_children()]
    raise ValueError(
        f"blocks=None needs a model with an nn.Sequential child, and {type(model).__name__} has "
        "none; pass blocks as a list of qualified module names from model.named_modules()")


def block_memory_table(model: nn.Module, input_shape, blocks: list[str] | None = None,
                       dtype_bytes: int = 2) -> BlockMemory:
    """Reproduce the MobileNetV2 paper's Table 3 for ``model``.

    Records the output tensor of each block in ``blocks`` (qualified module names; default:
    :func:`default_blocks`), groups the outputs by spatial resolution and reports, for each
    resolution, the largest channel count and the memory it needs:
    ``channels × H × W × dtype_bytes / 1000`` KB per image (16-bit by default, as the paper
    assumes). A 2-D output (N, C) counts as 1 × 1. Example: a 112 × 112 block output with 64
    channels needs 112·112·64·2/1000 = 1605.6 KB, which the paper prints as 1600K.

    ``input_shape`` is as for :func:`mnlab.analysis.analyze`.
    """
    # Imported here because counting imports this module for LiveBytes.
    from mnlab.analysis.counting import analyze

    if (isinstance(dtype_bytes, bool) or not isinstance(dtype_bytes, numbers.Integral)
            or dtype_bytes <= 0):
        raise ValueError(f"dtype_bytes must be a positive integer (2 for 16-bit), got {dtype_bytes!r}")
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if blocks is None:
        blocks = default_blocks(model)
    if isinstance(blocks, str) or not all(isinstance(b, str) for b in blocks) or not blocks:
        raise ValueError(f"blocks must be a non-empty list of module names, got {blocks!r}")
    known = dict(model.named_modules())
    missing = [b for b in blocks if b not in known]
    if missing:
        some = ", ".join(list(known)[1:8])
        raise ValueError(f"blocks contains names that are not modules of the model: {missing}; "
                         f"allowed are names from model.named_modules(), e.g. {some}")

    report = analyze(model, input_shape)
    best: dict[tuple[int, ...], tuple[int, str]] = {}
    for block in blocks:
        shape = report.module_outputs.get(block)
        if shape is None:
            raise ValueError(f"blocks entry {block!r} did not return a tensor in the forward pass "
                             f"at input_shape {report.input_shape}")
        channels, spatial = shape[1], tuple(shape[2:]) or (1, 1)
        if spatial not in best or channels > best[spatial][0]:
            best[spatial] = (channels, block)

    rows = []
    for spatial, (channels, block) in sorted(best.items(), key=lambda kv: -_prod(kv[0])):
        rows.append({
            "size": " × ".join(map(str, spatial)),
            "height": spatial[0],
            "width": spatial[-1],
            "channels": channels,
            "memory_kb": channels * _prod(spatial) * dtype_bytes / 1000,
            "block": block,
        })
    table = pd.DataFrame(rows)
    return BlockMemory(table=table, max_kb=float(table["memory_kb"].max()), dtype_bytes=dtype_bytes)


def _prod(values) -> int:
    result = 1
    for v in values:
        result *= v
    return result
