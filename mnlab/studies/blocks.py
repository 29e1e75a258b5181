"""A MobileNet of this package read back block by block: the rows the chapters' architecture
tables (MobileNetV2's Table 2, MobileNetV3's Tables 1 and 2) are generated from, and where two
designs differ in arithmetic (:func:`block_diff`, :func:`cost_table`)."""
from __future__ import annotations

import pandas as pd
from torch import nn

from mnlab.analysis import analyze
from mnlab.models.layers import InvertedResidual


def _activation_name(module: nn.Module | None) -> str:
    names = {nn.ReLU: "RE", nn.ReLU6: "RE6", nn.Hardswish: "HS", nn.SiLU: "swish"}
    return names.get(type(module), type(module).__name__) if module is not None else "linear"


def describe_blocks(model: nn.Module, resolution: int = 224) -> pd.DataFrame:
    """One row per block of ``model.features`` (a MobileNet of this package), read from the
    modules and from the counter's shapes, never from a spec.

    Columns: ``block`` (module name), ``operator`` ("conv2d", "dwconv" or "bneck"), ``input`` (H, W, C),
    ``kernel``, ``hidden`` (the expansion size; for a conv its output), ``out``, ``t`` (hidden /
    input channels), ``se`` (has squeeze-and-excite), ``nl`` (activation: "RE" ReLU, "RE6"
    ReLU6, "HS" h-swish), ``stride``, ``residual`` (shortcut used), ``macs`` and ``params``
    (counted, per block).
    """
    report = analyze(model, resolution)
    shape: tuple[int, ...] = report.input_shape
    rows = []
    for name, block in model.features.named_children():
        qual = f"features.{name}"
        part = report.layers[report.layers.name.str.startswith(qual + ".") | (report.layers.name == qual)]
        c_in = shape[1]
        if isinstance(block, InvertedResidual):
            layers = block.block
            dw = layers.depthwise[0]
            act = layers.depthwise[2] if len(layers.depthwise) > 2 else None
            rows.append({"block": qual, "operator": "bneck", "input": (shape[2], shape[3], c_in),
                         "kernel": dw.kernel_size[0], "hidden": dw.out_channels,
                         "out": layers.project[0].out_channels, "t": dw.out_channels / c_in,
                         "se": hasattr(layers, "se"), "nl": _activation_name(act), "stride": dw.stride[0],
                         "residual": block.use_residual})
        else:   # conv-BN-activation
            conv = block[0]
            act = block[2] if len(block) > 2 else None
            depthwise = conv.groups > 1 and conv.groups == conv.in_channels
            rows.append({"block": qual, "operator": "dwconv" if depthwise else "conv2d",
                         "input": (shape[2], shape[3], c_in),
                         "kernel": conv.kernel_size[0], "hidden": conv.out_channels,
                         "out": conv.out_channels, "t": float("nan"), "se": False,
                         "nl": _activation_name(act), "stride": conv.stride[0], "residual": False})
        rows[-1].update(macs=int(part.macs.sum()), params=int(part.params.sum()))
        shape = report.module_outputs[qual]
    return pd.DataFrame(rows)


def cost_table(models: dict[str, nn.Module], resolution: int = 224) -> pd.DataFrame:
    """Mult-Adds and parameters of each model, and the difference to the first."""
    rows = []
    for name, model in models.items():
        totals = analyze(model, resolution).totals
        rows.append({"model": name, "macs": totals["macs"], "params": totals["params"]})
    table = pd.DataFrame(rows).set_index("model")
    table["macs_minus_first"] = table.macs - table.macs.iloc[0]
    table["params_minus_first"] = table.params - table.params.iloc[0]
    return table


def _block_macs(model: nn.Module, resolution: int) -> dict[str, tuple[str, int]]:
    """Block name → (short description, Mult-Adds) for each block of ``features`` and the head."""
    blocks = describe_blocks(model, resolution)
    out = {b.block: (f"{b.operator} {b.kernel}×{b.kernel}, {b.input[2]}→{b.hidden}→{b.out}, {b.nl}", int(b.macs))
           for b in blocks.itertuples(index=False)}
    layers = analyze(model, resolution).layers
    head = layers[layers.name.str.startswith("classifier")]
    linears = [f"{s[-1]}" for s in head[head.kind == "linear"].output_shape]
    out["classifier"] = (f"pool → linear {' → '.join(linears)}", int(head.macs.sum()))
    return out


def block_diff(first: nn.Module, second: nn.Module, resolution: int = 224) -> pd.DataFrame:
    """Blocks (of ``features``, and the classifier head) whose Mult-Adds differ between two
    MobileNets of this package, side by side: where a change of design puts its arithmetic."""
    a, b = _block_macs(first, resolution), _block_macs(second, resolution)
    rows = []
    for name in list(dict.fromkeys([*a, *b])):
        (da, ma), (db, mb) = a.get(name, ("", 0)), b.get(name, ("", 0))
        if ma != mb or da != db:
            rows.append({"block": name, "first": da, "first_macs": ma, "second": db, "second_macs": mb,
                         "difference": mb - ma})
    return pd.DataFrame(rows)
