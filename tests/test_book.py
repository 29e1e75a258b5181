"""The book: every chapter stored executed and listed in the table of contents, and a clean build.

The chapters' contents are validated by nbval (``make test`` re-executes each notebook and
compares it with its stored outputs); this file checks what nbval does not.
"""
import json
import os
import pathlib
import shlex
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from mnlab import book, claims

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


def test_book_builds_cleanly_with_warnings_as_errors(book_build):
    """`jupyter-book build -W -n --keep-going`: any warning (broken reference, missing citation,
    unknown output) fails the build. The build renders stored outputs; nothing is executed."""
    result, html = book_build
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert (html / "index.html").exists()
    for name in _toc_files():
        assert (html / f"{name}.html").exists(), name


# --------------------------------------------------------------------------- portability and display


def test_make_test_runs_on_another_numeric_path_than_the_default():
    """`make test` re-executes the chapters with other kernels than the machine's default (the
    path they were stored on), so that an output depending on float rounding fails here too."""
    from conftest import NUMERIC_PATH_VARIABLES

    printed = subprocess.run(["make", "-s", "--no-print-directory", "other-path"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
    other = dict(item.split("=", 1) for item in shlex.split(printed))
    assert set(other) == set(NUMERIC_PATH_VARIABLES)
    default_env = {k: v for k, v in os.environ.items() if k not in NUMERIC_PATH_VARIABLES}
    probe = [sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"]
    default = subprocess.run(probe, env=default_env, capture_output=True, text=True, check=True).stdout.strip()
    chosen = subprocess.run(probe, env={**default_env, **other}, capture_output=True, text=True, check=True).stdout
    assert default in ("AVX512", "AVX2", "DEFAULT") and chosen.strip() != default


def test_below_prints_rounding_errors_as_a_bound():
    table = pd.DataFrame({"step": ["a", "b", "c"], "error": [9.5e-07, 0.0, 2e-4]})
    shown = book.below(table, "error", 1e-5)
    assert list(shown.error) == ["< 1e-05", "< 1e-05", "0.0002"]
    assert table.error.dtype == float   # the data is untouched
    with pytest.raises(ValueError, match="bound"):
        book.below(table, "error", 0)
    with pytest.raises(ValueError, match="column"):
        book.below(table, "missing", 1e-5)


def test_show_claims_shows_the_evidence_and_fails_on_a_must_hold_claim():
    counted = claims.compare("mobilenet_v1/table6/1.0/params", 4_231_976)
    timed = claims.statement("SE costs latency", "slower", "0.64×", False, source="mobileone",
                             evidence=claims.Evidence.TIMING, machine="Test CPU")
    html = book.show_claims([counted, timed]).to_html()
    for text in ("count within the printed rounding", "differs: timing on Test CPU", "timing (hardware-dependent)",
                 "color: #1a7f37", "color: #b35900"):
        assert text in html
    with pytest.raises(claims.ClaimFailed, match="V1 params"):
        book.show_claims([claims.compare("mobilenet_v1/table6/1.0/params", 5e6, what="V1 params")])
