"""Claims: a published figure beside our measurement, with a stated tolerance and a verdict.

Every chapter ends with a table built here. A claim is *reproduced* when the measurement lies
within the tolerance of the published figure (relative, or within the rounding of the printed
figure, whichever is wider); otherwise it *differs*, and the table shows the gap. Claims marked
``must_hold`` make :func:`check` raise, so a notebook (and its CI run) fails loudly when a
result the book relies on stops holding. A claim we knowingly do not reproduce is marked
``must_hold=False`` with the reason in ``note``: that is a finding, and it is shown as one.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mnlab.papers import Published, figure


class ClaimFailed(AssertionError):
    """Raised by :func:`check` when a claim marked must-hold is not reproduced."""


@dataclass(frozen=True)
class Claim:
    """One row of a claims table."""

    what: str
    paper: str           # the published figure or statement, as printed
    measured: str        # our measurement, formatted
    tolerance: str       # what counts as agreement, in words
    gap: str             # measured vs published, e.g. "+0.3%"; "" for qualitative claims
    holds: bool
    source: str
    must_hold: bool = True
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.holds:
            return "reproduced"
        return "differs" if self.must_hold else "differs (documented)"


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


def compare(key: str | Published, measured: float, *, what: str | None = None, tolerance: float = 0.01,
            rounding: bool = True, must_hold: bool = True, note: str = "") -> Claim:
    """Set the published figure ``key`` (see :mod:`mnlab.papers`) beside ``measured``.

    Agreement: ``|measured − published| ≤ max(tolerance · |published|, half-unit of the printed
    figure)`` (the rounding term only when ``rounding``). Units must match the figure's: MACs as
    counts, percentages as percent (70.6, not 0.706), latencies in milliseconds.
    """
    pub = figure(key) if isinstance(key, str) else key
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    measured = float(measured)
    allowed = max(tolerance * abs(pub.value), pub.half_unit if rounding else 0.0)
    holds = abs(measured - pub.value) <= allowed
    gap = (measured - pub.value) / pub.value if pub.value else float("inf")
    words = f"±{tolerance:.0%}" if tolerance >= 0.01 else f"±{tolerance:.1%}"
    if rounding:
        words += " or printed rounding"
    return Claim(what or pub.key, pub.printed, _format(measured, pub.unit, pub.printed), words, f"{gap:+.1%}",
                 holds, pub.citation, must_hold, note or pub.note)


def within(low_key: str, high_key: str, measured: float, *, what: str, must_hold: bool = True,
           note: str = "") -> Claim:
    """A claim that a measurement lies in a published range, e.g. "8 to 9 times less computation"."""
    low, high = figure(low_key), figure(high_key)
    holds = low.value <= measured <= high.value
    return Claim(what, f"{low.printed}–{high.printed}", _format(measured), "inside the range", "",
                 holds, low.citation, must_hold, note or low.note)


def statement(what: str, paper: str, measured: str, holds: bool, *, source: str,
              tolerance: str = "", must_hold: bool = True, note: str = "") -> Claim:
    """A qualitative claim ("latency correlates weakly with parameter count") and our evidence.

    ``source`` is a key of ``mnlab.papers.SOURCES`` or a figure key; ``holds`` is the result
    of the test the caller ran, stated in ``tolerance`` (e.g. "Spearman ρ(params) < ρ(MACs)").
    """
    from mnlab.papers import SOURCES

    citation = SOURCES[source] if source in SOURCES else figure(source).citation
    return Claim(what, paper, measured, tolerance, "", bool(holds), citation, must_hold, note)


def claims_table(claims: list[Claim]) -> pd.DataFrame:
    """The chapter's "paper vs measured" table as data (print or display it at the edge)."""
    if not claims:
        raise ValueError("claims must be a non-empty list of Claim")
    rows = [{"claim": c.what, "paper": c.paper, "measured": c.measured, "tolerance": c.tolerance,
             "gap": c.gap, "verdict": c.verdict, "source": c.source, "note": c.note} for c in claims]
    return pd.DataFrame(rows)


def check(claims: list[Claim]) -> list[Claim]:
    """Raise :class:`ClaimFailed` naming every must-hold claim that does not hold; else return them."""
    failed = [c for c in claims if c.must_hold and not c.holds]
    if failed:
        lines = [f"{c.what}: paper {c.paper}, measured {c.measured} ({c.gap}, tolerance {c.tolerance})"
                 for c in failed]
        raise ClaimFailed("claims not reproduced:\n  " + "\n  ".join(lines))
    return claims
