"""Claims: a published figure beside our measurement, the evidence it rests on, and a verdict.

Every chapter ends with a table built here. Each claim names the kind of :class:`Evidence` the
measurement is, and its verdict says what agreed: an *exact count*, a count *within the printed
rounding* (or a stated tolerance) of the paper's figure, a *numerical equivalence*, a *proxy
experiment* on toy data, or a *timing* on a named machine. Otherwise it *differs*, and the table
shows the gap.

Claims marked ``must_hold`` make :func:`check` raise, so a notebook (and its CI run) fails loudly
when a result the book relies on stops holding. Only evidence that is the same on every x86-64
CPU, idle or loaded, may be must-hold: counts, numerical equivalences, proxy experiments read
from stored results, and large timing effects measured within one interleaved run with a margin
(``Evidence.TIMING_EFFECT``). A hardware-dependent timing (``Evidence.TIMING``) is a
finding about the machine that measured it, shown beside what the paper measured on its device;
it is never must-hold. A claim we knowingly do not reproduce is marked ``must_hold=False`` with
the reason in ``note``.

Claims keep their numbers as numbers (``measured``, ``gap``); :func:`claims_table` returns them
as data and :func:`display_table` formats them for the page.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import pandas as pd

from mnlab.papers import Published, figure


class ClaimFailed(AssertionError):
    """Raised by :func:`check` when a claim marked must-hold is not reproduced."""


class Evidence(Enum):
    """What kind of evidence a claim rests on; the value is how the claims table names it."""

    COUNT = "count"                               # counted exactly from the model
    EQUIVALENCE = "numerical equivalence"         # two computations equal within float rounding
    PROXY = "proxy experiment (toy data)"         # a small stand-in experiment, results stored
    TIMING_EFFECT = "timing (large effect, one interleaved run)"   # a ratio with a margin
    TIMING = "timing (hardware-dependent)"        # a finding about one machine; never must-hold

    @property
    def machine_independent(self) -> bool:
        """True when the evidence is the same on every x86-64 CPU, idle or loaded."""
        return self is not Evidence.TIMING

    @property
    def is_timing(self) -> bool:
        """Whether the evidence is a timing (of either kind), whose verdict names the machine."""
        return self in (Evidence.TIMING, Evidence.TIMING_EFFECT)


@dataclass(frozen=True)
class Claim:
    """One row of a claims table.

    ``measured`` is our number (``None`` for a qualitative statement, whose evidence is in
    words in ``observed``); ``gap`` is the relative difference to the published figure,
    (measured − published) / published, or ``None``. ``agreement`` says how a holding numeric
    claim agreed ("exact", "within the printed rounding", "within ±3%", "inside the range";
    empty for statements). ``machine`` names the machine a timing was measured on. ``unit`` and
    ``like`` (a printed figure) say how ``measured`` is displayed.
    """

    what: str
    paper: str            # the published figure or statement, as printed
    measured: float | None
    tolerance: str        # what counts as agreement, in words
    gap: float | None
    holds: bool
    source: str
    evidence: Evidence
    must_hold: bool = True
    note: str = ""
    observed: str = ""
    agreement: str = ""
    machine: str = ""
    unit: str = ""
    like: str = ""        # the printed figure whose style ``measured`` is displayed in

    def __post_init__(self):
        if not isinstance(self.evidence, Evidence):
            raise ValueError(f"evidence must be an Evidence, got {self.evidence!r}")
        if self.must_hold and not self.evidence.machine_independent:
            raise ValueError(f"claim {self.what!r}: evidence {self.evidence.value!r} depends on the machine, "
                             "so it cannot be must-hold (use Evidence.TIMING_EFFECT for a large effect "
                             "measured within one interleaved run, with a margin)")
        if self.evidence.is_timing and not self.machine:
            raise ValueError(f"claim {self.what!r}: a timing must name the machine that measured it")

    @property
    def verdict(self) -> str:
        """What agreed ("exact count", "within the printed rounding", "proxy experiment (toy
        data)", "timing on <machine>", …), or "differs" / "differs (documented)"."""
        if not self.holds:
            if self.evidence.is_timing and not self.must_hold:
                return f"differs: timing on {self.machine}"
            return "differs" if self.must_hold else "differs (documented)"
        if self.evidence.is_timing:
            return f"timing on {self.machine}"
        if self.evidence is Evidence.COUNT:
            return "exact count" if self.agreement in ("", "exact") else f"count {self.agreement}"
        return self.evidence.value

    @property
    def measured_text(self) -> str:
        """``measured`` formatted like the published figure (or the statement's words)."""
        if self.measured is None:
            return self.observed
        return _format(self.measured, self.unit, self.like)

    @property
    def gap_text(self) -> str:
        """``gap`` as a signed percentage ("+5.4%"), empty when there is none."""
        return "" if self.gap is None else f"{self.gap:+.1%}"


def _format(value: float, unit: str = "", like: str = "") -> str:
    """Format ``value`` the way the published figure ``like`` is printed (same suffix and unit)."""
    if unit == "%":
        return f"{value:.2f}%"
    if unit == "ms":
        return f"{value:.3g} ms"
    suffix = like.strip()[-1:] if like else ""
    if suffix in ("K", "M", "G", "B"):
        scale = {"K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9}[suffix]
        return f"{value / scale:.4g}{suffix}"
    if like and suffix.isdigit():   # a plain printed number ("1600", "3,185,088"): same style, one more digit
        decimals = len(like.split(".")[1]) + 1 if "." in like else 0
        return f"{value:,.{decimals}f}" if "," in like else f"{value:.{decimals}f}"
    for scale, suffix in [(1e9, "G"), (1e6, "M"), (1e3, "K")]:
        if abs(value) >= scale:
            return f"{value / scale:.4g}{suffix}"
    return f"{value:.4g}"


def _must_hold(evidence: Evidence, must_hold: bool | None) -> bool:
    """``must_hold`` as given, else whether ``evidence`` is the same on every machine."""
    if not isinstance(evidence, Evidence):
        raise ValueError(f"evidence must be an Evidence, got {evidence!r}")
    return evidence.machine_independent if must_hold is None else bool(must_hold)


def _machine(evidence: Evidence, machine: str | None) -> str:
    """The machine a timing names: the one given, else this one (empty for other evidence)."""
    if machine:
        return machine
    if not evidence.is_timing:
        return ""
    from mnlab.analysis.latency import cpu_model

    return cpu_model()


def compare(key: str | Published, measured: float, *, what: str | None = None, tolerance: float = 0.01,
            rounding: bool = True, must_hold: bool | None = None, note: str = "",
            evidence: Evidence = Evidence.COUNT, machine: str | None = None) -> Claim:
    """Set the published figure ``key`` (see :mod:`mnlab.papers`) beside ``measured``.

    Agreement: ``|measured − published| ≤ max(tolerance · |published|, half-unit of the printed
    figure)`` (the rounding term only when ``rounding``). Units must match the figure's: MACs as
    counts, percentages as percent (70.6, not 0.706), latencies in milliseconds. ``must_hold``
    defaults to whether the evidence is machine-independent; a timing names ``machine`` (this
    one by default).
    """
    pub = figure(key) if isinstance(key, str) else key
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    measured = float(measured)
    diff = abs(measured - pub.value)
    half_unit = pub.half_unit if rounding else 0.0
    holds = diff <= max(tolerance * abs(pub.value), half_unit)
    gap = (measured - pub.value) / pub.value if pub.value else math.inf
    relative = f"±{tolerance:.0%}" if tolerance >= 0.01 else f"±{tolerance:.1%}"
    words = relative + (" or printed rounding" if rounding else "")
    agreement = ("" if not holds else "exact" if diff == 0 else "within the printed rounding" if diff <= half_unit
                 else f"within {relative}")
    must_hold = _must_hold(evidence, must_hold)
    return Claim(what or pub.key, pub.printed, measured, words, gap, holds, pub.citation, evidence, must_hold,
                 note or pub.note, agreement=agreement, machine=_machine(evidence, machine), unit=pub.unit,
                 like=pub.printed)


def within(low_key: str, high_key: str, measured: float, *, what: str, must_hold: bool | None = None,
           note: str = "", evidence: Evidence = Evidence.COUNT, machine: str | None = None) -> Claim:
    """A claim that a measurement lies in a published range, e.g. "8 to 9 times less computation"."""
    low, high = figure(low_key), figure(high_key)
    measured = float(measured)
    holds = low.value <= measured <= high.value
    must_hold = _must_hold(evidence, must_hold)
    return Claim(what, f"{low.printed}–{high.printed}", measured, "inside the range", None, holds,
                 low.citation, evidence, must_hold, note or low.note, agreement="inside the range" if holds else "",
                 machine=_machine(evidence, machine))


def statement(what: str, paper: str, observed: str, holds: bool, *, source: str, evidence: Evidence,
              tolerance: str = "", must_hold: bool | None = None, note: str = "",
              machine: str | None = None) -> Claim:
    """A qualitative claim ("latency correlates weakly with parameter count") and our evidence.

    ``observed`` says in words what we measured; ``source`` is a key of ``mnlab.papers.SOURCES``
    or a figure key; ``holds`` is the result of the test the caller ran, stated in ``tolerance``
    (e.g. "Spearman ρ(params) < ρ(MACs)"); ``evidence`` is what kind of measurement it rests on.
    """
    from mnlab.papers import SOURCES

    citation = SOURCES[source] if source in SOURCES else figure(source).citation
    must_hold = _must_hold(evidence, must_hold)
    return Claim(what, paper, None, tolerance, None, bool(holds), citation, evidence, must_hold, note,
                 observed=observed, machine=_machine(evidence, machine))


def claims_table(claims: list[Claim]) -> pd.DataFrame:
    """The claims as data: numbers stay numbers (``measured``, ``gap`` as floats, NaN for a
    statement), with the evidence kind, the verdict and whether the claim must hold."""
    if not claims or not all(isinstance(c, Claim) for c in claims):
        raise ValueError("claims must be a non-empty list of Claim")
    nan = float("nan")
    rows = [{"claim": c.what, "paper": c.paper, "measured": nan if c.measured is None else c.measured,
             "observed": c.observed, "tolerance": c.tolerance, "gap": nan if c.gap is None else c.gap,
             "evidence": c.evidence.value, "verdict": c.verdict, "must_hold": c.must_hold, "holds": c.holds,
             "source": c.source, "note": c.note} for c in claims]
    return pd.DataFrame(rows)


def display_table(claims: list[Claim]) -> pd.DataFrame:
    """The chapter's "paper vs measured" table for the page: :func:`claims_table` with the
    measurement and the gap formatted as the paper prints them."""
    table = claims_table(claims)
    table["measured"] = [c.measured_text for c in claims]
    table["gap"] = [c.gap_text for c in claims]
    return table[["claim", "paper", "measured", "tolerance", "gap", "evidence", "verdict", "source", "note"]]


def check(claims: list[Claim]) -> list[Claim]:
    """Raise :class:`ClaimFailed` naming every must-hold claim that does not hold; else return them."""
    failed = [c for c in claims if c.must_hold and not c.holds]
    if failed:
        lines = [f"{c.what}: paper {c.paper}, measured {c.measured_text} ({c.gap_text or 'no gap'}, "
                 f"tolerance {c.tolerance}, {c.evidence.value})" for c in failed]
        raise ClaimFailed("claims not reproduced:\n  " + "\n  ".join(lines))
    return claims
