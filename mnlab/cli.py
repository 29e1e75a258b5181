"""The ``mnlab`` command (layer 4, presentation): counts printed for a terminal.

    mnlab models                         the registry: names and default resolutions
    mnlab summary MODEL [--width W] [--resolution R] [--csv FILE] [--by-kind]

``summary`` builds the model (eval mode), runs :func:`mnlab.analysis.analyze` and prints the
per-layer table (or, with ``--by-kind``, MobileNetV1 Table 2's view) and the totals: MACs
(the papers' Mult-Adds), FLOPs (= 2 × MACs), parameters, bytes moved and peak activation
memory. ``--csv`` also writes the full per-layer table. Unknown names and bad values print one
line to stderr and exit with status 2.
"""
from __future__ import annotations

import argparse
import sys

from mnlab.analysis import analyze

# The per-layer columns printed; --csv writes all of them.
SUMMARY_COLUMNS = ["name", "op", "kind", "input_shape", "output_shape", "params", "macs",
                   "bytes_read", "bytes_written"]


class _UsageError(Exception):
    """A command-line mistake; reported in one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage and exits; we want one line and a return
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mnlab", description="Count the MobileNet family: parameters, "
                     "Mult-Adds, bytes and activation memory.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("models", help="list the models of the registry")
    summary = commands.add_parser("summary", help="per-layer table and totals of one model")
    summary.add_argument("model", metavar="MODEL", help="a name from `mnlab models`")
    summary.add_argument("--width", type=float, metavar="W",
                         help="width multiplier α (width_mult); default: the model's own")
    summary.add_argument("--resolution", type=int, metavar="R",
                         help="input side in pixels; default: the model's published resolution")
    summary.add_argument("--csv", metavar="FILE", help="also write the full per-layer table to FILE")
    summary.add_argument("--by-kind", action="store_true",
                         help="print MACs and parameters per layer kind (MobileNetV1 Table 2) "
                              "instead of one row per op")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0, or 2 for a bad name or value)."""
    try:
        args = build_parser().parse_args(argv)
    except _UsageError as err:
        return _fail(str(err))
    except SystemExit as exit_:  # --help
        return exit_.code if isinstance(exit_.code, int) else 0
    try:
        text = models_text() if args.command == "models" else summary_text(args)
    except (ValueError, OSError) as err:
        return _fail(str(err))
    print(text)
    return 0


def models_text() -> str:
    """One line per registry model: name and default resolution."""
    from mnlab.models import default_resolution, list_models

    names = list_models()
    width = max(map(len, names))
    lines = [f"{'model':<{width}}  resolution"]
    lines += [f"{name:<{width}}  {default_resolution(name)}" for name in names]
    return "\n".join(lines)


def summary_text(args: argparse.Namespace) -> str:
    """Build, count and format one model for ``mnlab summary``."""
    from mnlab.models import create_model, default_resolution

    kwargs = {} if args.width is None else {"width_mult": args.width}
    model = create_model(args.model, **kwargs).eval()  # MobileOne refuses width_mult: ValueError
    resolution = default_resolution(args.model) if args.resolution is None else args.resolution
    if resolution <= 0:
        raise ValueError(f"--resolution must be a positive number of pixels, got {resolution}")
    report = analyze(model, resolution)
    if args.csv:
        report.layers.to_csv(args.csv, index=False)

    width = "" if args.width is None else f", width {args.width:g}"
    dtype = str(report.dtype).replace("torch.", "")
    lines = [f"{args.model}{width}, input {report.input_shape} ({dtype})", ""]
    if args.by_kind:
        table = report.by_kind()
        lines.append(table.to_string(formatters={"macs_pct": "{:.2f}".format,
                                                 "params_pct": "{:.2f}".format}))
    else:
        lines.append(report.layers[SUMMARY_COLUMNS].to_string(index=False))
    lines += ["", _totals_text(report.totals)]
    if report.unknown_ops:
        lines.append(f"unknown ops (counted as their output size in 'ops'): {', '.join(report.unknown_ops)}")
    if args.csv:
        lines.append(f"wrote {len(report.layers)} rows to {args.csv}")
    return "\n".join(lines)


def _totals_text(totals: dict) -> str:
    rows = [
        ("MACs (Mult-Adds)", totals["macs"], _si(totals["macs"], "")),
        ("FLOPs (= 2 x MACs)", totals["flops"], _si(totals["flops"], "")),
        ("other element ops", totals["ops"], _si(totals["ops"], "")),
        ("parameters", totals["params"], _si(totals["params"], "")),
        ("bytes read", totals["bytes_read"], _si(totals["bytes_read"], "B")),
        ("bytes written", totals["bytes_written"], _si(totals["bytes_written"], "B")),
        ("peak activation memory (bytes)", totals["peak_activation_bytes"],
         _si(totals["peak_activation_bytes"], "B")),
    ]
    return "\n".join(f"{label:<32}{value:>16,}  {short}" for label, value, short in rows)


def _si(value: float, unit: str) -> str:
    """568740352 → '568.7 M' (powers of 1000)."""
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.1f} {prefix}{unit}"
    return f"{value} {unit}".rstrip()


def _fail(message: str) -> int:
    print(f"mnlab: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
