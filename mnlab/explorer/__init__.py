"""Explorers: sliders over a precomputed grid, for readers with and without a kernel.

Presentation layer. An explorer never computes while the reader moves a slider: the results are
computed once, over every point of the slider grid, by :func:`explorer_grid`, and
:class:`Explorer` shows them in two ways from the same table:

* ``Explorer(...)`` itself, as a cell's last expression, is the **static** explorer: one
  self-contained block of HTML with the grid embedded as JSON and a small inline script (no
  library, no CDN, no network). It works in the rendered book without a kernel and in a
  trusted notebook (JupyterLab runs the script of outputs it produced itself). Its range
  sliders snap to the grid's values, the outputs are printed as Python formatted them, and
  the script draws a small SVG chart of one output against a slider, the current point
  highlighted.
* ``Explorer.widget()`` is the **live** ipywidgets version over the same data, for readers
  with a running kernel. Where widgets cannot run its display falls back to HTML: the book
  (``_config.yml`` drops the widget-view output type for HTML builds) shows a note that the live
  version needs a kernel, or the whole static explorer with ``widget(static_fallback=True)``.

Example (MobileNetV1's width multiplier × input resolution)::

    import mnlab
    from mnlab.explorer import Explorer, explorer_grid

    def count(width, resolution):
        totals = mnlab.analyze(mnlab.create_model("mobilenet_v1", width_mult=width), resolution).totals
        return {"macs": totals["macs"], "params": totals["params"]}

    grid = explorer_grid(count, width=[0.25, 0.5, 0.75, 1.0], resolution=[128, 160, 192, 224])
    Explorer(grid, sliders=["width", "resolution"], outputs={"macs": "MACs", "params": "Parameters"},
             title="MobileNetV1: width × resolution", chart="macs", formats={"macs": "{:,.0f}"})

The static HTML is deterministic (the same data give byte-identical HTML: ids are a hash of the
content), so notebooks that display it pass nbval. Every explorer on a page works on its own:
the script binds each ``div.mnlab-explorer`` once, whatever else is on the page.

The package by concern: :class:`Explorer` (here) checks the grid and holds the data and the texts
it shows; ``grid.py`` computes grids (:func:`explorer_grid`), ``text.py`` writes numbers,
``static.py`` renders the HTML (its script and style are ``mnlab/assets/explorer.{js,css}``) and
``live.py`` the ipywidgets version. The book's Sphinx hooks are :mod:`mnlab.sphinxext`.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import pandas as pd

from mnlab.explorer import live, static
from mnlab.explorer.grid import explorer_grid, plain
from mnlab.explorer.static import explorer_page
from mnlab.explorer.text import Format, apply_format, auto_format, formatter, raw, slider_format

if TYPE_CHECKING:  # imported where used: the live explorer's packages are optional
    import ipywidgets
    from matplotlib.figure import Figure

__all__ = ["explorer_grid", "Explorer", "explorer_page"]

#: Version of the embedded data format and of the script; part of every explorer's hash.
FORMAT_VERSION = 1


# --------------------------------------------------------------------------- checking the grid


def _columns(grid, sliders, outputs) -> tuple[list[str], dict[str, str]]:
    """``sliders`` as a list and ``outputs`` as {column: label}, checked against ``grid``."""
    if not isinstance(grid, pd.DataFrame):
        raise ValueError(f"grid must be a pandas DataFrame (see explorer_grid), got "
                         f"{type(grid).__name__}")
    if len(grid) == 0:
        raise ValueError("grid is empty: it needs one row per grid point")
    if isinstance(sliders, str) or not isinstance(sliders, Sequence) or not sliders:
        raise ValueError(f"sliders must be a non-empty list of column names, got {sliders!r}")
    sliders = list(sliders)
    if isinstance(outputs, Mapping):
        outputs = {str(k): str(v) for k, v in outputs.items()}
    elif isinstance(outputs, Sequence) and not isinstance(outputs, str):
        outputs = {str(k): str(k) for k in outputs}
    else:
        raise ValueError(f"outputs must map column names to labels, got {outputs!r}")
    if not outputs:
        raise ValueError("outputs is empty: name at least one column to show")
    for arg, columns in (("sliders", sliders), ("outputs", list(outputs))):
        missing = [c for c in columns if c not in grid.columns]
        if missing:
            raise ValueError(f"{arg} names column(s) {missing} that grid does not have; its "
                             f"columns are {list(grid.columns)}")
        for column in columns:
            dtype = grid[column].dtype
            if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
                raise ValueError(f"{arg}: column {column!r} must be numeric, it is {dtype}")
    if len(set(sliders)) != len(sliders) or set(sliders) & set(outputs):
        raise ValueError(f"sliders {sliders} and outputs {list(outputs)} must be distinct columns")
    for column in sliders:
        if not np.isfinite(grid[column].to_numpy(dtype=float)).all():
            raise ValueError(f"sliders: column {column!r} holds a NaN or infinite value")
    return sliders, outputs


def _names(arg: str, given, allowed: list[str], what: str) -> dict:
    """``given`` as a dict whose keys are all ``allowed``; else a ValueError naming ``arg``."""
    given = dict(given or {})
    unknown = [k for k in given if k not in allowed]
    if unknown:
        raise ValueError(f"{arg} names {unknown}, which {what}")
    return given


def _sorted_grid(grid: pd.DataFrame, sliders: list[str], outputs: dict[str, str]
                 ) -> tuple[pd.DataFrame, dict[str, list]]:
    """The grid sorted so that row i is the point with slider indices i in C order, and each
    slider's values; a repeated or a missing point is a ValueError."""
    values = {s: sorted(set(plain(v) for v in grid[s].tolist())) for s in sliders}
    duplicated = grid.duplicated(subset=sliders)
    if duplicated.any():
        point = grid.loc[duplicated.idxmax(), sliders].to_dict()
        raise ValueError(f"grid has more than one row for the point {point}")
    size = math.prod(len(v) for v in values.values())
    if len(grid) != size:
        present = set(map(tuple, grid[sliders].itertuples(index=False, name=None)))
        absent = next(c for c in itertools.product(*values.values()) if c not in present)
        raise ValueError(f"grid is incomplete: {len(grid)} rows for {size} combinations of the "
                         f"sliders' values; missing e.g. {dict(zip(sliders, absent))}")
    data = grid.sort_values(sliders, kind="mergesort")[sliders + list(outputs)].reset_index(drop=True)
    return data, values


# --------------------------------------------------------------------------- the explorer


class Explorer:
    """Sliders over a precomputed grid: static HTML (``_repr_html_``) and a live widget.

    ``grid`` is a DataFrame with one row per grid point (as :func:`explorer_grid` returns, or read
    from a cached CSV): the ``sliders`` columns must hold every combination of their values exactly
    once. ``outputs`` maps the columns to show to their labels (a list shows the names).

    Keyword arguments:

    * ``title``: the heading; ``note``: a line of text under the explorer (say where and on which
      machine measured values such as latency were measured).
    * ``chart``: the output drawn in the chart (default: the first output; ``False``: no chart),
      against the slider ``chart_x`` (default: the first slider); one line per setting of the
      other sliders, the current one bold, the current point highlighted.
    * ``formats``: per column (outputs and sliders), a format string (``"{:,.0f}"`` or
      ``",.0f"``) or a function returning the text; defaults: integers with thousands
      separators, other numbers with 4 significant digits, slider values as Python prints them.
      The texts are computed here, in Python, for every grid point and embedded: what the page
      shows is exactly ``format(value)``, and each shown number carries its exact value in a
      ``data-value`` attribute.
    * ``slider_labels``: display names of the sliders (default: their column names).
    * ``initial``: the point shown first, ``{slider: value}`` (default: each slider's largest
      value).
    * ``missing_text``: the text shown where an output is NaN (default ``"n/a"``), e.g. "not in the
      paper" for a published figure that exists only at some grid points.

    Raises ``ValueError`` naming the argument for a missing or non-numeric column, an incomplete
    grid or a repeated point, an unknown chart output or slider, and a format that fails.
    """

    def __init__(self, grid: pd.DataFrame, sliders: Sequence[str],
                 outputs: Mapping[str, str] | Sequence[str], *, title: str | None = None,
                 chart: str | None | bool = None, formats: Mapping[str, Format] | None = None,
                 note: str | None = None, slider_labels: Mapping[str, str] | None = None,
                 chart_x: str | None = None, initial: Mapping[str, float] | None = None,
                 missing_text: str = "n/a") -> None:
        sliders, outputs = _columns(grid, sliders, outputs)
        self.title = "" if title is None else str(title)
        self.note = "" if note is None else str(note)
        self.sliders = sliders
        self.outputs = outputs
        labels = _names("slider_labels", slider_labels, sliders, f"are not sliders {sliders}")
        self.slider_labels = {s: str(labels.get(s, s)) for s in sliders}
        self.data, self.values = _sorted_grid(grid, sliders, outputs)

        if chart is None:
            chart = next(iter(outputs))
        if chart is not False and chart not in outputs:
            raise ValueError(f"chart must be one of the outputs {list(outputs)} (or False), "
                             f"got {chart!r}")
        self.chart = chart if chart is not False else None
        chart_x = sliders[0] if chart_x is None else chart_x
        if chart_x not in sliders:
            raise ValueError(f"chart_x must be one of the sliders {sliders}, got {chart_x!r}")
        self.chart_x = chart_x

        self._text = self._texts(_names("formats", formats, sliders + list(outputs),
                                        f"are neither sliders {sliders} nor outputs {list(outputs)}"),
                                 str(missing_text))
        initial = _names("initial", initial, sliders, f"are not sliders {sliders}")
        self.initial = {}
        for s in sliders:
            value = initial.get(s, self.values[s][-1])
            if value not in self.values[s]:
                raise ValueError(f"initial[{s!r}] = {value!r} is not one of the slider's values "
                                 f"{self.values[s]}")
            self.initial[s] = self.values[s].index(value)

        self._payload = self._build_payload()
        self._json = json.dumps(self._payload, ensure_ascii=True, separators=(",", ":"),
                                allow_nan=False)
        digest = hashlib.sha256(f"mnlab-explorer/{FORMAT_VERSION}/{self._json}".encode())
        self.id = "mnx-" + digest.hexdigest()[:12]

    # ---------------------------------------------------------------- data

    def _texts(self, formats: dict, missing_text: str) -> dict[str, list[str]]:
        """The text shown for every slider value and every output at every grid point."""
        text = {}
        for s in self.sliders:
            fn = formatter(s, formats.get(s), slider_format)
            text[s] = [apply_format(s, fn, v) for v in self.values[s]]
        for o in self.outputs:
            fn = formatter(o, formats.get(o), auto_format)
            text[o] = [apply_format(o, fn, plain(v), missing_text) for v in self.data[o].tolist()]
        return text

    def _build_payload(self) -> dict:
        def number(v):
            v = plain(v)
            return None if isinstance(v, float) and not math.isfinite(v) else v

        outputs = []
        for o, label in self.outputs.items():
            column = [plain(v) for v in self.data[o].tolist()]
            outputs.append({"name": o, "label": label, "value": [number(v) for v in column],
                            "raw": [raw(v) for v in column], "text": self._text[o]})
        return {
            "version": FORMAT_VERSION,
            "title": self.title,
            "sliders": [{"name": s, "label": self.slider_labels[s], "values": self.values[s],
                         "raw": [raw(v) for v in self.values[s]], "text": self._text[s]}
                        for s in self.sliders],
            "outputs": outputs,
            "initial": [self.initial[s] for s in self.sliders],
            "chart": None if self.chart is None else {
                "x": self.sliders.index(self.chart_x),
                "y": list(self.outputs).index(self.chart)},
        }

    @property
    def payload(self) -> dict:
        """A copy of the data embedded in the static HTML. It holds the sliders with their
        values and texts, and the outputs with one value, exact literal and text per grid point,
        in C order of the slider indices (the first slider slowest)."""
        return json.loads(self._json)

    def index(self, **point: float) -> int:
        """Row of ``data`` (the grid sorted by the sliders) and position in the embedded
        arrays of a grid point."""
        flat = 0
        for s in self.sliders:
            if s not in point or point[s] not in self.values[s]:
                raise ValueError(f"{s}={point.get(s)!r} is not one of the slider's values "
                                 f"{self.values[s]}")
            flat = flat * len(self.values[s]) + self.values[s].index(point[s])
        return flat

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        shape = " × ".join(f"{s} ({len(self.values[s])})" for s in self.sliders)
        title = f" {self.title!r}" if self.title else ""
        return f"<Explorer{title}: {shape} = {len(self)} points; outputs {list(self.outputs)}>"

    # ---------------------------------------------------------------- views

    def to_html(self) -> str:
        """The static explorer: one ``<div class="mnlab-explorer">`` with its style, data and
        script. Deterministic: the same data, labels and formats give the same bytes."""
        return static.to_html(self)

    def _repr_html_(self) -> str:
        return self.to_html()

    def chart_figure(self, **point: float) -> Figure:
        """A matplotlib Figure of the chart at ``point`` (default: the initial point): the chart
        output against ``chart_x``, one grey line per setting of the other sliders, the current
        one in colour and the current point marked. Used by :meth:`widget`."""
        return live.chart_figure(self, **point)

    def widget(self, *, static_fallback: bool = False) -> ipywidgets.VBox:
        """The live ipywidgets explorer over the same data: one selection slider per slider
        (its values are the grid's), the outputs as a table, and the chart redrawn on change.

        Where widgets cannot run (the rendered book, a notebook viewer) its display shows HTML
        instead: a one-line note that the live version needs a kernel (the chapter shows the
        static explorer itself, ``Explorer`` as a cell's value), or with ``static_fallback=True``
        the whole static explorer."""
        return live.widget(self, static_fallback=static_fallback)
