"""Chapter 2's MobileNetV1 study: tables, grids and scaling exponents."""
import numpy as np
import pandas as pd
import pytest

from mnlab.studies import v1


def test_scaling_exponent_recovers_known_powers():
    x = np.array([0.25, 0.5, 0.75, 1.0])
    assert v1.scaling_exponent(x, 3 * x ** 2) == pytest.approx(2.0)
    assert v1.scaling_exponent(x, np.full(4, 7.0)) == 0.0   # exactly: never "-0" on another CPU
    with pytest.raises(ValueError, match="positive"):
        v1.scaling_exponent([1, 2], [0, 1])
    with pytest.raises(ValueError):
        v1.scaling_exponent([1], [1])


def test_grid_and_exponents_follow_the_paper():
    grid = v1.width_resolution_grid(widths=(0.5, 1.0), resolutions=(128, 224, 256))
    assert len(grid) == 6
    full = grid[(grid.width == 1.0) & (grid.resolution == 224)].iloc[0]
    assert full.macs == 568_740_352 and full.params == 4_231_976
    # resolution changes no parameter; halving it (256 → 128: every map halves exactly) divides
    # the conv MACs by 4, while the FC's 1,024,000 stay
    full = grid[(grid.width == 1.0) & (grid.resolution == 256)].iloc[0]
    half = grid[(grid.width == 1.0) & (grid.resolution == 128)].iloc[0]
    assert half.params == full.params
    assert half.macs == (full.macs - 1_024_000) // 4 + 1_024_000
    exponents = v1.scaling_exponents(grid, width_at=224, resolution_at=1.0)
    assert exponents.loc["params", "against ρ"] == pytest.approx(0.0, abs=1e-12)
    assert 1.8 < exponents.loc["macs", "against α"] < 2.0


def test_paper_tables_cover_tables_4_to_7():
    tables = v1.paper_tables()
    assert list(tables.table.unique()) == ["Table 4", "Table 5", "Table 6", "Table 7"]
    assert len(tables) == 12
    assert (tables.paper_top1 > 50).all()   # accuracies come from mnlab.papers, in percent


def test_latency_grid_shape():
    lat = v1.latency_grid(widths=(0.25,), resolutions=(32, 64), rounds=1, budget_s=0.01, backend="eager")
    assert list(lat.columns) == ["width", "resolution", "latency_ms", "best_ms"]
    assert (lat.latency_ms > 0).all() and len(lat) == 2


def test_table2_sums_as_printed_and_transposed():
    """Table 2's printed Mult-Add column sums to 99.29%; with 1.91% for the printed 1.19%, to 100.01%."""
    assert v1.table2_sum() == pytest.approx(94.86 + 3.06 + 1.19 + 0.18)
    assert v1.table2_sum(transposed=True) == pytest.approx(100.01)


def _results():
    import mnlab
    split = mnlab.analyze(mnlab.create_model("mobilenet_v1").eval(), 224).by_kind(weight_layers_only=True)
    grid = v1.width_resolution_grid(widths=(0.5, 1.0), resolutions=(160, 224))
    return {"tables": v1.paper_tables(), "split": split, "grid": grid,
            "exponents": v1.scaling_exponents(grid, metrics=("macs", "params"))}


def test_claims_hold_and_table2_first_conv_is_documented():
    claims = v1.claims(_results())
    by = {c.what: c for c in claims}
    assert all(c.holds for c in claims if c.must_hold)
    first = by["Table 2 · conv 3×3 · % Mult-Adds"]
    assert not first.holds and not first.must_hold and "100.01%" in first.note
    assert by["Table 2 · conv 3×3 · % Mult-Adds, digits transposed"].holds


def test_timing_claims_use_the_stored_machine_and_the_margin():
    results = _results()
    latency = results["grid"][["width", "resolution"]].assign(best_ms=[1.0, 1.5, 1.6, 2.4], cpu="Some CPU")
    results.update(latency=latency, time_share=pd.Series({"conv 1×1": 80.0}))
    by = {c.what: c for c in v1.claims(results)}
    slow = by["latency falls more slowly than Mult-Adds with α"]
    assert slow.holds and not slow.must_hold and slow.machine == "Some CPU"   # α exponent ≈ 0.6 < ≈ 1.9 − 0.3
    assert not by["1×1 convs take ~95% of the time"].holds
