"""How well do MACs, parameters and bytes predict latency? Rank correlation, as in MobileOne.

MobileOne (Vasu et al. 2022, Sec. 3.1, Fig. 2 and Table 1) asks whether FLOPs and parameter
counts track latency on a phone, and answers with Spearman's rank correlation: weakly for
FLOPs, barely for parameters. A rank statistic is the right tool: it asks only whether a model
with more MACs is also slower, not whether latency is linear in MACs. We report Spearman's ρ
and Kendall's τ (τ-b, robust to ties) with their two-sided p-values from ``scipy.stats``.
"""
from __future__ import annotations

import warnings
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

MIN_ROWS = 3  # fewer points carry no rank information (and scipy's p-values need n >= 3)


def rank_correlation(df: pd.DataFrame, target: str = "latency_ms",
                     metrics: Sequence[str] = ("macs", "params", "bytes"),
                     by: str | None = "family") -> pd.DataFrame:
    """Spearman and Kendall coefficients of each metric against ``target``.

    Tidy result, one row per (group, metric): group ("all", then each value of ``by`` in
    order of appearance), metric, n, spearman, spearman_p, kendall, kendall_p. Rows with a
    missing value in the metric or the target are dropped for that metric. A group with fewer
    than 3 rows, or a constant column, gets NaN coefficients. ``by=None`` gives only "all".

    Raises ``ValueError`` if ``df`` is not a DataFrame, a named column is missing, or the whole
    table has fewer than 3 rows.
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = list(metrics) if isinstance(metrics, Iterable) else metrics
    if not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) for m in metrics):
        raise ValueError(f"metrics must be a column name or a non-empty sequence of column names, "
                         f"got {metrics!r}")
    for argument, value in (("target", target), ("by", by)):
        if not isinstance(value, str) and not (argument == "by" and value is None):
            raise ValueError(f"{argument} must be a column name{' or None' if argument == 'by' else ''}, "
                             f"got {value!r}")
    needed = [target, *metrics] + ([by] if by is not None else [])
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"df has no column(s) {missing}; available: {list(df.columns)}")
    if len(df) < MIN_ROWS:
        raise ValueError(f"df must have at least {MIN_ROWS} rows for a rank correlation, got {len(df)}")

    groups = [("all", df)]
    if by is not None:
        groups += [(str(name), part) for name, part in df.groupby(by, sort=False)]
    rows = []
    for group, part in groups:
        for metric in metrics:
            pair = part[[metric, target]].dropna()
            row = {"group": group, "metric": metric, "n": len(pair),
                   "spearman": np.nan, "spearman_p": np.nan, "kendall": np.nan, "kendall_p": np.nan}
            if len(pair) >= MIN_ROWS:
                x, y = pair[metric].to_numpy(dtype=float), pair[target].to_numpy(dtype=float)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # constant input: scipy warns and returns NaN
                    rho, rho_p = stats.spearmanr(x, y)
                    tau, tau_p = stats.kendalltau(x, y)
                row.update(spearman=float(rho), spearman_p=float(rho_p),
                           kendall=float(tau), kendall_p=float(tau_p))
            rows.append(row)
    columns = ["group", "metric", "n", "spearman", "spearman_p", "kendall", "kendall_p"]
    return pd.DataFrame(rows, columns=columns)
