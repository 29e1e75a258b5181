"""The explorer's grid: ``compute`` evaluated once at every point of the sliders' values."""
from __future__ import annotations

import itertools
import math
import numbers
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd


def is_number(value: object) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)))


def plain(value: Any) -> Any:
    """A Python int/float for a numpy scalar, any other grid cell as it is (JSON and pandas then see a plain number)."""
    return value.item() if isinstance(value, np.generic) else value


def _slider_values(sliders: Mapping[str, Sequence[float]]) -> dict[str, list]:
    """Each slider's values as a list of plain numbers, checked (see :func:`explorer_grid`)."""
    if not sliders:
        raise ValueError("explorer_grid needs at least one slider: pass them as keywords, "
                         "e.g. explorer_grid(compute, width=[0.5, 1.0])")
    values: dict[str, list] = {}
    for name, options in sliders.items():
        if isinstance(options, (str, bytes, Mapping)) or not hasattr(options, "__iter__"):
            raise ValueError(f"slider {name!r} must be a list of numbers, got {options!r}")
        options = [plain(v) for v in options]
        if not options:
            raise ValueError(f"slider {name!r} is empty: give it at least one number")
        bad = [v for v in options if not is_number(v) or not math.isfinite(v)]
        if bad:
            raise ValueError(f"slider {name!r} must hold finite numbers only, got {bad[0]!r} "
                             f"in {options!r}")
        if len(set(options)) != len(options):
            raise ValueError(f"slider {name!r} repeats a value: {options!r}")
        values[name] = options
    return values


def explorer_grid(compute: Callable[..., Mapping[str, float]], /, **sliders: Sequence[float]
                  ) -> pd.DataFrame:
    """Evaluate ``compute`` at every point of the slider grid.

    Each keyword is a slider: its name and the numbers it can take. The grid is their cartesian
    product, the first slider varying slowest (``itertools.product`` order), and ``compute`` is
    called once per point with the sliders as keyword arguments, ``compute(width=0.25,
    resolution=128)``, returning a dict of numbers (``{"macs": ..., "params": ...}``; NaN is
    allowed for a value that does not exist at that point).

    Returns a DataFrame with one row per grid point, in that order; its columns are the slider
    names, then the keys of the dicts ``compute`` returned (every call must return the same keys).

    Raises ``ValueError`` naming the argument for no sliders, an empty slider, a slider value that
    is not a finite number (or is repeated), and ``compute`` returning anything but a dict of
    numbers, a key that is also a slider's name or keys that change between points.
    """
    if not callable(compute):
        raise ValueError(f"compute must be a callable returning a dict of numbers, got {compute!r}")
    values = _slider_values(sliders)
    names = list(values)
    rows = []
    keys: list[str] | None = None
    for combo in itertools.product(*values.values()):
        point = dict(zip(names, combo))
        result = compute(**point)
        where = ", ".join(f"{k}={v!r}" for k, v in point.items())
        if not isinstance(result, Mapping):
            raise ValueError(f"compute({where}) returned {type(result).__name__}; compute must "
                             f"return a dict of numbers such as {{'macs': 1.0}}")
        if not result:
            raise ValueError(f"compute({where}) returned an empty dict; it must return at least one "
                             f"number")
        if keys is None:
            keys = list(result)
            clash = [k for k in keys if k in values]
            if clash:
                raise ValueError(f"compute returned key(s) {clash} that are also slider names")
        elif list(result) != keys and set(result) != set(keys):
            raise ValueError(f"compute({where}) returned keys {sorted(map(str, result))}, the first "
                             f"point returned {sorted(map(str, keys))}: every point needs the same")
        row = dict(point)
        for key in keys:
            value = plain(result[key])
            if not isinstance(key, str) or not is_number(value):
                raise ValueError(f"compute({where}) returned {key!r}: {value!r}; compute must "
                                 f"return a dict of numbers keyed by strings")
            row[key] = value
        rows.append(row)
    return pd.DataFrame(rows, columns=names + (keys or []))   # keys is set: there is at least one point
