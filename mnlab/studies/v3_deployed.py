"""Chapter 4 — MobileNetV3 deployed: what its changes cost in time on ONNX Runtime (and, as the
contrast, in eager PyTorch), and the graph ONNX Runtime actually runs for it.

* :func:`time_backends`, :func:`timing_findings`, :func:`activation_latency` — the chapter's
  timings (one interleaved run per backend) and what they say about SE, the last stage, the
  stem and Small against Large.
* :func:`ort_kernels`, :func:`ort_op_counts` — the op types of ORT's optimized graph: a count.
* :func:`ort_time_parts` — where ORT's time goes in a network with squeeze-and-excite: the
  layout conversions its blocked layout needs around every SE, SE's own kernels, the rest.

ORT's x86 CPU provider runs convolutions in a blocked layout, NCHWc: channels in blocks of
8 floats (16 on a CPU with AVX-512F; MLAS, ``platform.cpp``), BatchNorm, activations and
residual additions fused into the convolution. The rescaling ``Mul`` of an SE module (a
per-channel broadcast) has no NCHWc kernel, so ORT converts the whole expanded tensor to plain
NCHW before it (``ReorderOutput``) and back after it (``ReorderInput``); a pool whose channels
are not a multiple of the block runs in NCHW too. The graph is therefore the same for one ORT
version on one NCHWc block size, and may differ between CPUs with and without AVX-512F (e.g.
MobileNetV3-Large's 72- and 120-channel SE pools are blocked with 8-channel blocks only).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Sequence, cast

import pandas as pd
from torch import nn

from mnlab.analysis import Backend, InputShape, compare_latency, deploy, profile_layers, runtimes
from mnlab.studies.v3 import activation_modules, in_se
from mnlab.validation import check_real

#: ORT's conversions between its blocked NCHWc layout and plain NCHW.
REORDERS = ("ReorderInput", "ReorderOutput")


def time_backends(models: dict[str, nn.Module], input_shape: InputShape = 224,
                  backends: Sequence[Backend] = ("onnxruntime", "eager"), *,
                  rounds: int = 5, budget_s: float = 0.2) -> pd.DataFrame:
    """Fastest run of each model per backend (:func:`mnlab.analysis.compare_latency`, batch 1, one
    thread, interleaved): ``<backend>_ms`` and ``<backend>_vs_first``. ``"onnxruntime"`` is the
    deployed form (BN folded, activations fused); ``"eager"`` the contrast: framework overhead."""
    table = pd.DataFrame(index=list(models))
    for backend in backends:
        best = compare_latency(models, input_shape, backend=backend, rounds=rounds, budget_s=budget_s,
                               min_runs=5).best_ms
        table[f"{backend}_ms"] = best
        table[f"{backend}_vs_first"] = best / best.iloc[0]
    return table


def timing_findings(times: pd.DataFrame, backend: Backend, se: dict, stage_macs_saved_share: float) -> dict[str, float]:
    """What a :func:`time_backends` table of :func:`mnlab.studies.v3.redesign_models` says on
    ``backend``: SE's share of V3-Large's time, and over its shares of MACs and bytes (``se``:
    :func:`mnlab.studies.v3.se_counts`); the time the efficient last stage saves; the extra time
    without projection; the stem's change; Small over Large."""
    ratio = times[f"{backend}_vs_first"]
    se_share = 1 - ratio["V3-Large without SE"]
    return {"se_time_share": se_share, "se_time_vs_macs": se_share / se["macs_share"],
            "se_time_vs_bytes": se_share / se["bytes_share"],
            "stage_time_saved": 1 - 1 / ratio["original last stage (Fig. 5)"],
            "stage_macs_saved": stage_macs_saved_share,
            "noproj_time": ratio["1280 before pooling, no projection"] - 1,
            "stem_time": ratio["32-filter ReLU stem"] - 1, "small_vs_large": ratio["V3-Small 1.0"]}


def activation_latency(input_shape: InputShape, *, rounds: int = 3, budget_s: float = 0.1) -> pd.DataFrame:
    """:func:`time_backends` of :func:`mnlab.studies.v3.activation_modules` on ``input_shape``,
    deployed on ONNX Runtime and, as the contrast, eagerly. (The composed swish was once timed
    eagerly only: its ORT form failed the deployment check with a relative error of 3e-2, which is
    max|h-swish − swish| / max|swish| on this input. Both composed activations had the same repr
    and no weights, so they shared one cached artefact and the swish ran the h-swish's graph;
    the cache key now includes a module's plain attributes, here ``kind``.)"""
    return time_backends(activation_modules(), input_shape, ("onnxruntime", "eager"), rounds=rounds,
                         budget_s=budget_s)


def ratio_words(ratio: float, margin: float = 0.1) -> str:
    """How a time ratio a / b reads in prose: "cheaper than" below 1 − ``margin``, "slower
    than" above 1 + ``margin``, "about as fast as" between (a difference the margin cannot
    resolve on a busy machine)."""
    ratio, margin = check_real(ratio, "ratio", above=0), check_real(margin, "margin", at_least=0, below=1)
    return "cheaper than" if ratio < 1 - margin else "slower than" if ratio > 1 + margin else "about as fast as"


# --------------------------------------------------------------------------- the graph ORT runs


def ort_kernels(module: nn.Module, input_shape: InputShape) -> list[str]:
    """The op types ONNX Runtime runs for ``module`` after its graph optimizations, e.g.
    ``["QuickGelu"]`` for swish: ORT fuses ``x * sigmoid(x)`` into one kernel, however it was written."""
    artefact = deploy(module, input_shape, backend="onnxruntime").artefact
    return runtimes.optimized_op_types(cast(Path, artefact))   # ONNX Runtime always writes one


def ort_op_counts(models: dict[str, nn.Module], input_shape: InputShape = 224) -> pd.DataFrame:
    """How many nodes of each op type ORT's optimized graph has (:func:`ort_kernels`), one column
    per model, most frequent op first. A count, the same on every run for one ORT version and
    one NCHWc block size (see the module docstring)."""
    table = pd.DataFrame({name: Counter(ort_kernels(m, input_shape)) for name, m in models.items()})
    table = table.fillna(0).astype(int)
    return table.sort_values(list(table.columns), ascending=False).rename_axis("op type")


def ort_time_parts(models: dict[str, nn.Module], input_shape: InputShape = 224, *, runs: int = 50) -> pd.DataFrame:
    """Where the time goes on ONNX Runtime, per model (one column each, ms): the layout
    conversions (:data:`REORDERS`); the squeeze-and-excite modules' 1×1 convolutions (matrix-vector
    products on the pooled vector, their activations fused in); SE's pool and rescaling ``Mul``;
    and everything else. From ORT's profiler (:func:`mnlab.analysis.profile_layers`, one profile
    per model, node times as medians over ``runs``): the parts sum to its ``layer_sum_ms``."""
    parts = {}
    for name, model in models.items():
        nodes = profile_layers(model, input_shape, backend="onnxruntime", runs=runs).nodes
        reorder = nodes.op_type.isin(REORDERS)
        se = nodes.row.map(in_se(model)) & ~reorder
        conv = nodes.op_type.isin(("Conv", "FusedConv"))
        parts[name] = {"layout conversions (Reorder)": nodes.time_ms[reorder].sum(),
                       "SE 1×1 convolutions": nodes.time_ms[se & conv].sum(),
                       "SE pool and rescale": nodes.time_ms[se & ~conv].sum(),
                       "everything else": nodes.time_ms[~reorder & ~se].sum()}
    return pd.DataFrame(parts)
