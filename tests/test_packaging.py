"""mnlab as other people install it, and the book as it is published.

* The metadata: one version (``mnlab.__version__``), library dependencies as ranges, the book's
  environment pinned in ``book-lock.txt`` (a resolution of those ranges, torch's CPU build).
* The wheel (marker ``wheel``, about a minute, part of ``make test``): built with
  ``python -m build`` from the tracked files, it carries every file under ``mnlab/``; installed
  into a fresh venv *without* the book's extras, its ``mnlab`` command prints what this
  checkout's prints. ``MNLAB_WHEEL_TORCH=2.14.1`` installs another torch instead of this
  one's, ``MNLAB_WHEEL_FLOORS=1`` every dependency at its floor (``make compat`` runs both).
* The GitHub Actions workflow that tests, builds and deploys the book, and the README that says
  how to publish it.
"""
from __future__ import annotations

import email
import importlib.metadata
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from contextlib import redirect_stdout
from io import StringIO

import pytest
import torch
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import mnlab
from mnlab import cli

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = ROOT / "book-lock.txt"
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def _requirements(names=None) -> list[Requirement]:
    project = PYPROJECT["project"]
    if names is None:
        return [Requirement(r) for r in project["dependencies"]]
    return [Requirement(r) for name in names for r in project["optional-dependencies"][name]]


def _lock() -> dict[str, Version]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = Version(version)
    return pins


def _make_variable(name: str) -> str:
    return re.search(rf"^{name}\s*:?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M).group(1)


# --------------------------------------------------------------------------- metadata


def test_the_version_is_kept_in_one_place():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "mnlab.__version__"}
    assert str(Version(mnlab.__version__)) == mnlab.__version__


def test_library_dependencies_are_ranges():
    for req in _requirements():
        operators = {spec.operator for spec in req.specifier}
        assert operators == {">=", "<"}, f"{req}: a floor and a cap, no pin"
    torch_req = next(r for r in _requirements() if r.name == "torch")
    assert Version(torch.__version__.split("+")[0]) in torch_req.specifier


def test_the_lock_pins_a_resolution_of_the_ranges():
    """book-lock.txt holds every package `make` installs, each satisfying pyproject's ranges;
    torch is the Makefile's release, pinned without a local label (a CPU build is chosen by
    where pip looks, not by the pin), and no CUDA package is in it."""
    pins = _lock()
    assert pins["torch"] == Version(_make_variable("TORCH")) and not pins["torch"].local
    extras = _make_variable("EXTRAS").split(",")
    wanted = _requirements() + [r for r in _requirements(extras) if r.name != "mnlab"]
    wanted += _requirements(["book", "runtimes"]) if "dev" in extras else []
    for req in wanted:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in {LOCK.name}: run `make lock`"
        assert pins[name] in req.specifier, f"{LOCK.name} pins {name}=={pins[name]}, not {req}"
    assert not [n for n in pins if n.startswith(("nvidia-", "triton", "cuda-"))]


def test_make_installs_with_the_lock():
    text = (ROOT / "Makefile").read_text()
    recipe = text.split("$(STAMP): pyproject.toml $(LOCK)\n", 1)[1].split("\n\n", 1)[0]
    installs = [line for line in recipe.splitlines() if "pip install" in line]
    assert installs and all("-c $(LOCK)" in line for line in installs), installs


# --------------------------------------------------------------------------- the wheel


def _tracked(paths: list[str]) -> list[str]:
    """The files a fresh clone has under ``paths`` (git's list; the tree if git is absent)."""
    try:
        out = subprocess.run(["git", "ls-files", "--", *paths], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        return out.split()
    except (OSError, subprocess.CalledProcessError):
        return [str(p.relative_to(ROOT)) for path in paths for p in (ROOT / path).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts] + \
            [p for p in paths if (ROOT / p).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> pathlib.Path:
    """``python -m build --wheel`` on a copy of the tracked sources (as CI's clone has them)."""
    source = tmp_path_factory.mktemp("source")
    for name in _tracked(["pyproject.toml", "README.md", "mnlab"]):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out),
                           str(source)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (path,) = out.glob("mnlab-*.whl")
    return path


@pytest.mark.wheel
def test_the_wheel_carries_every_package_file(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"mnlab-{mnlab.__version__}.dist-info"
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    package_files = set(_tracked(["mnlab"]))
    assert "mnlab/py.typed" in package_files and "mnlab/py.typed" in names   # PEP 561: typed
    assert package_files - names == set(), "files under mnlab/ the wheel leaves out"
    assert {n for n in names if not n.startswith(info)} == package_files
    assert metadata["Version"] == mnlab.__version__
    assert sorted(map(str, _requirements())) == sorted(
        r for r in metadata.get_all("Requires-Dist") if "extra ==" not in r)
    assert set(metadata.get_all("Provides-Extra")) == set(PYPROJECT["project"]["optional-dependencies"])
    assert re.search(r"^mnlab = mnlab\.cli:main$", entry_points, re.M)


def _floors() -> list[str]:
    """Each library dependency at its floor: the oldest releases pyproject.toml allows."""
    return [f"{r.name}=={next(s.version for s in r.specifier if s.operator == '>=')}"
            for r in _requirements()]


def _runtime_closure() -> list[importlib.metadata.Distribution]:
    """The installed distributions mnlab needs at run time: its requirements, recursively,
    without extras (so none of the book's)."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = [Requirement(r) for r in importlib.metadata.requires("mnlab") or []]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in found or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        found[name] = importlib.metadata.distribution(name)
        todo += [Requirement(r) for r in found[name].requires or []]
    return list(found.values())


def _share_dependencies(venv: pathlib.Path) -> None:
    """Let ``venv`` see this environment's copies of mnlab's run-time dependencies (torch, numpy,
    …; a folder of links named by a .pth file) instead of unpacking a gigabyte again. pip sees
    them as installed, outside the venv, and will neither change nor remove them."""
    shared = venv / "shared"
    shared.mkdir()
    for dist in _runtime_closure():
        base = pathlib.Path(dist.locate_file(""))
        tops = {f.parts[0] for f in dist.files or [] if f.parts[0] not in ("..", "__pycache__")}
        for top in tops:
            if not (shared / top).exists():
                (shared / top).symlink_to(base / top)
    (site,) = venv.glob("lib/python*/site-packages")
    (site / "shared-dependencies.pth").write_text(f"{shared}\n")


@pytest.fixture(scope="module")
def clean_venv(wheel, tmp_path_factory):
    """A fresh venv holding the wheel and what it requires, nothing of the book's extras.

    By default its dependencies are this environment's own (linked, not copied: the test takes
    seconds, and pip, offline, must find every requirement satisfied). MNLAB_WHEEL_TORCH=<v>
    installs the wheel's dependencies from the registry with that torch, MNLAB_WHEEL_FLOORS=1
    with every dependency at its floor (``make compat``)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=300)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
           "--quiet", "--disable-pip-version-check", str(wheel)]
    if os.environ.get("MNLAB_WHEEL_FLOORS"):
        pip += _floors()
    elif os.environ.get("MNLAB_WHEEL_TORCH"):
        pip += [f"torch=={os.environ['MNLAB_WHEEL_TORCH']}"]
    else:
        _share_dependencies(venv)
        pip += ["--no-index"]
    done = subprocess.run(pip, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    yield venv
    shutil.rmtree(venv, ignore_errors=True)  # a CUDA torch (make compat) is gigabytes


def _here(*argv: str) -> str:
    """What this checkout's ``mnlab`` prints."""
    out = StringIO()
    with redirect_stdout(out):
        assert cli.main(list(argv)) == 0
    return out.getvalue()


@pytest.mark.wheel
def test_the_installed_wheel_runs_the_command(clean_venv):
    python, command = clean_venv / "bin" / "python", clean_venv / "bin" / "mnlab"

    def run(*args) -> str:
        done = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                              timeout=600, cwd=clean_venv)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    (site,) = clean_venv.glob("lib/python*/site-packages")
    found = run(python, "-c", "import importlib.util as u; print(u.find_spec('mnlab').origin, "
                "[m for m in ('jupyter_book', 'ipywidgets', 'pytest') if u.find_spec(m)])")
    assert found == f"{site / 'mnlab' / '__init__.py'} []\n"  # the wheel's, no book extras
    names = [r.name for r in _requirements()]
    installed = dict(line.split() for line in run(python, "-c", (
        f"import importlib.metadata as m\nfor n in {names}: print(n, m.version(n))")).splitlines())
    print("the wheel ran with", installed)  # make compat (-s): what it ran against
    if os.environ.get("MNLAB_WHEEL_FLOORS"):
        floors = dict(f.split("==") for f in _floors())
        assert {n: Version(v) for n, v in installed.items()} == \
            {n: Version(v) for n, v in floors.items()}
    torch_version = os.environ.get("MNLAB_WHEEL_TORCH") or installed["torch"]
    assert run(command, "--version").startswith(
        f"mnlab {mnlab.__version__} (torch {torch_version}")
    assert run(command, "models") == _here("models")
    assert run(command, "summary", "mobilenet_v2") == _here("summary", "mobilenet_v2")


# --------------------------------------------------------------------------- publishing


def _workflow() -> dict:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads `on:` as True
    return workflow


def _steps(job: dict, action: str) -> list[dict]:
    return [s for s in job.get("steps", []) if s.get("uses", "").startswith(f"{action}@")]


def test_the_workflow_tests_every_push_and_deploys_main_to_pages():
    workflow = _workflow()
    assert workflow["on"]["push"]["branches"] == ["main"] and "pull_request" in workflow["on"]
    jobs = workflow["jobs"]
    (test_name,) = [n for n, j in jobs.items() if any(
        "make test" in s.get("run", "") or ".ci/run" in s.get("run", "") for s in j["steps"])]
    test = jobs[test_name]
    assert "if" not in test, "make test runs on every push and pull request"
    assert "download.pytorch.org/whl/cpu" in str(workflow.get("env", {}).get("PIP_EXTRA_INDEX_URL"))
    assert _steps(test, "actions/checkout")
    runs = [s.get("run", "") for s in test["steps"]]
    book = next(i for i, r in enumerate(runs) if "make book" in r)
    assert book > next(i for i, r in enumerate(runs) if "make test" in r or ".ci/run" in r)
    on_main = "github.ref == 'refs/heads/main'"
    for step in test["steps"][book:]:
        assert on_main in step.get("if", ""), f"{step} must run on main only"
    (upload,) = _steps(test, "actions/upload-pages-artifact")
    assert upload["with"]["path"] == "_build/html"
    assert _steps(test, "actions/configure-pages")

    (deploy,) = [j for j in jobs.values() if _steps(j, "actions/deploy-pages")]
    assert deploy["needs"] == test_name and on_main in deploy["if"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    (step,) = _steps(deploy, "actions/deploy-pages")
    assert deploy["environment"] == {"name": "github-pages",
                                     "url": f"${{{{ steps.{step['id']}.outputs.page_url }}}}"}


def test_every_action_is_pinned_to_a_commit():
    uses = re.findall(r"uses:\s*(\S+)(.*)", WORKFLOW.read_text())
    assert {u.split("@")[0] for u, _ in uses} >= {
        "actions/checkout", "actions/configure-pages", "actions/upload-pages-artifact",
        "actions/deploy-pages"}
    for action, comment in uses:
        assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r"\s*# v\d+(\.\d+)*", comment), f"{action}: say its version"


def test_the_workflow_fits_githubs_schema():
    """SchemaStore's schema of GitHub workflows, as check-jsonschema vendors it (no network).
    (actionlint would go further, but its PyPI wrapper downloads the binary from GitHub.)"""
    checker = shutil.which("check-jsonschema", path=str(pathlib.Path(sys.executable).parent))
    if checker is None:
        pytest.skip("check-jsonschema is not installed (pip install -e '.[dev]' brings it)")
    done = subprocess.run([checker, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_readme_says_how_to_publish_and_shows_a_chapter():
    readme = (ROOT / "README.md").read_text()
    assert readme.startswith("```bash\nmake book   #") and "\nmake test   #" in readme.split("```")[1]
    assert str(WORKFLOW.relative_to(ROOT)) in readme and "GitHub Actions" in readme
    (image,) = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", readme)
    data = (ROOT / image).read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000
