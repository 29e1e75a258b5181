"""The package's shape, read from its source (issue 12, "Done when"): no module over 450 lines, no
function body over 60 lines, and the chapters' studies thin — no ``nn.Module`` of their own and no
matplotlib (models live in mnlab.models, figures in mnlab.plots). The import layering itself is
tests/test_layering.py's."""
import ast
import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "mnlab"
FILES = sorted(ROOT.rglob("*.py"))
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 450, 60


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int]]:
    """(name, lines) of every function or method whose body, docstring included, is longer than
    ``limit`` lines; nested functions count within their parent too."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.body[0].lineno + 1
            if lines > limit:
                found.append((node.name, lines))
    return found


def module_classes_and_imports(source: str) -> tuple[list[str], set[str]]:
    """The classes that subclass ``nn.Module`` (or ``Module``) and the top-level packages imported."""
    tree = ast.parse(source)
    modules = [node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
               and any(ast.unparse(base) in {"nn.Module", "Module", "torch.nn.Module"} for base in node.bases)]
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.add(node.module.split(".")[0])
    return modules, imported


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_are_short(path):
    source = path.read_text()
    lines = len(source.splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {lines} lines (at most {MAX_MODULE_LINES})"
    assert long_functions(source) == [], f"{path.relative_to(ROOT)}: function bodies over {MAX_FUNCTION_LINES} lines"


@pytest.mark.parametrize("path", sorted((ROOT / "studies").glob("*.py")), ids=lambda p: p.name)
def test_studies_define_no_module_and_draw_nothing(path):
    modules, imported = module_classes_and_imports(path.read_text())
    assert modules == [], f"studies/{path.name} defines nn.Module(s) {modules}: they belong in mnlab.models"
    assert "matplotlib" not in imported, f"studies/{path.name} imports matplotlib: figures belong in mnlab.plots"


def test_the_checks_can_fail():
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    assert long_functions(f"def f():\n{body}\n") == [("f", 61)]
    assert long_functions(f"def f():\n{body[:body.rindex(chr(10))]}\n") == []
    assert long_functions(f"class A:\n    def g(self):\n        '''doc'''\n{body.replace('    ', '        ')}\n") == [("g", 62)]
    source = "from torch import nn\nimport matplotlib.pyplot as plt\nclass Block(nn.Module):\n    pass\n"
    assert module_classes_and_imports(source) == (["Block"], {"torch", "matplotlib"})


MAX_CELL_LINES = 15
NOTEBOOKS = sorted((ROOT.parent / "chapters").glob("*.ipynb"))


def long_cells(notebook: dict, limit: int = MAX_CELL_LINES) -> list[tuple[int, int]]:
    """(index, lines) of every code cell longer than ``limit`` lines (trailing blank lines aside)."""
    return [(i, n) for i, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "code"
            and (n := len("".join(cell["source"]).rstrip().splitlines())) > limit]


def test_long_cells_are_found():
    cell = {"cell_type": "code", "source": ["x = 1\n"] * 16}
    assert long_cells({"cells": [cell, {"cell_type": "markdown", "source": ["a\n"] * 99}]}) == [(0, 16)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_cells_stay_thin(path):
    """Issue 12: no notebook code cell over 15 lines — the logic lives in mnlab."""
    assert long_cells(json.loads(path.read_text())) == []
