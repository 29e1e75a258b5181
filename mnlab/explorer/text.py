"""How the explorer writes numbers: the texts it embeds, exact literals, chart ticks, escaping."""
from __future__ import annotations

import html
import json
import math
import numbers
from typing import Callable

Format = str | Callable[[float], str]


def auto_format(value: float) -> str:
    """Default text: integers with thousands separators, other numbers with 4 significant digits
    (never in exponent notation)."""
    if isinstance(value, numbers.Integral):
        return f"{value:,}"
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    digits = min(8, max(0, 3 - math.floor(math.log10(abs(value)))))
    return f"{value:,.{digits}f}"


def slider_format(value: object) -> str:
    """Default text of a slider value: as Python prints it (``0.25``, ``1.0``, ``224``)."""
    return repr(value) if isinstance(value, float) else str(value)


def formatter(name: str, fmt: Format | None, default: Callable) -> Callable[[float], str]:
    if fmt is None:
        return default
    if callable(fmt):
        return fmt
    if isinstance(fmt, str):
        if "{" in fmt:
            return fmt.format
        return lambda v: format(v, fmt)
    raise ValueError(f"formats[{name!r}] must be a format string such as '{{:,.0f}}' or ',.0f', "
                     f"or a function of the value returning a string; got {fmt!r}")


def apply_format(name: str, fn: Callable[[float], str], value: float, missing: str = "n/a") -> str:
    if isinstance(value, float) and math.isnan(value):
        return missing
    try:
        text = fn(value)
    except (ValueError, TypeError, KeyError, IndexError) as err:
        raise ValueError(f"formats[{name!r}] failed on {value!r}: {err}") from None
    if not isinstance(text, str):
        raise ValueError(f"formats[{name!r}] returned {type(text).__name__} for {value!r}; it must "
                         f"return a string")
    return text


def raw(value: object) -> str:
    """The value exactly, as a JSON/Python number literal (``repr`` round-trips a float)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return json.dumps(value)


def compact(value: float) -> str:
    """Axis ticks as the static chart prints them: ``600M``, ``1.2G``, ``37.8``."""
    if value == 0:
        return "0"
    for scale, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{float(f'{value / scale:.3g}'):g}{unit}"
    return f"{float(f'{value:.3g}'):g}"


def esc(text: str) -> str:
    return html.escape(str(text), quote=True)
