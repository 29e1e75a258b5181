"""Chapter 6 — MobileOne: re-parameterization step by step, and what costs latency beyond MACs.

*Re-parameterization* (Vasu et al. 2022, Sec. 3.2; Ding et al. 2021, RepVGG). In eval mode a
train-time :class:`~mnlab.models.mobileone.MobileOneBlock` computes, before its activation,

    y = Σ_i BN_i(W_i ∗ x) + BN_s(W_s ∗ x) + BN_id(x),

a sum of linear maps of x, so it is ONE convolution. :func:`reparam_steps` builds that
convolution in the paper's three moves and checks each against the module it replaces:
(1) fold each BN into the conv before it, W' = W·γ/σ, b' = β − μ·γ/σ with σ = √(var + ε);
(2) zero-pad the 1×1 scale kernel to k×k (the same output: the extra taps are zeros);
(3) write the identity as a k×k kernel with a single 1 at the centre, then fold its BN;
then add the kernels and the biases. The sum must equal
:meth:`~mnlab.models.mobileone.MobileOneBlock.fused_kernel_and_bias`.

*Latency beyond MACs* (Sec. 3.1, Tables 2–3 of the paper): the same 30-layer network with
different activations (:func:`thirty_layer_net`, :func:`activation_study`) and with skip connections or
squeeze-and-excite at (almost exactly) equal MACs (:func:`block_study`), timed on this CPU.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.nn import functional as F

from mnlab.analysis import analyze
from mnlab.analysis.latency import compare_latency
from mnlab.models import MobileOneBlock, create_model, reparameterize
from mnlab.models.layers import SqueezeExcite
from mnlab.papers import figure
from mnlab.validation import check_int

MOBILEONE_NAMES = [f"mobileone_s{i}" for i in range(5)]


# --------------------------------------------------------------------------- re-parameterization


@torch.no_grad()
def randomize_batchnorm_(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm of ``module`` the statistics and affine parameters a trained network
    would have (random, seeded): γ ∈ [0.5, 1.5], β ~ N(0, 0.1), μ ~ N(0, 0.1), var ∈ [0.5, 1.5].

    A freshly built BN (γ = 1, β = μ = 0, var = 1) makes the fusion almost trivial; this makes
    every term of it count. Returns ``module`` (changed in place).
    """
    gen = torch.Generator().manual_seed(seed)
    for bn in module.modules():
        if isinstance(bn, nn.BatchNorm2d):
            n = bn.num_features
            bn.weight.copy_(0.5 + torch.rand(n, generator=gen))
            bn.bias.copy_(0.1 * torch.randn(n, generator=gen))
            bn.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
            bn.running_var.copy_(0.5 + torch.rand(n, generator=gen))
    return module


def demo_block(channels: int = 8, branches: int = 4, seed: int = 0) -> MobileOneBlock:
    """A depthwise 3×3 MobileOne block (S0 has k = 4 branches), every branch present: k conv-BN,
    the 1×1 scale conv-BN and the BN identity; random weights and BN statistics, eval mode."""
    torch.manual_seed(seed)
    block = MobileOneBlock(channels, channels, 3, stride=1, groups=channels, branches=branches)
    return randomize_batchnorm_(block, seed).eval()


def _fold(kernel: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """BN(conv(x, kernel)) = conv(x, kernel·γ/σ) + (β − μ·γ/σ)."""
    std = (bn.running_var + bn.eps).sqrt()
    return kernel * (bn.weight / std).reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * bn.weight / std


@torch.no_grad()
def reparam_steps(block: MobileOneBlock, x: torch.Tensor) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """Re-parameterize ``block`` by hand, checking every step numerically.

    Returns ``(steps, kernels)``. ``steps``: one row per step with ``step``, ``what`` and
    ``max_abs_error`` (largest absolute difference between the replacement conv's output and the module
    it replaces on ``x``) and ``output_scale`` (largest absolute value of the module's output, for scale).
    ``kernels``: the k×k kernel of every branch after its step (``"conv 1"`` … ``"scale"``,
    ``"identity"``) and their sum ``"fused"``, plus the fused ``"bias"``.
    """
    if not isinstance(block, MobileOneBlock) or block.reparam_conv is not None:
        raise ValueError("block must be a train-time MobileOneBlock (not yet re-parameterized)")
    block.eval()
    k, stride, groups, pad = block.kernel_size, block.stride, block.groups, block.kernel_size // 2
    conv = lambda w, b: F.conv2d(x, w, b, stride, pad, groups=groups)  # noqa: E731
    rows, kernels, biases = [], {}, []

    def record(step, what, got, want):
        rows.append({"step": step, "what": what, "max_abs_error": (got - want).abs().max().item(),
                     "output_scale": want.abs().max().item()})

    for i, branch in enumerate(block.conv_branches, 1):
        w, b = _fold(branch[0].weight, branch[1])
        record(f"1.{i}", f"conv branch {i}: BN folded into its {k}×{k} conv", conv(w, b), branch(x))
        kernels[f"conv {i}"], biases = w, biases + [b]
    if block.scale is not None:
        w, b = _fold(F.pad(block.scale[0].weight, [pad] * 4), block.scale[1])
        record("2", f"scale branch: 1×1 kernel zero-padded to {k}×{k}, BN folded", conv(w, b), block.scale(x))
        kernels["scale"], biases = w, biases + [b]
    if block.identity is not None:
        per_group = block.in_channels // groups
        eye = torch.zeros(block.in_channels, per_group, k, k)
        eye[torch.arange(block.in_channels), torch.arange(block.in_channels) % per_group, pad, pad] = 1
        record("3a", f"identity as a {k}×{k} kernel with a 1 at the centre", conv(eye, None), x)
        w, b = _fold(eye, block.identity)
        record("3b", "identity branch: its BN folded", conv(w, b), block.identity(x))
        kernels["identity"], biases = w, biases + [b]
    weight, bias = sum(kernels.values()), sum(biases)
    branches_sum = sum(br(x) for br in block.conv_branches)
    if block.scale is not None:
        branches_sum = branches_sum + block.scale(x)
    if block.identity is not None:
        branches_sum = branches_sum + block.identity(x)
    record("4", "all branches summed = one conv with the summed kernels and biases", conv(weight, bias),
           branches_sum)
    ref_w, ref_b = block.fused_kernel_and_bias()
    rows.append({"step": "5", "what": "kernel and bias equal MobileOneBlock.fused_kernel_and_bias()",
                 "max_abs_error": max((weight - ref_w).abs().max().item(), (bias - ref_b).abs().max().item()),
                 "output_scale": ref_w.abs().max().item()})
    fused = reparameterize(nn.Sequential(block))[0]
    record("6", "whole block (activation included) after reparameterize()", fused(x), block(x))
    kernels["fused"], kernels["bias"] = weight, bias
    return pd.DataFrame(rows), kernels


def plot_reparam_kernels(kernels: dict[str, torch.Tensor], channel: int = 0) -> Figure:
    """The k×k kernels of one output channel, branch by branch, then their sum: what
    :func:`reparam_steps` adds up. Values printed in each cell; a shared colour scale."""
    names = [n for n in kernels if n not in ("fused", "bias")] + ["fused"]
    mats = [kernels[n][channel, 0].detach().numpy() for n in names]
    vmax = max(np.abs(m).max() for m in mats)
    fig = Figure(figsize=(1.6 * len(names), 2.1), layout="constrained")
    axes = fig.subplots(1, len(names))
    for ax, name, m in zip(axes, names, mats):
        ax.imshow(m, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        for (r, c), v in np.ndenumerate(m):
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=7)
        ax.set_title(("= " if name == "fused" else "+ " if name != names[0] else "") + name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Output channel {channel}: BN-folded 3×3 kernels of each branch and their sum "
                 f"(fused bias {kernels['bias'][channel].item():+.3f})", fontsize=9)
    return fig


def reparam_counts(resolution: int = 224) -> pd.DataFrame:
    """Params and MACs of S0–S4 in both forms, beside the published inference-form figures.

    Columns ``model``, ``params_train``, ``params_reparam``, ``params_published``,
    ``params_gap``, ``macs_train``, ``macs_reparam``, ``madds_published``, ``macs_gap``,
    ``branches`` (k), ``blocks`` (MobileOne blocks).
    """
    rows = []
    for i, name in enumerate(MOBILEONE_NAMES):
        torch.manual_seed(0)
        train = create_model(name).eval()
        fused = reparameterize(train)
        tt, tf = analyze(train, resolution).totals, analyze(fused, resolution).totals
        p_pub, m_pub = figure(f"mobileone/s{i}/params").value, figure(f"mobileone/s{i}/madds").value
        blocks = [m for m in train.modules() if isinstance(m, MobileOneBlock)]
        rows.append({"model": f"S{i}", "branches": len(blocks[-1].conv_branches), "blocks": len(blocks),
                     "params_train": tt["params"], "params_reparam": tf["params"], "params_published": p_pub,
                     "params_gap": tf["params"] / p_pub - 1, "macs_train": tt["macs"],
                     "macs_reparam": tf["macs"], "madds_published": m_pub, "macs_gap": tf["macs"] / m_pub - 1})
    return pd.DataFrame(rows)


def interleaved_latency(models: dict, resolution: int, *, rounds: int = 3, budget_s: float = 0.2,
                        backend: str = "eager") -> dict:
    """Latency (ms) of each model timed interleaved with :func:`mnlab.analysis.compare_latency`;
    each keeps its fastest round's median (a burst of other work only ever slows a round down).

    A deployed ``backend`` times each model's deployed form, built once
    (:func:`mnlab.analysis.deploy`).
    """
    rounds = _check_int(rounds, "rounds", 1)
    shape = (1, 3, resolution, resolution)
    keys = list(models)
    named = {str(i): models[k] for i, k in enumerate(keys)}   # compare_latency wants str names
    table = compare_latency(named, shape, rounds=rounds, budget_s=budget_s, min_runs=7, backend=backend)
    return {k: float(table.loc[str(i), "min_ms"]) for i, k in enumerate(keys)}


def time_forms(names=MOBILEONE_NAMES, resolution: int = 224, *, rounds: int = 5,
               budget_s: float = 0.05) -> pd.DataFrame:
    """Latency (ms, batch 1, one thread, eager) of each MobileOne in its train-time and its
    re-parameterized form, and the speed-up between them.

    Each round times the two forms of one variant back to back
    (:func:`mnlab.analysis.compare_latency`), so that both see the same load on the machine;
    ``speedup`` is the median over ``rounds`` of these paired ratios, which holds on a busy
    machine. ``train_ms`` and ``reparam_ms`` are the
    fastest round medians. Columns ``model``, ``train_ms``, ``reparam_ms``, ``speedup``.
    """
    rounds = _check_int(rounds, "rounds", 1)
    pairs = {}
    for name in names:
        torch.manual_seed(0)
        train = create_model(name).eval()
        pairs[name] = {"train": train, "reparam": reparameterize(train)}
    shape = (1, 3, resolution, resolution)
    medians = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            pair = compare_latency(pairs[name], shape, rounds=1, budget_s=budget_s, min_runs=3)
            medians[name].append(pair.median_ms)
    rows = []
    for name in names:
        table = pd.DataFrame(medians[name])
        rows.append({"model": "S" + name[-1], "train_ms": table.train.min(), "reparam_ms": table.reparam.min(),
                     "speedup": float((table.train / table.reparam).median())})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- latency beyond MACs


class SEReLU(nn.Module):
    """ReLU followed by a squeeze-and-excite channel gate (sigmoid): the paper's "SE-ReLU"."""

    def __init__(self, channels: int):
        super().__init__()
        self.relu = nn.ReLU()
        self.se = SqueezeExcite(channels, max(1, channels // 16), nn.ReLU, nn.Sigmoid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.relu(x))


#: The activations timed, as name → constructor taking the channel count.
STUDY_ACTIVATIONS: dict[str, Callable[[int], nn.Module]] = {
    "ReLU": lambda c: nn.ReLU(),
    "ReLU6": lambda c: nn.ReLU6(),
    "h-swish": lambda c: nn.Hardswish(),
    "SiLU (swish)": lambda c: nn.SiLU(),
    "GELU": lambda c: nn.GELU(),
    "SE-ReLU (sigmoid gate)": SEReLU,
}


class _Pair(nn.Module):
    """Depthwise 3×3 conv-BN-act then pointwise 1×1 conv-BN-act (two of the 30 layers),
    optionally with a skip connection around the pair and/or SE before the last activation."""

    def __init__(self, channels: int, act: Callable[[int], nn.Module], skip: bool, se: bool):
        super().__init__()
        c = channels
        self.dw = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False), nn.BatchNorm2d(c), act(c))
        self.pw = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))
        self.se = SqueezeExcite(c, max(1, c // 16), nn.ReLU, nn.Sigmoid) if se else nn.Identity()
        self.act = act(c)
        self.skip = skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.se(self.pw(self.dw(x)))
        return self.act(out + x if self.skip else out)


def _check_int(value, name: str, low: int) -> int:
    return check_int(value, name, at_least=low)


def thirty_layer_net(activation: str = "ReLU", *, channels: int = 64, layers: int = 30,
                     skip: bool = False, se: bool = False) -> nn.Sequential:
    """The paper's test network for Tables 2–3, in MobileNet form: a 3×3 stride-2 stem, then
    ``layers`` − 1 conv layers as depthwise/pointwise pairs at one width, global pool and a
    1000-way linear layer. ``activation`` is a key of :data:`STUDY_ACTIVATIONS`; ``skip`` adds a
    residual connection around each pair, ``se`` a squeeze-and-excite (C/16) in each pair."""
    if activation not in STUDY_ACTIVATIONS:
        raise ValueError(f"activation must be one of {list(STUDY_ACTIVATIONS)}, got {activation!r}")
    channels, layers = _check_int(channels, "channels", 1), _check_int(layers, "layers", 3)
    act = STUDY_ACTIVATIONS[activation]
    torch.manual_seed(0)
    body = [nn.Sequential(nn.Conv2d(3, channels, 3, 2, 1, bias=False), nn.BatchNorm2d(channels), act(channels))]
    body += [_Pair(channels, act, skip, se) for _ in range((layers - 1) // 2)]
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(channels, 1000))
    return nn.Sequential(*body, head).eval()


def activation_study(resolution: int = 112, *, rounds: int = 3, budget_s: float = 0.2,
                     backends=("deploy",)) -> pd.DataFrame:
    """Time :func:`thirty_layer_net` with every activation of :data:`STUDY_ACTIVATIONS`
    (:func:`interleaved_latency`).

    Columns ``activation``, ``macs``, ``activation_ops``, then per backend ``<backend>_ms``
    and ``<backend>_vs_relu`` (latency relative to ReLU's).
    """
    models = {name: thirty_layer_net(name) for name in STUDY_ACTIVATIONS}
    rows = []
    for name, model in models.items():
        report = analyze(model, resolution)
        rows.append({"activation": name, "macs": report.totals["macs"],
                     "activation_ops": int(report.layers.loc[report.layers.kind == "activation", "ops"].sum())})
    table = pd.DataFrame(rows)
    for backend in backends:
        times = interleaved_latency(models, resolution, rounds=rounds, budget_s=budget_s, backend=backend)
        table[f"{backend}_ms"] = [times[name] for name in models]
        table[f"{backend}_vs_relu"] = table[f"{backend}_ms"] / table.loc[0, f"{backend}_ms"]
    return table


#: The architectural variants timed, as label → (skip, se).
BLOCK_VARIANTS: dict[str, tuple[bool, bool]] = {"baseline": (False, False), "+ skip connections": (True, False),
                                                 "+ squeeze-excite": (False, True), "+ both": (True, True)}


def block_study(resolution: int = 112, *, rounds: int = 3, budget_s: float = 0.2,
                backend: str = "deploy") -> pd.DataFrame:
    """Time :func:`thirty_layer_net` (ReLU) with skip connections and/or SE: the extra MACs are
    tiny (reported in ``macs_vs_baseline``), the extra time is not.

    Columns ``variant``, ``macs``, ``macs_vs_baseline``, ``elementwise_ops``, ``global_pools``,
    ``latency_ms``, ``latency_vs_baseline``.
    """
    models = {label: thirty_layer_net("ReLU", skip=skip, se=se) for label, (skip, se) in BLOCK_VARIANTS.items()}
    times = interleaved_latency(models, resolution, rounds=rounds, budget_s=budget_s, backend=backend)
    rows = []
    for label, model in models.items():
        layers = analyze(model, resolution).layers
        rows.append({"variant": label, "macs": int(layers["macs"].sum()),
                     "elementwise_ops": int(layers.loc[layers.kind == "elementwise", "ops"].sum()),
                     "global_pools": int((layers.op == "adaptive_avg_pool2d").sum()) - 1,
                     "latency_ms": times[label]})
    table = pd.DataFrame(rows)
    table.insert(2, "macs_vs_baseline", table["macs"] / table.loc[0, "macs"] - 1)
    table["latency_vs_baseline"] = table["latency_ms"] / table.loc[0, "latency_ms"]
    return table


def correlation_pivot(correlation: pd.DataFrame, statistic: str = "spearman") -> pd.DataFrame:
    """:func:`mnlab.analysis.rank_correlation`'s tidy table as the paper prints it: one row per
    metric, one column per group ("all" first), values of ``statistic``; plus ``n`` per group
    in the column names."""
    if statistic not in ("spearman", "kendall"):
        raise ValueError(f"statistic must be 'spearman' or 'kendall', got {statistic!r}")
    groups = list(dict.fromkeys(correlation["group"]))
    n = correlation.groupby("group", sort=False)["n"].max()
    table = correlation.pivot(index="metric", columns="group", values=statistic)
    table = table.reindex(index=list(dict.fromkeys(correlation["metric"])), columns=groups)
    table.columns = [f"{g} (n={n[g]})" for g in groups]
    table.index.name = statistic
    return table
