"""Activation memory: what a forward pass must keep in RAM besides the weights.

Two views:

* the peak of live activation bytes over the forward pass, from tensor lifetimes
  (:class:`~mnlab.analysis.LiveBytes`, fed by :func:`~mnlab.analysis.analyze`):
  ``Report.totals["peak_activation_bytes"]`` and ``Report.memory_timeline()``;
* :func:`block_memory_table` is the MobileNetV2 paper's Table 3 (Sandler et al. 2018, Sec. 5.1):
  for each spatial resolution, the largest number of channels a block outputs and the memory
  that tensor needs (16-bit by default), and the maximum over resolutions — 1600K for
  MobileNetV1, 400K for MobileNetV2 in the paper.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from torch import nn

from mnlab.analysis.counting import analyze
from mnlab.analysis.inputs import InputShape, check_module
from mnlab.analysis.ops import prod
from mnlab.validation import check_int


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


def block_memory_table(model: nn.Module, input_shape: InputShape, blocks: list[str] | None = None,
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
    dtype_bytes = check_int(dtype_bytes, "dtype_bytes", at_least=1, note=" (2 for 16-bit)")
    check_module(model)
    blocks = default_blocks(model) if blocks is None else _block_names(blocks)
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
    for spatial, (channels, block) in sorted(best.items(), key=lambda kv: -prod(kv[0])):
        rows.append({
            "size": " × ".join(map(str, spatial)),
            "height": spatial[0],
            "width": spatial[-1],
            "channels": channels,
            "memory_kb": channels * prod(spatial) * dtype_bytes / 1000,
            "block": block,
        })
    table = pd.DataFrame(rows)
    return BlockMemory(table=table, max_kb=float(table["memory_kb"].max()), dtype_bytes=dtype_bytes)


def _block_names(blocks) -> list[str]:
    """``blocks`` as a list of module names: any iterable of strings (a generator too)."""
    if isinstance(blocks, (str, bytes)) or not hasattr(blocks, "__iter__"):
        raise ValueError(f"blocks must be a non-empty list of module names, got {blocks!r}")
    names = list(blocks)
    if not names or not all(isinstance(b, str) for b in names):
        raise ValueError(f"blocks must be a non-empty list of module names, got {names!r}")
    return names
