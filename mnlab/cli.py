"""The ``mnlab`` command (layer 4, presentation): the package's main jobs from a shell.

    mnlab models                    the registry: name, family, published input resolution
    mnlab summary MODEL             count one model (:func:`mnlab.analysis.analyze`)
    mnlab latency MODEL             time one model on this CPU (:func:`mnlab.analysis.measure_latency`)
    mnlab compare MODEL [MODEL…]    time several, interleaved (:func:`mnlab.analysis.compare_latency`)

Each command returns its data as an :class:`Output` (a DataFrame and what it describes);
:func:`render` turns that into a table (numbers with thousands separators), CSV or JSON
(``--format``). Bad input — an unknown name, a value the library refuses, a bad option — prints
one line to stderr and exits with status 2; each warning (a noisy measurement, say) prints one
line to stderr too. ``mnlab COMMAND --help`` is the manual.
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import numbers
import os
import platform
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd
import torch
from torch import nn

import mnlab
from mnlab import analysis

FORMATS = ("table", "csv", "json")
# The per-layer columns a summary table shows; CSV and JSON carry every column (analysis.COLUMNS).
SUMMARY_COLUMNS = ["name", "op", "kind", "input_shape", "output_shape", "params", "macs",
                   "bytes_read", "bytes_written"]
TOTALS = [("MACs (Mult-Adds)", "macs", ""), ("FLOPs (= 2 x MACs)", "flops", ""),
          ("other element ops", "ops", ""), ("parameters", "params", ""),
          ("bytes read", "bytes_read", "B"), ("bytes written", "bytes_written", "B"),
          ("peak activation memory (bytes)", "peak_activation_bytes", "B")]


def backends() -> tuple[str, ...]:
    """The latency backends the installed analysis offers (``eager`` and ``deploy`` at least)."""
    return tuple(getattr(analysis, "BACKENDS", ("eager", "deploy")))


@dataclass
class Output:
    """What a command produced. ``table``: the rows (CSV and JSON carry all its columns; the
    table format shows ``shown`` if given). ``heading``: the line above the table (table format).
    ``context``: what the rows describe, top-level keys in JSON. ``totals``: summary's sums,
    printed below the table and kept in JSON. ``notes``: lines below (table format).
    ``decimals``: places shown for float columns in the table format (3 if not given)."""

    table: pd.DataFrame
    heading: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    totals: dict[str, int] | None = None
    shown: list[str] | None = None
    notes: list[str] = field(default_factory=list)
    decimals: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- the commands


def models_output(args: argparse.Namespace) -> Output:
    """``mnlab models``: every registry name with its family and published resolution."""
    names = mnlab.list_models()
    return Output(pd.DataFrame({"model": names, "family": [mnlab.family(n) for n in names],
                                "resolution": [mnlab.default_resolution(n) for n in names]}))


def summary_output(args: argparse.Namespace) -> Output:
    """``mnlab summary``: the counts of one model, built on the meta device (no weights)."""
    model = build_model(args.model, args.width, weights=False)
    report = analysis.analyze(model, resolution_of(args, args.model))
    if args.by_kind:
        table, shown, decimals = report.by_kind().reset_index(), None, dict.fromkeys(
            ["macs_pct", "params_pct"], 2)
    else:
        table, shown, decimals = report.layers, SUMMARY_COLUMNS, {}
    width = "" if args.width is None else f", width {args.width:g}"
    dtype = str(report.dtype).replace("torch.", "")
    notes = [f"unknown ops (counted as their output size in 'ops'): {', '.join(report.unknown_ops)}"
             ] if report.unknown_ops else []
    context = {"model": args.model, "width_mult": args.width, "input_shape": report.input_shape,
               "dtype": dtype, "unknown_ops": report.unknown_ops, "mnlab": mnlab.__version__}
    return Output(table, f"{args.model}{width}, input {report.input_shape} ({dtype})", context,
                  totals={k: int(v) for k, v in report.totals.items()}, shown=shown, notes=notes,
                  decimals=decimals)


def latency_output(args: argparse.Namespace) -> Output:
    """``mnlab latency``: one model timed at batch 1 (median and spread of many runs)."""
    model = build_model(args.model, args.width, weights=True)
    resolution = resolution_of(args, args.model)
    options = {} if args.budget is None else {"budget_s": args.budget}
    result = analysis.measure_latency(model, resolution, threads=args.threads,
                                      backend=args.backend, **options)
    table = pd.DataFrame([{
        "model": args.model, "resolution": resolution, "backend": args.backend,
        "threads": args.threads, "median_ms": result.median_ms, "iqr_ms": result.iqr_ms,
        "p90_ms": result.p90_ms, "best_ms": min(result.samples_ms), "runs": result.runs,
        "noisy": result.noisy}])
    env = result.env
    return Output(table, f"batch 1 on {env.get('cpu')}, torch {env.get('torch')}",
                  {"environment": env, "samples_ms": result.samples_ms, "mnlab": mnlab.__version__})


def compare_output(args: argparse.Namespace) -> Output:
    """``mnlab compare``: several models timed in turn, round after round."""
    repeated = sorted({name for name in args.models if args.models.count(name) > 1})
    if repeated:
        raise ValueError(f"each MODEL may be given once, got {', '.join(repeated)} twice")
    models = {name: build_model(name, args.width, weights=True) for name in args.models}
    shapes = {name: resolution_of(args, name) for name in models}
    options = {} if args.budget is None else {"budget_s": args.budget}
    table = analysis.compare_latency(models, shapes, rounds=args.rounds, threads=args.threads,
                                     backend=args.backend, **options)
    table = table.rename_axis("model").reset_index()
    table.insert(1, "resolution", [shapes[name] for name in table["model"]])
    table["relative"] = table["median_ms"] / table["median_ms"].min()
    decimals = {"relative": 2}
    heading = (f"interleaved: {args.rounds} rounds, backend {args.backend}, {args.threads} "
               f"thread(s), batch 1; relative = median / fastest median")
    env = analysis.latency.environment(args.threads, args.backend)
    return Output(table, heading + f"\n{env['cpu']}, torch {env['torch']}",
                  {"rounds": args.rounds, "environment": env, "mnlab": mnlab.__version__},
                  decimals=decimals)


def build_model(name: str, width: float | None, *, weights: bool) -> nn.Module:
    """The registry model ``name`` in eval mode, with ``width_mult=width`` if given.

    Built on the meta device first (shapes only: counting needs no weights); with ``weights``
    it is then built for real, unless its parameters would not fit in this machine's memory.
    """
    kwargs = {} if width is None else {"width_mult": width}
    with torch.device("meta"):  # MobileOne refuses width_mult: ValueError
        model = mnlab.create_model(name, **kwargs)
    if weights:
        size = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
        memory = _physical_memory()
        if memory and size > memory / 2:
            raise ValueError(f"{name}{'' if width is None else f' at --width {width:g}'} holds "
                             f"{size / 1e9:,.1f} GB of weights, more than half of this machine's "
                             f"{memory / 1e9:,.1f} GB of memory; time a narrower model")
        model = mnlab.create_model(name, **kwargs)
    return model.eval()


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: no check
        return None


def resolution_of(args: argparse.Namespace, name: str) -> int:
    """``--resolution`` if given, else the model's published input side."""
    return mnlab.default_resolution(name) if args.resolution is None else args.resolution


# --------------------------------------------------------------------------- output


def render(output: Output, fmt: str) -> str:
    """``output`` as text: ``table`` (for reading), ``csv`` (the table alone) or ``json``
    (everything: context, totals and rows)."""
    if fmt == "csv":
        return str(output.table.to_csv(index=False)).rstrip("\n")
    if fmt == "json":
        document = {**output.context, "totals": output.totals,
                    "rows": _records(output.table)}
        if output.totals is None:
            del document["totals"]
        return json.dumps(document, indent=2, ensure_ascii=False, default=str)
    shown = output.table if output.shown is None else output.table[output.shown]
    table = table_text(shown, output.decimals)
    parts = [output.heading, "", table] if output.heading else [table]
    if output.totals is not None:
        parts += ["", totals_text(output.totals)]
    return "\n".join(parts + output.notes)


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain Python values, exact (floats keep every digit); NaN becomes null."""
    rows: list[dict[str, Any]] = table.astype(object).where(table.notna(), None).to_dict(
        orient="records")
    return rows


def table_text(table: pd.DataFrame, decimals: dict[str, int] | None = None) -> str:
    """Fixed-width columns: text left-aligned; numbers right-aligned with thousands separators,
    integers exactly and floats to ``decimals[column]`` places (3 by default)."""
    columns = []
    for name in table.columns:
        values = table[name].tolist()
        numeric = all(isinstance(v, numbers.Number) and not isinstance(v, bool) for v in values)
        places = (decimals or {}).get(name, 3)
        cells = [str(name)] + [cell_text(v, places) for v in values]
        width = max(map(len, cells))
        columns.append([c.rjust(width) if numeric else c.ljust(width) for c in cells])
    return "\n".join("  ".join(row).rstrip() for row in zip(*columns))


def cell_text(value: Any, decimals: int = 3) -> str:
    """One table cell: 568,740,352 / 1,234.568 / "" for NaN and None / str otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{value:,}"
    if isinstance(value, numbers.Real):
        return f"{value:,.{decimals}f}"
    return str(value)


def totals_text(totals: dict[str, int]) -> str:
    """The summary's totals: label, exact value with separators, and a short SI form."""
    return "\n".join(f"{label:<32}{totals[key]:>16,}  {_si(totals[key], unit)}"
                     for label, key, unit in TOTALS)


def _si(value: float, unit: str) -> str:
    """568740352 → '568.7 M' (powers of 1000)."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.1f} {prefix}{unit}"
    return f"{value} {unit}".rstrip()


# --------------------------------------------------------------------------- the parser


class _UsageError(Exception):
    """A command-line mistake; reported in one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse prints usage and exits; we want one line
        raise _UsageError(message)



def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


_MANUAL = {
    "mnlab": ("""\
Count and time the MobileNet family from the shell, with the conventions of the MobileNets
book: MACs are the papers' Mult-Adds (FLOPs = 2 x MACs, nothing else); latency is one image
(batch 1) in eval mode, one thread unless asked, the median of many runs.""", """\
output:
  Every command takes --format table|csv|json. "table" (the default) is for reading: numbers
  carry thousands separators. "csv" is the table alone, one header row, for a spreadsheet.
  "json" holds everything: the rows, the totals and what they describe (model, input shape,
  CPU, torch version).

exit status:
  0  success
  2  bad input: an unknown model (with the names it may have meant), a value out of range, an
     unknown option. One line on stderr, starting "mnlab: error:".

examples:
  mnlab summary mobilenet_v1 --by-kind           MobileNetV1's Table 2, counted
  mnlab summary mobilenet_v2 --format csv > v2.csv
  mnlab latency mobileone_s0 --backend deploy
  mnlab compare mobilenet_v2 mobilenet_v3_large mobileone_s0

See "mnlab COMMAND --help" for each command."""),
    "models": ("List the models of the registry: name, family and the input resolution each "
               "was published at\n(224, or EfficientNet-Lite's table).", ""),
    "summary": ("""\
Count one model on one image (batch 1): every op its forward pass runs, one row each, with its
parameters, MACs and bytes read and written; then the totals: MACs (Mult-Adds), FLOPs
(= 2 x MACs), other element ops, parameters, bytes moved and peak activation memory. The model
is built on PyTorch's meta device: shapes only, no weights and no arithmetic, so any width
counts in a second.""", """\
output:
  table  the rows (name, op, kind, shapes, params, macs, bytes), then the totals
  csv    every column of mnlab.analysis.COLUMNS, one row per op (per kind with --by-kind)
  json   model, input_shape, dtype, totals, unknown_ops and the rows with every column

examples:
  mnlab summary mobilenet_v1 --by-kind
  mnlab summary mobilenet_v1 --width 0.75 --resolution 192
  mnlab summary efficientnet_lite4 --format json"""),
    "latency": ("""\
Time one model's forward pass on this CPU: batch 1, eval mode, torch.inference_mode(), a
warm-up, then samples until their spread is small or the time budget is spent. Prints the
median, the IQR, the 90th percentile and the fastest run, in milliseconds. A spread above
{target:.0%} of the median is flagged as noisy (a warning on stderr): close other programs or
raise --budget.""", """\
backends:
  {backends}: "eager" runs the module as written; the others run a deployed form, built
  once and checked against eager (see mnlab.analysis.measure_latency).

output:
  json also holds every sample (samples_ms) and the machine (environment).

examples:
  mnlab latency mobilenet_v2
  mnlab latency mobileone_s0 --backend deploy --threads 4 --resolution 256"""),
    "compare": ("""\
Time several models interleaved: in each round every model is measured once, in turn, so that a
load on the machine hits them all alike; a model's latency is the median of its round medians.
Ratios measured this way survive a busy machine far better than separate measurements.
"relative" is each median over the fastest one.""", """\
backends:
  {backends}: as for "mnlab latency".

examples:
  mnlab compare mobilenet_v2 mobilenet_v3_large mobileone_s0
  mnlab compare mobilenet_v1 mobilenet_v2 --backend deploy --rounds 9"""),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``mnlab`` argument parser; ``--help`` on it and on each command is the manual."""
    description, epilog = _MANUAL["mnlab"]
    parser = _Parser(prog="mnlab", description=description, epilog=epilog,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     title="commands")
    helps = {"models": "list the models: name, family, published resolution",
             "summary": "count one model: per-layer table and totals",
             "latency": "time one model's forward pass on this CPU",
             "compare": "time several models interleaved"}
    for name, help_ in helps.items():
        description, epilog = _MANUAL[name]
        command = commands.add_parser(
            name, help=help_, description=description.format(target=_default("target_rel_iqr")),
            epilog=epilog.format(backends=", ".join(backends())),
            formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == "compare":
            command.add_argument("models", nargs="+", metavar="MODEL",
                                 help="names from `mnlab models`, each once")
        elif name != "models":
            command.add_argument("model", metavar="MODEL", help="a name from `mnlab models`")
        if name != "models":
            _model_options(command)
        if name == "summary":
            command.add_argument("--by-kind", action="store_true",
                                 help="one row per layer kind (MobileNetV1 Table 2) instead of "
                                      "one per op")
        if name in ("latency", "compare"):
            _timing_options(command, compare=name == "compare")
        command.add_argument("--format", choices=FORMATS, default="table",
                             help="table (default), csv or json")
    return parser


def _model_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--width", type=_number, metavar="W",
                         help="width multiplier alpha (width_mult); default: the model's own")
    command.add_argument("--resolution", type=_positive_int, metavar="R",
                         help="input side in pixels; default: the model's published resolution")


def _timing_options(command: argparse.ArgumentParser, compare: bool) -> None:
    command.add_argument("--backend", default="eager", metavar="B",
                         help=f"what is timed: {' or '.join(backends())} (default: eager)")
    command.add_argument("--threads", type=_positive_int, default=1, metavar="N",
                         help="intra-op threads (default: 1, the papers' one core)")
    budget = (f"seconds of sampling per model and round (default: "
              f"{_default('budget_s', analysis.compare_latency):g})") if compare else \
        f"seconds of sampling (default: {_default('budget_s'):g})"
    command.add_argument("--budget", type=_number, metavar="S", help=budget)
    if compare:
        command.add_argument("--rounds", type=_positive_int, default=5, metavar="K",
                             help="rounds of the interleaved measurement (default: 5)")


def _default(parameter: str, function: Callable[..., Any] = analysis.measure_latency) -> Any:
    """A keyword's default in the library, shown in the help (kept in one place: there)."""
    return inspect.signature(function).parameters[parameter].default


def version_text() -> str:
    """``mnlab --version``: the package's version and what it runs on."""
    return (f"mnlab {mnlab.__version__} (torch {torch.__version__}, "
            f"Python {platform.python_version()})")


COMMANDS: dict[str, Callable[[argparse.Namespace], Output]] = {
    "models": models_output, "summary": summary_output, "latency": latency_output,
    "compare": compare_output}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status: 0, or 2 for bad input."""
    try:
        args = build_parser().parse_args(argv)
    except _UsageError as err:
        return _fail(str(err))
    except SystemExit as exit_:  # --help, --version
        return exit_.code if isinstance(exit_.code, int) else 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            text = render(COMMANDS[args.command](args), args.format)
        except (ValueError, OverflowError, OSError) as err:
            return _fail(str(err))
        finally:
            for warning in caught:
                print(f"mnlab: warning: {' '.join(str(warning.message).split())}", file=sys.stderr)
    print(text)
    return 0


def _fail(message: str) -> int:
    print(f"mnlab: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
