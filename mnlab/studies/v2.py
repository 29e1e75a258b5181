"""Chapter 3 — MobileNetV2 (Sandler et al. 2018, arXiv 1801.04381): inverted residuals and
linear bottlenecks, counted, probed and timed.

What each part reproduces:

* :func:`bottleneck_macs`, :func:`block_costs` — the block's cost (Sec. 3.3, Table 1):
  h·w·d′·t·(d′ + k² + d″) Mult-Adds, checked against the counter block by block.
* :func:`architecture_table` — Table 2 generated from a model
  (:func:`mnlab.studies.blocks.describe_blocks`).
* :func:`relu_manifold` — Figure 1: a 2-D spiral embedded in n dimensions by a random matrix T,
  passed through ReLU, projected back with T⁺.
* :func:`train_variant`, :func:`run_ablation`, :func:`stored_ablation` — Figure 6 on a small
  scale: linear vs ReLU6 bottleneck, shortcut between bottlenecks / expansions / none
  (:class:`mnlab.models.toys.ToyMobileNetV2`), trained by :func:`mnlab.training.train` on its
  one digits split, several seeds, deterministic on one CPU thread.
* :mod:`mnlab.studies.v2_memory` — Table 3 (memory per resolution) and Sec. 5.1's
  memory-efficient inference (:func:`mnlab.models.toys.chunked`): a block computed a slice of
  hidden channels at a time never holds its whole expansion.
* :func:`expansion_sweep`, :func:`expansion_latency` — the expansion ratio t from 2 to 10:
  MACs, parameters, memory, time.
* :func:`claims` — the chapter's paper-vs-measured rows, thresholds included.

Figures are drawn by :mod:`mnlab.plots.v2`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from torch import nn

from mnlab.analysis import Backend, analyze, compare_latency
from mnlab.claims import Claim, Evidence, compare, statement
from mnlab.models import create_model
from mnlab.models.mobilenet_v2 import BOTTLENECKS
from mnlab.models.toys import ABLATION_VARIANTS, ToyMobileNetV2, chunked
from mnlab.papers import figure
from mnlab.studies.blocks import describe_blocks
from mnlab.studies.v2_memory import stage_starting_widths, table3_maxima
from mnlab.studies.stored import stored_tables
from mnlab.training import Digits, digits, train
from mnlab.validation import check_int, check_real

# --------------------------------------------------------------------------- the block


def bottleneck_macs(h: int, w: int, d_in: int, t: float, d_out: int, k: int = 3, stride: int = 1) -> int:
    """Mult-Adds of one inverted residual block on an h × w × d′ input (Sec. 3.3, Table 1).

    The paper's count, h·w·d′·t·(d′ + k² + d″), assumes stride 1: the 1×1 expansion costs
    h·w·d′·(t·d′), the k×k depthwise h·w·(t·d′)·k², the linear projection h·w·(t·d′)·d″. With
    stride s the depthwise and the projection run on the (h/s) × (w/s) output, so they cost
    1/s² as much. With t = 1 there is no expansion layer (MobileNetV2's first block), so its
    term is left out. Output sizes use 'same' padding: ⌈h/s⌉.
    """
    for name, value in (("h", h), ("w", w), ("d_in", d_in), ("d_out", d_out), ("k", k), ("stride", stride)):
        check_int(value, name, at_least=1)
    t = check_real(t, "t", at_least=1)
    hidden = int(round(d_in * t))
    ho, wo = -(-h // stride), -(-w // stride)
    expand = h * w * d_in * hidden if hidden != d_in else 0
    return int(expand + ho * wo * hidden * k * k + ho * wo * hidden * d_out)


def _size(h: int, w: int, c: int) -> str:
    return f"{h}² × {c}" if h == w else f"{h} × {w} × {c}"


def architecture_table(model: nn.Module, resolution: int = 224) -> pd.DataFrame:
    """MobileNetV2's Table 2 (Input, Operator, t, c, n, s) generated from ``model``.

    Consecutive inverted residual blocks with the same output width form one row (a stage):
    n counts them, s is the stride of the first, t its expansion. The stem and the last 1×1
    conv are rows of their own, then the pooling and the classifier, as in the paper.
    """
    blocks = describe_blocks(model, resolution)
    rows: list[dict] = []
    for b in blocks.itertuples(index=False):
        if b.operator == "bneck" and rows and rows[-1]["Operator"] == "bottleneck" \
                and rows[-1]["c"] == b.out and b.stride == 1:
            rows[-1]["n"] += 1
            continue
        h, w, c = b.input
        if b.operator == "bneck":
            rows.append({"Input": _size(h, w, c), "Operator": "bottleneck", "t": f"{b.t:g}", "c": b.out,
                         "n": 1, "s": b.stride})
        else:
            op = "conv2d" if b.kernel == 3 else f"conv2d {b.kernel}×{b.kernel}"
            rows.append({"Input": _size(h, w, c), "Operator": op, "t": "-", "c": b.out, "n": 1, "s": b.stride})
    h, w, c = blocks.iloc[-1].input
    stride = blocks.iloc[-1].stride
    h, w, c = -(-h // stride), -(-w // stride), blocks.iloc[-1].out
    classes = model.classifier.fc.out_features
    rows.append({"Input": _size(h, w, c), "Operator": f"avgpool {h}×{w}", "t": "-", "c": "-", "n": 1, "s": "-"})
    rows.append({"Input": f"1 × 1 × {c}", "Operator": "conv2d 1×1", "t": "-", "c": classes, "n": "-", "s": "-"})
    table = pd.DataFrame(rows)
    table["c"] = table["c"].astype(str)
    table["n"] = table["n"].astype(str)
    table["s"] = table["s"].astype(str)
    return table


def spec_from_table(table: pd.DataFrame) -> list[tuple[int, int, int, int]]:
    """The (t, c, n, s) rows of the bottleneck stages of an :func:`architecture_table`, to set
    beside ``mnlab.models.mobilenet_v2.BOTTLENECKS`` (the paper's Table 2 as typed)."""
    part = table[table.Operator == "bottleneck"]
    return [(int(float(r.t)), int(r.c), int(r.n), int(r.s)) for r in part.itertuples(index=False)]


def block_costs(model: nn.Module, resolution: int = 224) -> pd.DataFrame:
    """Each inverted residual block's Mult-Adds: :func:`bottleneck_macs` beside the counter.

    Columns ``block``, ``input`` (h, w, d′), ``t``, ``out`` (d″), ``stride``, ``formula``,
    ``counted`` (conv MACs the counter found in the block), ``agree``.
    """
    blocks = describe_blocks(model, resolution)
    rows = []
    for b in blocks[blocks.operator == "bneck"].itertuples(index=False):
        h, w, d = b.input
        formula = bottleneck_macs(h, w, d, b.hidden / d, b.out, b.kernel, b.stride)
        rows.append({"block": b.block, "input": f"{h}×{w}×{d}", "t": round(b.t, 3), "out": b.out,
                     "stride": b.stride, "formula": formula, "counted": b.macs, "agree": formula == b.macs})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- Figure 1


def spiral(n_points: int = 1000, turns: float = 2.0) -> np.ndarray:
    """A 2-D spiral r = s, θ = s for s in (0.5, 2π·turns], centred on the origin, shape (n, 2)."""
    s = np.linspace(0.5, 2 * np.pi * turns, n_points)
    points = np.stack([s * np.cos(s), s * np.sin(s)], axis=1)
    return points - points.mean(axis=0)


@dataclass
class ManifoldStudy:
    """What :func:`relu_manifold` measured.

    ``errors``: one row per (n, trial) with ``pinv_error`` = ‖T⁺ReLU(Tx) − x‖ / ‖x‖ (the
    paper's procedure), ``scale`` (the least-squares factor c minimising ‖c·x̂ − x‖),
    ``shape_error`` (the relative error after that rescaling) and ``readout_error`` (the best
    affine read-out of x from ReLU(Tx), fitted by least squares: how much of x is still there
    for *any* linear layer to recover). ``summary``: mean and std over trials per n.
    ``points``: the input spiral; ``reconstructions``: n → T⁺ReLU(Tx) of the first trial.
    """

    errors: pd.DataFrame
    summary: pd.DataFrame
    points: np.ndarray
    reconstructions: dict[int, np.ndarray]


def relu_manifold(dims: Sequence[int] = (2, 3, 5, 15, 30), *, n_points: int = 1000, trials: int = 20,
                  seed: int = 0) -> ManifoldStudy:
    """MobileNetV2, Figure 1: embed a 2-D spiral x in n dimensions with a random Gaussian
    matrix T (n × 2), apply ReLU, and project back with the pseudo-inverse T⁺.

    For each n in ``dims``, ``trials`` matrices are drawn from one seeded generator. ReLU is
    positively homogeneous, so the scale of T does not matter.
    """
    dims = tuple(dims)
    if not dims:
        raise ValueError(f"dims must be a non-empty sequence of integers >= 1, got {dims!r}")
    for n in dims:
        check_int(n, "each of dims", at_least=1)
    check_int(trials, "trials", at_least=1)
    rng = np.random.default_rng(seed)
    x = spiral(n_points)
    norm = np.linalg.norm(x)
    design_ones = np.ones((len(x), 1))
    rows, recon = [], {}
    for n in dims:
        for trial in range(trials):
            T = rng.standard_normal((n, 2))
            y = np.maximum(x @ T.T, 0.0)
            xh = y @ np.linalg.pinv(T).T
            scale = float((xh * x).sum() / max((xh * xh).sum(), 1e-300))
            design = np.hstack([y, design_ones])
            coef, *_ = np.linalg.lstsq(design, x, rcond=None)
            rows.append({"n": n, "trial": trial,
                         "pinv_error": np.linalg.norm(xh - x) / norm,
                         "scale": scale,
                         "shape_error": np.linalg.norm(scale * xh - x) / norm,
                         "readout_error": np.linalg.norm(design @ coef - x) / norm})
            if trial == 0:
                recon[int(n)] = xh
    errors = pd.DataFrame(rows)
    summary = errors.groupby("n").agg(
        pinv_error=("pinv_error", "mean"), scale=("scale", "mean"),
        shape_error=("shape_error", "mean"), shape_error_std=("shape_error", "std"),
        readout_error=("readout_error", "mean"), readout_error_std=("readout_error", "std"))
    return ManifoldStudy(errors, summary, x, recon)


# --------------------------------------------------------------------------- Figure 6, small scale

#: The CSV file in which the chapter stores the ablation (chapters/data/v2_ablation.csv).
ABLATION_CSV = Path(__file__).resolve().parents[2] / "chapters" / "data" / "v2_ablation.csv"
#: The seeds the ablation trains each variant from.
ABLATION_SEEDS = (0, 1, 2, 3, 4)
#: The settings of :func:`mnlab.training.train` for the ablation's toy networks.
ABLATION_TRAINING = {"epochs": 15, "batch_size": 64, "lr": 3e-3}


def train_variant(variant: str, seed: int, data: Digits | None = None, **training: Any) -> pd.DataFrame:
    """Train one :class:`~mnlab.models.toys.ToyMobileNetV2` variant (a key of
    :data:`~mnlab.models.toys.ABLATION_VARIANTS`) from ``seed`` with :func:`mnlab.training.train`
    (settings :data:`ABLATION_TRAINING`, overridable). One row per epoch: ``variant``, ``seed``,
    ``epoch``, ``train_loss``, ``test_loss``, ``test_acc`` (percent)."""
    if variant not in ABLATION_VARIANTS:
        raise ValueError(f"variant must be one of {list(ABLATION_VARIANTS)}, got {variant!r}")
    data = digits() if data is None else data
    _, history = train(lambda: ToyMobileNetV2(**ABLATION_VARIANTS[variant]), data, seed=seed,
                       **{**ABLATION_TRAINING, **training})
    return history.assign(variant=variant, seed=seed)[["variant", "seed", *history.columns]]


def run_ablation(variants: Sequence[str] = tuple(ABLATION_VARIANTS), seeds: Sequence[int] = ABLATION_SEEDS, *,
                 epochs: int = 15, data: Digits | None = None) -> pd.DataFrame:
    """Every variant from every seed (:func:`train_variant`), one row per (variant, seed, epoch)."""
    data = digits() if data is None else data
    frames = [train_variant(v, s, data, epochs=epochs) for v in variants for s in seeds]
    return pd.concat(frames, ignore_index=True)


def stored_ablation(path: str | os.PathLike[str], remeasure: bool, *, seeds: Sequence[int] = ABLATION_SEEDS,
                    epochs: int = 15) -> pd.DataFrame:
    """The ablation as stored in ``path`` (CSV, each row with the machine that trained it, see
    :mod:`mnlab.studies.stored`); trained afresh and written there when ``remeasure`` is true or
    the file is missing. A stored table that does not hold exactly the variants, seeds and
    epochs asked for is an error, not silently used."""
    table = stored_tables({"ablation": path}, remeasure,
                          lambda: {"ablation": run_ablation(tuple(ABLATION_VARIANTS), tuple(seeds), epochs=epochs)})["ablation"]
    expected = {(v, s, e) for v in ABLATION_VARIANTS for s in seeds for e in range(1, epochs + 1)}
    found = set(zip(table.variant, table.seed, table.epoch))
    if found != expected:
        raise ValueError(f"{os.fspath(path)} does not hold the ablation asked for ({len(ABLATION_VARIANTS)} variants × "
                         f"seeds {tuple(seeds)} × {epochs} epochs); re-run with remeasure=True")
    return table


def ablation_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Final-epoch test accuracy per variant over seeds: mean, std, min, max; the difference to
    the linear bottleneck seed by seed (paired: same seed, same batches), its mean and std, and
    in how many seeds the variant ended below the linear bottleneck; the final train loss."""
    last = table[table.epoch == table.epoch.max()]
    order = list(dict.fromkeys(last.variant))
    acc = last.pivot(index="seed", columns="variant", values="test_acc")[order]
    diff = acc.sub(acc["linear bottleneck"], axis=0)
    summary = pd.DataFrame({"mean": acc.mean(), "std": acc.std(), "min": acc.min(), "max": acc.max(),
                            "vs linear (mean)": diff.mean(), "vs linear (std)": diff.std(),
                            "seeds below linear": (diff < 0).sum(), "seeds": acc.count(),
                            "final train loss": last.groupby("variant").train_loss.mean()}).loc[order]
    summary.index.name = "variant"
    return summary


# --------------------------------------------------------------------------- expansion ratio


def expansion_models(ratios: Iterable[int] = range(2, 11)) -> dict[int, nn.Module]:
    """MobileNetV2 1.0 with every t = 6 replaced by each ratio (the first block keeps t = 1)."""
    return {t: create_model("mobilenet_v2", expansion=t).eval() for t in ratios}


def expansion_sweep(ratios: Iterable[int] = range(2, 11), resolution: int = 224) -> pd.DataFrame:
    """Counts of :func:`expansion_models`: MACs, parameters, and peak activation memory
    (float32, MB) evaluated eagerly and in slices (:func:`mnlab.models.toys.chunked`)."""
    rows = []
    for t, model in expansion_models(ratios).items():
        totals = analyze(model, resolution).totals
        rows.append({"t": t, "macs": totals["macs"], "params": totals["params"],
                     "peak_mb": totals["peak_activation_bytes"] / 1e6,
                     "peak_chunked_mb": analyze(chunked(model), resolution).totals["peak_activation_bytes"] / 1e6})
    return pd.DataFrame(rows)


def expansion_latency(ratios: Iterable[int] = range(2, 11), resolution: int = 224, *, backend: Backend = "onnxruntime",
                      rounds: int = 3, budget_s: float = 0.15) -> pd.DataFrame:
    """Interleaved batch-1 one-thread timings of :func:`expansion_models`
    (:func:`mnlab.analysis.compare_latency`, on ``backend``, BatchNorm folded as deployed):
    ``t``, ``latency_ms`` (median) and ``best_ms`` (fastest run)."""
    models = {f"t={t}": m for t, m in expansion_models(ratios).items()}
    times = compare_latency(models, resolution, backend=backend, rounds=rounds, budget_s=budget_s, min_runs=5)
    return pd.DataFrame({"t": list(ratios), "latency_ms": times.median_ms.values, "best_ms": times.best_ms.values})


def linear_fit(x: ArrayLike, y: ArrayLike) -> tuple[float, float]:
    """Least-squares slope and intercept of y against x."""
    slope, intercept = np.polyfit(np.asarray(x, dtype=float), np.asarray(y, dtype=float), 1)
    return float(slope), float(intercept)


def latency_models() -> dict[str, nn.Module]:
    """Table 4's three networks, eval mode: MobileNetV1, MobileNetV2 1.0 and 1.4."""
    return {"MobileNetV1": create_model("mobilenet_v1").eval(),
            "MobileNetV2": create_model("mobilenet_v2").eval(),
            "MobileNetV2 (1.4)": create_model("mobilenet_v2", width_mult=1.4).eval()}


def table4_latency(rounds: int = 4, budget_s: float = 0.2) -> pd.DataFrame:
    """Table 4's networks timed in one interleaved run, batch 1, one thread, on ONNX Runtime
    (deployed: BatchNorm folded, activations fused) and, as a contrast, eagerly in PyTorch.
    Columns ``onnxruntime_ms`` / ``eager_ms`` (fastest runs) and each relative to MobileNetV1."""
    models = latency_models()
    runs = {b: compare_latency(models, 224, backend=b, rounds=rounds, budget_s=budget_s, min_runs=5)
            for b in ("onnxruntime", "eager")}
    table = pd.DataFrame({f"{b}_ms": t.best_ms for b, t in runs.items()})
    for b in runs:
        table[f"{b}_vs_v1"] = table[f"{b}_ms"] / table[f"{b}_ms"].iloc[0]
    return table


# --------------------------------------------------------------------------- the whole network


def network_totals() -> pd.DataFrame:
    """MobileNetV2 1.0 and 1.4 at 224: ``MACs``, ``params`` (all, BatchNorm's γ and β included),
    ``params without BN`` (the weights TF-slim's table counts) and ``BN γ, β``."""
    rows = {}
    for width in ("1.0", "1.4"):
        report = analyze(create_model("mobilenet_v2", width_mult=float(width)).eval(), 224)
        weights = int(report.layers[report.layers.kind != "batchnorm"].params.sum())
        rows[width] = {"MACs": report.totals["macs"], "params": report.totals["params"],
                       "params without BN": weights, "BN γ, β": report.totals["params"] - weights}
    return pd.DataFrame(rows).T


# --------------------------------------------------------------------------- paper vs measured


def _count_claims(r: dict) -> list[Claim]:
    totals, costs, t3 = r["totals"], r["costs"], r["table3"]
    maxima, starting = table3_maxima(), stage_starting_widths()
    t3_rows = t3[t3.model == "mobilenet_v2"].set_index("size")
    return [
        compare("mobilenet_v2/1.0/madds", totals.loc["1.0", "MACs"], what="MobileNetV2 1.0 · Mult-Adds"),
        compare("mobilenet_v2/tf_slim/1.0/params", totals.loc["1.0", "params without BN"],
                what="MobileNetV2 1.0 · weights (BN excluded) vs TF-slim's table"),
        compare("mobilenet_v2/tf_slim/1.4/params", totals.loc["1.4", "params without BN"],
                what="MobileNetV2 1.4 · weights (BN excluded) vs TF-slim's table"),
        compare("mobilenet_v2/1.0/params", totals.loc["1.0", "params without BN"],
                what="MobileNetV2 1.0 · weights vs the paper", must_hold=False,
                note="3.47M (TF-slim's figure) cut, not rounded, to one decimal"),
        compare("mobilenet_v2/1.4/madds", totals.loc["1.4", "MACs"], what="MobileNetV2 1.4 · Mult-Adds"),
        compare("mobilenet_v2/1.4/params", totals.loc["1.4", "params"], what="MobileNetV2 1.4 · parameters",
                must_hold=False, note="unexplained: torchvision's exact count for the same architecture is "
                "6.11M, TF-slim's table 6.06M (weights without BN)"),
        statement("Block Mult-Adds h·w·d′·t·(d′ + k² + d″)", "Table 1 / Sec. 3.3",
                  f"{int(costs.agree.sum())} of {len(costs)} blocks equal to the counter", bool(costs.agree.all()),
                  source="mobilenet_v2", evidence=Evidence.COUNT, tolerance="exact"),
        statement("Table 2 (t, c, n, s)", f"{len(BOTTLENECKS)} bottleneck stages",
                  "generated from the model: all rows equal", spec_from_table(r["arch"]) == BOTTLENECKS,
                  source="mobilenet_v2", evidence=Evidence.COUNT, tolerance="exact"),
        compare("mobilenet_v2/table3/mobilenet_v1/max_memory_kb", maxima["V1"],
                what="Table 3 · V1 max memory (KB, 16-bit)"),
        compare("mobilenet_v2/table3/mobilenet_v2/max_memory_kb", maxima["V2"],
                what="Table 3 · V2 max memory (KB, 16-bit)"),
        statement("Table 3 · V2 channels at 56², 28², 14²", ", ".join(str(starting[s]) for s in (56, 28, 14)),
                  ", ".join(str(t3_rows.loc[f"{s} × {s}", "channels"]) for s in (56, 28, 14)), False,
                  source="mobilenet_v2", evidence=Evidence.COUNT, must_hold=False,
                  note="the paper's rows are shifted by one stage (widths of the stride-2 stages starting there)"),
    ]


def _proxy_claims(r: dict) -> list[Claim]:
    peaks, readout, summary = r["peaks"].peak_kb, r["manifold"].summary.readout_error, r["ablation"]
    sliced, eager, v1 = peaks["MobileNetV2, blocks in slices"], peaks["MobileNetV2"], peaks["MobileNetV1"]
    out = [
        statement("Memory-efficient inference (Sec. 5.1)", "inverted residuals keep the live memory small",
                  f"peak {sliced / 1000:.2f} MB in slices, {eager / 1000:.2f} MB eager; V1 {v1 / 1000:.2f} MB",
                  sliced < v1, source="mobilenet_v2", evidence=Evidence.COUNT, tolerance="sliced V2 peak < V1 peak",
                  note="holds only when blocks are evaluated in slices; eagerly V2 needs more than V1"),
        statement("Figure 1: ReLU in low dimensions loses the manifold", "destroyed for n = 2, 3; preserved for n = 15, 30",
                  f"read-out error {readout[2]:.2f}, {readout[3]:.2f} vs {readout[15]:.3f}, {readout[30]:.4f}",
                  min(readout[2], readout[3]) > 10 * max(readout[15], readout[30]), source="mobilenet_v2",
                  evidence=Evidence.PROXY, tolerance="error(n = 2, 3) > 10 × error(n = 15, 30)"),
    ]
    for name, paper_claim in [("ReLU6 bottleneck", "Figure 6a: linear bottleneck beats ReLU6 bottleneck"),
                              ("shortcut between expansions", "Figure 6b: shortcut between bottlenecks beats between expansions"),
                              ("no shortcut", "Figure 6b: shortcut between bottlenecks beats no shortcut")]:
        row = summary.loc[name]
        out.append(statement(paper_claim, "higher ImageNet accuracy (curves)",
                             f"digits: {row['vs linear (mean)']:+.1f} ± {row['vs linear (std)']:.1f} points ({name})",
                             row["vs linear (mean)"] + 2 * row["vs linear (std)"] / row["seeds"] ** 0.5 < 0,
                             source="mobilenet_v2", evidence=Evidence.PROXY, must_hold=False,
                             tolerance=f"mean + 2 standard errors over {int(row['seeds'])} paired seeds < 0",
                             note="a small-scale check on 8×8 digits, not ImageNet"))
    return out


def _timing_claims(latency: pd.DataFrame) -> list[Claim]:
    paper = {k: figure(f"mobilenet_v2/table4/{k}/latency") for k in ("mobilenet_v1", "mobilenet_v2", "mobilenet_v2_1.4")}
    ort, eager = latency.onnxruntime_vs_v1, latency.eager_vs_v1
    wide = latency.onnxruntime_ms["MobileNetV2 (1.4)"] / latency.onnxruntime_ms["MobileNetV2"]
    return [
        statement("Table 4: V2 faster than V1", f"{paper['mobilenet_v2'].printed} vs {paper['mobilenet_v1'].printed} (Pixel 1)",
                  f"ONNX Runtime {ort['MobileNetV2']:.2f}×, eager {eager['MobileNetV2']:.2f}× V1's time",
                  ort["MobileNetV2"] < 1, source="mobilenet_v2/table4/mobilenet_v2/latency", evidence=Evidence.TIMING,
                  tolerance="ONNX Runtime ratio < 1", note="depends on the CPU and the runtime"),
        statement("Table 4: V2 (1.4) slower than V2 (1.0)",
                  f"{paper['mobilenet_v2_1.4'].printed} vs {paper['mobilenet_v2'].printed}",
                  f"ONNX Runtime {wide:.2f}×", wide > 1.2, source="mobilenet_v2/table4/mobilenet_v2_1.4/latency",
                  evidence=Evidence.TIMING_EFFECT, tolerance="ratio > 1.2 (1.9× the Mult-Adds; one interleaved run)"),
    ]


def claims(results: dict) -> list[Claim]:
    """The chapter's paper-vs-measured rows. ``results`` holds ``totals`` (:func:`network_totals`),
    ``costs`` (:func:`block_costs`), ``arch`` (:func:`architecture_table`), ``table3``
    (:func:`mnlab.studies.v2_memory.table3_comparison`), ``peaks``
    (:func:`mnlab.studies.v2_memory.peak_memory` of :func:`mnlab.studies.v2_memory.memory_models`),
    ``manifold`` (:func:`relu_manifold`), ``ablation`` (:func:`ablation_summary`) and, optionally,
    ``latency`` (:func:`table4_latency`). Counts must hold exactly or within the printed rounding;
    the ablation is a proxy experiment (never must-hold); of the timings only the 1.4 network's
    large slowdown must hold."""
    out = _count_claims(results) + _proxy_claims(results)
    if results.get("latency") is not None:
        out += _timing_claims(results["latency"])
    return out
