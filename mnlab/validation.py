"""The one check for integer and real arguments, used across mnlab.

Every public function refuses bad input with a ``ValueError`` that names the argument, the value
and what is allowed (DESIGN.md). These two helpers are that rule for numbers:

* an *integer* is a Python or NumPy integer (``numbers.Integral``), never a bool;
* a *real* is a Python or NumPy int or float (``numbers.Real``), never a bool, and finite:
  NaN and ±inf are refused, since no width, resolution or count can be infinite.

For example ``check_int(numpy.int64(3), "threads", at_least=1)`` returns 3, and
``check_real(float("inf"), "width_mult", above=0)`` raises "width_mult must be a finite number
> 0, got inf".

This module imports nothing from mnlab: every layer may use it.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, TypeGuard

import numpy as np


def is_int(value: object) -> TypeGuard[int | np.integer[Any]]:
    """A Python or NumPy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(value: object, name: str, *, at_least: int | None = None, at_most: int | None = None,
              note: str = "") -> int:
    """``value`` as an ``int`` if it is an integer in [``at_least``, ``at_most``] (either bound
    may be None), else a ``ValueError`` naming ``name``; ``note`` is appended to its "must be"."""
    if (not is_int(value)
            or (at_least is not None and value < at_least) or (at_most is not None and value > at_most)):
        raise ValueError(f"{name} must be {_allowed('an integer', ('[', at_least), (']', at_most))}{note}, "
                         f"got {value!r}")
    return int(value)


def check_real(value: object, name: str, *, above: float | None = None, at_least: float | None = None,
               below: float | None = None, at_most: float | None = None, note: str = "") -> float:
    """``value`` as a ``float`` if it is a finite real number > ``above`` (or >= ``at_least``) and
    < ``below`` (or <= ``at_most``), else a ``ValueError`` naming ``name``; ``note`` is appended
    to its "must be"."""
    number = math.nan   # not a real number: refused below, as NaN is
    if not isinstance(value, bool) and isinstance(value, numbers.Real):
        real: Any = value   # numbers.Real's stub lacks the comparisons every real number has
        number = float(real) if abs(real) < 1e308 else math.inf  # huge ints: too large anyway
    ok = (math.isfinite(number) and (above is None or number > above)
          and (at_least is None or number >= at_least) and (below is None or number < below)
          and (at_most is None or number <= at_most))
    if not ok:
        low = ("(", above) if above is not None else ("[", at_least)
        high = (")", below) if below is not None else ("]", at_most)
        raise ValueError(f"{name} must be {_allowed('a finite number', low, high)}{note}, got {value!r}")
    return number


def _allowed(what: str, low: tuple, high: tuple) -> str:
    """"an integer in [1, 16]", "a finite number > 0", …: ``low``/``high`` are (bracket, bound)."""
    (opening, low), (closing, high) = low, high
    if low is not None and high is not None:
        return f"{what} in {opening}{low:g}, {high:g}{closing}"
    if low is not None:
        return f"{what} {'>' if opening == '(' else '>='} {low:g}"
    if high is not None:
        return f"{what} {'<' if closing == ')' else '<='} {high:g}"
    return what
