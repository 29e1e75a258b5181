"""The explorers and the rendered book in a real browser (headless Debian Chromium via Playwright).

* ``test_static_explorers_in_a_standalone_page``: explorers written by :mod:`mnlab.explorer` into a
  plain page (several on one page, two of them identical): every slider is moved with the
  keyboard and the mouse, and the numbers shown must be the grid's (for MobileNetV1 the ones
  ``mnlab.analyze`` gives); moving one explorer must leave the others alone.
* ``test_widget_output_renders_static_in_a_built_page``: a one-page book built with the project's
  ``_config.yml``, holding a static explorer and a live widget's output: the page shows two
  working static explorers, no ipywidgets state or JavaScript, and math rendered by the vendored
  MathJax.
* ``test_rendered_book_offline_with_working_explorers``: the whole book built, served on
  127.0.0.1, and every chapter page opened: no JavaScript error, no request leaving 127.0.0.1
  (every request is intercepted), math typeset without errors, and every static explorer on a
  page checked as above. Chapters 02, 03, 04b and 05, when they exist, must contain one; the
  MobileNetV1 chapter's and the backbones chapter's are compared with ``mnlab.analyze`` directly.

Screenshots go to ``_build/screenshots/``; with ``MNLAB_SCREENSHOT=<png>`` (``make screenshot``) the
MobileNetV1 chapter, its explorer in view, also goes to that file (the README shows
``figures/screenshot-chapter.png``). Chromium comes from Debian (``make test`` installs it);
without it (or without the ``playwright`` package) the tests skip locally and FAIL under CI
(``CI=true``). ``MNLAB_BOOK_HTML=<dir>`` reuses an already built ``_build/html``.
"""
from __future__ import annotations

import functools
import http.server
import itertools
import json
import math
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
from contextlib import contextmanager

import pytest
import yaml

import mnlab
from mnlab.explorer import Explorer, explorer_grid, explorer_page

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "_build" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Chapters whose sliders must be static explorers in the rendered book (when the chapter exists).
EXPLORER_CHAPTERS = ("02_mobilenet_v1", "03_mobilenet_v2", "04b_backbones", "05_efficientnet_lite")
# Chapters whose explorers are recomputed here with mnlab (slider names -> model and input).
MODEL_OF_CHAPTER = {"02_mobilenet_v1": "mobilenet_v1", "03_mobilenet_v2": "mobilenet_v2",
                    "05_efficientnet_lite": "efficientnet_lite{variant}"}
FULL_GRID_MAX = 64  # grids up to this size are walked through completely, larger ones per slider
README_CHAPTER = "02_mobilenet_v1"  # MNLAB_SCREENSHOT's page


# --------------------------------------------------------------------------- infrastructure


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; under CI the browser test must run", pytrace=False)
    pytest.skip(reason)


def _chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium")
                                        else None)
    if path is None:
        _unavailable("Debian's chromium is not installed (`apt-get install -y chromium`; "
                     "`make test` installs it)")
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A fresh headless Chromium profile; every request not addressed to 127.0.0.1 is aborted
    and recorded in ``browser.outside``."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    executable = _chromium()
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=executable,
            headless=True, args=FLAGS, viewport={"width": 1280, "height": 900},
            service_workers="block")
        context.outside = []

        def route(route):
            if _is_local(route.request.url):
                route.continue_()
            else:
                context.outside.append(route.request.url)
                route.abort()

        context.route("**/*", route)
        context.on("request", lambda req: None if _is_local(req.url)
                   else context.outside.append(req.url))
        try:
            yield context
        finally:
            context.close()


def _is_local(url: str) -> bool:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("data", "blob", "about"):
        return True
    return parsed.hostname == "127.0.0.1"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test reports what matters itself
        pass


@contextmanager
def serve(directory: pathlib.Path):
    """Serve ``directory`` on 127.0.0.1 (a free port) from a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _screenshot_path(name: str) -> pathlib.Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


@contextmanager
def open_page(context, url: str):
    """Open ``url``, wait for the load and for MathJax's typesetting; yields (page, problems),
    problems being console errors, uncaught exceptions and failed requests."""
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text} @ {m.location}")
            if m.type in ("error", "assert") else None)
    page.on("pageerror", lambda err: problems.append(f"uncaught exception: {err}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url} "
                                                         f"({req.failure})"))
    page.on("websocket", lambda ws: None if _is_local(ws.url) else context.outside.append(ws.url))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 else None)
    try:
        page.goto(url, wait_until="load")
        page.evaluate("() => (window.MathJax && MathJax.startup && MathJax.startup.promise) "
                      "? MathJax.startup.promise.then(() => true) : true")
        yield page, problems
    finally:
        page.close()


# --------------------------------------------------------------------------- explorer checks

_STATE_JS = """root => ({
  ready: root.getAttribute("data-mnx-ready"),
  sliders: Array.from(root.querySelectorAll("output.mnx-value")).map(
      o => [o.getAttribute("data-slider-value"), o.textContent, o.getAttribute("data-value")]),
  positions: Array.from(root.querySelectorAll("input.mnx-range")).map(i => parseInt(i.value, 10)),
  cells: Array.from(root.querySelectorAll("td[data-output]")).map(
      td => [td.getAttribute("data-output"), td.textContent, td.getAttribute("data-value")]),
  current: root.querySelectorAll("svg circle.mnx-current").length,
})"""


def _shows(text: str, value: float) -> bool:
    """Does ``text`` show ``value`` to the precision it prints? Texts that are not plain numbers
    (a unit, a name) are accepted: their exact value is checked through ``data-value``."""
    cleaned = text.replace(",", "").strip()
    percent = cleaned.endswith("%")
    cleaned = cleaned.rstrip("%")
    if not re.fullmatch(r"-?\d+(\.\d+)?", cleaned):
        return True
    decimals = len(cleaned.split(".")[1]) if "." in cleaned else 0
    shown = float(cleaned) / (100 if percent else 1)
    step = 10.0 ** -decimals / (100 if percent else 1)
    return abs(shown - value) <= step / 2 * (1 + 1e-9) + 1e-12 * abs(value)


def _flat(positions, sizes) -> int:
    flat = 0
    for i, n in zip(positions, sizes):
        flat = flat * n + i
    return flat


def _assert_state(root, payload, positions, expected, where: str) -> None:
    """The explorer shows the grid point at ``positions`` (slider indices, set by the test):
    slider values, output texts and exact values equal the embedded data, and ``expected``
    (a function of the point giving independently computed outputs) when given."""
    state = root.evaluate(_STATE_JS)
    sizes = [len(s["values"]) for s in payload["sliders"]]
    assert state["ready"] == "1", f"{where}: the explorer's script did not bind it"
    assert state["positions"] == list(positions), f"{where}: sliders at {state['positions']}"
    flat = _flat(positions, sizes)
    point = {}
    for slider, shown, i in zip(payload["sliders"], state["sliders"], positions):
        assert shown == [slider["name"], slider["text"][i], slider["raw"][i]], (where, shown)
        point[slider["name"]] = slider["values"][i]
    independent = expected(point) if expected else {}
    for output, (name, text, raw) in zip(payload["outputs"], state["cells"]):
        assert name == output["name"], (where, name)
        assert text == output["text"][flat], f"{where}: {name} shows {text!r} at {point}"
        value = float(raw)
        wanted = output["value"][flat]
        assert (math.isnan(value) and wanted is None) or value == wanted, \
            f"{where}: {name} = {raw} at {point}, the grid holds {wanted}"
        if wanted is not None:
            assert _shows(text, value), f"{where}: {name} text {text!r} does not show {value}"
        if name in independent:
            assert value == independent[name], \
                f"{where}: {name} = {value} at {point}, mnlab computes {independent[name]}"
    if payload["chart"] is not None:
        marked = int(payload["outputs"][payload["chart"]["y"]]["value"][flat] is not None)
        assert state["current"] == marked, f"{where}: the chart marks {state['current']} points"


def _move(page, slider, frm: int, to: int) -> None:
    """Move a range slider with the keyboard, as a reader would."""
    slider.focus()
    key = "ArrowRight" if to > frm else "ArrowLeft"
    for _ in range(abs(to - frm)):
        page.keyboard.press(key)


def check_explorer(page, root, expected=None, where: str = "explorer",
                   others=None) -> int:
    """Drive one explorer through its grid (all of it up to FULL_GRID_MAX points, else every
    value of each slider), with the keyboard, and each slider to both ends with the mouse.
    ``others`` is a callable returning the other explorers' states, which must not change.
    Returns the number of states checked."""
    payload = json.loads(root.locator("script.mnx-data").text_content())
    sizes = [len(s["values"]) for s in payload["sliders"]]
    ranges = root.locator("input.mnx-range")
    assert ranges.count() == len(sizes), f"{where}: {ranges.count()} sliders for {sizes}"
    before = others() if others else None
    positions = list(payload["initial"])
    _assert_state(root, payload, positions, expected, f"{where} (initial)")
    checked = 1
    if math.prod(sizes) <= FULL_GRID_MAX:
        targets = list(itertools.product(*[range(n) for n in sizes]))
    else:
        base = list(payload["initial"])
        targets = [tuple(base[:k] + [i] + base[k + 1:]) for k in range(len(sizes))
                   for i in range(sizes[k])]
    for target in targets:
        for k, (now, to) in enumerate(zip(positions, target)):
            if now != to:
                _move(page, ranges.nth(k), now, to)
                positions[k] = to
        _assert_state(root, payload, positions, expected, f"{where} at {target}")
        checked += 1
    for k, n in enumerate(sizes):  # the mouse: click each track's two ends
        if n == 1:
            continue
        box = ranges.nth(k).bounding_box()
        for end, x in ((0, box["x"] + 1), (n - 1, box["x"] + box["width"] - 1)):
            page.mouse.click(x, box["y"] + box["height"] / 2)
            positions[k] = end
            _assert_state(root, payload, positions, expected, f"{where} mouse {k}->{end}")
            checked += 1
    if others:
        assert others() == before, f"{where}: moving it changed another explorer on the page"
    return checked


def _all_states(page):
    return lambda: page.locator("div.mnlab-explorer").evaluate_all(
        f"roots => roots.map({_STATE_JS})")


def check_page_explorers(page, expected_for=None, name: str = "page") -> list[int]:
    """Check every static explorer on the page; returns the states checked per explorer."""
    roots = page.locator("div.mnlab-explorer")
    counts = []
    for i in range(roots.count()):
        root = roots.nth(i)
        root.scroll_into_view_if_needed()
        payload = json.loads(root.locator("script.mnx-data").text_content())
        expected = expected_for(payload) if expected_for else None
        states = _all_states(page)

        def others(i=i, states=states):
            all_states = states()
            return all_states[:i] + all_states[i + 1:]

        counts.append(check_explorer(page, root, expected, f"{name} explorer {i}", others))
        root.screenshot(path=str(_screenshot_path(f"{name}-explorer{i}")))
    return counts


# --------------------------------------------------------------------------- mnlab, directly


@functools.lru_cache(maxsize=None)
def _counts(model: str, resolution: int, **kwargs) -> dict:
    totals = mnlab.analyze(mnlab.create_model(model, **kwargs), resolution).totals
    return {"macs": totals["macs"], "params": totals["params"]}


def _mnlab_expected(model_pattern: str, payload: dict):
    """A function point -> {macs, params} computed with mnlab, for an explorer whose sliders are
    all known model arguments (width, expansion, resolution, variant); otherwise None."""
    names = {s["name"] for s in payload["sliders"]}
    outputs = {o["name"] for o in payload["outputs"]}
    known = {"width", "width_mult", "expansion", "resolution", "variant"}
    if not names <= known or not outputs & {"macs", "params"}:
        return None
    if ("{variant}" in model_pattern) != ("variant" in names):
        return None

    def expected(point):
        model = model_pattern.format(variant=int(point.get("variant", 0)))
        kwargs = {}
        if "width" in point or "width_mult" in point:
            kwargs["width_mult"] = point.get("width", point.get("width_mult"))
        if "expansion" in point:
            kwargs["expansion"] = point["expansion"]
        resolution = int(point.get("resolution", mnlab.default_resolution(model)))
        return _counts(model, resolution, **kwargs)

    return expected


def _backbones_expected(payload: dict):
    """Chapter 04b's explorer (sliders model, resolution): backbone and head MACs of the model
    ``mnlab.studies.backbones.BREAKDOWN[model]`` at that input side, counted here with
    ``mnlab.analyze`` (rows under ``backbone.`` against all others)."""
    from mnlab.studies.backbones import BREAKDOWN

    if {s["name"] for s in payload["sliders"]} != {"model", "resolution"}:
        return None

    @functools.lru_cache(maxsize=None)
    def expected_at(model: int, side: int) -> dict:
        _, build, (h, w) = BREAKDOWN[model]
        layers = mnlab.analyze(build(), (1, 3, side, side * w // h)).layers
        in_backbone = layers["name"].str.startswith("backbone.")
        return {"backbone_macs": int(layers.macs[in_backbone].sum()), "head_macs": int(layers.macs[~in_backbone].sum())}

    return lambda point: expected_at(int(point["model"]), int(point["resolution"]))


EXPECTED_OF_CHAPTER = {"04b_backbones": _backbones_expected}


# --------------------------------------------------------------------------- tests


def _v1_count(width, resolution):
    return _counts("mobilenet_v1", resolution, width_mult=width)


def _standalone_explorers() -> list[Explorer]:
    grid = explorer_grid(_v1_count, width=[0.25, 0.5, 0.75, 1.0], resolution=[128, 160, 192, 224])
    v1 = Explorer(grid, sliders=["width", "resolution"],
                  outputs={"macs": "MACs", "params": "Parameters"},
                  title="MobileNetV1: width × resolution", chart="macs",
                  formats={"macs": "{:,.0f}"}, note="counted by mnlab.analyze")
    lite = Explorer(explorer_grid(lambda variant: {"flops": 2.0 ** variant * 0.4e9,
                                                   "top1": 75.1 + variant * 1.1},
                                  variant=[0, 1, 2, 3, 4]),
                    ["variant"], {"flops": "FLOPs", "top1": "top-1 (%)"}, title="categorical",
                    formats={"variant": lambda v: f"Lite{v}", "top1": "{:.1f}"}, chart="top1")

    def three(a, b, c):
        return {"y": a * b - c / 3 if a != 2 else float("nan"), "z": a + b + c}

    cube = Explorer(explorer_grid(three, a=[1, 2, 3], b=[0.5, 1.5], c=[10, 20, 30, 40, 50]),
                    ["a", "b", "c"], ["y", "z"], title="</script> & <b>escaped</b>",
                    chart_x="c", initial={"a": 1, "b": 0.5, "c": 30})
    return [v1, lite, cube, v1]


def test_static_explorers_in_a_standalone_page(browser, tmp_path):
    explorers = _standalone_explorers()
    (tmp_path / "index.html").write_text(explorer_page(explorers, title="explorer test page"),
                                         encoding="utf-8")
    browser.outside.clear()
    with serve(tmp_path) as base, open_page(browser, base + "index.html") as (page, problems):
        page.screenshot(path=str(_screenshot_path("standalone-initial")), full_page=True)
        assert page.locator("div.mnlab-explorer").count() == len(explorers)

        def expected_for(payload):
            if payload["title"].startswith("MobileNetV1"):
                return lambda p: _v1_count(p["width"], p["resolution"])
            return None

        counts = check_page_explorers(page, expected_for, name="standalone")
        page.screenshot(path=str(_screenshot_path("standalone-moved")), full_page=True)
        assert not problems, "\n".join(problems)
    assert not browser.outside, f"requests left 127.0.0.1: {browser.outside}"
    assert counts[0] >= 16 and counts[3] >= 16  # both MobileNetV1 copies: their full grid


def _write_notebook(path: pathlib.Path, explorer: Explorer) -> None:
    """A notebook stored as `jupyter nbconvert --execute` stores one: the static explorer, two
    live widgets' outputs (with the note and with the static explorer as fallback), and the
    widget state in the metadata."""
    import nbformat

    bundle = explorer.widget()._repr_mimebundle_()
    full = explorer.widget(static_fallback=True)._repr_mimebundle_()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "version_major": 2, "version_minor": 0,
        "state": {bundle["application/vnd.jupyter.widget-view+json"]["model_id"]: {
            "model_name": "VBoxModel", "model_module": "@jupyter-widgets/controls",
            "model_module_version": "2.0.0", "state": {}}}}}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Explorers in a built page\n\nInline math $\\alpha^2 "
                                      "\\cdot \\frac{D_K^2}{N}$ and a display:\n\n$$\\rho = "
                                      "\\frac{r}{224}, \\quad \\text{MACs} \\propto \\alpha^2"
                                      "\\rho^2$$"),
        nbformat.v4.new_code_cell("ex", execution_count=1, outputs=[nbformat.v4.new_output(
            "execute_result", {"text/html": explorer.to_html(), "text/plain": repr(explorer)},
            execution_count=1)]),
        nbformat.v4.new_code_cell("ex.widget()", execution_count=2, outputs=[
            nbformat.v4.new_output("execute_result", bundle, execution_count=2)]),
        nbformat.v4.new_code_cell("ex.widget(static_fallback=True)", execution_count=3, outputs=[
            nbformat.v4.new_output("execute_result", full, execution_count=3)]),
    ]
    nbformat.write(nb, path)


def _build(source: pathlib.Path, out: pathlib.Path, timeout: int = 600) -> pathlib.Path:
    jb = pathlib.Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jb), "build", str(source), "--path-output", str(out)],
                            capture_output=True, text=True, timeout=timeout)
    html = out / "_build" / "html"
    assert result.returncode == 0 and html.is_dir(), result.stdout[-3000:] + result.stderr[-3000:]
    return html


def test_widget_output_renders_static_in_a_built_page(browser, tmp_path):
    """The project's _config.yml on a one-page book: MathJax from _static, a live widget's
    output shown as its HTML fallback (a note, or the static explorer), no widget state, no CDN."""
    _chromium()
    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(ROOT / "_config.yml", source / "_config.yml")
    shutil.copy(ROOT / "references.bib", source / "references.bib")
    shutil.copytree(ROOT / "_static", source / "_static")
    (source / "_toc.yml").write_text("format: jb-book\nroot: page\n")
    explorer = _standalone_explorers()[0]
    _write_notebook(source / "page.ipynb", explorer)
    html = _build(source, tmp_path / "out", timeout=300)
    text = (html / "page.html").read_text(encoding="utf-8")
    assert "widget-state+json" not in text and "widget-view+json" not in text
    assert text.count('class="mnlab-explorer"') == 2 and text.count("mnlab-live-note") == 1
    assert text.count("tex-chtml-full.js") == 1
    assert not _external_sources(text), _external_sources(text)

    browser.outside.clear()
    with serve(html) as base, open_page(browser, base + "page.html") as (page, problems):
        assert page.locator("mjx-container").count() >= 2, "MathJax did not typeset the math"
        assert page.locator("mjx-merror").count() == 0
        page.screenshot(path=str(_screenshot_path("minibook-page")), full_page=True)
        counts = check_page_explorers(
            page, lambda payload: lambda p: _v1_count(p["width"], p["resolution"]),
            name="minibook")
        assert counts == [counts[0]] * 2 and counts[0] >= 16
        assert not problems, "\n".join(problems)
    assert not browser.outside, f"requests left 127.0.0.1: {browser.outside}"


_SOURCE_ATTR = re.compile(r"<(?:script|link|img|iframe|source|video|audio|embed|object)\b[^>]*?"
                          r"\b(?:src|href|data)\s*=\s*[\"']((?:https?:)?//[^\"']+)", re.I)


def _external_sources(text: str) -> list[str]:
    """URLs outside the book that a page's elements would load (links to read are fine)."""
    found = []
    for match in _SOURCE_ATTR.finditer(text):
        tag = match.group(0)
        if tag.lower().startswith("<link") and not re.search(
                r"rel\s*=\s*[\"'][^\"']*(stylesheet|preload|icon|modulepreload|prefetch)", tag, re.I):
            continue
        found.append(match.group(1))
    return found


def _toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [e["file"] for part in toc.get("parts", [])
                             for e in part.get("chapters", [])]
    return [f for f in files if any((ROOT / f"{f}{ext}").exists() for ext in (".md", ".ipynb"))]


@pytest.fixture(scope="module")
def book_html(request) -> pathlib.Path:
    """The rendered book: ``MNLAB_BOOK_HTML`` if set (a finished build of this tree), else the
    session's one build of the stored notebooks (``book_build`` in conftest.py, which
    tests/test_book.py checks for warnings)."""
    reuse = os.environ.get("MNLAB_BOOK_HTML")
    if reuse:
        html = pathlib.Path(reuse)
        assert (html / "index.html").exists(), f"MNLAB_BOOK_HTML={reuse} holds no built book"
        return html
    _chromium()  # no point building without a browser
    result, html = request.getfixturevalue("book_build")
    assert (html / "index.html").exists(), result.stdout[-3000:] + result.stderr[-3000:]
    return html


_CSS_URL = re.compile(r"(?:url\(\s*[\"']?|@import\s+[\"'])((?:https?:)?//[^\"')\s]+)", re.I)


def test_rendered_book_offline_with_working_explorers(browser, book_html):
    pages = _toc_pages()
    assert pages, "no page in _toc.yml"
    # Statically, every built file: no element or stylesheet loads anything from outside.
    for path in sorted(book_html.rglob("*.html")) + sorted(book_html.rglob("*.css")):
        text = path.read_text(encoding="utf-8", errors="replace")
        found = _CSS_URL.findall(text) + (_external_sources(text) if path.suffix == ".html" else [])
        assert not found, f"{path.relative_to(book_html)} loads {found}"
    report, failures = {}, []
    browser.outside.clear()
    with serve(book_html) as base:
        for name in pages + ["search", "genindex"]:
            try:
                report[name] = _check_book_page(browser, base, book_html, name)
            except AssertionError as err:  # go on: one run reports every page's problem
                failures.append(f"{name}: {err}")
    outside = sorted(set(browser.outside))
    print("explorer states checked per page:", report)
    assert not failures, "\n\n".join(failures)
    assert not outside, f"requests left 127.0.0.1: {outside}"


def _check_book_page(browser, base: str, book_html: pathlib.Path, name: str) -> list[int]:
    stem = pathlib.PurePosixPath(name).name
    assert (book_html / f"{name}.html").exists(), "the page was not built"
    with open_page(browser, base + f"{name}.html") as (page, problems):
        if stem == README_CHAPTER and os.environ.get("MNLAB_SCREENSHOT"):
            _readme_screenshot(page, ROOT / os.environ["MNLAB_SCREENSHOT"])
        if page.locator(".math").count():
            assert page.locator("mjx-container").count(), "math not typeset"
        errors = page.locator("mjx-merror").all_text_contents()
        assert not errors, f"MathJax errors {errors}"
        pattern = MODEL_OF_CHAPTER.get(stem)
        direct = []

        def expected_for(payload):
            if stem in EXPECTED_OF_CHAPTER:
                fn = EXPECTED_OF_CHAPTER[stem](payload)
            else:
                fn = _mnlab_expected(pattern, payload) if pattern else None
            direct.append(fn is not None)
            return fn

        try:
            counts = check_page_explorers(page, expected_for, name=f"book-{stem}")
        finally:
            page.screenshot(path=str(_screenshot_path(f"book-{stem}")), full_page=True)
        assert not problems, "\n".join(problems)
        if stem in EXPLORER_CHAPTERS:
            assert counts, "no static explorer (mnlab.explorer.Explorer) on the page"
        if stem == "02_mobilenet_v1":
            assert any(direct), ("no explorer with sliders width/resolution and outputs "
                                 "macs/params to check against mnlab.analyze")
        if stem in EXPECTED_OF_CHAPTER:
            assert any(direct), "no explorer with sliders model/resolution to check against mnlab.analyze"
    return counts


def _readme_screenshot(page, path: pathlib.Path) -> None:
    """The chapter as a reader meets its first explorer: the window, the explorer in view."""
    explorers = page.locator("div.mnlab-explorer")
    if explorers.count():
        explorers.first.evaluate("e => e.scrollIntoView({block: 'center'})")
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
