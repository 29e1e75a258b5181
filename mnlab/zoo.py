"""The zoo sweep: every family at several widths and resolutions, counted and timed on this CPU.

This is the data behind MobileOne's question (Vasu et al. 2022, Sec. 3.1, Fig. 2, Table 1):
do MACs, parameters or bytes moved predict latency? Each configuration is built from the
registry, counted with :func:`mnlab.analysis.analyze` and timed with
:func:`mnlab.analysis.measure_latency` (batch 1, one thread by default, MobileOne in its
re-parameterized inference form as the paper times it). Feed the table to
:func:`mnlab.analysis.rank_correlation` and :func:`mnlab.plots.plot_latency_vs_metrics`.

Timings are slow to make and depend on the machine, so rows are cached in a CSV keyed by a
machine fingerprint (CPU model, logical cores, torch version, threads) and the backend: a
re-run on the same machine measures only what is missing; a different machine measures anew
and its rows sit beside the others in the same file.
"""
from __future__ import annotations

import csv
import io
import math
import os
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import pandas as pd
import torch
from tqdm.auto import tqdm

from mnlab.analysis import analyze, measure_latency
from mnlab.analysis.deployment import Backend, check_backend
from mnlab.analysis.latency import check_threads, environment, machine_fingerprint
from mnlab.models import check_model_name, create_model, default_resolution, family, reparameterize
from mnlab.storage import write_atomic, write_csv
from mnlab.validation import check_int, check_real

#: Where the sweep caches its rows unless told otherwise.
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mnlab" / "zoo_latency.csv"

#: Columns of the sweep's table, in order.
COLUMNS = ["family", "model", "width", "resolution", "reparameterized", "macs", "params", "bytes",
           "peak_activation_bytes", "latency_ms", "latency_iqr_ms", "latency_p90_ms", "rel_iqr",
           "runs", "noisy", "backend", "threads", "cpu", "logical_cores", "torch", "fingerprint",
           "measured_at"]
#: Columns that hold integers (kept integers through the CSV).
INT_COLUMNS = ["resolution", "macs", "params", "bytes", "peak_activation_bytes", "runs", "threads",
               "logical_cores"]
#: The largest input side a configuration may ask for (a 4096² RGB input is 200 MB in float32).
MAX_RESOLUTION = 4096


@dataclass(frozen=True)
class ZooConfig:
    """One point of the sweep.

    ``width``: the width multiplier α (``width_mult``) of MobileNetV1/V2/V3, or the width
    coefficient of an EfficientNet-Lite (None: the variant's published one). MobileOne's
    variants S0–S4 *are* its width ladder, so its width must be None. ``resolution``: input
    side (None: the model's published resolution). ``reparameterized``: MobileOne only; None
    means True, the form the paper times.
    """

    model: str
    width: float | None = None
    resolution: int | None = None
    reparameterized: bool | None = None

    def resolved(self) -> "ZooConfig":
        """Validate and fill the Nones; ``ValueError`` names the bad field."""
        check_model_name(self.model)
        fam = family(self.model)
        width = self.width
        if width is not None:
            check_real(width, "width", above=0, note=f" or None for {self.model}")
        if fam == "MobileOne" and width is not None:
            raise ValueError(f"width must be None for {self.model}: "
                             "MobileOne's width is its variant (S0–S4)")
        if fam == "EfficientNet-Lite" and width is None:
            width = _lite_width(self.model)
        if fam in ("MobileNetV1", "MobileNetV2", "MobileNetV3") and width is None:
            width = 1.0
        resolution = default_resolution(self.model) if self.resolution is None else self.resolution
        check_int(resolution, "resolution", at_least=32, at_most=MAX_RESOLUTION, note=f" for {self.model}")
        reparam = self.reparameterized
        if fam != "MobileOne":
            if reparam:
                raise ValueError(f"reparameterized=True applies to MobileOne only, not {self.model}")
            reparam = False
        elif reparam is None:
            reparam = True
        return ZooConfig(self.model, None if width is None else float(width), int(resolution), bool(reparam))

    def build(self) -> torch.nn.Module:
        """The model of this (resolved) configuration, in eval mode."""
        fam = family(self.model)
        torch.manual_seed(0)
        if fam == "MobileOne":
            model = create_model(self.model)
            return reparameterize(model) if self.reparameterized else model.eval()
        return create_model(self.model, width_mult=self.width).eval()

    @property
    def label(self) -> str:
        width = "" if self.width is None else f" ×{self.width:g}"
        form = " (re-param.)" if self.reparameterized else ""
        return f"{self.model}{width} @{self.resolution}{form}"


def _lite_width(name: str) -> float:
    from mnlab.models.efficientnet_lite import SCALING
    return SCALING[name].width


def default_configs() -> list[ZooConfig]:
    """The book's sweep: 42 configurations, about one minute at one thread on a 2-core Xeon VM.

    MobileNetV1 on its paper's grid (Tables 6–7: α ∈ {1, .75, .5, .25} × {224, 192, 160, 128})
    plus Table 4's full-conv and Table 5's shallow variants; MobileNetV2 at the paper's widths
    (Table 6 / Fig. 5) and resolutions; MobileNetV3 Large and Small at α 0.75 and 1; the five
    EfficientNet-Lites at their own resolutions; MobileOne S0–S4 re-parameterized at 224.
    """
    configs = [ZooConfig("mobilenet_v1", w, r) for w in (1.0, 0.75, 0.5, 0.25) for r in (224, 192, 160, 128)]
    configs += [ZooConfig("conv_mobilenet_v1", 1.0, 224), ZooConfig("shallow_mobilenet_v1", 1.0, 224)]
    configs += [ZooConfig("mobilenet_v2", w, 224) for w in (1.4, 1.0, 0.75, 0.5, 0.35)]
    configs += [ZooConfig("mobilenet_v2", 1.0, r) for r in (192, 160, 128, 96)]
    configs += [ZooConfig("mobilenet_v3_large", w, 224) for w in (1.0, 0.75)]
    configs += [ZooConfig("mobilenet_v3_large", 1.0, 160)]
    configs += [ZooConfig("mobilenet_v3_small", w, 224) for w in (1.0, 0.75)]
    configs += [ZooConfig(f"efficientnet_lite{i}") for i in range(5)]
    configs += [ZooConfig(f"mobileone_s{i}", None, 224, True) for i in range(5)]
    return configs


#: A configuration as a tuple: (model name, width, resolution[, reparameterized]).
ConfigTuple = tuple[str, float | None, int | None] | tuple[str, float | None, int | None, bool | None]


def _as_config(item: object) -> ZooConfig:
    if isinstance(item, ZooConfig):
        return item.resolved()
    if isinstance(item, (tuple, list)) and len(item) in (3, 4) and isinstance(item[0], str):
        return ZooConfig(*item).resolved()
    raise ValueError(f"each config must be a ZooConfig or a (model name, width, resolution"
                     f"[, reparameterized]) tuple, got {item!r}")


def _key(row) -> tuple:
    def missing(v):
        return v is None or (isinstance(v, float) and math.isnan(v))

    width, resolution = row["width"], row["resolution"]
    width = "" if missing(width) else f"{float(width):.6g}"
    return (str(row["fingerprint"]), str(row["backend"]), str(row["model"]), width,
            -1 if missing(resolution) else int(resolution), bool(row["reparameterized"]))


def _complete_lines(path: Path) -> str:
    """The cache file's text without lines cut off mid-way (an interrupted write): a last line with
    no newline, or any line with another number of fields than the header. Such lines are dropped
    with a warning and the file is rewritten without them."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the zoo cache {str(path)!r}: {exc}") from exc
    lines = text.splitlines(keepends=True)
    if not lines:
        return ""
    width = len(next(csv.reader([lines[0]])))
    kept = [lines[0]] + [line for line in lines[1:] if line.endswith("\n")
                         and len(next(csv.reader([line]), [])) == width]
    if len(kept) < len(lines):
        warnings.warn(f"zoo cache {str(path)!r}: dropped {len(lines) - len(kept)} line(s) cut off mid-way "
                      f"(an interrupted write); they will be measured again", stacklevel=4)
        text = "".join(kept)
        write_atomic(path, text)
    return text


def _read_cache(path: Path | None) -> pd.DataFrame:
    """The cached rows (an empty or absent file is an empty cache); every error names the file."""
    empty = pd.DataFrame(columns=COLUMNS)
    if path is None or not path.exists():
        return empty
    text = _complete_lines(path)
    if not text.strip():
        return empty
    try:
        table = pd.read_csv(io.StringIO(text), dtype={"fingerprint": str, "cpu": str, "torch": str})
    except (pd.errors.ParserError, ValueError) as exc:
        raise ValueError(f"zoo cache {str(path)!r} is not a readable CSV: {exc}") from exc
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"cache {str(path)!r} is not a zoo sweep table (missing columns {missing}); "
                         f"pass another cache path or delete it")
    for column in ("reparameterized", "noisy"):
        table[column] = table[column].astype(str).str.lower().eq("true")
    for column in INT_COLUMNS:   # a row with a hole is dropped by _cached, not cast
        if table[column].notna().all():
            table[column] = table[column].astype("int64")
    return table


def _cached(table: pd.DataFrame) -> dict:
    """Rows usable as they are, by key: a row missing a measurement is measured again."""
    needed = ["latency_ms", "macs", "params", "bytes", "runs", "fingerprint", "resolution"]
    usable = table.dropna(subset=needed)
    return {_key(row): row for row in usable.to_dict("records")}


def _write_cache(path: Path, table: pd.DataFrame) -> None:
    table = table.copy()
    for column in INT_COLUMNS:
        if table[column].notna().all():
            table[column] = table[column].astype("int64")
    write_csv(table, path)


def _check_writable(path: Path) -> None:
    """Refuse a cache path the sweep could not write, before anything is measured."""
    if path.is_dir():
        raise ValueError(f"cache must be a CSV file path, got the directory {str(path)!r}")
    folder = next((p for p in [path.parent, *path.parent.parents] if p.exists()), None)
    if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK) or (
            path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"cache {str(path)!r} is not writable; pass a writable path or cache=None")


def measure_config(config: ZooConfig, *, threads: int = 1, backend: Backend = "eager",
                   budget_s: float = 1.0) -> dict:
    """Count and time one resolved configuration; one row of the sweep's table.

    A noisy timing is kept (with ``noisy`` True) rather than warned about here.
    """
    model = config.build()
    resolution = check_int(config.resolution, "config.resolution", note=" (a resolved config)")
    report = analyze(model, resolution)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = measure_latency(model, resolution, threads=threads, backend=backend,
                                 budget_s=budget_s)
    env = result.env
    return {
        "family": family(config.model), "model": config.model, "width": config.width,
        "resolution": config.resolution, "reparameterized": config.reparameterized,
        "macs": report.totals["macs"], "params": report.totals["params"],
        "bytes": report.totals["bytes_read"] + report.totals["bytes_written"],
        "peak_activation_bytes": report.totals["peak_activation_bytes"],
        "latency_ms": result.median_ms, "latency_iqr_ms": result.iqr_ms,
        "latency_p90_ms": result.p90_ms, "rel_iqr": result.rel_iqr, "runs": result.runs,
        "noisy": result.noisy, "backend": backend, "threads": threads, "cpu": env["cpu"],
        "logical_cores": env["logical_cores"], "torch": env["torch"],
        "fingerprint": machine_fingerprint(env),
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def zoo_sweep(configs: Iterable[ZooConfig | ConfigTuple] | None = None, *,
              cache: str | os.PathLike[str] | None = DEFAULT_CACHE, threads: int = 1,
              progress: bool = True, remeasure: bool = False, backend: Backend = "eager",
              budget_s: float = 1.0) -> pd.DataFrame:
    """Count and time a list of configurations; return one row per configuration, in order.

    ``configs``: :class:`ZooConfig`\\ s or ``(model, width, resolution[, reparameterized])``
    tuples; None → :func:`default_configs`. ``cache``: CSV path (None: no cache). Rows whose
    key (machine fingerprint, backend, model, width, resolution, reparameterized) is in the
    cache are reused unless ``remeasure``; each new row is written as soon as it is measured,
    so an interrupted sweep resumes where it stopped. ``budget_s`` is each timing's sampling
    budget (see :func:`~mnlab.analysis.measure_latency`). ``backend``: what is timed, one of
    ``mnlab.analysis.BACKENDS`` (a deployed backend times each configuration's deployed
    form, BatchNorm folded). Columns: :data:`COLUMNS`.

    The cache: an empty file is an empty cache; a row with a missing measurement is measured
    again; lines cut off mid-way by an interrupted write are dropped with a warning and removed
    from the file; integer columns stay integers.

    Raises ``ValueError`` for an empty or malformed config list, an unknown model, a bad
    width or resolution, ``threads`` < 1, an unknown backend, or a cache path that cannot be
    read or written (naming the file), before anything is measured.
    """
    threads = check_threads(threads)
    check_backend(backend)
    if configs is None:
        configs = default_configs()
    if isinstance(configs, (str, ZooConfig)) or not hasattr(configs, "__iter__"):
        raise ValueError(f"configs must be a list of configurations, got {configs!r}")
    configs = [_as_config(c) for c in configs]
    if not configs:
        raise ValueError("configs must contain at least one configuration, got an empty list")

    path = None if cache is None else Path(cache)
    if path is not None:
        _check_writable(path)
    table = _read_cache(path)
    fingerprint = machine_fingerprint(environment(threads, backend))
    cached = _cached(table)

    rows, noisy = [], 0
    bar = tqdm(configs, desc="zoo sweep", unit="model", disable=not progress)
    for config in bar:
        key = _key({**vars(config), "fingerprint": fingerprint, "backend": backend})
        if key in cached and not remeasure:
            rows.append(cached[key])
            continue
        bar.set_postfix_str(config.label)
        row = measure_config(config, threads=threads, backend=backend, budget_s=budget_s)
        noisy += row["noisy"]
        rows.append(row)
        if path is not None:
            kept = table[[_key(r) != key for r in table.to_dict("records")]]
            new = pd.DataFrame([row], columns=COLUMNS)
            table = pd.concat([kept, new], ignore_index=True) if len(kept) else new
            _write_cache(path, table)
    if noisy:
        warnings.warn(f"{noisy} of {len(configs)} timings were noisy (relative IQR above 2%); see the "
                      f"'noisy' and 'rel_iqr' columns", stacklevel=2)
    return pd.DataFrame(rows, columns=COLUMNS)
