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
"""
from __future__ import annotations

import functools
import hashlib
import html
import itertools
import json
import math
import numbers
from importlib import resources
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["explorer_grid", "Explorer", "explorer_page"]

#: Version of the embedded data format and of the script; part of every explorer's hash.
FORMAT_VERSION = 1

Format = str | Callable[[float], str]


# --------------------------------------------------------------------------- the grid


def _is_number(value) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)))


def _plain(value):
    """A Python int/float for a numpy scalar (JSON and pandas then see a plain number)."""
    return value.item() if isinstance(value, np.generic) else value


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
    if not sliders:
        raise ValueError("explorer_grid needs at least one slider: pass them as keywords, "
                         "e.g. explorer_grid(compute, width=[0.5, 1.0])")
    values: dict[str, list] = {}
    for name, options in sliders.items():
        if isinstance(options, (str, bytes, Mapping)) or not hasattr(options, "__iter__"):
            raise ValueError(f"slider {name!r} must be a list of numbers, got {options!r}")
        options = [_plain(v) for v in options]
        if not options:
            raise ValueError(f"slider {name!r} is empty: give it at least one number")
        bad = [v for v in options if not _is_number(v) or not math.isfinite(v)]
        if bad:
            raise ValueError(f"slider {name!r} must hold finite numbers only, got {bad[0]!r} "
                             f"in {options!r}")
        if len(set(options)) != len(options):
            raise ValueError(f"slider {name!r} repeats a value: {options!r}")
        values[name] = options

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
            value = _plain(result[key])
            if not isinstance(key, str) or not _is_number(value):
                raise ValueError(f"compute({where}) returned {key!r}: {value!r}; compute must "
                                 f"return a dict of numbers keyed by strings")
            row[key] = value
        rows.append(row)
    return pd.DataFrame(rows, columns=names + keys)


# --------------------------------------------------------------------------- formatting


def _auto_format(value) -> str:
    """Default text: integers with thousands separators, other numbers with 4 significant digits
    (never in exponent notation)."""
    if isinstance(value, numbers.Integral):
        return f"{value:,}"
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    digits = min(8, max(0, 3 - math.floor(math.log10(abs(value)))))
    return f"{value:,.{digits}f}"


def _slider_format(value) -> str:
    """Default text of a slider value: as Python prints it (``0.25``, ``1.0``, ``224``)."""
    return repr(value) if isinstance(value, float) else str(value)


def _formatter(name: str, fmt: Format | None, default: Callable) -> Callable[[float], str]:
    if fmt is None:
        return default
    if callable(fmt):
        return fmt
    if isinstance(fmt, str):
        if "{" in fmt:
            return fmt.format
        return lambda v, spec=fmt: format(v, spec)
    raise ValueError(f"formats[{name!r}] must be a format string such as '{{:,.0f}}' or ',.0f', "
                     f"or a function of the value returning a string; got {fmt!r}")


def _apply(name: str, fn: Callable, value, missing: str = "n/a") -> str:
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


def _raw(value) -> str:
    """The value exactly, as a JSON/Python number literal (``repr`` round-trips a float)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return json.dumps(value)


def _compact(value: float) -> str:
    """Axis ticks as the static chart prints them: ``600M``, ``1.2G``, ``37.8``."""
    if value == 0:
        return "0"
    for scale, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{float(f'{value / scale:.3g}'):g}{unit}"
    return f"{float(f'{value:.3g}'):g}"


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


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
                 missing_text: str = "n/a"):
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

        self.title = "" if title is None else str(title)
        self.note = "" if note is None else str(note)
        self.sliders = sliders
        self.outputs = outputs
        labels = dict(slider_labels or {})
        unknown = [k for k in labels if k not in sliders]
        if unknown:
            raise ValueError(f"slider_labels names {unknown}, which are not sliders {sliders}")
        self.slider_labels = {s: str(labels.get(s, s)) for s in sliders}

        # The grid, sorted so that row i is the point with slider indices i in C order.
        values = {s: sorted(set(_plain(v) for v in grid[s].tolist())) for s in sliders}
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
        self.data = (grid.sort_values(sliders, kind="mergesort")[sliders + list(outputs)]
                     .reset_index(drop=True))
        self.values = values

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

        formats = dict(formats or {})
        unknown = [k for k in formats if k not in sliders and k not in outputs]
        if unknown:
            raise ValueError(f"formats names {unknown}, which are neither sliders {sliders} nor "
                             f"outputs {list(outputs)}")
        self._text = {}
        for s in sliders:
            fn = _formatter(s, formats.get(s), _slider_format)
            self._text[s] = [_apply(s, fn, v) for v in values[s]]
        for o in outputs:
            fn = _formatter(o, formats.get(o), _auto_format)
            self._text[o] = [_apply(o, fn, _plain(v), str(missing_text)) for v in self.data[o].tolist()]

        initial = dict(initial or {})
        unknown = [k for k in initial if k not in sliders]
        if unknown:
            raise ValueError(f"initial names {unknown}, which are not sliders {sliders}")
        self.initial = {}
        for s in sliders:
            value = initial.get(s, values[s][-1])
            if value not in values[s]:
                raise ValueError(f"initial[{s!r}] = {value!r} is not one of the slider's values "
                                 f"{values[s]}")
            self.initial[s] = values[s].index(value)

        self._payload = self._build_payload()
        self._json = json.dumps(self._payload, ensure_ascii=True, separators=(",", ":"),
                                allow_nan=False)
        digest = hashlib.sha256(f"mnlab-explorer/{FORMAT_VERSION}/{self._json}".encode())
        self.id = "mnx-" + digest.hexdigest()[:12]

    # ---------------------------------------------------------------- data

    def _build_payload(self) -> dict:
        def number(v):
            v = _plain(v)
            return None if isinstance(v, float) and not math.isfinite(v) else v

        outputs = []
        for o, label in self.outputs.items():
            column = [_plain(v) for v in self.data[o].tolist()]
            outputs.append({"name": o, "label": label, "value": [number(v) for v in column],
                            "raw": [_raw(v) for v in column], "text": self._text[o]})
        return {
            "version": FORMAT_VERSION,
            "title": self.title,
            "sliders": [{"name": s, "label": self.slider_labels[s], "values": self.values[s],
                         "raw": [_raw(v) for v in self.values[s]], "text": self._text[s]}
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

    def index(self, **point) -> int:
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

    # ---------------------------------------------------------------- static HTML

    def _point_html(self, flat: int, inline_style: bool = False) -> str:
        """The outputs at grid point ``flat`` as a table (styled by the explorer's CSS, or inline
        for the live widget, which has no stylesheet)."""
        th = td = table = ""
        if inline_style:
            table = ' style="border-collapse:collapse;margin:.4em 0"'
            th = ' style="text-align:left;font-weight:normal;padding:.1em 1.5em .1em 0"'
            td = (' style="text-align:right;font-weight:600;font-variant-numeric:tabular-nums;'
                  'padding:.1em 0"')
        rows = "".join(
            f'<tr><th scope="row"{th}>{_esc(label)}</th><td data-output="{_esc(o)}" '
            f'data-value="{_esc(_raw(_plain(self.data[o].iat[flat])))}"{td}>'
            f'{_esc(self._text[o][flat])}</td></tr>'
            for o, label in self.outputs.items())
        return (f'<table class="mnx-outputs" aria-live="polite"{table}><tbody>{rows}</tbody>'
                f'</table>')

    def to_html(self) -> str:
        """The static explorer: one ``<div class="mnlab-explorer">`` with its style, data and
        script. Deterministic: the same data, labels and formats give the same bytes."""
        idx = [self.initial[s] for s in self.sliders]
        flat = 0
        for s, i in zip(self.sliders, idx):
            flat = flat * len(self.values[s]) + i
        controls = []
        for s, i in zip(self.sliders, idx):
            n = len(self.values[s])
            text = self._text[s][i]
            controls.append(
                f'<label class="mnx-slider"><span class="mnx-name">{_esc(self.slider_labels[s])}'
                f'</span><input class="mnx-range" type="range" min="0" max="{n - 1}" step="1" '
                f'value="{i}" data-slider="{_esc(s)}" aria-valuetext="{_esc(text)}" '
                f'data-lm-suppress-shortcuts="true"{" disabled" if n == 1 else ""}>'
                f'<output class="mnx-value" data-slider-value="{_esc(s)}" '
                f'data-value="{_esc(_raw(self.values[s][i]))}">{_esc(text)}</output></label>')
        title = f'<div class="mnx-title">{_esc(self.title)}</div>' if self.title else ""
        note = f'<div class="mnx-note">{_esc(self.note)}</div>' if self.note else ""
        chart = ('<figure class="mnx-chart"><div class="mnx-svg">'
                 '<span class="mnx-nojs">(the chart is drawn by JavaScript)</span></div>'
                 '<figcaption class="mnx-caption"></figcaption></figure>'
                 if self.chart is not None else "")
        data = self._json.replace("<", "\\u003c")  # nothing in the data can end the <script>
        return (f'<div class="mnlab-explorer" id="{self.id}" data-explorer="{self.id}" '
                f'data-lm-suppress-shortcuts="true">'
                f'<style>{_CSS}</style>{title}<div class="mnx-body"><div class="mnx-controls">'
                f'{"".join(controls)}{self._point_html(flat)}</div>{chart}</div>{note}'
                f'<script type="application/json" class="mnx-data">{data}</script>'
                f'<script>{_JS}</script></div>')

    def _repr_html_(self) -> str:
        return self.to_html()

    # ---------------------------------------------------------------- live widget

    def chart_figure(self, **point):
        """A matplotlib Figure of the chart at ``point`` (default: the initial point): the chart
        output against ``chart_x``, one grey line per setting of the other sliders, the current
        one in colour and the current point marked. Used by :meth:`widget`."""
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter

        if self.chart is None:
            raise ValueError("this explorer has no chart (chart=False)")
        current = {s: self.values[s][self.initial[s]] for s in self.sliders}
        current.update(point)
        x, y = self.chart_x, self.chart
        others = [s for s in self.sliders if s != x]
        fig = Figure(figsize=(5.0, 3.0), layout="constrained")
        ax = fig.add_subplot()
        for key, part in (self.data.groupby(others, sort=True) if others
                          else [((), self.data)]):
            key = key if isinstance(key, tuple) else (key,)
            is_current = all(current[s] == k for s, k in zip(others, key))
            if not is_current:
                ax.plot(part[x], part[y], color="0.75", lw=1, zorder=1)
        mask = np.ones(len(self.data), dtype=bool)
        for s in others:
            mask &= (self.data[s] == current[s]).to_numpy()
        line = self.data[mask]
        ax.plot(line[x], line[y], color="#1f77b4", lw=2, marker="o", ms=4, zorder=2)
        row = self.data.iloc[self.index(**current)]
        ax.plot([row[x]], [row[y]], "o", color="#d62728", ms=9, zorder=3)
        ax.set_xticks(self.values[x], self._text[x])
        ax.set_xlabel(self.slider_labels[x])
        ax.set_ylabel(self.outputs[y])
        ax.set_ylim(bottom=min(0, float(np.nanmin(self.data[y].to_numpy(dtype=float)))))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _compact(v)))
        return fig

    def widget(self, *, static_fallback: bool = False):
        """The live ipywidgets explorer over the same data: one selection slider per slider
        (its values are the grid's), the outputs as a table, and the chart redrawn on change.

        Where widgets cannot run (the rendered book, a notebook viewer) its display shows HTML
        instead: a one-line note that the live version needs a kernel (the chapter shows the
        static explorer itself, ``Explorer`` as a cell's value), or with ``static_fallback=True``
        the whole static explorer."""
        import io

        import ipywidgets as widgets

        controls = [widgets.SelectionSlider(
            options=list(zip(self._text[s], self.values[s])),
            value=self.values[s][self.initial[s]], description=self.slider_labels[s],
            continuous_update=True, style={"description_width": "8em"},
            layout=widgets.Layout(width="30em")) for s in self.sliders]
        table = widgets.HTML()
        image = widgets.Image(format="png", layout=widgets.Layout(max_width="32em"))

        def update(_change=None):
            point = {s: c.value for s, c in zip(self.sliders, controls)}
            table.value = self._point_html(self.index(**point), inline_style=True)
            if self.chart is not None:
                buffer = io.BytesIO()
                self.chart_figure(**point).savefig(buffer, format="png", dpi=90,
                                                   metadata={"Software": None})
                image.value = buffer.getvalue()

        for control in controls:
            control.observe(update, names="value")
        update()
        children = []
        if self.title:
            children.append(widgets.HTML(f"<b>{_esc(self.title)}</b>"))
        children += [*controls, table]
        if self.chart is not None:
            children.append(image)
        if self.note:
            children.append(widgets.HTML(f"<small>{_esc(self.note)}</small>"))
        fallback = self.to_html() if static_fallback else (
            f'<p class="mnlab-live-note"><em>Live version of the explorer'
            f'{" “" + _esc(self.title) + "”" if self.title else ""}: it runs with a Python '
            f'kernel (open this notebook in JupyterLab). The static explorer on this page shows '
            f'the same data.</em></p>')
        return _live_class()(children=children, explorer=self, fallback=fallback)


@functools.lru_cache(maxsize=None)
def _live_class():
    import ipywidgets as widgets

    class LiveExplorer(widgets.VBox):
        """The live explorer's box. Its display bundle adds a fixed text/plain and a text/html
        fallback (what a page without widgets, the book, shows), so that the stored output is
        deterministic."""

        def __init__(self, *, explorer: Explorer, fallback: str, **kwargs):
            super().__init__(**kwargs)
            self.explorer = explorer
            self.fallback = fallback

        def _repr_mimebundle_(self, **kwargs):
            data = super()._repr_mimebundle_(**kwargs) or {}
            data["text/plain"] = repr(self.explorer).replace("<Explorer", "<live Explorer", 1)
            data["text/html"] = self.fallback
            return data

    return LiveExplorer


def explorer_page(explorers: Sequence[Explorer], title: str = "mnlab explorers") -> str:
    """A standalone HTML page holding ``explorers`` (for a browser test, or to save and share)."""
    body = "\n".join(e.to_html() for e in explorers)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{_esc(title)}</title></head>\n<body style="font-family: sans-serif; '
            f'margin: 2em">\n<h1>{_esc(title)}</h1>\n{body}\n</body></html>\n')


# --------------------------------------------------------------------------- style and script

def _asset(name: str) -> str:
    """A file of ``mnlab/assets`` as the text the HTML embeds (package data, in the wheel)."""
    return (resources.files("mnlab") / "assets" / name).read_text(encoding="utf-8")


#: The static explorer's style, one rule per line in the file, joined as one line.
_CSS = "".join(_asset("explorer.css").splitlines())
# The script binds every explorer on the page that is not bound yet, so it does not matter how
# many explorers (or copies of one) a page holds, nor in which order their scripts run.
_JS = _asset("explorer.js").removesuffix("\n")
