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
different activations (``mnlab.models.toys.thirty_layer_net``, :func:`activation_study`) and with skip connections or
squeeze-and-excite at (almost exactly) equal MACs (:func:`block_study`), timed on this CPU.
"""
from __future__ import annotations

import copy
import os
from typing import Sequence

import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from mnlab.analysis import Backend, analyze, deploy
from mnlab.analysis.latency import compare_latency
from mnlab.claims import Evidence, compare, statement
from mnlab.models import MobileOneBlock, create_model, reparameterize
from mnlab.models.toys import TIMED_ACTIVATIONS as STUDY_ACTIVATIONS
from mnlab.models.toys import thirty_layer_net
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
    rows, kernels = [], {}
    biases: list[torch.Tensor] = []

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
                        backend: Backend = "eager") -> dict:
    """Latency (ms) of each model timed interleaved with :func:`mnlab.analysis.compare_latency`;
    each keeps its fastest round's median (a burst of other work only ever slows a round down).

    A deployed ``backend`` times each model's deployed form, built once
    (:func:`mnlab.analysis.deploy`).
    """
    rounds = check_int(rounds, "rounds", at_least=1)
    shape = (1, 3, resolution, resolution)
    keys = list(models)
    named = {str(i): models[k] for i, k in enumerate(keys)}   # compare_latency wants str names
    table = compare_latency(named, shape, rounds=rounds, budget_s=budget_s, min_runs=7, backend=backend)
    return {k: float(table.loc[str(i), "min_ms"]) for i, k in enumerate(keys)}


def keep_branches(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose MobileOne blocks a deployed backend will not re-parameterize:
    :func:`mnlab.analysis.deploy` re-parameterizes every block offering ``reparameterize_``
    (its deploy form), so the train-time form must hide it to be timed as trained."""
    form = copy.deepcopy(model).eval()
    for block in form.modules():
        if isinstance(block, MobileOneBlock):
            block.reparameterize_ = None
    return form


def time_forms(names: Sequence[str] = MOBILEONE_NAMES, resolution: int = 224, *, rounds: int = 5,
               budget_s: float = 0.05, backend: Backend = "eager") -> pd.DataFrame:
    """Latency (ms, batch 1, one thread, on ``backend``) of each MobileOne in its train-time and
    its re-parameterized form, and the speed-up between them. On a deployed backend
    (:func:`mnlab.analysis.deploy`) both forms are exported with BatchNorm folded, so the
    speed-up is what the branches cost beyond their BatchNorms.

    Each round times the two forms of one variant back to back
    (:func:`mnlab.analysis.compare_latency`), so that both see the same load on the machine;
    ``speedup`` is the median over ``rounds`` of these paired ratios, which holds on a busy
    machine. ``train_ms`` and ``reparam_ms`` are the
    fastest round medians. Columns ``model``, ``train_ms``, ``reparam_ms``, ``speedup``.
    """
    rounds = check_int(rounds, "rounds", at_least=1)
    shape = (1, 3, resolution, resolution)
    pairs = {}
    for name in names:
        torch.manual_seed(0)
        train = create_model(name).eval()
        pair = {"train": train, "reparam": reparameterize(train)}
        if backend != "eager":   # deployed once; the train form keeps its branches (BN folded)
            pair = {"train": deploy(keep_branches(train), shape, backend=backend),
                    "reparam": deploy(pair["reparam"], shape, backend=backend)}
        pairs[name] = pair
    medians: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            pair = compare_latency(pairs[name], shape, rounds=1, budget_s=budget_s, min_runs=3, backend=backend)
            medians[name].append(pair.median_ms)
    rows = []
    for name in names:
        table = pd.DataFrame(medians[name])
        rows.append({"model": "S" + name[-1], "train_ms": table.train.min(), "reparam_ms": table.reparam.min(),
                     "speedup": float((table.train / table.reparam).median())})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- latency beyond MACs


def activation_study(resolution: int = 112, *, rounds: int = 3, budget_s: float = 0.2,
                     backends: Sequence[Backend] = ("deploy",)) -> pd.DataFrame:
    """Time ``mnlab.models.toys.thirty_layer_net`` with every activation of ``STUDY_ACTIVATIONS``
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
                backend: Backend = "deploy") -> pd.DataFrame:
    """Time ``mnlab.models.toys.thirty_layer_net`` (ReLU) with skip connections and/or SE: the extra MACs are
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


#: The backends of the stored zoo, side by side in :func:`backend_correlations`.
ZOO_BACKENDS: tuple[Backend, ...] = ("eager", "onnxruntime", "xnnpack")


def backend_correlations(path: str | os.PathLike[str], metrics: Sequence[str] = ("macs", "params", "bytes"),
                         backends: Sequence[Backend] = ZOO_BACKENDS) -> pd.DataFrame:
    """Spearman's ρ and Kendall's τ between each cost metric and latency over the whole zoo, once
    per backend of the stored zoo at ``path`` (:func:`mnlab.studies.synthesis.read_zoo`).

    One row per metric; columns ``<statistic> <backend>`` and ``n`` (configurations per backend).
    """
    from mnlab.analysis import rank_correlation
    from mnlab.studies.synthesis import read_zoo

    frames, sizes = [], set()
    for backend in backends:
        zoo = read_zoo(path, backend)
        if zoo.empty:
            raise ValueError(f"{path} holds no rows for backend {backend!r}")
        sizes.add(len(zoo))
        table = rank_correlation(zoo, metrics=metrics)
        table = table[table.group == "all"].set_index("metric")[["spearman", "kendall"]]
        frames.append(table.rename(columns=lambda c: f"{c} {backend}"))
    result = pd.concat(frames, axis=1)
    result = result[[f"{stat} {b}" for stat in ("spearman", "kendall") for b in backends]]
    result["n"] = min(sizes)
    return result


#: MobileOne's Table 1 column by column — our metric's name, the paper's, and its two devices.
TABLE1_DEVICES = {"mobile": "iPhone 12", "cpu": "desktop CPU"}


def published_correlations() -> pd.DataFrame:
    """MobileOne's Table 1 (:mod:`mnlab.papers`): Spearman's ρ of latency with FLOPs (our
    ``macs``: FLOPs = 2 × MACs, the same ranks) and with parameters, on the paper's phone and on
    a desktop CPU; one row per metric, one column ``paper ρ <device>`` per device, to join to
    :func:`backend_correlations`."""
    return pd.DataFrame({f"paper ρ {name}": {ours: figure(f"mobileone/table1/{device}/{theirs}_spearman").value
                                             for ours, theirs in (("macs", "flops"), ("params", "params"))}
                         for device, name in TABLE1_DEVICES.items()}).rename_axis("metric")


# --------------------------------------------------------------------------- paper vs measured

#: Re-parameterization must reproduce the branches to this (float32 rounding on outputs up to ~10).
FLOAT32_ROUNDING = 1e-5
#: The smallest speed-up from re-parameterization the chapter requires of every variant.
MIN_REPARAM_SPEEDUP = 1.5


def _count_claims(counts: pd.DataFrame, steps: pd.DataFrame) -> list:
    claims = []
    for i, row in counts.iterrows():
        claims.append(compare(f"mobileone/s{i}/params", row.params_reparam, what=f"S{i} params, re-parameterized",
                              tolerance=0.03))
        claims.append(compare(f"mobileone/s{i}/madds", row.macs_reparam, what=f"S{i} MACs, re-parameterized",
                              tolerance=0.03))
    claims += [compare(f"reference/mobileone_s{i}/train/params", row.params_train, what=f"S{i} params, train-time",
                       tolerance=0.0) for i, row in counts.iterrows()]
    bound = f"{FLOAT32_ROUNDING:.0e}"
    claims.append(statement("re-parameterization leaves the function unchanged", "one conv with bias equals the branches",
                            f"max |difference| < {bound}", bool(steps.max_abs_error.max() < FLOAT32_ROUNDING),
                            source="mobileone", evidence=Evidence.EQUIVALENCE, tolerance=f"< {bound} (float32)"))
    return claims


def _timing_claims(forms: pd.DataFrame, activations: pd.DataFrame, blocks: pd.DataFrame) -> list:
    act = activations.set_index("activation").filter(like="_vs_relu").iloc[:, -1]   # the deployed backend
    bl = blocks.set_index("variant")
    se, skip = bl.loc["+ squeeze-excite"], bl.loc["+ skip connections"]
    return [
        statement("the re-parameterized S0 (k = 4 branches) is faster", "inference-time network is a plain stack",
                  f"S0 {forms.speedup.iloc[0]:.1f}× faster (160 px)", bool(forms.speedup.iloc[0] >= MIN_REPARAM_SPEEDUP),
                  source="mobileone", evidence=Evidence.TIMING_EFFECT,
                  tolerance=f"≥ {MIN_REPARAM_SPEEDUP}× (median of paired rounds)"),
        statement("re-parameterized S1–S4 (one branch) are faster", "inference-time network is a plain stack",
                  f"S1–S4 {forms.speedup.iloc[1:].min():.1f}–{forms.speedup.iloc[1:].max():.1f}× faster (160 px)",
                  bool((forms.speedup.iloc[1:] > 1.0).all()), source="mobileone", evidence=Evidence.TIMING,
                  tolerance="every variant > 1×",
                  note="with BatchNorm folded in both forms only a 1×1 scale branch and an identity are removed"),
        statement("a sigmoid-gated activation (SE-ReLU) costs latency", "SE-ReLU slower than ReLU",
                  f"{act['SE-ReLU (sigmoid gate)']:.2f}× ReLU", act["SE-ReLU (sigmoid gate)"] > 1.3,
                  source="mobileone", evidence=Evidence.TIMING, tolerance="> 1.3× ReLU, equal MACs",
                  note="how much a sigmoid gate costs depends on the CPU and the runtime's kernels"),
        statement("smooth activations (SiLU, GELU) cost latency", "slower than ReLU at equal FLOPs",
                  f"SiLU {act['SiLU (swish)']:.2f}×, GELU {act['GELU']:.2f}× ReLU",
                  min(act["SiLU (swish)"], act["GELU"]) > 1.05, source="mobileone", evidence=Evidence.TIMING,
                  tolerance="both > 1.05× ReLU",
                  note="the size depends on the CPU and the runtime's kernels; a busy machine blurs it"),
        statement("squeeze-excite costs latency beyond its MACs", "SE blocks add synchronization cost",
                  f"{se.latency_vs_baseline:.2f}× for +{se.macs_vs_baseline:.3%} MACs",
                  se.latency_vs_baseline > 1.2, source="mobileone", evidence=Evidence.TIMING,
                  tolerance="> 1.2× baseline",
                  note="the paper's cost is synchronization on a phone; what SE costs on a CPU depends on its kernels"),
        statement("skip connections cost latency at equal MACs", "multi-branch adds memory access cost",
                  f"{skip.latency_vs_baseline:.2f}× baseline", skip.latency_vs_baseline > 1.05, source="mobileone",
                  evidence=Evidence.TIMING, tolerance="> 1.05× baseline",
                  note="directional; the size depends on what the runtime fuses"),
    ]


def _zoo_claims(zoo: pd.DataFrame, correlation: pd.DataFrame) -> list:
    from mnlab.studies.stored import machine_of
    from mnlab.studies.synthesis import worst_inversion

    machine = machine_of(zoo, cpu_only=True)
    rho = correlation[correlation.group == "all"].set_index("metric").spearman
    inversion = worst_inversion(zoo, "macs")
    mobile, cpu = (published_correlations()[f"paper ρ {name}"] for name in TABLE1_DEVICES.values())
    table1 = "mobileone/table1/{}/flops_spearman"   # the figures' citation: Table 1, the device
    return [
        statement("MACs predict latency better than parameters",
                  f"Spearman ρ {mobile['macs']:.2f} (FLOPs) vs {mobile['params']:.2f} (params), iPhone 12",
                  f"Spearman ρ {rho['macs']:.2f} (MACs) vs {rho['params']:.2f} (params), n = {len(zoo)}",
                  rho["macs"] > rho["params"], source=table1.format("mobile"), evidence=Evidence.TIMING,
                  machine=machine,
                  tolerance="the paper's direction: ρ(MACs) > ρ(params)",
                  note="the claim under test, on this machine's stored zoo; the paper's figures: a secondary "
                       "transcription of Table 1"),
        statement("on a desktop CPU latency hardly follows FLOPs or parameters",
                  f"Spearman ρ {cpu['macs']:.2f} (FLOPs), {cpu['params']:.2f} (params), desktop CPU",
                  f"Spearman ρ {rho['macs']:.2f} (MACs), {rho['params']:.2f} (params)",
                  max(abs(rho["macs"] - cpu["macs"]), abs(rho["params"] - cpu["params"])) <= 0.2,
                  source=table1.format("cpu"), evidence=Evidence.TIMING, machine=machine,
                  tolerance="each ρ within ±0.2 of the paper's",
                  note=f"strong here: the zoo spans {zoo.macs.max() / zoo.macs.min():.0f}× in MACs and holds only "
                       f"CNNs; close in MACs, latency still differs up to {inversion['latency_ratio']:.1f}×"),
    ]


def claims(counts: pd.DataFrame, steps: pd.DataFrame, forms: pd.DataFrame, activations: pd.DataFrame,
           blocks: pd.DataFrame, zoo: pd.DataFrame, correlation: pd.DataFrame) -> list:
    """The chapter's paper-vs-measured claims from :func:`reparam_counts`, :func:`reparam_steps`,
    :func:`time_forms`, :func:`activation_study`, :func:`block_study` and the stored zoo with its
    :func:`mnlab.analysis.rank_correlation`."""
    return [*_count_claims(counts, steps), *_timing_claims(forms, activations, blocks),
            *_zoo_claims(zoo, correlation)]
