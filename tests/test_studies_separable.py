"""Chapter 1's single-layer study against hand-computed counts (MobileNetV1 Sec. 3.1, Table 3)."""
import math

import pandas as pd
import pytest

from mnlab.studies import separable as sep


@pytest.mark.parametrize("m,n,df,k", [(512, 512, 14, 3), (32, 64, 112, 3), (16, 24, 7, 5), (3, 8, 9, 7)])
def test_formula_and_counter_agree(m, n, df, k):
    table = sep.formula_vs_counted(m, n, df, k)
    assert table.agree.all(), table
    assert table.loc["standard_macs", "counted"] == k * k * m * n * df * df
    assert table.loc["separable_params", "counted"] == k * k * m + m * n


def test_table3_rows_hand_computed():
    t = sep.table3()
    assert t.loc["conv", "macs"] == 3 * 3 * 512 * 512 * 14 * 14 == 462_422_016
    assert t.loc["conv", "params"] == 2_359_296
    assert t.loc["separable", "macs"] == (9 * 512 + 512 * 512) * 196 == 52_283_392
    assert t.loc["alpha=0.75", "params"] == 9 * 384 + 384 * 384 == 150_912
    assert t.loc["rho=0.714", "size"] == 10
    assert t.loc["rho=0.714", "macs"] == 150_912 * 100
    assert t.loc["rho=0.714", "params"] == t.loc["alpha=0.75", "params"]   # ρ leaves params alone


def test_reduction_sweep_matches_eq6_and_the_8_to_9_range():
    s = sep.reduction_sweep(channels=(16, 64, 72, 512), kernels=(3, 5))
    assert (s.formula_ratio - s.counted_ratio).abs().max() < 1e-15
    three = s[s.kernel == 3].set_index("N").saving
    assert three[512] == pytest.approx(1 / (1 / 512 + 1 / 9))
    assert three[16] < 8 and three[64] < 8 <= three[72] and 8 < three[512] < 9


def test_g1_counted_cost_is_minimal_at_equal_widths():
    g = sep.g1_sweep()
    assert g.macs.nunique() == 1
    assert g.memory_access_elems.iloc[0] == g.bound.iloc[0] == 28 * 28 * (256 + 256) + 256 * 256
    assert g.memory_access_elems.is_monotonic_increasing and (g.memory_access_elems >= g.bound - 1e-6).all()
    assert math.isclose(g.bound.iloc[0], 2 * math.sqrt(784 * g.macs.iloc[0]) + g.macs.iloc[0] / 784)
    with pytest.raises(ValueError, match="widths"):
        sep.g1_sweep(widths=((8, 8), (8, 16)))


def test_latency_sweep_shape_and_mac_ratio():
    lat = sep.latency_sweep(channels=(16,), size=8, rounds=2, budget_s=0.01, backend="eager")
    assert list(lat.columns) == ["N", "standard_ms", "separable_ms", "speedup", "mac_ratio"]
    assert lat.mac_ratio.iloc[0] == pytest.approx(1 / (1 / 16 + 1 / 9))
    assert (lat[["standard_ms", "separable_ms"]] > 0).all().all()


def test_g1_verdict_names_the_fastest_its_margin_and_the_trend():
    timed = sep.g1_sweep().assign(latency_ms=[1.0, 1.04, 1.2, 1.5])
    v = sep.g1_verdict(timed)
    assert v["fastest"] == "1:1" and v["margin"] == pytest.approx(0.04) and v["slowdown_last"] == pytest.approx(1.5)
    assert sep.g1_verdict(timed.assign(latency_ms=[1.1, 1.0, 1.3, 1.4]))["fastest"] == "1:4"


def _results(**timing):
    return {"table3": sep.table3(), "sweep": sep.reduction_sweep(channels=(16, 512), kernels=(3,)),
            "g1": sep.g1_sweep(), **timing}


def test_claims_counts_hold_and_the_narrow_layer_is_documented():
    claims = {c.what: c for c in sep.claims(_results())}
    assert all(c.holds for c in claims.values() if c.must_hold)
    assert not claims["3×3 separable saving at N = 16"].holds and not claims["3×3 separable saving at N = 16"].must_hold
    assert claims["G1: equal widths minimize memory access cost"].holds
    assert len([c for c in claims.values() if c.what.startswith("Table 3")]) == 8


def test_timing_claims_apply_their_thresholds():
    """G1 is not reproduced on a 4% margin (issue 15), only on > 10%; depthwise needs 3× its MAC share."""
    timings = pd.DataFrame({"N": [512], "speedup": [7.0], "mac_ratio": [8.845]})
    g1 = sep.g1_sweep()
    close = _results(timings=timings, dw_time_share=0.2, g1_times=g1.assign(latency_ms=[1.0, 1.04, 1.2, 1.5]))
    by = {c.what: c for c in sep.claims(close)}
    assert not by["G1: equal widths run fastest"].holds and not by["G1: equal widths run fastest"].must_hold
    assert by["Depthwise costs far more time than its Mult-Adds"].holds          # 20% > 3 × 1.73%
    assert by["Mult-Adds overstate the speed-up on a CPU"].holds
    assert all(c.source == by["G1: equal widths run fastest"].source for c in by.values() if c.evidence.is_timing)
    clear = _results(timings=timings, dw_time_share=0.05, g1_times=g1.assign(latency_ms=[1.0, 1.2, 1.3, 1.5]))
    by = {c.what: c for c in sep.claims(clear)}
    assert by["G1: equal widths run fastest"].holds
    assert not by["Depthwise costs far more time than its Mult-Adds"].holds      # 5% < 3 × 1.73%
