"""rank_correlation on data whose answer is known, and the latency-vs-metric plot."""
import math

import pandas as pd
import pytest
from matplotlib.figure import Figure

from mnlab.analysis.correlation import rank_correlation
from mnlab.plots import plot_latency_vs_metrics


def table():
    # macs orders latency perfectly, params reversely, bytes with two swapped pairs.
    return pd.DataFrame({
        "family": ["A", "A", "A", "B", "B"],
        "latency_ms": [1.0, 2.0, 3.0, 4.0, 5.0],
        "macs": [10, 20, 30, 40, 50],
        "params": [9, 7, 5, 3, 1],
        "bytes": [2, 1, 4, 3, 5],
    })


def test_known_orderings_give_one_minus_one_and_the_hand_computed_value():
    result = rank_correlation(table(), by=None).set_index("metric")
    assert result.loc["macs", "spearman"] == pytest.approx(1.0)
    assert result.loc["macs", "kendall"] == pytest.approx(1.0)
    assert result.loc["params", "spearman"] == pytest.approx(-1.0)
    assert result.loc["params", "kendall"] == pytest.approx(-1.0)
    # bytes ranks 2 1 4 3 5 against 1 2 3 4 5: Σd² = 4, ρ = 1 − 6·4 / (5·(25 − 1)) = 0.8;
    # 2 discordant pairs of 10, τ = (8 − 2) / 10 = 0.6.
    assert result.loc["bytes", "spearman"] == pytest.approx(0.8)
    assert result.loc["bytes", "kendall"] == pytest.approx(0.6)
    assert 0 < result.loc["bytes", "spearman_p"] < 1 and 0 < result.loc["bytes", "kendall_p"] < 1
    assert (result["n"] == 5).all()


def test_tidy_per_family():
    result = rank_correlation(table())
    assert list(result.columns) == ["group", "metric", "n", "spearman", "spearman_p", "kendall", "kendall_p"]
    assert list(result["group"].unique()) == ["all", "A", "B"]
    a = result[result["group"] == "A"].set_index("metric")
    assert a.loc["macs", "spearman"] == pytest.approx(1.0) and a.loc["params", "kendall"] == pytest.approx(-1.0)
    b = result[result["group"] == "B"]
    assert (b["n"] == 2).all() and b["spearman"].isna().all()  # too few rows in a group: NaN, not an error


def test_missing_values_are_dropped_per_metric():
    df = table()
    df.loc[0, "bytes"] = None
    result = rank_correlation(df, by=None).set_index("metric")
    assert result.loc["bytes", "n"] == 4 and result.loc["macs", "n"] == 5


def test_constant_metric_gives_nan():
    df = table().assign(params=7)
    result = rank_correlation(df, by=None).set_index("metric")
    assert math.isnan(result.loc["params", "spearman"])


@pytest.mark.parametrize("kwargs, match", [
    ({"target": "latency"}, "latency"),
    ({"metrics": ("macs", "flops")}, "flops"),
    ({"by": "paper"}, "paper"),
    ({"metrics": ()}, "metrics"),
    ({"metrics": None}, "metrics must be a column name or a non-empty sequence"),
    ({"metrics": [1, 2]}, "metrics must be a column name"),
    ({"metrics": (m for m in [])}, "metrics must be a column name"),
    ({"target": None}, "target must be a column name"),
    ({"by": 3}, "by must be a column name or None"),
])
def test_missing_columns(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rank_correlation(table(), **kwargs)


def test_metrics_from_a_generator():
    listed = rank_correlation(table(), metrics=["macs", "params"], by=None)
    generated = rank_correlation(table(), metrics=(m for m in ["macs", "params"]), by=None)
    assert generated.equals(listed) and list(listed["metric"]) == ["macs", "params"]


def test_too_few_rows_and_not_a_table():
    with pytest.raises(ValueError, match="at least 3 rows"):
        rank_correlation(table().head(2))
    with pytest.raises(ValueError, match="DataFrame"):
        rank_correlation(table().to_dict())


def test_plot_one_panel_per_metric_with_the_coefficient_in_the_title():
    fig = plot_latency_vs_metrics(table())
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    titles = [ax.get_title() for ax in fig.axes]
    assert "ρ = 1.00" in titles[0] and "ρ = -1.00" in titles[1] and "ρ = 0.80" in titles[2]
    assert len(fig.axes[0].collections) == 2  # one scatter per family
