"""Chapter 8: a model as the runtime runs it — ops fused into kernels, and what each latency
predictor reads of a network.

Both diagrams are drawn from :mod:`mnlab.analysis.kernels` (:func:`~mnlab.analysis.kernels.fusion`,
:func:`~mnlab.analysis.kernels.ops`, :func:`~mnlab.analysis.kernels.kernels`) on the models'
own blocks, and name the predictors of :mod:`mnlab.analysis.predict` by their ``name``.
"""
from __future__ import annotations

from collections import Counter

from matplotlib.figure import Figure

from mnlab.analysis import analyze
from mnlab.analysis.kernels import ACTIVATIONS, Kernel, fusion, kernels, ops
from mnlab.analysis.predict import KernelModel, LookupTable, MacsLinear, Roofline
from mnlab.diagrams.style import (ACTIVATION_NAMES, PALETTE, arrow, bar, box, canvas, diagram, millions, text,
                                  title)
from mnlab.models import mobilenet_v2, mobilenet_v3_large
from mnlab.models.layers import InvertedResidual

#: The two blocks the fusion diagram splits — chapter 8's exercise block (MobileNetV2's
#: 24 → 144 → 24, stride 1, with its shortcut) and MobileNetV3-Large's last bneck (with SE).
V2_BLOCK, V2_BLOCK_INPUT = (24, 24, 144, 1), (1, 24, 56, 56)   # InvertedResidual(in, out, hidden, stride)
V3_BLOCK, V3_BLOCK_INPUT = 14, (1, 160, 7, 7)
#: The network the predictors diagram reads, at its published resolution.
PREDICTED = ("MobileNetV2", 224)

#: The palette entry of each op and kernel kind.
KIND_COLOUR = {"conv": "conv", "depthwise": "depthwise", "pointwise": "pointwise", "grouped": "conv",
               "linear": "linear", "se": "se", "elementwise": "identity", "pool": "se",
               "activation": "activation", "batchnorm": "norm"}


def activation_label(op: str) -> str:
    """The paper's name of an activation op as the counter records it (``hardtanh`` → ReLU6)."""
    return ACTIVATION_NAMES.get(ACTIVATIONS[op][0], op) if op else "linear"


def op_label(op: Kernel) -> str:
    """One op in a few words: ``"1×1 conv 24→144"``, ``"BatchNorm"``, ``"ReLU6"``, ``"add"``."""
    if op.kind in ("conv", "depthwise", "pointwise", "grouped"):
        shape = f"{op.c_in}→{op.c_out}" if op.kind != "depthwise" else f"{op.c_out}"
        return f"{op.k}×{op.k} {'dw' if op.kind == 'depthwise' else 'conv'} {shape}"
    if op.kind == "activation":
        return activation_label(op.act)
    if op.kind == "pool":
        return "global pool" if op.k == 0 else f"{op.act} pool {op.k}×{op.k}"
    return {"batchnorm": "BatchNorm", "elementwise": op.act, "linear": f"FC {op.c_in}→{op.c_out}"}[op.kind]


def kernel_label(kernel: Kernel, group: list[Kernel]) -> str:
    """A kernel as the runtime runs it: its first op, and what was fused into it."""
    if kernel.kind == "se":
        inner, gate = kernel.act.split("+")
        return (f"squeeze-and-excite, {kernel.c_in}\n(squeeze to {kernel.mid}, {activation_label(inner)}, "
                f"{activation_label(gate)})")
    fused = [("BN folded" if op.kind == "batchnorm" else activation_label(op.act)) for op in group[1:]]
    return op_label(group[0]) + (f"\n+ {', '.join(fused)}" if fused else "")


def block_fusion() -> dict[str, list[tuple[Kernel, list[Kernel]]]]:
    """The two blocks' kernels, each with the ops it runs (:func:`~mnlab.analysis.kernels.fusion`)."""
    v3_block = mobilenet_v3_large().features[V3_BLOCK]
    return {"v2": fusion(analyze(InvertedResidual(*V2_BLOCK).eval(), V2_BLOCK_INPUT)), "v3": fusion(analyze(v3_block.eval(), V3_BLOCK_INPUT))}


def _fusion_panel(ax, x: float, top: float, groups, prefix: str) -> float:
    """Ops (left column) bracketed into kernels (right column) from ``top`` down; returns the bottom."""
    op_w, op_h, gap, k_w = 1.55, 0.25, 0.05, 2.15
    y = top
    for i, (kernel, group) in enumerate(groups):
        first = y
        for j, op in enumerate(group):
            box(ax, x, y - op_h, op_w, op_h, op_label(op), KIND_COLOUR[op.kind], gid=f"{prefix}:op:{i}.{j}",
                fontsize=7, fill=0.8)
            y -= op_h + gap
        last = y + gap
        box(ax, x + op_w + 0.45, last, k_w, first - last, kernel_label(kernel, group), KIND_COLOUR[kernel.kind],
            gid=f"{prefix}:kernel:{i}", fontsize=7.5)
        ax.plot([x + op_w + 0.08, x + op_w + 0.18, x + op_w + 0.18, x + op_w + 0.08], [first, first, last, last],
                color=PALETTE["identity"], lw=1)
        arrow(ax, (x + op_w + 0.18, (first + last) / 2), (x + op_w + 0.45, (first + last) / 2))
        y -= 0.12
    return y


@diagram
def kernel_fusion() -> Figure:
    """MobileNetV2's and MobileNetV3's blocks split two ways: the ops the framework writes, and the
    kernels a fusing runtime executes (BatchNorm folded, activations fused, SE one kernel)."""
    blocks = block_fusion()
    fig, ax = canvas(9.9, 6.6)
    title(ax, 4.95, 6.4, "Ops, as the model is written → kernels, as a fusing runtime executes them")
    c_in, c_out, hidden, _ = V2_BLOCK
    panels = [("v2", 0.15, f"MobileNetV2 block, {c_in}→{hidden}→{c_out}, {V2_BLOCK_INPUT[2]}×{V2_BLOCK_INPUT[3]}, "
               "shortcut"),
              ("v3", 5.05, f"MobileNetV3-Large features[{V3_BLOCK}], {V3_BLOCK_INPUT[1]}→960→160, "
               f"{V3_BLOCK_INPUT[2]}×{V3_BLOCK_INPUT[3]}, SE")]
    for key, x, heading in panels:
        groups = blocks[key]
        text(ax, x, 6.05, heading, size=8.5, weight="bold", ha="left")
        text(ax, x + 0.775, 5.8, "ops", size=8, style="italic")
        text(ax, x + 3.07, 5.8, "kernels", size=8, style="italic")
        bottom = _fusion_panel(ax, x, 5.65, groups, key)
        n_ops = sum(len(group) for _, group in groups)
        text(ax, x + 2.1, bottom - 0.15, f"{n_ops} ops → {len(groups)} kernels", size=9, weight="bold",
             colour=PALETTE["text"])
    return fig


def predicted_network() -> dict:
    """What the four predictors read of :data:`PREDICTED`: its MACs, ops and kernels."""
    report = analyze(mobilenet_v2().eval(), PREDICTED[1])
    return {"macs": int(report.totals["macs"]), "ops": ops(report), "kernels": kernels(report)}


def _strip(ax, y: float, items: list[Kernel], label: str, gid: str) -> None:
    """One thin bar per op or kernel, coloured by kind, across the page."""
    x0, width = 1.75, 7.9
    step = width / len(items)
    text(ax, x0 - 0.1, y + 0.12, label, size=8.5, ha="right", weight="bold")
    for i, item in enumerate(items):
        bar(ax, x0 + i * step, y, step, 0.24, KIND_COLOUR[item.kind], gid=f"{gid}:{i}")


@diagram
def latency_predictors() -> Figure:
    """MobileNetV2 as the four predictors of chapter 8 read it: one number, its kernels' MACs and
    bytes, its ops timed alone, its kernels by type; the formula each one sums."""
    seen = predicted_network()
    n_ops, n_kernels = len(seen["ops"]), len(seen["kernels"])
    by_kind = Counter(k.kind for k in seen["kernels"])
    fig, ax = canvas(9.9, 5.3)
    title(ax, 4.95, 5.1, f"{PREDICTED[0]} at {PREDICTED[1]} px, as the four latency predictors read it")
    _strip(ax, 4.4, seen["ops"], f"{n_ops} ops", "ops")
    _strip(ax, 3.9, seen["kernels"], f"{n_kernels} kernels", "kernels")
    legend = [("conv", "conv"), ("pointwise", "1×1"), ("depthwise", "depthwise"), ("norm", "BatchNorm"),
              ("activation", "activation"), ("identity", "add"), ("se", "pool"), ("linear", "FC")]
    for i, (kind, name) in enumerate(legend):
        bar(ax, 1.75 + i * 0.98, 3.52, 0.18, 0.14, kind)
        text(ax, 1.98 + i * 0.98, 3.59, name, size=7, ha="left")
    kinds = ", ".join(f"{n} {kind}" for kind, n in by_kind.most_common())
    rows = [
        (MacsLinear.name, f"one number: {millions(seen['macs'])} MACs", "t = a · MACs + b",
         "a, b fitted on whole networks", "tensor"),
        (Roofline.name, f"each kernel's MACs and bytes ({n_kernels} kernels)",
         "t = Σ max(MACs / π, bytes / β) + c per kernel", "π, β, c fitted on whole networks", "tensor"),
        (LookupTable.name, f"each op, timed alone ({n_ops} ops)", "t = Σ t(op), nothing fused",
         "nothing fitted: a table of timed ops", "tensor"),
        (KernelModel.name, f"each kernel by type: {kinds}", "t = a · (Σ f_type(kernel) + t₀)",
         "one regressor per type, trained on sampled kernels timed alone;\nt₀ a call into the runtime, "
         "a calibrated on whole networks", "tensor"),
    ]
    for i, (name, reads, formula, fitted, kind) in enumerate(rows):
        y = 2.75 - 0.78 * i
        box(ax, 0.15, y - 0.28, 2.0, 0.56, name, kind, gid=f"predictor:{i}", fontsize=8)
        text(ax, 2.3, y + 0.12, reads, size=7.5, ha="left")
        text(ax, 2.3, y - 0.14, fitted, size=7, ha="left", colour=PALETTE["identity"], style="italic", va="top")
        text(ax, 9.75, y, formula, size=8.5, ha="right", weight="bold")
    return fig
