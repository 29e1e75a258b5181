"""Files written atomically: a reader (another process, a notebook re-run midway) never sees half a
file. The one place that writes through a temporary file; the stored results of the studies, the
zoo's and the kernel bank's caches and the exported ONNX files all go through it.

Lowest layer, with :mod:`mnlab.validation`: it imports nothing of mnlab, so that the analysis and
the studies alike can use it.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` (bytes, or text written as UTF-8) to ``path`` through a temporary file named
    after this process, then rename it over ``path``; creates the folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    os.replace(tmp, path)


def write_csv(table: pd.DataFrame, path: str | os.PathLike, float_format: str | None = None) -> None:
    """Write ``table`` to ``path`` as CSV without its index, atomically (:func:`write_atomic`)."""
    write_atomic(path, table.to_csv(index=False, float_format=float_format))
