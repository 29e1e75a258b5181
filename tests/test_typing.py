"""Issue 18's typing: mnlab ships ``py.typed``, so its public API is annotated in full, and
``mypy mnlab`` (configured in pyproject.toml) finds no error.

The public API: ``__all__`` of :mod:`mnlab`, :mod:`mnlab.models`, :mod:`mnlab.analysis`,
:mod:`mnlab.plots` and :mod:`mnlab.training`, and every public name defined in each other
module under ``mnlab/`` (found with ``pkgutil.walk_packages``: analysis internals, layers,
diagrams, explorer, storage, the Sphinx extension, every study and plot). Of each public function, every parameter (but ``self``/``cls``) and the
return type are annotated; of each public class, its ``__init__``, ``__call__``, public
methods and properties.

``mypy mnlab`` runs here too (about 25 s of CPU from a cold cache, a few seconds from the one it
keeps in ``_build/mypy_cache``), and on a snippet that misuses the API, to show it catches that.
"""
from __future__ import annotations

import importlib
import inspect
import pathlib
import pkgutil
import subprocess
import sys
import time
from types import ModuleType
from typing import Any, Callable, Iterator

import pytest

import mnlab

ROOT = pathlib.Path(__file__).resolve().parents[1]

WITH_ALL = ["mnlab", "mnlab.models", "mnlab.analysis", "mnlab.plots", "mnlab.training"]
# Every other module under mnlab/ (the analysis internals, the layers, the diagrams, the
# explorer, storage, the Sphinx extension…): the public names each one defines itself.
BY_NAME = sorted(info.name for info in pkgutil.walk_packages(mnlab.__path__, "mnlab.")
                 if info.name not in WITH_ALL and not info.name.rsplit(".", 1)[-1].startswith("_"))


def _public(module: ModuleType) -> dict[str, Any]:
    """``__all__``'s objects, or else the public names the module itself defines."""
    if hasattr(module, "__all__"):
        return {name: getattr(module, name) for name in module.__all__}
    return {name: obj for name, obj in vars(module).items()
            if not name.startswith("_") and getattr(obj, "__module__", None) == module.__name__}


def _callables(name: str, obj: Any) -> Iterator[tuple[str, Callable[..., Any]]]:
    """A function itself; of a class defined in mnlab, the methods a caller uses."""
    if inspect.isfunction(obj):
        yield name, obj
    elif inspect.isclass(obj) and obj.__module__.startswith("mnlab"):
        for attr, member in vars(obj).items():
            if attr.startswith("_") and attr not in ("__init__", "__call__"):
                continue
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, property):
                member = member.fget
            # typing.Protocol gives a protocol class (runtimes.Engine) an __init__ of its own
            if inspect.isfunction(member) and member.__module__ != "typing":
                yield f"{name}.{attr}", member


def missing_annotations(function: Callable[..., Any]) -> list[str]:
    """The parameters of ``function`` (but self/cls) without an annotation, and "return" if its
    return type is not annotated. Reads the function's own annotations (a wrapper's
    ``__signature__`` is not taken for them)."""
    signature = inspect.signature(function)
    params = list(signature.parameters.values())
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    missing = [p.name for p in params if p.annotation is inspect.Parameter.empty]
    if signature.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


def public_api() -> dict[str, Callable[..., Any]]:
    found: dict[str, Callable[..., Any]] = {}
    for module_name in WITH_ALL + BY_NAME:
        module = importlib.import_module(module_name)
        for name, obj in _public(module).items():
            for qualname, function in _callables(name, obj):
                found[f"{module_name}.{qualname}"] = function
    return found


def _unannotated(model, input_shape=224) -> dict:
    return {}


def _partly_annotated(model: Any, *sizes, **kwargs: int):
    return None


def test_the_check_finds_a_missing_annotation():
    assert missing_annotations(_unannotated) == ["model", "input_shape"]
    assert missing_annotations(_partly_annotated) == ["sizes", "return"]
    assert missing_annotations(missing_annotations) == []

    class Block:
        def forward(self, x):
            return x

        @property
        def width(self) -> int:
            return 1

    Block.__module__ = "mnlab.fake"
    assert dict(_callables("Block", Block)).keys() == {"Block.forward", "Block.width"}
    assert missing_annotations(Block.forward) == ["x", "return"]


def test_the_public_api_is_found():
    api = public_api()
    for name in ["mnlab.analyze", "mnlab.models.create_model", "mnlab.analysis.OpCall.arg",
                 "mnlab.analysis.measure_latency", "mnlab.zoo_sweep", "mnlab.cli.main",
                 "mnlab.analysis.DeployedModule.threads", "mnlab.models.MobileOneBlock.forward",
                 "mnlab.studies.v2.relu_manifold", "mnlab.plots.common.plot_roofline"]:
        assert name in api, name
    assert len(api) > 300


def test_every_public_function_is_annotated():
    missing = {name: gaps for name, function in public_api().items()
               if (gaps := missing_annotations(function))}
    assert not missing, "\n".join(f"{name}: {', '.join(gaps)}" for name, gaps in sorted(missing.items()))


def test_the_package_ships_py_typed():
    """PEP 561's marker (tests/test_packaging.py checks that the wheel carries it)."""
    assert (pathlib.Path(mnlab.__file__).parent / "py.typed").is_file()


def _mypy(*targets: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                           "--cache-dir", str(ROOT / "_build" / "mypy_cache"), *targets],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_mypy_finds_no_error_in_the_package():
    done = _mypy("mnlab")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


MISUSE = """\
import torch
from mnlab.analysis import analyze, compare_latency, measure_latency
from mnlab.models import create_model

model = create_model("mobilenet_v2")
first = model.features[0]                  # a submodule: Any (tests/mypy_torch_getattr.py)
channels: int = torch.nn.Conv2d(3, 8, 3).out_channels
analyze(model, (3, 224, 224))              # (C, H, W): not an InputShape
measure_latency(model, 224, backend="gpu")  # not a Backend
compare_latency({"a": torch.nn.Conv2d(3, 8, 3)}, {"a": (1, 3, 32, 32)}, backend="xnnpack")
width: str = analyze(model, 224).totals    # a dict
"""


def test_mypy_catches_a_misuse_of_the_api(tmp_path):
    snippet = tmp_path / "misuse.py"
    snippet.write_text(MISUSE)
    done = _mypy(str(snippet))
    flagged = {int(line.split(":")[1]) for line in done.stdout.splitlines() if ": error:" in line}
    lines = MISUSE.splitlines()
    expected = {i + 1 for i, line in enumerate(lines) if line.startswith(("analyze(", "measure_latency(", "width:"))}
    assert flagged == expected, done.stdout
