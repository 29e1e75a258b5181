"""The counter's result: :class:`Report`, its rows and the paper views built from them."""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd
import torch

from mnlab.analysis.liveness import TIMELINE_COLUMNS

#: The kinds that carry multiply-accumulates (a regular expression on ``kind``).
MAC_KINDS = r"(conv|depthwise|grouped) |(linear|matmul|attention|recurrent)$"


@dataclass(slots=True)
class Row:
    """One executed op: a row of ``Report.layers`` before flops and intensity are derived."""

    name: str
    op: str
    kind: str
    input_shape: tuple
    output_shape: tuple
    kernel: tuple | None
    stride: tuple | None
    groups: int | None
    params: int
    macs: int
    ops: int
    bytes_read: int
    bytes_written: int
    memory_access_elems: int


_RECORDED = [f.name for f in fields(Row)]
_INTEGERS = ("params", "macs", "ops", "bytes_read", "bytes_written", "memory_access_elems")

#: Columns of ``Report.layers``, in order: the recorded ones, with flops and intensity derived.
COLUMNS = ["name", "op", "kind", "input_shape", "output_shape", "kernel", "stride", "groups",
           "params", "macs", "flops", "ops", "bytes_read", "bytes_written", "intensity",
           "memory_access_elems"]


@dataclass(repr=False)
class Report:
    """What :func:`~mnlab.analysis.analyze` measured: one row per executed op, totals and the paper views.

    ``layers`` columns (``mnlab.analysis.COLUMNS``): ``name`` (qualified module name of the innermost
    module that ran the op, "" for the model itself), ``op`` (function name, e.g. ``conv2d``,
    ``add``), ``kind`` ("conv 1×1", "depthwise 3×3", "conv 3×3", "grouped 3×3", "linear",
    "matmul", "attention", "recurrent", "batchnorm", "normalization", "activation", "pool",
    "interpolate", "elementwise", "shape", "unknown"), ``input_shape`` and ``output_shape``
    (tuples; () for a 0-d tensor or an op without tensor input), ``kernel`` and ``stride`` (tuples
    or None), ``groups``, ``params`` (parameters the op reads, each parameter tensor counted at its
    first use only), ``macs``, ``flops`` (= 2 × macs), ``ops`` (element ops of non-MAC kinds),
    ``bytes_read`` (input activations, weights and buffers), ``bytes_written`` (outputs),
    ``intensity`` (flops / bytes moved; NaN when nothing moves), ``memory_access_elems``
    (ShuffleNetV2's memory access cost, in elements: inputs + outputs + weights).

    ``totals``: ``params`` (every parameter tensor of the model once, = ``sum(p.numel())``),
    ``params_unused`` (parameters no op read), the sums of ``macs``, ``flops``, ``ops``,
    ``bytes_read``, ``bytes_written``, ``memory_access_elems`` over the rows,
    ``peak_activation_bytes``, ``input_bytes`` and ``unknown_ops`` (number of unknown rows).

    Also: ``input_shape`` (N, C, H, W) and ``dtype`` used, ``settings`` (the switches),
    ``unknown_ops`` (names of ops the counter does not know, in order of first use),
    ``module_outputs`` (qualified module name → output shape, for
    :func:`~mnlab.analysis.block_memory_table`) and ``memory_events`` (see
    :meth:`memory_timeline`).
    """

    layers: pd.DataFrame
    totals: dict
    input_shape: tuple[int, int, int, int]
    dtype: torch.dtype
    settings: dict
    unknown_ops: list[str]
    module_outputs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    memory_events: list[tuple] = field(default_factory=list)

    def __repr__(self) -> str:
        t = self.totals
        return (f"Report(input_shape={self.input_shape}, dtype={self.dtype}, rows={len(self.layers)}, "
                f"params={t['params']:,}, macs={t['macs']:,}, "
                f"peak_activation_bytes={t['peak_activation_bytes']:,}, "
                f"unknown_ops={self.unknown_ops})")

    def by_kind(self, weight_layers_only: bool = False) -> pd.DataFrame:
        """MobileNetV1 paper, Table 2: Mult-Adds and parameters per layer kind.

        Index ``kind``; columns ``macs``, ``macs_pct``, ``params``, ``params_pct`` (percentages
        of the sums over the kinds shown), ``ops`` and ``layers`` (number of rows). Sorted by
        MACs, largest first; kinds with nothing to count (shape ops) are left out.
        ``weight_layers_only=True`` keeps the kinds that carry MACs only (convolutions, linear
        layers, matrix products, attention, recurrent layers), the paper's basis (its rows Conv
        1×1, Conv DW 3×3, Conv 3×3, Fully Connected sum to 100%); the same shares come from
        ``analyze(..., bn="ignore", activations="ignore", elementwise="ignore")``.
        """
        layers = self.layers
        if weight_layers_only:
            layers = layers[layers["kind"].str.match(MAC_KINDS)]
        table = (layers.groupby("kind", sort=False)
                 .agg(macs=("macs", "sum"), params=("params", "sum"), ops=("ops", "sum"),
                      layers=("op", "size")))
        table = table[(table[["macs", "params", "ops"]] != 0).any(axis=1)].copy()
        table["macs_pct"] = 100 * table["macs"] / max(table["macs"].sum(), 1)
        table["params_pct"] = 100 * table["params"] / max(table["params"].sum(), 1)
        table = table.sort_values(["macs", "params"], ascending=False, kind="stable")
        return table[["macs", "macs_pct", "params", "params_pct", "ops", "layers"]]

    def architecture_table(self) -> pd.DataFrame:
        """MobileNetV1 paper, Table 1, generated from the model: one row per conv, pool and FC.

        Columns ``Type / Stride`` ("Conv / s2", "Conv dw / s1", "Avg Pool / s1", "FC / s1"),
        ``Filter Shape`` ("3 × 3 × 3 × 32", "3 × 3 × 32 dw", "1 × 1 × 32 × 64", "Pool 7 × 7",
        "1024 × 1000") and ``Input Size`` ("224 × 224 × 3"), plus ``name``. BN and activations
        are left out, as in the paper ("all layers are followed by a batchnorm and ReLU").
        """
        rows = []
        for row in self.layers.itertuples(index=False):
            entry = _table_1_entry(row)
            if entry is not None:
                layer, filt, stride = entry
                rows.append({"Type / Stride": f"{layer} / {stride}", "Filter Shape": filt,
                             "Input Size": _input_size(row.input_shape), "name": row.name})
        return pd.DataFrame(rows, columns=["Type / Stride", "Filter Shape", "Input Size", "name"])

    def memory_timeline(self) -> pd.DataFrame:
        """Live activation bytes over the forward pass: one row per allocation or free.

        Columns ``step`` (index of the op, counting every tensor op the model ran, −1 for the
        input), ``name``, ``op``, ``event`` ("input", "alloc", "free"), ``bytes`` (negative for
        a free) and ``live_bytes`` after the event; its maximum is
        ``totals["peak_activation_bytes"]``.
        """
        return pd.DataFrame(self.memory_events, columns=TIMELINE_COLUMNS)


def _channels(shape: tuple) -> int | str:
    """Channels of an (N, C, …) shape, features of an (N, F) one, the length of a vector."""
    return shape[1] if len(shape) > 1 else shape[0] if shape else "?"


def _table_1_entry(row):
    """(layer, filter shape, stride) of a Table 1 row, or None for the kinds it leaves out."""
    kind = row.kind
    stride = f"s{row.stride[0]}" if row.stride else "s1"
    kernel = " × ".join(map(str, row.kernel)) if row.kernel else ""
    if kind.startswith(("conv ", "depthwise ", "grouped ")):
        cin, cout = _channels(row.input_shape), _channels(row.output_shape)
        if kind.startswith("depthwise"):
            return "Conv dw", f"{kernel} × {cin} dw", stride
        if kind.startswith("grouped"):
            per_group = cin // row.groups if isinstance(cin, int) else cin
            return f"Conv g{row.groups}", f"{kernel} × {per_group} × {cout}", stride
        return "Conv", f"{kernel} × {cin} × {cout}", stride
    if kind == "linear":
        features_in = row.input_shape[-1] if row.input_shape else 1
        features_out = row.output_shape[-1] if row.output_shape else 1
        return "FC", f"{features_in} × {features_out}", "s1"
    if kind == "pool":
        return ("Max Pool" if "max" in row.op else "Avg Pool"), (f"Pool {kernel}" if kernel else "Pool"), stride
    return None


def _input_size(shape: tuple) -> str:
    if len(shape) == 2:  # (N, features): the paper writes 1 × 1 × features
        return f"1 × 1 × {shape[1]}"
    if len(shape) > 2:  # (N, C, spatial...) → spatial × C
        return " × ".join(map(str, (*shape[2:], shape[1])))
    return " × ".join(map(str, shape))


def frame(rows: list[Row]) -> pd.DataFrame:
    """``Report.layers`` from the recorded rows, deriving flops and intensity."""
    data = {}
    for name in _RECORDED:
        values = [getattr(row, name) for row in rows]
        if name in _INTEGERS:
            data[name] = np.array(values, dtype=np.int64)
        elif name == "groups":
            data[name] = pd.array(values, dtype="Int64")
        else:  # strings and shape tuples; filled one by one so numpy keeps tuples whole
            data[name] = np.empty(len(values), dtype=object)
            for i, value in enumerate(values):
                data[name][i] = value
    data["flops"] = 2 * data["macs"]
    moved = data["bytes_read"] + data["bytes_written"]
    with np.errstate(divide="ignore", invalid="ignore"):
        data["intensity"] = np.where(moved > 0, data["flops"] / np.maximum(moved, 1), np.nan)
    return pd.DataFrame({name: data[name] for name in COLUMNS}, copy=False)
