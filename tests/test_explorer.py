"""mnlab.explorer: the grid it computes, the data it embeds, deterministic HTML, bad input.

The browser side (sliders moved in Chromium) is tests/test_browser.py.
"""
import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest

import mnlab
from mnlab.explorer import Explorer, explorer_grid, explorer_page

WIDTHS = [0.25, 0.5, 0.75, 1.0]
RESOLUTIONS = [128, 160, 192, 224]


def v1_counts(width, resolution):
    totals = mnlab.analyze(mnlab.create_model("mobilenet_v1", width_mult=width), resolution).totals
    return {"macs": totals["macs"], "params": totals["params"]}


@pytest.fixture(scope="module")
def v1_grid():
    return explorer_grid(v1_counts, width=WIDTHS, resolution=RESOLUTIONS)


def v1_explorer(grid, **kwargs):
    options = dict(sliders=["width", "resolution"], outputs={"macs": "MACs", "params": "Parameters"},
                   title="MobileNetV1: width × resolution", chart="macs",
                   formats={"macs": "{:,.0f}"}, note="latency measured on <cpu>")
    options.update(kwargs)
    return Explorer(grid, **options)


# --------------------------------------------------------------------------- explorer_grid


def test_grid_is_complete_in_order_and_equals_analyze(v1_grid):
    assert len(v1_grid) == len(WIDTHS) * len(RESOLUTIONS)
    assert list(v1_grid.columns) == ["width", "resolution", "macs", "params"]
    points = list(itertools.product(WIDTHS, RESOLUTIONS))
    assert list(zip(v1_grid["width"], v1_grid["resolution"])) == points
    for (width, resolution), row in zip(points, v1_grid.itertuples(index=False)):
        assert (row.macs, row.params) == tuple(v1_counts(width, resolution).values())
    # the paper's baseline: 1.0 MobileNet-224 has 569M Mult-Adds and 4.2M parameters
    baseline = v1_grid[(v1_grid.width == 1.0) & (v1_grid.resolution == 224)].iloc[0]
    assert round(baseline.macs / 1e6) == 569 and round(baseline.params / 1e5) == 42
    assert v1_grid["macs"].dtype == np.int64 and v1_grid["width"].dtype == np.float64


def test_grid_calls_compute_once_per_point_with_keywords():
    calls = []

    def compute(a, b, c):
        calls.append((a, b, c))
        return {"sum": a + b + c, "half": np.float32(a / 2)}

    grid = explorer_grid(compute, a=[1, 2], b=np.array([10, 20, 30]), c=range(2))
    assert calls == list(itertools.product([1, 2], [10, 20, 30], [0, 1]))
    assert len(grid) == 12 and list(grid.columns) == ["a", "b", "c", "sum", "half"]
    assert grid["sum"].tolist() == [a + b + c for a, b, c in calls]


def test_grid_allows_nan_outputs():
    grid = explorer_grid(lambda x: {"y": float("nan") if x == 2 else x}, x=[1, 2, 3])
    assert grid["y"].isna().tolist() == [False, True, False]


@pytest.mark.parametrize("sliders, message", [
    ({}, "at least one slider"),
    ({"width": []}, "slider 'width' is empty"),
    ({"width": ["a", "b"]}, "slider 'width' must hold finite numbers"),
    ({"width": [0.5, None]}, "slider 'width' must hold finite numbers"),
    ({"width": [True, False]}, "slider 'width' must hold finite numbers"),
    ({"width": [0.5, float("nan")]}, "slider 'width' must hold finite numbers"),
    ({"width": "0.5"}, "slider 'width' must be a list of numbers"),
    ({"width": 0.5}, "slider 'width' must be a list of numbers"),
    ({"width": [0.5, 0.5]}, "slider 'width' repeats a value"),
])
def test_grid_rejects_bad_sliders(sliders, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        explorer_grid(lambda **point: {"y": 1}, **sliders)


@pytest.mark.parametrize("compute, message", [
    (lambda width: [width], r"compute\(width=0.5\) returned list"),
    (lambda width: width, r"compute\(width=0.5\) returned float"),
    (lambda width: {}, "returned an empty dict"),
    (lambda width: {"macs": "569M"}, "returned 'macs': '569M'"),
    (lambda width: {"macs": None}, "returned 'macs': None"),
    (lambda width: {"macs": True}, "returned 'macs': True"),
    (lambda width: {1: 2.0}, "keyed by strings"),
    (lambda width: {"width": 2.0}, "also slider names"),
    (lambda width: {"a": 1} if width == 0.5 else {"b": 1}, "every point needs the same"),
])
def test_grid_rejects_bad_compute_results(compute, message):
    with pytest.raises(ValueError, match=message):
        explorer_grid(compute, width=[0.5, 1.0])


def test_grid_rejects_a_compute_that_is_not_callable():
    with pytest.raises(ValueError, match="compute must be a callable"):
        explorer_grid({"macs": 1}, width=[1.0])


# --------------------------------------------------------------------------- Explorer: data


def test_embedded_data_equals_the_grid(v1_grid):
    ex = v1_explorer(v1_grid)
    payload = ex.payload
    assert [s["name"] for s in payload["sliders"]] == ["width", "resolution"]
    assert payload["sliders"][0]["values"] == WIDTHS
    assert payload["sliders"][0]["text"] == ["0.25", "0.5", "0.75", "1.0"]
    assert payload["sliders"][1]["values"] == RESOLUTIONS
    assert payload["initial"] == [3, 3]  # the largest values: 1.0 MobileNet-224
    assert payload["chart"] == {"x": 0, "y": 0}
    macs, params = payload["outputs"]
    for flat, (width, resolution) in enumerate(itertools.product(WIDTHS, RESOLUTIONS)):
        expected = v1_counts(width, resolution)
        assert ex.index(width=width, resolution=resolution) == flat
        assert macs["value"][flat] == expected["macs"] and params["value"][flat] == expected["params"]
        assert int(macs["raw"][flat]) == expected["macs"]
        assert macs["text"][flat] == f"{expected['macs']:,.0f}"
        assert params["text"][flat] == f"{expected['params']:,}"  # the default for integers
    assert len(ex) == 16


def test_grid_rows_may_come_in_any_order(v1_grid):
    shuffled = v1_grid.sample(frac=1, random_state=0)
    assert v1_explorer(shuffled).to_html() == v1_explorer(v1_grid).to_html()


def test_static_html_is_deterministic_and_self_contained(v1_grid):
    again = explorer_grid(v1_counts, width=WIDTHS, resolution=RESOLUTIONS)
    first, second = v1_explorer(v1_grid), v1_explorer(again)
    html = first.to_html()
    assert html == second.to_html() == first._repr_html_()
    assert first.id == second.id and re.fullmatch(r"mnx-[0-9a-f]{12}", first.id)
    assert html.count(first.id) == 2  # id and data-explorer
    # no network: no external source, no URL but the SVG namespace the script uses
    assert not re.search(r"\b(src|href)\s*=", html)
    assert set(re.findall(r"https?://[^\s\"']+", html)) == {"http://www.w3.org/2000/svg"}
    # the initial numbers are in the HTML itself (shown before, or without, the script)
    assert 'data-output="macs" data-value="568740352">568,740,352<' in html
    assert 'data-output="params" data-value="4231976">4,231,976<' in html
    assert "latency measured on &lt;cpu&gt;" in html


def test_ids_follow_the_content(v1_grid):
    ids = {v1_explorer(v1_grid).id, v1_explorer(v1_grid, title="other").id,
           v1_explorer(v1_grid, formats={"macs": "{:.3e}"}).id, v1_explorer(v1_grid, initial={"width": 0.5}).id}
    changed = v1_grid.copy()
    changed.loc[0, "macs"] += 1
    ids.add(v1_explorer(changed).id)
    assert len(ids) == 5


def test_text_is_escaped_and_cannot_close_the_script(v1_grid):
    ex = v1_explorer(v1_grid, title="</script><b>x</b> & y", note="a < b",
                     outputs={"macs": "MACs </script>", "params": "P"})
    html = ex.to_html()
    assert html.count("</script>") == 2  # the data's and the code's own
    assert "&lt;/script&gt;&lt;b&gt;x&lt;/b&gt; &amp; y" in html
    data = re.search(r'<script type="application/json" class="mnx-data">(.*?)</script>', html).group(1)
    assert json.loads(data)["title"] == "</script><b>x</b> & y"


def test_formats_strings_specs_functions_and_nan():
    grid = explorer_grid(lambda variant: {"top1": 75.1 + variant, "ms": np.nan if variant == 1
                                          else 1.23456 * (variant + 1), "flops": 4e8 * (variant + 1)},
                         variant=[0, 1, 2])
    ex = Explorer(grid, ["variant"], {"top1": "top-1", "ms": "latency", "flops": "FLOPs"},
                  formats={"variant": lambda v: f"Lite{v}", "top1": ".1f", "flops": "{:.2e}"})
    payload = ex.payload
    assert payload["sliders"][0]["text"] == ["Lite0", "Lite1", "Lite2"]
    top1, ms, flops = payload["outputs"]
    assert top1["text"] == ["75.1", "76.1", "77.1"]
    assert ms["text"] == ["1.235", "n/a", "3.704"]  # default: 4 significant digits
    assert ms["value"][1] is None and ms["raw"][1] == "NaN"
    assert flops["text"] == ["4.00e+08", "8.00e+08", "1.20e+09"]
    assert float(flops["raw"][2]) == 1.2e9


def test_widget_shows_the_same_data_and_falls_back_to_html(v1_grid):
    ipywidgets = pytest.importorskip("ipywidgets")
    ex = v1_explorer(v1_grid)
    box = ex.widget()
    assert isinstance(box, ipywidgets.VBox)
    bundle = box._repr_mimebundle_()
    assert bundle["text/html"].startswith('<p class="mnlab-live-note">')
    assert "MobileNetV1: width × resolution" in bundle["text/html"]
    assert bundle == ex.widget()._repr_mimebundle_() | {
        "application/vnd.jupyter.widget-view+json": bundle["application/vnd.jupyter.widget-view+json"]}
    assert ex.widget(static_fallback=True)._repr_mimebundle_()["text/html"] == ex.to_html()
    assert bundle["text/plain"].startswith("<live Explorer 'MobileNetV1")
    assert "application/vnd.jupyter.widget-view+json" in bundle
    sliders = [c for c in box.children if isinstance(c, ipywidgets.SelectionSlider)]
    table = next(c for c in box.children if isinstance(c, ipywidgets.HTML)
                 and "mnx-outputs" in c.value)
    image = next(c for c in box.children if isinstance(c, ipywidgets.Image))
    assert [s.value for s in sliders] == [1.0, 224]
    assert "568,740,352" in table.value
    png = image.value
    sliders[0].value, sliders[1].value = 0.25, 128
    assert 'data-value="13570048"' in table.value and ">13,570,048<" in table.value
    assert image.value != png and image.value[:4] == b"\x89PNG"


def test_chart_figure():
    grid = explorer_grid(lambda a, b: {"y": a * b}, a=[1, 2, 3], b=[1, 10])
    fig = Explorer(grid, ["a", "b"], ["y"]).chart_figure(b=1)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "a" and ax.get_ylabel() == "y"
    assert len(ax.lines) == 3  # the other setting (grey), the current one, the current point


# --------------------------------------------------------------------------- Explorer: bad input


def test_explorer_rejects_bad_input(v1_grid):
    cases = [
        (dict(grid=v1_grid.to_dict()), "grid must be a pandas DataFrame"),
        (dict(grid=v1_grid.iloc[:0]), "grid is empty"),
        (dict(sliders=[]), "sliders must be a non-empty list"),
        (dict(sliders="width"), "sliders must be a non-empty list"),
        (dict(sliders=["width", "depth"]), r"sliders names column\(s\) \['depth'\]"),
        (dict(outputs={"flops": "FLOPs"}), r"outputs names column\(s\) \['flops'\]"),
        (dict(outputs={}), "outputs is empty"),
        (dict(outputs=["macs", "width"]), "must be distinct"),
        (dict(grid=v1_grid.iloc[1:]), r"grid is incomplete: 15 rows for 16 .* missing e.g. "
                                      r"\{'width': 0.25, 'resolution': 128\}"),
        (dict(grid=pd.concat([v1_grid, v1_grid.iloc[:1]])), "more than one row for the point"),
        (dict(grid=v1_grid.assign(macs=v1_grid.macs.astype(str))), "'macs' must be numeric"),
        (dict(grid=v1_grid.assign(width=v1_grid.width.astype(str))), "'width' must be numeric"),
        (dict(chart="latency"), "chart must be one of the outputs"),
        (dict(chart_x="depth"), "chart_x must be one of the sliders"),
        (dict(formats={"depth": "{}"}), r"formats names \['depth'\]"),
        (dict(formats={"macs": 3}), r"formats\['macs'\] must be a format string"),
        (dict(formats={"macs": "{:q}"}), r"formats\['macs'\] failed on"),
        (dict(formats={"macs": lambda v: v}), r"formats\['macs'\] returned int"),
        (dict(initial={"width": 0.3}), r"initial\['width'\] = 0.3 is not one of"),
        (dict(initial={"depth": 1}), "initial names"),
        (dict(slider_labels={"depth": "d"}), "slider_labels names"),
    ]
    for kwargs, message in cases:
        grid = kwargs.pop("grid", v1_grid)
        with pytest.raises(ValueError, match=message):
            v1_explorer(grid, **kwargs)


def test_explorer_rejects_nan_in_a_slider_column():
    grid = pd.DataFrame({"a": [1.0, np.nan], "y": [1, 2]})
    with pytest.raises(ValueError, match="'a' holds a NaN"):
        Explorer(grid, ["a"], ["y"])


def test_chart_can_be_switched_off(v1_grid):
    ex = v1_explorer(v1_grid, chart=False)
    assert ex.payload["chart"] is None and "<figure" not in ex.to_html()


def test_explorer_page_holds_several_explorers(v1_grid):
    page = explorer_page([v1_explorer(v1_grid), v1_explorer(v1_grid, title="second")], title="t")
    assert page.startswith("<!DOCTYPE html>") and page.count('class="mnlab-explorer"') == 2


# --------------------------------------------------------------------------- Sphinx extension


def test_sphinx_hooks_keep_pages_offline_and_scripts_unique():
    from sphinx.builders.html._assets import _JavaScript

    from mnlab import sphinxext

    class Config:
        html_js_files = ["mathjax/tex-chtml-full.js", ("mathjax/x.js", {}), "other.js"]
        html_css_files = ["mathjax/a.css", "site.css"]

    config = Config()
    sphinxext._configure(None, config)
    assert config.html_js_files == ["other.js"] and config.html_css_files == ["site.css"]

    thebe = 'const THEBE_JS_URL = "x"'
    scripts = [_JavaScript(None, body=thebe), _JavaScript("a.js"), _JavaScript("", body=thebe),
               _JavaScript(None, type="application/vnd.jupyter.widget-state+json", body="{}"),
               _JavaScript("a.js", defer="defer")]
    context = {"script_files": scripts}
    sphinxext._clean_page_scripts(None, "page", "page.html", context, None)
    assert context["script_files"] is scripts
    assert [(str(s.filename), s.attributes) for s in scripts] == [
        ("None", {"body": thebe}), ("a.js", {}), ("a.js", {"defer": "defer"})]


def test_the_explorer_script_and_style_are_package_data():
    """The static explorer embeds mnlab/assets/explorer.{js,css} (shipped in the wheel) as they are."""
    from importlib import resources

    from mnlab.explorer import static
    assets = resources.files("mnlab") / "assets"
    css, js = (assets / "explorer.css").read_text(), (assets / "explorer.js").read_text()
    assert static.CSS == css.replace("\n", "") and static.JS + "\n" == js
    html = Explorer(explorer_grid(lambda n: {"sq": n * n}, n=[1, 2]), sliders=["n"],
                    outputs={"sq": "n²"}).to_html()
    assert f"<style>{static.CSS}</style>" in html and f"<script>{static.JS}</script>" in html


def test_v1_explorer_shows_the_papers_top1_where_it_prints_one():
    """Issue 15: every α/ρ setting the paper prints shows its top-1; the others say so."""
    from mnlab.papers import mobilenet_v1_top1
    grid = explorer_grid(lambda width, resolution: {"top1": mobilenet_v1_top1(width, resolution)},
                         width=[0.35, 0.5, 1.0], resolution=[128, 160, 224])
    explorer = Explorer(grid, sliders=["width", "resolution"], outputs={"top1": "paper top-1 (%)"},
                        formats={"top1": "{:.1f}%"}, missing_text="not in the paper")
    shown = {(w, r): explorer._text["top1"][explorer.index(width=w, resolution=r)]
             for w in (0.35, 0.5, 1.0) for r in (128, 160, 224)}
    assert shown[(1.0, 224)] == "70.6%" and shown[(0.5, 224)] == "63.7%"        # Table 6
    assert shown[(1.0, 160)] == "67.2%" and shown[(1.0, 128)] == "64.4%"        # Table 7
    assert shown[(0.35, 224)] == shown[(0.5, 160)] == "not in the paper"
    assert sum(text != "not in the paper" for text in shown.values()) == 4
    assert "not in the paper" in explorer.to_html()
    with pytest.raises(ValueError, match="width must be a finite number > 0"):
        mobilenet_v1_top1(0, 224)
