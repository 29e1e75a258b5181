"""Helpers the chapter notebooks share: set-up, glued numbers, claims tables.

Presentation layer: everything here formats or displays data computed elsewhere in mnlab.
"""
from __future__ import annotations

import os
import random
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from mnlab.claims import Claim, check, display_table

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler


def setup(seed: int = 0, threads: int = 1) -> None:
    """Make a chapter deterministic and quiet: fixed seeds, one thread, readable tables.

    Timings in the book are single-threaded like the papers' (one large mobile core); counted
    outputs do not depend on threads, but one thread keeps every float sum in the same order.
    Prints one line saying so (the versions that produced the page).
    """
    import mnlab

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    print(f"mnlab {mnlab.__version__} · torch {torch.__version__} · {threads} thread(s) · seed {seed}")
    pd.set_option("display.max_columns", 30)
    pd.set_option("display.width", 160)
    pd.set_option("display.max_colwidth", 60)
    pd.set_option("display.float_format", _number)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # Timing tables show the spread (IQR) themselves; a shared machine would otherwise print a
    # warning per measurement.
    warnings.filterwarnings("ignore", message="noisy latency measurement")
    try:
        import matplotlib as mpl

        mpl.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "figure.figsize": (7.5, 4.2),
                             "axes.spines.top": False, "axes.spines.right": False,
                             "svg.hashsalt": "mnlab", "font.size": 10})
    except ImportError:   # pragma: no cover - matplotlib is a dependency
        return
    try:   # in a notebook: show returned Figure objects as PNG (the inline backend)
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None and hasattr(shell, "kernel"):
            shell.run_line_magic("matplotlib", "inline")
    except ImportError:
        pass


def _number(value: float) -> str:
    """Whole numbers with thousands separators (MACs, parameters), others to 4 significant digits."""
    if np.isfinite(value) and float(value).is_integer() and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def below(table: pd.DataFrame, column: str, bound: float) -> pd.DataFrame:
    """A copy of ``table`` whose ``column`` shows "< bound" wherever it is below ``bound``.

    How the book prints float rounding errors: their last digits depend on the CPU's kernels, the
    bound does not, so the page means the same on every machine. A value at or above the bound
    is shown as it is (and then differs from the stored page, as it should)."""
    if not bound > 0:
        raise ValueError(f"bound must be a positive number, got {bound!r}")
    if column not in table:
        raise ValueError(f"column must be one of {list(table.columns)}, got {column!r}")
    shown = table.copy()
    shown[column] = [f"< {bound:g}" if value < bound else _number(value) for value in table[column]]
    return shown


def remeasure() -> bool:
    """True when the reader asked for fresh timings (``make book EXECUTE=1`` sets it)."""
    return os.environ.get("MNLAB_REMEASURE", "") == "1"


def millions(value: float, digits: int = 1) -> str:
    """``569_000_000`` → ``"569.0M"``: how the papers print MACs and parameters."""
    return f"{value / 1e6:,.{digits}f}M"


def glue(name: str, value: object, fmt: str | None = None) -> None:
    """Glue a computed number into the prose (``{glue:text}`name```) without displaying it.

    ``fmt`` is a format spec (``",.0f"``, ``".1%"``); the formatted string is what the page shows.
    """
    from myst_nb import glue as myst_glue

    myst_glue(name, value if fmt is None else format(value, fmt), display=False)


def show_claims(claims: list[Claim]) -> Styler:
    """The chapter's closing table (a pandas ``Styler`` of :func:`mnlab.claims.display_table`):
    verdicts that agree in green, differences in orange, timings in blue. Raises
    :class:`mnlab.claims.ClaimFailed` if a must-hold claim fails, so the notebook (and ``make
    test``) fails with it."""
    check(claims)
    return display_table(claims).style.set_uuid("claims").hide(axis="index").map(_verdict_colour,
                                                                                  subset=["verdict"])


def _verdict_colour(verdict: str) -> str:
    if verdict.startswith("differs"):
        return "color: #b35900; font-weight: bold"
    if verdict.startswith("timing"):
        return "color: #0b5cad; font-weight: bold"
    return "color: #1a7f37; font-weight: bold"
