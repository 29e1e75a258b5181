"""The published-figures table and the claims machinery."""
import inspect
import math
import re

import pytest

from mnlab import claims, papers


def test_printed_figures_parse_with_their_rounding():
    f = papers.figure("mobilenet_v1/table6/1.0/params")
    assert (f.printed, f.value, f.half_unit) == ("4.2M", 4.2e6, 0.05e6)
    f = papers.figure("efficientnet_lite/lite3/madds")
    assert (f.value, f.half_unit) == (1.44e9, 0.005e9)
    f = papers.figure("mobilenet_v2/table4/mobilenet_v2/latency")
    assert (f.value, f.unit) == (75.0, "ms")
    assert papers.figure("mobilenet_v1/table2/conv 1×1/madds_pct").unit == "%"
    assert papers.figure("reference/mobilenet_v2/1.4/params").value == 6_108_776


def test_every_figure_names_a_known_source():
    assert len(papers.FIGURES) > 150
    for f in papers.FIGURES.values():
        assert f.source in papers.SOURCES, f.key
        assert f.citation.startswith(papers.SOURCES[f.source])


def test_unknown_key_and_duplicate_and_unparsable():
    with pytest.raises(ValueError, match="mobilenet_v1/table6"):
        papers.figure("mobilenet_v1/table6/2.0/madds")
    with pytest.raises(ValueError, match="twice"):
        papers._add("mobilenet_v1/table6/1.0/madds", "569M", "mobilenet_v1", "Table 6")
    with pytest.raises(ValueError, match="parse"):
        papers._parse("about 5")



def test_each_source_is_defined_once_beside_its_figures():
    """papers.py is grouped by paper: a section defines its sources with _source, which refuses a
    key defined twice, and nothing patches SOURCES afterwards."""
    with pytest.raises(ValueError, match="source 'mobilenet_v1' defined twice"):
        papers._source("mobilenet_v1", "another citation")
    assert papers.SOURCES["mobilenet_v1"] == "Howard et al. 2017, MobileNets, arXiv 1704.04861v1"
    assert not re.search(r"SOURCES\[[\"']", inspect.getsource(papers))   # no SOURCES["key"] = ...

def test_compare_uses_relative_tolerance_or_printed_rounding():
    # 569M printed: rounding ±0.5M; 1% = ±5.69M.
    assert claims.compare("mobilenet_v1/table6/1.0/madds", 573e6).holds
    assert not claims.compare("mobilenet_v1/table6/1.0/madds", 576e6).holds
    # 4.2M printed: the rounding (±0.05M) is wider than 1% (±0.042M).
    assert claims.compare("mobilenet_v1/table6/1.0/params", 4.246e6).holds
    assert not claims.compare("mobilenet_v1/table6/1.0/params", 4.246e6, rounding=False).holds
    c = claims.compare("mobilenet_v1/table6/1.0/madds", 600e6, tolerance=0.03)
    assert (c.holds, c.verdict) == (False, "differs")
    assert "Table 6" in c.source and "1704.04861" in c.source


def test_claims_keep_numbers_and_format_only_for_display():
    c = claims.compare("mobilenet_v1/table6/1.0/madds", 600e6, tolerance=0.03)
    assert c.measured == 600e6 and c.gap == pytest.approx(31 / 569)
    # displayed the way the paper printed the figure
    assert (c.measured_text, c.gap_text) == ("600M", "+5.4%")
    assert claims.compare("mobilenet_v2/table3/mobilenet_v1/max_memory_kb", 1605.632).measured_text == "1606"
    assert claims.compare("mobilenet_v1/tf_slim/params", 3_185_088).measured_text == "3,185,088"
    said = claims.statement("params track latency weakly", "weak", "ρ = 0.3", True, source="mobileone",
                            evidence=claims.Evidence.PROXY)
    assert (said.measured, said.gap, said.measured_text, said.gap_text) == (None, None, "ρ = 0.3", "")
    rows = [claims.compare("mobilenet_v2/1.0/madds", m) for m in (310e6, 300.8e6, 290e6)] + [said]
    table = claims.claims_table(rows)
    assert table.measured.dtype == float and table.gap.dtype == float
    assert list(table.sort_values("gap").measured.iloc[:3]) == [290e6, 300.8e6, 310e6]
    assert math.isnan(table.measured.iloc[3]) and table.observed.iloc[3] == "ρ = 0.3"
    shown = claims.display_table(rows)
    assert list(shown.measured) == ["310M", "300.8M", "290M", "ρ = 0.3"]
    assert list(shown.gap) == ["+3.3%", "+0.3%", "-3.3%", ""]   # of the printed 300M


def test_verdict_says_what_agreed():
    exact = claims.compare("mobilenet_v1/tf_slim/params", 3_185_088)
    rounded = claims.compare("mobilenet_v1/table6/1.0/params", 4_231_976)     # printed 4.2M
    tolerated = claims.compare("mobilenet_v1/table6/1.0/madds", 573e6)         # 569M ± 1%
    assert (exact.verdict, rounded.verdict, tolerated.verdict) == (
        "exact count", "count within the printed rounding", "count within ±1%")
    assert claims.compare("mobilenet_v2/1.0/madds", 309e6, tolerance=0.03).verdict == "count within ±3%"
    counted = claims.statement("ρ keeps params", "unchanged", "equal", True, source="mobilenet_v1",
                               evidence=claims.Evidence.COUNT)
    equal = claims.statement("re-param", "same function", "< 1e-5", True, source="mobileone",
                             evidence=claims.Evidence.EQUIVALENCE)
    proxy = claims.statement("linear bottleneck", "better", "-1.0 points", True, source="mobilenet_v2",
                             evidence=claims.Evidence.PROXY)
    effect = claims.statement("re-parameterized faster", "faster", "3×", True, source="mobileone",
                              evidence=claims.Evidence.TIMING_EFFECT, machine="Test CPU")
    finding = claims.statement("SE costs latency", "slower", "0.9×", False, source="mobileone",
                               evidence=claims.Evidence.TIMING, machine="Test CPU")
    assert [c.verdict for c in (counted, equal, proxy, effect, finding)] == [
        "exact count", "numerical equivalence", "proxy experiment (toy data)", "timing on Test CPU",
        "differs: timing on Test CPU"]
    assert effect.must_hold and not finding.must_hold   # the default follows the evidence
    table = claims.display_table([counted, equal, proxy, effect, finding])
    assert list(table.columns) == ["claim", "paper", "measured", "tolerance", "gap", "evidence", "verdict",
                                   "source", "note"]
    assert list(table.evidence) == [e.value for e in claims.Evidence]


def test_a_timing_names_its_machine_and_is_never_must_hold():
    from mnlab.analysis.latency import cpu_model

    here = claims.compare("mobilenet_v2/table4/mobilenet_v2/latency", 20.0, tolerance=0.5,
                          evidence=claims.Evidence.TIMING)
    assert here.machine == cpu_model() and not here.must_hold
    assert here.verdict == f"differs: timing on {cpu_model()}"
    assert claims.check([here]) == [here]          # a finding, never a failure
    with pytest.raises(ValueError, match="must-hold"):
        claims.statement("SE costs latency", "slower", "0.9×", False, source="mobileone",
                         evidence=claims.Evidence.TIMING, must_hold=True)
    with pytest.raises(ValueError, match="must-hold"):
        claims.compare("mobilenet_v2/table4/mobilenet_v2/latency", 75.0, evidence=claims.Evidence.TIMING,
                       must_hold=True)
    stored = claims.statement("MACs rank latency", "moderate", "ρ = 0.95", True, source="mobileone",
                              evidence=claims.Evidence.TIMING, machine="Intel(R) Xeon(R) Processor")
    assert stored.verdict == "timing on Intel(R) Xeon(R) Processor"
    with pytest.raises(ValueError, match="evidence"):
        claims.statement("x", "y", "z", True, source="mobileone", evidence="count")


def test_check_raises_only_for_must_hold_failures():
    ok = claims.compare("mobilenet_v2/1.0/madds", 300.8e6)
    documented = claims.compare("mobilenet_v2/1.0/madds", 350e6, must_hold=False, note="different head")
    assert documented.verdict == "differs (documented)"
    assert claims.check([ok, documented]) == [ok, documented]
    bad = claims.compare("mobilenet_v2/1.0/madds", 350e6, what="V2 MAdds")
    with pytest.raises(claims.ClaimFailed, match=r"V2 MAdds: paper 300M, measured 350M \(\+16\.7%.*count"):
        claims.check([ok, bad])
    slow = claims.statement("re-parameterized faster", "faster", "1.1×", False, source="mobileone",
                            evidence=claims.Evidence.TIMING_EFFECT, machine="Test CPU")
    with pytest.raises(claims.ClaimFailed, match="re-parameterized faster"):
        claims.check([slow])


def test_range_and_statement_claims_and_table():
    inside = claims.within("mobilenet_v1/sec3.1/separable_saving_low", "mobilenet_v1/sec3.1/separable_saving_high",
                           8.7, what="saving of a 3×3 separable conv")
    outside = claims.within("mobilenet_v1/sec3.1/separable_saving_low", "mobilenet_v1/sec3.1/separable_saving_high",
                            4.0, what="N = 8", must_hold=False)
    said = claims.statement("params track latency weakly", "weak", "ρ = 0.3", True, source="mobileone",
                            evidence=claims.Evidence.PROXY)
    assert inside.holds and not outside.holds and said.holds
    assert (inside.measured, inside.measured_text, inside.gap) == (8.7, "8.7", None)
    table = claims.claims_table([inside, outside, said])
    assert list(table.verdict) == ["count inside the range", "differs (documented)", "proxy experiment (toy data)"]
    assert list(table.must_hold) == [True, False, True]
    with pytest.raises(ValueError, match="non-empty"):
        claims.claims_table([])
    with pytest.raises(ValueError, match="tolerance"):
        claims.compare("mobilenet_v2/1.0/madds", 1, tolerance=-1)
