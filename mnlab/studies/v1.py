"""Chapter 2: MobileNetV1's tables and its two knobs, the width multiplier α and the resolution ρ.

Howard et al. 2017: α thins every layer (Sec. 3.3: cost ~α²), ρ shrinks the input (Sec. 3.4:
Mult-Adds ~ρ², parameters unchanged). Tables 4–7 of the paper compare the baselines and grids
counted here; the accuracy columns are the paper's (no ImageNet training happens in this book).
"""
from __future__ import annotations

import itertools
import os
from typing import Any, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from mnlab.analysis import Backend, analyze, compare_latency
from mnlab.claims import Claim, Evidence, compare, statement
from mnlab.models import create_model
from mnlab.papers import figure
from mnlab.studies.stored import machine_of, stored_tables

V1 = "mobilenet_v1"
#: The grid the chapter fits its exponents on (the explorer's is the default 4 × 4 one).
EXPONENT_GRID: dict[str, Any] = {"widths": (0.25, 0.35, 0.5, 0.75, 1.0), "resolutions": (96, 128, 160, 192, 224)}
#: Where the chapter's latency grid is stored (measured anew only under ``book.remeasure()``).
LATENCY_CSV = Path(__file__).resolve().parents[2] / "chapters" / "data" / "v1_latency.csv"


def count(name: str = V1, width_mult: float = 1.0, resolution: int = 224) -> dict:
    """MACs, parameters and peak activation memory of a registry model at one setting."""
    model = create_model(name, width_mult=width_mult).eval()
    totals = analyze(model, resolution).totals
    return {"macs": totals["macs"], "params": totals["params"],
            "peak_activation_bytes": totals["peak_activation_bytes"]}


def paper_tables() -> pd.DataFrame:
    """Tables 4–7 of the paper, counted: one row per network the paper lists, with the paper's
    Mult-Adds, parameters and (its) ImageNet top-1 beside our counts."""
    rows = [
        ("Table 4", "Conv MobileNet", "conv_mobilenet_v1", 1.0, 224, "mobilenet_v1/table4/conv_mobilenet"),
        ("Table 4", "MobileNet", V1, 1.0, 224, "mobilenet_v1/table6/1.0"),
        ("Table 5", "0.75 MobileNet", V1, 0.75, 224, "mobilenet_v1/table5/0.75"),
        ("Table 5", "Shallow MobileNet", "shallow_mobilenet_v1", 1.0, 224, "mobilenet_v1/table5/shallow"),
        *[("Table 6", f"{a} MobileNet-224", V1, float(a), 224, f"mobilenet_v1/table6/{a}")
          for a in ("1.0", "0.75", "0.5", "0.25")],
        *[("Table 7", f"1.0 MobileNet-{r}", V1, 1.0, r, f"mobilenet_v1/table7/{r}") for r in (224, 192, 160, 128)],
    ]
    table = []
    for where, label, name, width, resolution, key in rows:
        counted = count(name, width, resolution)
        table.append({"table": where, "model": label, "name": name, "width": width, "resolution": resolution,
                      "macs": counted["macs"], "paper_madds": figure(f"{key}/madds").value,
                      "params": counted["params"], "paper_params": figure(f"{key}/params").value,
                      "paper_top1": figure(f"{key}/top1").value, "key": key})
    return pd.DataFrame(table)


def width_resolution_grid(widths: Sequence[float] = (0.25, 0.5, 0.75, 1.0),
                          resolutions: Sequence[int] = (128, 160, 192, 224),
                          name: str = V1) -> pd.DataFrame:
    """Counts over the α × resolution grid (the explorer's data): one row per setting."""
    rows = [{"width": w, "resolution": r, **count(name, w, r)}
            for w, r in itertools.product(widths, resolutions)]
    return pd.DataFrame(rows)


def scaling_exponent(x: ArrayLike, y: ArrayLike) -> float:
    """Slope of the least-squares line through (log x, log y): y ∝ x^slope. α² scaling is slope 2.

    A constant y has slope exactly 0 (a fit would leave ±1e-15 of rounding, whose sign depends
    on the CPU's kernels and would print as "-0")."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) != len(y) or len(x) < 2 or (x <= 0).any() or (y <= 0).any():
        raise ValueError("x and y must be equally long (>= 2) sequences of positive numbers")
    if (y == y[0]).all():
        return 0.0
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def scaling_exponents(grid: pd.DataFrame, metrics: Sequence[str] = ("macs", "params"), width_at: int = 224,
                      resolution_at: float = 1.0) -> pd.DataFrame:
    """Fitted exponents of each metric against α (at ``width_at`` pixels) and against ρ (at
    α = ``resolution_at``), with ρ = resolution / the largest resolution in the grid."""
    by_width = grid[grid.resolution == width_at].sort_values("width")
    by_res = grid[grid.width == resolution_at].sort_values("resolution")
    rho = by_res.resolution / by_res.resolution.max()
    return pd.DataFrame({
        "against α": {m: scaling_exponent(by_width.width, by_width[m]) for m in metrics},
        "against ρ": {m: scaling_exponent(rho, by_res[m]) for m in metrics},
    })


def latency_grid(widths: Sequence[float] = (0.25, 0.5, 0.75, 1.0),
                 resolutions: Sequence[int] = (128, 160, 192, 224), *, rounds: int = 3,
                 budget_s: float = 0.1, name: str = V1, backend: Backend = "onnxruntime") -> pd.DataFrame:
    """Measured latency (batch 1, one thread) over the α × resolution grid on ``backend``
    (deployed: ONNX Runtime, BN folded), all settings interleaved
    (:func:`~mnlab.analysis.compare_latency`); ``latency_ms`` is the median."""
    settings = list(itertools.product(widths, resolutions))
    models = {f"{w}/{r}": create_model(name, width_mult=w).eval() for w, r in settings}
    shapes = {f"{w}/{r}": r for w, r in settings}
    times = compare_latency(models, shapes, rounds=rounds, budget_s=budget_s, backend=backend)
    return pd.DataFrame([{"width": w, "resolution": r, "latency_ms": times.median_ms[f"{w}/{r}"],
                          "best_ms": times.best_ms[f"{w}/{r}"]} for w, r in settings])


def stored_latency_grid(path: str | os.PathLike = LATENCY_CSV, remeasure: bool = False) -> pd.DataFrame:
    """:func:`latency_grid` (ONNX Runtime, one thread) as stored at ``path`` with the machine that
    measured it; measured and written when ``remeasure`` is true or the file is missing."""
    return stored_tables({"latency": path}, remeasure, lambda: {"latency": latency_grid()})["latency"]


#: How far below the Mult-Adds' α exponent latency's must lie to "fall more slowly than Mult-Adds".
EXPONENT_MARGIN = 0.3


def claims(results: dict) -> list[Claim]:
    """Chapter 2's claims. ``results`` holds ``tables`` (:func:`paper_tables`), ``split`` (the
    report's ``by_kind(weight_layers_only=True)``), ``grid`` and ``exponents``
    (:func:`width_resolution_grid` on :data:`EXPONENT_GRID`, :func:`scaling_exponents`) and, for
    the timing claims, ``time_share`` (% of profiled layer time by kind) and ``latency`` (the
    stored :func:`latency_grid`). Timings are never must-hold."""
    split, exponents, out = results["split"], results["exponents"], []
    for row in results["tables"].drop_duplicates("key").itertuples():
        out.append(compare(f"{row.key}/madds", row.macs, what=f"{row.table} · {row.model} · Mult-Adds"))
        out.append(compare(f"{row.key}/params", row.params, what=f"{row.table} · {row.model} · parameters"))
    out += _table2_claims(split)
    out.append(compare("mobilenet_v1/sec3.2/pointwise_params_pct", split.loc["conv 1×1", "params_pct"],
                       what="1×1 convs hold ~75% of the parameters", tolerance=0.02))
    out.append(compare("mobilenet_v1/sec3.2/pointwise_time_pct", split.loc["conv 1×1", "macs_pct"],
                       what="1×1 convs do ~95% of the computation (Mult-Adds)", tolerance=0.02))
    alpha, rho = exponents.loc["macs", "against α"], exponents.loc["macs", "against ρ"]
    out.append(statement("α scales Mult-Adds by ~α²", "roughly α²", f"α^{alpha:.2f}", 1.8 <= alpha <= 2.0,
                         source="mobilenet_v1", evidence=Evidence.COUNT, tolerance="exponent in [1.8, 2]"))
    out.append(statement("ρ scales Mult-Adds by ρ²", "ρ²", f"ρ^{rho:.3f}", abs(rho - 2) < 0.02,
                         source="mobilenet_v1", evidence=Evidence.COUNT, tolerance="|exponent − 2| < 0.02"))
    out.append(statement("ρ leaves the parameters unchanged", "Mult-Adds only",
                         f"ρ^{exponents.loc['params', 'against ρ']:.3f}",
                         results["grid"].groupby("width").params.nunique().eq(1).all(), source="mobilenet_v1",
                         evidence=Evidence.COUNT, tolerance="identical counts at every resolution"))
    if "latency" in results:
        out += _timing_claims(results)
    return out


def _table2_claims(split: pd.DataFrame) -> list[Claim]:
    """Table 2 row by row; the first conv's printed 1.19% is documented, and its transposition
    1.91% (with which the printed column sums to 100.01%) must hold."""
    out = []
    for kind in split.index:
        documented = kind == "conv 3×3"
        note = (f"112·112·32·27 of {split.macs.sum():,} Mult-Adds; the printed column sums to "
                f"{table2_sum():.2f}%, with 1.91% in this cell to {table2_sum(transposed=True):.2f}%"
                if documented else "")
        out.append(compare(f"mobilenet_v1/table2/{kind}/madds_pct", split.loc[kind, "macs_pct"],
                           what=f"Table 2 · {kind} · % Mult-Adds", must_hold=not documented, note=note))
        out.append(compare(f"mobilenet_v1/table2/{kind}/params_pct", split.loc[kind, "params_pct"],
                           what=f"Table 2 · {kind} · % parameters"))
    out.append(compare("mobilenet_v1/table2/conv 3×3/madds_pct_transposed", split.loc["conv 3×3", "macs_pct"],
                       what="Table 2 · conv 3×3 · % Mult-Adds, digits transposed"))
    return out


TABLE2_KINDS = ("conv 1×1", "depthwise 3×3", "conv 3×3", "linear")


def table2_sum(transposed: bool = False) -> float:
    """The sum of Table 2's printed Mult-Add column, or with the first conv's 1.19% replaced by
    its transposition 1.91% (``transposed``)."""
    key = "mobilenet_v1/table2/{}/madds_pct"
    total = sum(figure(key.format(k)).value for k in TABLE2_KINDS if k != "conv 3×3")
    first = figure(key.format("conv 3×3") + ("_transposed" if transposed else "")).value
    return total + first


def _timing_claims(results: dict) -> list[Claim]:
    """The timing half of :func:`claims`: ONNX Runtime on the machine that measured it."""
    latency, exponents, share = results["latency"], results["exponents"], results["time_share"]
    machine = machine_of(latency, cpu_only=True) if "cpu" in latency else None
    latency_alpha = scaling_exponents(latency, metrics=("best_ms",)).loc["best_ms", "against α"]
    mac_alpha = exponents.loc["macs", "against α"]
    return [
        compare("mobilenet_v1/sec3.2/pointwise_time_pct", share["conv 1×1"], what="1×1 convs take ~95% of the time",
                tolerance=0.02, evidence=Evidence.TIMING, machine=results.get("profile_machine"),
                note="share of profiled layer time, ONNX Runtime (BN folded), 1 thread"),
        statement("latency falls more slowly than Mult-Adds with α", "(Mult-Adds ~α²)",
                  f"latency ~α^{latency_alpha:.2f}", latency_alpha < mac_alpha - EXPONENT_MARGIN,
                  source="shufflenet_v2", evidence=Evidence.TIMING, machine=machine,
                  tolerance=f"latency exponent < MAC exponent − {EXPONENT_MARGIN} (stored interleaved run)"),
    ]
