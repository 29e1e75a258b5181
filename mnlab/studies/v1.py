"""Chapter 2: MobileNetV1's tables and its two knobs, the width multiplier α and the resolution ρ.

Howard et al. 2017: α thins every layer (Sec. 3.3: cost ~α²), ρ shrinks the input (Sec. 3.4:
Mult-Adds ~ρ², parameters unchanged). Tables 4–7 of the paper compare the baselines and grids
counted here; the accuracy columns are the paper's (no ImageNet training happens in this book).
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from mnlab.analysis import analyze, compare_latency
from mnlab.models import create_model
from mnlab.papers import figure

V1 = "mobilenet_v1"


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


def width_resolution_grid(widths=(0.25, 0.5, 0.75, 1.0), resolutions=(128, 160, 192, 224),
                          name: str = V1) -> pd.DataFrame:
    """Counts over the α × resolution grid (the explorer's data): one row per setting."""
    rows = [{"width": w, "resolution": r, **count(name, w, r)}
            for w, r in itertools.product(widths, resolutions)]
    return pd.DataFrame(rows)


def scaling_exponent(x, y) -> float:
    """Slope of the least-squares line through (log x, log y): y ∝ x^slope. α² scaling is slope 2.

    A constant y has slope exactly 0 (a fit would leave ±1e-15 of rounding, whose sign depends
    on the CPU's kernels and would print as "-0")."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) != len(y) or len(x) < 2 or (x <= 0).any() or (y <= 0).any():
        raise ValueError("x and y must be equally long (>= 2) sequences of positive numbers")
    if (y == y[0]).all():
        return 0.0
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def scaling_exponents(grid: pd.DataFrame, metrics=("macs", "params"), width_at: int = 224,
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


def latency_grid(widths=(0.25, 0.5, 0.75, 1.0), resolutions=(128, 160, 192, 224), *, rounds: int = 3,
                 budget_s: float = 0.1, name: str = V1) -> pd.DataFrame:
    """Measured latency (batch 1, one thread) over the α × resolution grid, all settings
    interleaved (:func:`~mnlab.analysis.compare_latency`); ``latency_ms`` is the median."""
    settings = list(itertools.product(widths, resolutions))
    models = {f"{w}/{r}": create_model(name, width_mult=w).eval() for w, r in settings}
    shapes = {f"{w}/{r}": r for w, r in settings}
    times = compare_latency(models, shapes, rounds=rounds, budget_s=budget_s)
    return pd.DataFrame([{"width": w, "resolution": r, "latency_ms": times.median_ms[f"{w}/{r}"],
                          "best_ms": times.best_ms[f"{w}/{r}"]} for w, r in settings])
