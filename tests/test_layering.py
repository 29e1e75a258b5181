"""The package's layering, read from every import statement in mnlab/ (also those inside
functions): each part imports only the parts below it (README, "Layout").

    validation, storage  <  models  <  analysis  <  training, papers, zoo  <  claims, mnlab (the facade)
                <  studies  <  plots, book, diagrams, cli, explorer, sphinxext

and mnlab.analysis never imports mnlab.models (it works on any nn.Module), although it sits
above them. The parts of the top (presentation) layer may import each other.
"""
import ast
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "mnlab"
RANK = {"validation": 0, "storage": 0, "models": 1, "analysis": 2, "training": 3, "papers": 3, "zoo": 3,
        "claims": 4, "mnlab": 4, "studies": 5,
        "plots": 6, "book": 6, "diagrams": 6, "cli": 6, "explorer": 6, "sphinxext": 6}
TOP = max(RANK.values())


def _part(path: pathlib.Path) -> str:
    """The part a file belongs to: its sub-package, module name, or "mnlab" for __init__.py."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return "mnlab" if parts == ("__init__",) else parts[0]


def _imports(path: pathlib.Path) -> set[str]:
    """The parts of mnlab a file imports, absolute or relative, at any depth of its code."""
    module = ["mnlab", *path.relative_to(ROOT).with_suffix("").parts]
    package = module[:-1]   # what a relative import starts from, for a module and an __init__ alike
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                names = [".".join(base + ([node.module] if node.module else []))]
            else:
                names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "mnlab":
                found.add(parts[1] if len(parts) > 1 else "mnlab")
    return found


FILES = sorted(ROOT.rglob("*.py"))


def test_every_part_of_the_package_has_a_rank():
    assert {_part(p) for p in FILES} == set(RANK)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_file_imports_only_what_lies_below_it(path):
    part = _part(path)
    for target in _imports(path) - {part}:
        allowed = RANK[target] < RANK[part] or RANK[part] == RANK[target] == TOP
        assert allowed, f"{path.relative_to(ROOT)} ({part}) imports mnlab.{target}, which is not below it"
    if part == "analysis":
        assert "models" not in _imports(path), f"{path.name}: analysis works on any nn.Module"


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The test can fail: a relative import of the models from the analysis is caught."""
    fake = tmp_path / "mnlab" / "analysis" / "bad.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("def f():\n    from ..models import create_model\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path / "mnlab")
    assert _imports(fake) == {"models"}
    with pytest.raises(AssertionError, match="analysis works on any nn.Module"):
        test_each_file_imports_only_what_lies_below_it(fake)
