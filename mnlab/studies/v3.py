"""Chapter 4 — MobileNetV3 (Howard et al. 2019, arXiv 1905.02244): the network the search found,
and the four things people changed by hand, counted and timed.

What each part reproduces:

* :func:`spec_table`, :func:`spec_rows` — Tables 1 and 2 (Large, Small) generated from a model.
* :func:`tf_widths_model`, :func:`count_table` — Table 3's counts, including the 0.75 models,
  with the rule by which the reference implementation widens expansion layers.
* :func:`activation_curves`, :func:`activation_gaps`, :func:`activation_modules` — Sec. 5.2:
  h-swish and h-sigmoid beside swish and sigmoid, and what each costs on a CPU.
* :func:`se_counts`, :func:`without_se` — squeeze-and-excite (Sec. 5.3): its share of parameters and Mult-Adds
  beside its share of the time.
* :func:`original_last_stage`, :func:`last_stage_models`, :func:`stem_models` — Sec. 5.1 and
  Figure 5: the last stage before and after the redesign, and the 32-filter ReLU stem.
"""
from __future__ import annotations


import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from mnlab.analysis import analyze
from mnlab.models import build_mobilenet_v3
from mnlab.models.layers import (Classifier, HardSigmoid, HardSwish, InvertedResidual, MobileNet,
                                 SqueezeExcite, conv_bn_act, make_divisible)
from mnlab.models.mobilenet_v3 import LARGE, NONLINEARITY, RE, SMALL, STEM_CHANNELS, Bneck, EfficientHead
from mnlab.studies.v2 import describe_blocks
from mnlab.validation import check_real

#: The two networks, each with its table rows and the width of the layer after pooling.
NETWORKS: dict[str, tuple[list[Bneck], int]] = {"large": (LARGE, 1280), "small": (SMALL, 1024)}


def _network(name: str) -> tuple[list[Bneck], int]:
    if name not in NETWORKS:
        raise ValueError(f"network must be one of {list(NETWORKS)}, got {name!r}")
    return NETWORKS[name]


# --------------------------------------------------------------------------- Tables 1 and 2


def spec_table(model: MobileNet, resolution: int = 224) -> pd.DataFrame:
    """Table 1 / Table 2 of the paper (Input, Operator, exp size, #out, SE, NL, s) generated
    from a MobileNetV3 built by :func:`mnlab.models.mobilenet_v3.build_mobilenet_v3`: the blocks are read
    from the modules (kernel, widths, SE, activation, stride), the sizes from the counter."""
    blocks = describe_blocks(model, resolution)
    nl = {"RE": "RE", "HS": "HS"}
    rows = []
    for b in blocks.itertuples(index=False):
        h, w, c = b.input
        size = f"{h}² × {c}"
        if b.operator == "bneck":
            rows.append({"Input": size, "Operator": f"bneck, {b.kernel}×{b.kernel}", "exp size": str(b.hidden),
                         "#out": str(b.out), "SE": "✓" if b.se else "", "NL": nl.get(b.nl, b.nl), "s": str(b.stride)})
        else:
            op = "dconv" if b.operator == "dwconv" else "conv2d"
            rows.append({"Input": size, "Operator": f"{op}{'' if b.kernel == 3 else f', {b.kernel}×{b.kernel}'}",
                         "exp size": "-",
                         "#out": str(b.out), "SE": "", "NL": nl.get(b.nl, b.nl), "s": str(b.stride)})
    last = blocks.iloc[-1]
    side = -(-last.input[0] // last.stride)
    head = model.classifier
    if isinstance(head, EfficientHead):
        rows.append({"Input": f"{side}² × {last.out}", "Operator": f"pool, {side}×{side}", "exp size": "-",
                     "#out": "-", "SE": "", "NL": "-", "s": "1"})
        rows.append({"Input": f"1² × {head.pre_logits.in_features}", "Operator": "conv2d 1×1, NBN", "exp size": "-",
                     "#out": str(head.pre_logits.out_features), "SE": "", "NL": "HS", "s": "1"})
        rows.append({"Input": f"1² × {head.fc.in_features}", "Operator": "conv2d 1×1, NBN", "exp size": "-",
                     "#out": str(head.fc.out_features), "SE": "", "NL": "-", "s": "1"})
    else:
        rows.append({"Input": f"{side}² × {last.out}", "Operator": f"pool, {side}×{side}", "exp size": "-",
                     "#out": "-", "SE": "", "NL": "-", "s": "1"})
        rows.append({"Input": f"1² × {head.fc.in_features}", "Operator": "conv2d 1×1, NBN", "exp size": "-",
                     "#out": str(head.fc.out_features), "SE": "", "NL": "-", "s": "1"})
    return pd.DataFrame(rows)


def spec_rows(table: pd.DataFrame) -> list[Bneck]:
    """The bneck rows of a :func:`spec_table`, as ``Bneck``
    tuples, to set beside the rows typed from the paper (``LARGE``, ``SMALL``)."""
    part = table[table.Operator.str.startswith("bneck")]
    return [Bneck(int(r["Operator"].split(", ")[1][0]), int(r["exp size"]), int(r["#out"]), r["SE"] == "✓",
                  r["NL"], int(r["s"])) for _, r in part.iterrows()]


# --------------------------------------------------------------------------- Table 3 counts


def tf_widths_model(network: str, width_mult: float = 1.0, num_classes: int = 1000,
                    dropout: float = 0.2) -> MobileNet:
    """MobileNetV3 with the reference implementation's width rule (TensorFlow's
    ``research/slim/nets/mobilenet/mobilenet_v3.py``, as we read it): an expansion is the
    *rounded, scaled* input width times the row's factor exp / in, rounded to a multiple of 8
    (``expand_input_by_factor``), instead of the row's exp size times α. At α = 1 both rules
    give the paper's tables exactly; below 1 this one keeps expansions wider. Everything else
    as in :func:`mnlab.models.mobilenet_v3.build_mobilenet_v3` (SE squeeze = exp / 4 rounded to 8, the 1×1
    layer after pooling kept at 1280 / 1024 for α < 1)."""
    rows, head = _network(network)
    width_mult = check_real(width_mult, "width_mult", above=0)
    in_paper, in_channels = STEM_CHANNELS, make_divisible(STEM_CHANNELS * width_mult, 8)
    blocks: list[nn.Module] = [conv_bn_act(3, in_channels, 3, 2, activation=HardSwish)]
    for row in rows:
        hidden = make_divisible(in_channels * row.exp / in_paper, 8)
        out = make_divisible(row.out * width_mult, 8)
        se = SqueezeExcite(hidden, make_divisible(hidden // 4, 8), nn.ReLU, HardSigmoid) if row.se else None
        blocks.append(InvertedResidual(in_channels, out, hidden, row.stride, row.kernel, NONLINEARITY[row.nl], se))
        in_channels, in_paper = out, row.out
    last = make_divisible(6 * in_paper * width_mult, 8)
    blocks.append(conv_bn_act(in_channels, last, 1, activation=HardSwish))
    head = make_divisible(head * max(1.0, width_mult), 8)
    return MobileNet(nn.Sequential(*blocks), EfficientHead(last, head, num_classes, dropout))


def count_table(widths=(1.0, 0.75), resolution: int = 224) -> pd.DataFrame:
    """Mult-Adds and parameters of Large and Small at each width: as built by
    :mod:`mnlab.models` (torchvision's rule: every exp size × α) and with the reference
    implementation's rule (:func:`tf_widths_model`). One row per (network, width)."""
    rows = []
    for network, (spec, head) in NETWORKS.items():
        for width in widths:
            ours = analyze(build_mobilenet_v3(spec, head, width).eval(), resolution).totals
            tf = analyze(tf_widths_model(network, width).eval(), resolution).totals
            rows.append({"network": network, "width": width, "macs": ours["macs"], "params": ours["params"],
                         "macs_tf_rule": tf["macs"], "params_tf_rule": tf["params"]})
    return pd.DataFrame(rows)


def count_comparison(resolution: int = 224) -> pd.DataFrame:
    """:func:`count_table` beside Table 3 (and Table 9 at width 1.0) of the paper, in millions."""
    from mnlab.papers import figure

    rows = []
    for r in count_table(resolution=resolution).itertuples(index=False):
        key = f"mobilenet_v3/table3/{r.network}_{r.width}"
        table9 = f"mobilenet_v3/table9/{r.network}_1.0/madds"
        rows.append({"network": f"{r.network.capitalize()} {r.width}",
                     "MAdds (M)": r.macs / 1e6, "paper MAdds": figure(f"{key}/madds").printed,
                     "Table 9": figure(table9).printed if r.width == 1.0 else "",
                     "MAdds, TF width rule (M)": r.macs_tf_rule / 1e6,
                     "params (M)": r.params / 1e6, "paper params": figure(f"{key}/params").printed,
                     "params, TF width rule (M)": r.params_tf_rule / 1e6})
    return pd.DataFrame(rows).set_index("network")


def expansion_widths(network: str, width_mult: float) -> pd.DataFrame:
    """Each bneck's exp size in the paper's table, and at ``width_mult`` under the two width
    rules: every exp size × α (torchvision, :mod:`mnlab.models`) and the input's rounded width
    × exp / in (the reference implementation, :func:`tf_widths_model`)."""
    rows, head = _network(network)
    ours = describe_blocks(build_mobilenet_v3(rows, head, width_mult).eval())
    tf = describe_blocks(tf_widths_model(network, width_mult).eval())
    bneck = ours.operator == "bneck"
    return pd.DataFrame({"exp size (paper)": [r.exp for r in rows], "in": ours[bneck].input.map(lambda s: s[2]).values,
                         "exp × α": ours[bneck].hidden.values, "TF rule": tf[tf.operator == "bneck"].hidden.values,
                         "MACs, exp × α": ours[bneck].macs.values, "MACs, TF rule": tf[tf.operator == "bneck"].macs.values},
                        index=pd.RangeIndex(1, len(rows) + 1, name="bneck"))


# --------------------------------------------------------------------------- activations (Sec. 5.2)


def activation_curves(lo: int = -6, hi: int = 6, per_unit: int = 100) -> pd.DataFrame:
    """ReLU6, h-sigmoid, sigmoid, h-swish and swish on the grid x = lo … hi in steps of
    1 / ``per_unit`` (float64, grid points exact at the integers), one column each.

    h-sigmoid(x) = ReLU6(x + 3) / 6 and h-swish(x) = x · h-sigmoid(x) (eq. 2 of the paper);
    swish(x) = x · σ(x)."""
    x = torch.arange(lo * per_unit, hi * per_unit + 1, dtype=torch.float64) / per_unit
    return pd.DataFrame({"x": x.numpy(),
                         "relu6": torch.nn.functional.relu6(x).numpy(),
                         "h-sigmoid": HardSigmoid()(x).numpy(),
                         "sigmoid": torch.sigmoid(x).numpy(),
                         "h-swish": HardSwish()(x).numpy(),
                         "swish": torch.nn.functional.silu(x).numpy()})


def activation_gaps(curves: pd.DataFrame) -> pd.DataFrame:
    """Largest ``|hard − smooth|`` difference and where it occurs: h-swish vs swish, h-sigmoid vs sigmoid."""
    rows = []
    for hard, smooth in (("h-swish", "swish"), ("h-sigmoid", "sigmoid")):
        diff = (curves[hard] - curves[smooth]).abs()
        i = int(diff.idxmax())
        rows.append({"pair": f"{hard} vs {smooth}", "max_abs_diff": float(diff[i]), "at_x": float(curves.x[i]),
                     "mean_abs_diff_on_grid": float(diff.mean())})
    return pd.DataFrame(rows).set_index("pair")


def plot_activations(curves: pd.DataFrame) -> Figure:
    """The smooth functions and their hard versions (left), and the differences (right)."""
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    for name, style in [("swish", dict(color="tab:blue")), ("h-swish", dict(color="tab:blue", ls="--")),
                        ("sigmoid", dict(color="tab:orange")), ("h-sigmoid", dict(color="tab:orange", ls="--"))]:
        left.plot(curves.x, curves[name], label=name, **style)
    left.set_xlabel("x")
    left.set_ylabel("f(x)")
    left.legend(fontsize="small")
    left.grid(True, alpha=0.3)
    right.plot(curves.x, curves["h-swish"] - curves["swish"], label="h-swish − swish", color="tab:blue")
    right.plot(curves.x, curves["h-sigmoid"] - curves["sigmoid"], label="h-sigmoid − sigmoid", color="tab:orange")
    right.axhline(0, color="grey", lw=0.6)
    right.set_xlabel("x")
    right.set_ylabel("difference")
    right.legend(fontsize="small")
    right.grid(True, alpha=0.3)
    return fig


class _Composed(nn.Module):
    """An activation written as separate tensor operations, the way a framework without a fused
    kernel runs it: each operation reads and writes the whole tensor."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "swish":
            return x * torch.sigmoid(x)
        return x * (torch.clamp(x + 3.0, 0.0, 6.0) / 6.0)   # h-swish


def activation_modules() -> dict[str, nn.Module]:
    """The activations whose cost Sec. 5.2 discusses, as modules for
    :func:`mnlab.analysis.compare_latency`: PyTorch's fused kernels, and swish / h-swish
    composed of separate operations."""
    return {"ReLU": nn.ReLU(), "ReLU6": nn.ReLU6(), "h-sigmoid": HardSigmoid(), "sigmoid": nn.Sigmoid(),
            "h-swish": HardSwish(), "swish": nn.SiLU(), "h-swish (composed)": _Composed("h-swish"),
            "swish (composed)": _Composed("swish")}


def largest_activation_input(model: nn.Module, op: str = "hardswish", resolution: int = 224) -> tuple[int, ...]:
    """Shape of the largest tensor ``op`` is applied to in ``model``: a realistic tensor to time."""
    layers = analyze(model, resolution).layers
    rows = layers[layers.op == op]
    if rows.empty:
        raise ValueError(f"op {op!r} does not run in this model; ops that do: {sorted(set(layers.op))}")
    sizes = rows.output_shape.map(lambda s: int(np.prod(s)))
    return tuple(rows.output_shape[sizes.idxmax()])


# --------------------------------------------------------------------------- squeeze-and-excite


def without_se(network: str, width_mult: float = 1.0) -> MobileNet:
    """The network with every squeeze-and-excite removed, all else equal."""
    rows, head = _network(network)
    return build_mobilenet_v3([r._replace(se=False) for r in rows], head, width_mult)


def se_counts(model: nn.Module, resolution: int = 224) -> dict[str, float]:
    """Parameters, Mult-Adds and element-wise operations inside squeeze-and-excite modules, and
    their shares of the model's totals. An SE's ops: global pool, two 1×1 convs with bias (the
    Mult-Adds), ReLU and h-sigmoid, and the channel-wise rescaling x · s."""
    report = analyze(model, resolution)
    names = {name for name, m in model.named_modules() if isinstance(m, SqueezeExcite)}
    layers = report.layers
    inside = layers.name.map(lambda n: any(n == s or n.startswith(s + ".") for s in names))
    se = layers[inside]
    return {"se_modules": len(names),
            "params": int(se.params.sum()), "params_share": se.params.sum() / report.totals["params"],
            "macs": int(se.macs.sum()), "macs_share": se.macs.sum() / report.totals["macs"],
            "other_ops": int(se.ops.sum()), "bytes": int(se.bytes_read.sum() + se.bytes_written.sum()),
            "bytes_share": (se.bytes_read.sum() + se.bytes_written.sum())
            / (report.totals["bytes_read"] + report.totals["bytes_written"])}


# --------------------------------------------------------------------------- Sec. 5.1, Figure 5


def original_last_stage(network: str = "large", width_mult: float = 1.0, num_classes: int = 1000,
                        dropout: float = 0.2, dw_kernel: int = 3) -> MobileNet:
    """Figure 5's "original last stage" on MobileNetV3: after the 1×1 expansion to 960 (6 × 160)
    come a depthwise ``dw_kernel``×``dw_kernel`` conv, a linear 1×1 projection to 320 — the
    rest of a MobileNetV2-style bottleneck — and the 1×1 conv to 1280 at 7 × 7, then pooling
    and the classifier. The efficient last stage drops the three layers after the expansion
    and runs the 1280-wide layer on the pooled vector. Activations h-swish, as around it."""
    rows, head = _network(network)
    efficient = build_mobilenet_v3(rows, head, width_mult, num_classes, dropout)
    blocks = list(efficient.features.children())
    last = blocks[-1][0].out_channels
    project = make_divisible(2 * rows[-1].out * width_mult, 8)
    head = make_divisible(head * max(1.0, width_mult), 8)
    blocks += [conv_bn_act(last, last, dw_kernel, groups=last, activation=HardSwish),
               conv_bn_act(last, project, 1, activation=None),
               conv_bn_act(project, head, 1, activation=HardSwish)]
    return MobileNet(nn.Sequential(*blocks), Classifier(head, num_classes, dropout))


def last_stage_models(network: str = "large") -> dict[str, MobileNet]:
    """The efficient last stage (the network as published), Figure 5's original, and the
    intermediate the builder offers (``efficient_last_stage=False``: the 1280-wide layer at
    7 × 7 straight after the 960-wide expansion, no depthwise or projection), eval mode."""
    rows, head = _network(network)
    return {"efficient (V3)": build_mobilenet_v3(rows, head).eval(),
            "original (Fig. 5)": original_last_stage(network).eval(),
            "1280 before pooling, no projection": build_mobilenet_v3(rows, head, efficient_last_stage=False).eval()}


def stem_models(network: str = "large") -> dict[str, MobileNet]:
    """The published stem (16 filters, h-swish) and the one it replaced (32 filters, ReLU)."""
    rows, head = _network(network)
    return {"16 filters, h-swish (V3)": build_mobilenet_v3(rows, head).eval(),
            "32 filters, ReLU": build_mobilenet_v3(rows, head, stem_channels=32, stem_nl=RE).eval()}


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


def width_models() -> dict[str, MobileNet]:
    """Large and Small at widths 1.0 and 0.75 (Table 3's four rows), eval mode."""
    return {f"{network} {width}": build_mobilenet_v3(*NETWORKS[network], width).eval()
            for network in NETWORKS for width in (1.0, 0.75)}
