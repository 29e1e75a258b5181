"""The live explorer: ipywidgets over the same data, with a matplotlib chart, for readers with a
kernel; where widgets cannot run, its display falls back to HTML."""
from __future__ import annotations

import functools
import io
from typing import TYPE_CHECKING

import numpy as np

from mnlab.explorer.static import point_html
from mnlab.explorer.text import compact, esc

if TYPE_CHECKING:
    import ipywidgets as widgets
    from matplotlib.figure import Figure

    from mnlab.explorer import Explorer


def chart_figure(explorer: Explorer, **point: float) -> Figure:
    """The chart at ``point`` as a matplotlib Figure (:meth:`Explorer.chart_figure`)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    ex = explorer
    if ex.chart is None:
        raise ValueError("this explorer has no chart (chart=False)")
    current = {s: ex.values[s][ex.initial[s]] for s in ex.sliders}
    current.update(point)
    x, y = ex.chart_x, ex.chart
    others = [s for s in ex.sliders if s != x]
    fig = Figure(figsize=(5.0, 3.0), layout="constrained")
    ax = fig.add_subplot()
    for key, part in (ex.data.groupby(others, sort=True) if others else [((), ex.data)]):
        key = key if isinstance(key, tuple) else (key,)
        is_current = all(current[s] == k for s, k in zip(others, key))
        if not is_current:
            ax.plot(part[x], part[y], color="0.75", lw=1, zorder=1)
    mask = np.ones(len(ex.data), dtype=bool)
    for s in others:
        mask &= (ex.data[s] == current[s]).to_numpy()
    line = ex.data[mask]
    ax.plot(line[x], line[y], color="#1f77b4", lw=2, marker="o", ms=4, zorder=2)
    row = ex.data.iloc[ex.index(**current)]
    ax.plot([row[x]], [row[y]], "o", color="#d62728", ms=9, zorder=3)
    ax.set_xticks(ex.values[x], ex._text[x])
    ax.set_xlabel(ex.slider_labels[x])
    ax.set_ylabel(ex.outputs[y])
    ax.set_ylim(bottom=min(0, float(np.nanmin(ex.data[y].to_numpy(dtype=float)))))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: compact(v)))
    return fig


def widget(explorer: Explorer, *, static_fallback: bool = False) -> widgets.VBox:
    """The live ipywidgets explorer (:meth:`Explorer.widget`)."""
    import ipywidgets as widgets

    ex = explorer
    controls = [widgets.SelectionSlider(
        options=list(zip(ex._text[s], ex.values[s])),
        value=ex.values[s][ex.initial[s]], description=ex.slider_labels[s],
        continuous_update=True, style={"description_width": "8em"},
        layout=widgets.Layout(width="30em")) for s in ex.sliders]
    table = widgets.HTML()
    image = widgets.Image(format="png", layout=widgets.Layout(max_width="32em"))

    def update(_change=None):
        point = {s: c.value for s, c in zip(ex.sliders, controls)}
        table.value = point_html(ex, ex.index(**point), inline_style=True)
        if ex.chart is not None:
            buffer = io.BytesIO()
            chart_figure(ex, **point).savefig(buffer, format="png", dpi=90, metadata={"Software": None})
            image.value = buffer.getvalue()

    for control in controls:
        control.observe(update, names="value")
    update()
    children = []
    if ex.title:
        children.append(widgets.HTML(f"<b>{esc(ex.title)}</b>"))
    children += [*controls, table]
    if ex.chart is not None:
        children.append(image)
    if ex.note:
        children.append(widgets.HTML(f"<small>{esc(ex.note)}</small>"))
    fallback = ex.to_html() if static_fallback else (
        f'<p class="mnlab-live-note"><em>Live version of the explorer'
        f'{" “" + esc(ex.title) + "”" if ex.title else ""}: it runs with a Python '
        f'kernel (open this notebook in JupyterLab). The static explorer on this page shows '
        f'the same data.</em></p>')
    return _live_class()(children=children, explorer=ex, fallback=fallback)


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
