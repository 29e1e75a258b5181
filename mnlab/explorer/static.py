"""The static explorer: one self-contained block of HTML, its data as JSON and a small inline script
(``mnlab/assets/explorer.{js,css}``, package data). No library, no CDN, no network."""
from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Sequence

from mnlab.explorer.grid import plain
from mnlab.explorer.text import esc, raw

if TYPE_CHECKING:
    from mnlab.explorer import Explorer


def _asset(name: str) -> str:
    """A file of ``mnlab/assets`` as the text the HTML embeds (package data, in the wheel)."""
    return (resources.files("mnlab") / "assets" / name).read_text(encoding="utf-8")


#: The static explorer's style, one rule per line in the file, joined as one line.
CSS = "".join(_asset("explorer.css").splitlines())
#: The script binds every explorer on the page that is not bound yet, so it does not matter how
#: many explorers (or copies of one) a page holds, nor in which order their scripts run.
JS = _asset("explorer.js").removesuffix("\n")


def point_html(explorer: Explorer, flat: int, inline_style: bool = False) -> str:
    """The outputs at grid point ``flat`` as a table (styled by the explorer's CSS, or inline
    for the live widget, which has no stylesheet)."""
    th = td = table = ""
    if inline_style:
        table = ' style="border-collapse:collapse;margin:.4em 0"'
        th = ' style="text-align:left;font-weight:normal;padding:.1em 1.5em .1em 0"'
        td = (' style="text-align:right;font-weight:600;font-variant-numeric:tabular-nums;'
              'padding:.1em 0"')
    rows = "".join(
        f'<tr><th scope="row"{th}>{esc(label)}</th><td data-output="{esc(o)}" '
        f'data-value="{esc(raw(plain(explorer.data[o].iat[flat])))}"{td}>'
        f'{esc(explorer._text[o][flat])}</td></tr>'
        for o, label in explorer.outputs.items())
    return (f'<table class="mnx-outputs" aria-live="polite"{table}><tbody>{rows}</tbody>'
            f'</table>')


def to_html(explorer: Explorer) -> str:
    """The static explorer (:meth:`Explorer.to_html`)."""
    ex = explorer
    idx = [ex.initial[s] for s in ex.sliders]
    flat = 0
    for s, i in zip(ex.sliders, idx):
        flat = flat * len(ex.values[s]) + i
    controls = []
    for s, i in zip(ex.sliders, idx):
        n = len(ex.values[s])
        text = ex._text[s][i]
        controls.append(
            f'<label class="mnx-slider"><span class="mnx-name">{esc(ex.slider_labels[s])}'
            f'</span><input class="mnx-range" type="range" min="0" max="{n - 1}" step="1" '
            f'value="{i}" data-slider="{esc(s)}" aria-valuetext="{esc(text)}" '
            f'data-lm-suppress-shortcuts="true"{" disabled" if n == 1 else ""}>'
            f'<output class="mnx-value" data-slider-value="{esc(s)}" '
            f'data-value="{esc(raw(ex.values[s][i]))}">{esc(text)}</output></label>')
    title = f'<div class="mnx-title">{esc(ex.title)}</div>' if ex.title else ""
    note = f'<div class="mnx-note">{esc(ex.note)}</div>' if ex.note else ""
    chart = ('<figure class="mnx-chart"><div class="mnx-svg">'
             '<span class="mnx-nojs">(the chart is drawn by JavaScript)</span></div>'
             '<figcaption class="mnx-caption"></figcaption></figure>'
             if ex.chart is not None else "")
    data = ex._json.replace("<", "\\u003c")  # nothing in the data can end the <script>
    return (f'<div class="mnlab-explorer" id="{ex.id}" data-explorer="{ex.id}" '
            f'data-lm-suppress-shortcuts="true">'
            f'<style>{CSS}</style>{title}<div class="mnx-body"><div class="mnx-controls">'
            f'{"".join(controls)}{point_html(ex, flat)}</div>{chart}</div>{note}'
            f'<script type="application/json" class="mnx-data">{data}</script>'
            f'<script>{JS}</script></div>')


def explorer_page(explorers: Sequence[Explorer], title: str = "mnlab explorers") -> str:
    """A standalone HTML page holding ``explorers`` (for a browser test, or to save and share)."""
    body = "\n".join(e.to_html() for e in explorers)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{esc(title)}</title></head>\n<body style="font-family: sans-serif; '
            f'margin: 2em">\n<h1>{esc(title)}</h1>\n{body}\n</body></html>\n')
