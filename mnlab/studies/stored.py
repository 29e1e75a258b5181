"""Results kept as data: slow or machine-dependent measurements stored as CSV in ``chapters/data``.

Training studies (the V2 ablation, the Lite quantization study) and the zoo's latency sweep take
minutes and depend on the machine: a different CPU runs different kernels, so training takes a
different path and ends a few test images apart. The chapters therefore read them as stored,
with the machine that produced them recorded in every row (:func:`machine_columns`), and
measure anew only when asked (``make book EXECUTE=1`` sets ``MNLAB_REMEASURE=1``). Claims drawn
from stored results hold on any machine; unit tests re-run one seed and check that it
reproduces the stored figures within a stated tolerance.
"""
from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd
import torch

from mnlab.storage import write_csv

#: The columns :func:`machine_columns` adds to every stored row.
MACHINE_COLUMNS = ("cpu", "logical_cores", "threads", "cpu_capability", "torch", "measured_at")


def machine_columns(threads: int = 1) -> dict:
    """Where a stored result was produced: CPU model, logical cores, threads, the kernels torch
    chose (``cpu_capability``: AVX512, AVX2 or DEFAULT), torch version and the date (UTC)."""
    from mnlab.analysis.latency import cpu_model

    return {"cpu": cpu_model(), "logical_cores": os.cpu_count() or 1, "threads": int(threads),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
            "measured_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")}


def stored_tables(paths: Mapping[str, str | os.PathLike[str]], remeasure: bool,
                  measure: Callable[[], dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """The tables of one study as stored at ``paths`` (name → CSV path); measured with
    ``measure()`` (which returns name → table) and stored, with :func:`machine_columns` added to
    every row, only when ``remeasure`` is true or a file is missing. Floats are stored to six
    significant digits, more than any table of the book shows."""
    if not isinstance(remeasure, bool):
        raise ValueError(f"remeasure must be True or False, got {remeasure!r}")
    if not paths:
        raise ValueError("paths must name at least one table")
    if remeasure or not all(Path(p).exists() for p in paths.values()):
        tables = measure()
        if set(tables) != set(paths):
            raise ValueError(f"measure() returned tables {sorted(tables)}, expected {sorted(paths)}")
        machine = machine_columns()
        for name, path in paths.items():
            write_csv(tables[name].assign(**machine), path, float_format="%.6g")
    return {name: pd.read_csv(path, dtype={"cpu": str, "torch": str, "cpu_capability": str})
            for name, path in paths.items()}


def machine_of(table: pd.DataFrame, *, cpu_only: bool = False) -> str:
    """The machine(s) a stored table was produced on, in words: "<cpu> (<n> logical cores),
    1 thread, torch 2.13.0+cpu" (", AVX512 kernels" when recorded), or only the CPU's name;
    several joined by " / "."""
    columns = [c for c in ("cpu", "logical_cores", "threads", "torch", "cpu_capability") if c in table]
    missing = {"cpu"} if cpu_only else {"cpu", "logical_cores", "threads", "torch"}
    missing -= set(columns)
    if missing:
        raise ValueError(f"table does not record its machine (missing columns {sorted(missing)})")
    if cpu_only:
        return " / ".join(table["cpu"].drop_duplicates())
    words = []
    for m in table[columns].drop_duplicates().to_dict("records"):
        text = (f"{m['cpu']} ({m['logical_cores']} logical cores), {m['threads']} thread"
                f"{'s' if m['threads'] != 1 else ''}, torch {m['torch']}")
        if isinstance(m.get("cpu_capability"), str):
            text += f", {m['cpu_capability']} kernels"
        words.append(text)
    return " / ".join(words)
