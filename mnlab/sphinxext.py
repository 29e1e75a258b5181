"""The book's Sphinx extension (``_config.yml``: ``extra_extensions``): it keeps the pages
offline, static and free of JavaScript errors — MathJax loaded once from ``_static/mathjax``,
no ipywidgets state, no duplicated inline scripts. Presentation layer, like
:mod:`mnlab.explorer`, whose static explorers these pages show.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from mnlab.explorer import FORMAT_VERSION

if TYPE_CHECKING:
    from sphinx.application import Sphinx



def _configure(app, config) -> None:
    """Jupyter Book adds every ``*.js``/``*.css`` under ``_static`` to every page; the vendored
    MathJax (``_static/mathjax``) must be loaded once, by ``sphinx.ext.mathjax`` after its
    configuration and only on pages with math, so it is taken out of that list."""
    def keep(entry) -> bool:
        name = entry[0] if isinstance(entry, (tuple, list)) else entry
        return not str(name or "").startswith("mathjax/")

    config.html_js_files = [e for e in config.html_js_files if keep(e)]
    config.html_css_files = [e for e in config.html_css_files if keep(e)]


def _clean_page_scripts(app, pagename, templatename, context, doctree) -> None:
    """Per page: drop the ipywidgets state that myst-nb embeds for notebooks executed with
    widgets (the static book renders no widget; their outputs show the static explorer), and
    scripts added twice (sphinx-thebe's inline ``const`` configuration is, and the second copy
    throws "Identifier 'THEBE_JS_URL' has already been declared")."""
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, kept = set(), []
    for js in scripts:
        attributes = getattr(js, "attributes", {}) or {}
        if attributes.get("type") == "application/vnd.jupyter.widget-state+json":
            continue
        key = (str(getattr(js, "filename", js) or ""), tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept


def setup(app: Sphinx) -> dict[str, str | bool]:
    """``mnlab.sphinxext`` is the book's Sphinx extension (``_config.yml``: ``extra_extensions``): it
    keeps the book's pages offline, static and free of JavaScript errors: MathJax loaded once
    from ``_static/mathjax``, no ipywidgets state, no duplicated inline scripts."""
    app.connect("config-inited", _configure, priority=900)
    app.connect("html-page-context", _clean_page_scripts, priority=900)
    return {"version": str(FORMAT_VERSION), "parallel_read_safe": True,
            "parallel_write_safe": True}
