"""The published-figures table and the claims machinery."""
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


def test_compare_uses_relative_tolerance_or_printed_rounding():
    # 569M printed: rounding ±0.5M; 1% = ±5.69M.
    assert claims.compare("mobilenet_v1/table6/1.0/madds", 573e6).holds
    assert not claims.compare("mobilenet_v1/table6/1.0/madds", 576e6).holds
    # 4.2M printed: the rounding (±0.05M) is wider than 1% (±0.042M).
    assert claims.compare("mobilenet_v1/table6/1.0/params", 4.246e6).holds
    assert not claims.compare("mobilenet_v1/table6/1.0/params", 4.246e6, rounding=False).holds
    c = claims.compare("mobilenet_v1/table6/1.0/madds", 600e6, tolerance=0.03)
    assert (c.holds, c.gap, c.verdict) == (False, "+5.4%", "differs")
    assert "Table 6" in c.source and "1704.04861" in c.source
    # measured values are printed the way the paper printed the figure
    assert c.measured == "600M"
    assert claims.compare("mobilenet_v2/table3/mobilenet_v1/max_memory_kb", 1605.632).measured == "1606"
    assert claims.compare("mobilenet_v1/tf_slim/params", 3_185_088).measured == "3,185,088"


def test_check_raises_only_for_must_hold_failures():
    ok = claims.compare("mobilenet_v2/1.0/madds", 300.8e6)
    documented = claims.compare("mobilenet_v2/1.0/madds", 350e6, must_hold=False, note="different head")
    assert documented.verdict == "differs (documented)"
    assert claims.check([ok, documented]) == [ok, documented]
    bad = claims.compare("mobilenet_v2/1.0/madds", 350e6, what="V2 MAdds")
    with pytest.raises(claims.ClaimFailed, match="V2 MAdds"):
        claims.check([ok, bad])


def test_range_and_statement_claims_and_table():
    inside = claims.within("mobilenet_v1/sec3.1/separable_saving_low", "mobilenet_v1/sec3.1/separable_saving_high",
                           8.7, what="saving of a 3×3 separable conv")
    outside = claims.within("mobilenet_v1/sec3.1/separable_saving_low", "mobilenet_v1/sec3.1/separable_saving_high",
                            4.0, what="N = 8", must_hold=False)
    said = claims.statement("params track latency weakly", "weak", "ρ = 0.3", True, source="mobileone")
    assert inside.holds and not outside.holds and said.holds
    table = claims.claims_table([inside, outside, said])
    assert list(table.columns) == ["claim", "paper", "measured", "tolerance", "gap", "verdict", "source", "note"]
    assert list(table.verdict) == ["reproduced", "differs (documented)", "reproduced"]
    with pytest.raises(ValueError, match="non-empty"):
        claims.claims_table([])
    with pytest.raises(ValueError, match="tolerance"):
        claims.compare("mobilenet_v2/1.0/madds", 1, tolerance=-1)
