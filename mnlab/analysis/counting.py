"""Counting: parameters, multiply-adds, bytes moved and activation memory of any ``nn.Module``.

:func:`analyze` runs the model once on *meta* tensors — shapes and dtypes only, no arithmetic,
no memory — and records every operation the forward pass executes, attributed to the innermost
module running it. The result, a :class:`Report`, is data: one DataFrame row per op, totals, and
the paper views built from them:

* ``Report.by_kind()`` — MobileNetV1 (Howard et al. 2017) Table 2: share of Mult-Adds and of
  parameters per layer kind (Conv 1×1, Conv DW 3×3, Conv 3×3, Fully Connected).
* ``Report.architecture_table()`` — MobileNetV1 Table 1: type / stride, filter shape, input size.
* the ``memory_access_elems`` column — ShuffleNetV2 (Ma et al. 2018) memory access cost (the
  paper's "MAC", not to be confused with multiply-accumulates), Sec. 2, guideline G1: for a 1×1
  conv, h·w·(c1 + c2) + c1·c2 ≥ 2·√(h·w·B) + B/(h·w) elements at fixed FLOPs B.
* ``Report.totals["peak_activation_bytes"]`` and ``Report.memory_timeline()`` — activation
  memory from tensor lifetimes (:mod:`mnlab.analysis.liveness`).

Conventions (see DESIGN.md)
---------------------------
``macs`` are the papers' Mult-Adds and are only counted for convolutions and matrix products
(linear layers, every product of two tensors, attention, recurrent layers); the formula of each
is in :mod:`mnlab.analysis.products`, e.g. conv = N · C_out · H_out · W_out · (C_in / groups) ·
k_h · k_w and linear = batch · in · out; a bias add is not counted. For every op that
``torch.utils.flop_counter.FlopCounterMode`` counts, ``macs`` = its FLOPs / 2. ``flops`` = 2 ×
``macs``, nothing else. Every other op keeps its own count in the ``ops`` column, element
operations per op, so that it never leaks into the Mult-Adds (the table of kinds is in
:mod:`mnlab.analysis.ops`). An op the counter does not know becomes an "unknown" row, listed in
``Report.unknown_ops``; :func:`~mnlab.analysis.register_op` teaches it a new one
(:mod:`mnlab.analysis.registry`).

Switches: ``bn="fold"`` removes each BatchNorm that directly follows a conv or linear and moves
its parameters (γ, β) into that layer's row, whose folded bias (C_out elements) is then read
too; a BN that follows anything else stays a row. ``"ignore"`` (for BN, activations,
element-wise ops) drops those rows. The switches change rows and sums of rows, never
``totals["params"]`` (every parameter tensor of the model, once) nor the peak activation memory,
which describe the model as it runs.

How it runs (:mod:`mnlab.analysis.engine`): the model is counted in the mode it is in (use
``eval()`` for inference counts; dropout is then the identity, a "shape" op); in-place updates of
buffers, such as BatchNorm's ``num_batches_tracked`` in training mode, are bookkeeping, not rows.
The model is left exactly as it was (:mod:`mnlab.analysis.sandbox`).
"""
from mnlab.analysis.engine import BN_MODES, SWITCH_MODES, analyze
from mnlab.analysis.ops import Count, OpCall
from mnlab.analysis.registry import register_op, unregister_op
from mnlab.analysis.report import COLUMNS, MAC_KINDS, Report

__all__ = ["analyze", "Report", "COLUMNS", "MAC_KINDS", "BN_MODES", "SWITCH_MODES",
           "register_op", "unregister_op", "Count", "OpCall"]
