"""The book: every chapter stored executed and listed in the table of contents, and a clean build.

The chapters' contents are validated by nbval (``make test`` re-executes each notebook and
compares it with its stored outputs); this file checks what nbval does not.
"""
import json
import pathlib
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [entry["file"] for entry in part["chapters"]]
    return files


def test_toc_lists_every_chapter_and_nothing_missing():
    listed = _toc_files()
    for name in listed:
        assert any((ROOT / f"{name}{ext}").exists() for ext in (".md", ".ipynb")), name
    for nb in NOTEBOOKS:
        assert f"chapters/{nb.stem}" in listed, f"{nb.name} is not in _toc.yml"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.name for nb in NOTEBOOKS])
def test_chapter_is_stored_executed_without_errors(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert code, "a chapter without code"
    missing = [i for i, c in enumerate(code) if not c.get("outputs")]
    assert not missing, f"code cells without stored output: {missing}"
    errors = [i for i, c in enumerate(code) for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"code cells stored with an error: {errors}"
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), "not executed top to bottom in one run"


def test_book_builds_cleanly_with_warnings_as_errors(tmp_path):
    """`jupyter-book build -W -n --keep-going`: any warning (broken reference, missing citation,
    unknown output) fails the build. The build renders stored outputs; nothing is executed."""
    jb = pathlib.Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jb), "build", str(ROOT), "--path-output", str(tmp_path), "-W", "-n",
                             "--keep-going"], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    html = tmp_path / "_build" / "html"
    assert (html / "index.html").exists()
    for name in _toc_files():
        assert (html / f"{name}.html").exists(), name
