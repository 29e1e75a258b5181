import os
import pathlib
import subprocess
import sys

import pytest
import torch

#: What `make test` sets to run everything on another numeric code path (see the Makefile).
NUMERIC_PATH_VARIABLES = ("ATEN_CPU_CAPABILITY", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "OPENBLAS_CORETYPE",
                          "NPY_DISABLE_CPU_FEATURES")


def pytest_report_header(config):
    """Say which kernels this run uses: the notebooks were stored on the default path."""
    chosen = [f"{name}={os.environ[name]}" for name in NUMERIC_PATH_VARIABLES if name in os.environ]
    return (f"numeric path: torch CPU capability {torch.backends.cpu.get_cpu_capability()}"
            f" ({', '.join(chosen) or 'the default kernels'})")


@pytest.fixture(autouse=True)
def _deterministic():
    """Every test starts from the same seed and one thread, as the book's notebooks do."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def book_build(tmp_path_factory) -> "tuple[subprocess.CompletedProcess, pathlib.Path]":
    """The book built once per test session, from the stored outputs (nothing is executed), with
    warnings as errors (``jupyter-book build -W -n --keep-going``): ``(the finished process,
    its _build/html folder)``. tests/test_book.py checks that it is clean; tests/test_browser.py
    drives the same pages, so ``make test`` builds the book once."""
    jb = pathlib.Path(sys.executable).with_name("jupyter-book")
    out = tmp_path_factory.mktemp("book")
    root = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run([str(jb), "build", str(root), "--path-output", str(out), "-W", "-n", "--keep-going"],
                            capture_output=True, text=True, timeout=900)
    return result, out / "_build" / "html"
