"""Chapter 3 — MobileNetV2 (Sandler et al. 2018, arXiv 1801.04381): inverted residuals and
linear bottlenecks, counted, probed and timed.

What each part reproduces:

* :func:`bottleneck_macs`, :func:`block_costs` — the block's cost (Sec. 3.3, Table 1):
  h·w·d′·t·(d′ + k² + d″) Mult-Adds, checked against the counter block by block.
* :func:`describe_blocks`, :func:`architecture_table` — Table 2 generated from a model.
* :func:`relu_manifold`, :func:`plot_relu_manifold` — Figure 1: a 2-D spiral embedded in n
  dimensions by a random matrix T, passed through ReLU, projected back with T⁺.
* :class:`ToyMobileNetV2`, :func:`train_digits`, :func:`run_ablation` — Figure 6 on a small
  scale: linear vs ReLU6 bottleneck, shortcut between bottlenecks / expansions / none, trained
  on scikit-learn's 8×8 digits, several seeds, deterministic on one CPU thread.
* :func:`table3`, :class:`ChunkedInvertedResidual`, :func:`chunked`, :func:`peak_memory` —
  Table 3 (memory per resolution) and Sec. 5.1's memory-efficient inference: a block computed
  a slice of hidden channels at a time never holds its whole expansion.
* :func:`expansion_sweep`, :func:`expansion_latency` — the expansion ratio t from 2 to 10:
  MACs, parameters, memory, time.
* :func:`time_models` — interleaved batch-1 timing, eager or in deploy form, for Table 4 here
  and for the redesigns of MobileNetV3 (:mod:`mnlab.studies.v3`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.nn import functional as F

from mnlab.analysis import analyze, block_memory_table, compare_latency
from mnlab.analysis.memory import BlockMemory
from mnlab.models import create_model
from mnlab.models.layers import InvertedResidual, conv_bn_act
from mnlab.models.mobilenet_v2 import BOTTLENECKS
from mnlab.studies.stored import stored_tables
from mnlab.validation import check_int, check_real

# --------------------------------------------------------------------------- the block


def bottleneck_macs(h: int, w: int, d_in: int, t: float, d_out: int, k: int = 3, stride: int = 1) -> int:
    """Mult-Adds of one inverted residual block on an h × w × d′ input (Sec. 3.3, Table 1).

    The paper's count, h·w·d′·t·(d′ + k² + d″), assumes stride 1: the 1×1 expansion costs
    h·w·d′·(t·d′), the k×k depthwise h·w·(t·d′)·k², the linear projection h·w·(t·d′)·d″. With
    stride s the depthwise and the projection run on the (h/s) × (w/s) output, so they cost
    1/s² as much. With t = 1 there is no expansion layer (MobileNetV2's first block), so its
    term is left out. Output sizes use 'same' padding: ⌈h/s⌉.
    """
    for name, value in (("h", h), ("w", w), ("d_in", d_in), ("d_out", d_out), ("k", k), ("stride", stride)):
        check_int(value, name, at_least=1)
    t = check_real(t, "t", at_least=1)
    hidden = int(round(d_in * t))
    ho, wo = -(-h // stride), -(-w // stride)
    expand = h * w * d_in * hidden if hidden != d_in else 0
    return int(expand + ho * wo * hidden * k * k + ho * wo * hidden * d_out)


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
    shape = report.input_shape
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


def _size(h: int, w: int, c: int) -> str:
    return f"{h}² × {c}" if h == w else f"{h} × {w} × {c}"


def architecture_table(model: nn.Module, resolution: int = 224) -> pd.DataFrame:
    """MobileNetV2's Table 2 (Input, Operator, t, c, n, s) generated from ``model``.

    Consecutive inverted residual blocks with the same output width form one row (a stage):
    n counts them, s is the stride of the first, t its expansion. The stem and the last 1×1
    conv are rows of their own, then the pooling and the classifier, as in the paper.
    """
    blocks = describe_blocks(model, resolution)
    rows: list[dict] = []
    for b in blocks.itertuples(index=False):
        if b.operator == "bneck" and rows and rows[-1]["Operator"] == "bottleneck" \
                and rows[-1]["c"] == b.out and b.stride == 1:
            rows[-1]["n"] += 1
            continue
        h, w, c = b.input
        if b.operator == "bneck":
            rows.append({"Input": _size(h, w, c), "Operator": "bottleneck", "t": f"{b.t:g}", "c": b.out,
                         "n": 1, "s": b.stride})
        else:
            op = "conv2d" if b.kernel == 3 else f"conv2d {b.kernel}×{b.kernel}"
            rows.append({"Input": _size(h, w, c), "Operator": op, "t": "-", "c": b.out, "n": 1, "s": b.stride})
    h, w, c = blocks.iloc[-1].input
    stride = blocks.iloc[-1].stride
    h, w, c = -(-h // stride), -(-w // stride), blocks.iloc[-1].out
    classes = model.classifier.fc.out_features
    rows.append({"Input": _size(h, w, c), "Operator": f"avgpool {h}×{w}", "t": "-", "c": "-", "n": 1, "s": "-"})
    rows.append({"Input": f"1 × 1 × {c}", "Operator": "conv2d 1×1", "t": "-", "c": classes, "n": "-", "s": "-"})
    table = pd.DataFrame(rows)
    table["c"] = table["c"].astype(str)
    table["n"] = table["n"].astype(str)
    table["s"] = table["s"].astype(str)
    return table


def spec_from_table(table: pd.DataFrame) -> list[tuple[int, int, int, int]]:
    """The (t, c, n, s) rows of the bottleneck stages of an :func:`architecture_table`, to set
    beside ``mnlab.models.mobilenet_v2.BOTTLENECKS`` (the paper's Table 2 as typed)."""
    part = table[table.Operator == "bottleneck"]
    return [(int(float(r.t)), int(r.c), int(r.n), int(r.s)) for r in part.itertuples(index=False)]


def block_costs(model: nn.Module, resolution: int = 224) -> pd.DataFrame:
    """Each inverted residual block's Mult-Adds: :func:`bottleneck_macs` beside the counter.

    Columns ``block``, ``input`` (h, w, d′), ``t``, ``out`` (d″), ``stride``, ``formula``,
    ``counted`` (conv MACs the counter found in the block), ``agree``.
    """
    blocks = describe_blocks(model, resolution)
    rows = []
    for b in blocks[blocks.operator == "bneck"].itertuples(index=False):
        h, w, d = b.input
        formula = bottleneck_macs(h, w, d, b.hidden / d, b.out, b.kernel, b.stride)
        rows.append({"block": b.block, "input": f"{h}×{w}×{d}", "t": round(b.t, 3), "out": b.out,
                     "stride": b.stride, "formula": formula, "counted": b.macs, "agree": formula == b.macs})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- Figure 1


def spiral(n_points: int = 1000, turns: float = 2.0) -> np.ndarray:
    """A 2-D spiral r = s, θ = s for s in (0.5, 2π·turns], centred on the origin, shape (n, 2)."""
    s = np.linspace(0.5, 2 * np.pi * turns, n_points)
    points = np.stack([s * np.cos(s), s * np.sin(s)], axis=1)
    return points - points.mean(axis=0)


@dataclass
class ManifoldStudy:
    """What :func:`relu_manifold` measured.

    ``errors``: one row per (n, trial) with ``pinv_error`` = ‖T⁺ReLU(Tx) − x‖ / ‖x‖ (the
    paper's procedure), ``scale`` (the least-squares factor c minimising ‖c·x̂ − x‖),
    ``shape_error`` (the relative error after that rescaling) and ``readout_error`` (the best
    affine read-out of x from ReLU(Tx), fitted by least squares: how much of x is still there
    for *any* linear layer to recover). ``summary``: mean and std over trials per n.
    ``points``: the input spiral; ``reconstructions``: n → T⁺ReLU(Tx) of the first trial.
    """

    errors: pd.DataFrame
    summary: pd.DataFrame
    points: np.ndarray
    reconstructions: dict[int, np.ndarray]


def relu_manifold(dims=(2, 3, 5, 15, 30), *, n_points: int = 1000, trials: int = 20,
                  seed: int = 0) -> ManifoldStudy:
    """MobileNetV2, Figure 1: embed a 2-D spiral x in n dimensions with a random Gaussian
    matrix T (n × 2), apply ReLU, and project back with the pseudo-inverse T⁺.

    For each n in ``dims``, ``trials`` matrices are drawn from one seeded generator. ReLU is
    positively homogeneous, so the scale of T does not matter.
    """
    dims = tuple(dims)
    if not dims:
        raise ValueError(f"dims must be a non-empty sequence of integers >= 1, got {dims!r}")
    for n in dims:
        check_int(n, "each of dims", at_least=1)
    check_int(trials, "trials", at_least=1)
    rng = np.random.default_rng(seed)
    x = spiral(n_points)
    norm = np.linalg.norm(x)
    design_ones = np.ones((len(x), 1))
    rows, recon = [], {}
    for n in dims:
        for trial in range(trials):
            T = rng.standard_normal((n, 2))
            y = np.maximum(x @ T.T, 0.0)
            xh = y @ np.linalg.pinv(T).T
            scale = float((xh * x).sum() / max((xh * xh).sum(), 1e-300))
            design = np.hstack([y, design_ones])
            coef, *_ = np.linalg.lstsq(design, x, rcond=None)
            rows.append({"n": n, "trial": trial,
                         "pinv_error": np.linalg.norm(xh - x) / norm,
                         "scale": scale,
                         "shape_error": np.linalg.norm(scale * xh - x) / norm,
                         "readout_error": np.linalg.norm(design @ coef - x) / norm})
            if trial == 0:
                recon[int(n)] = xh
    errors = pd.DataFrame(rows)
    summary = errors.groupby("n").agg(
        pinv_error=("pinv_error", "mean"), scale=("scale", "mean"),
        shape_error=("shape_error", "mean"), shape_error_std=("shape_error", "std"),
        readout_error=("readout_error", "mean"), readout_error_std=("readout_error", "std"))
    return ManifoldStudy(errors, summary, x, recon)


def plot_relu_manifold(study: ManifoldStudy) -> Figure:
    """Figure 1 of the paper: the input spiral, then T⁺ReLU(Tx) for each n (first trial).
    Colour runs along the spiral, so a fold or a cut shows as a jump in colour."""
    dims = sorted(study.reconstructions)
    fig = Figure(figsize=(2.1 * (len(dims) + 1), 2.5), layout="constrained")
    axes = fig.subplots(1, len(dims) + 1)
    colour = np.linspace(0, 1, len(study.points))
    panels = [("input", study.points)] + [(f"n = {n}", study.reconstructions[n]) for n in dims]
    for ax, (title, pts) in zip(axes, panels):
        ax.scatter(pts[:, 0], pts[:, 1], c=colour, cmap="viridis", s=2)
        ax.set_title(title)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("T⁺ ReLU(T x): a 2-D spiral through ReLU in n dimensions (axes rescaled per panel)")
    return fig


# --------------------------------------------------------------------------- Figure 6, small scale

#: The toy network's stages (t, c, n, s), the proportions of Table 2 on an 8 × 8 image.
TOY_STAGES: list[tuple[int, int, int, int]] = [(6, 8, 2, 1), (6, 16, 3, 2), (6, 24, 1, 2)]
TOY_STEM = 8

#: The variants of Figure 6, (a) the bottleneck's non-linearity and (b) where the shortcut goes.
VARIANTS: dict[str, dict] = {
    "linear bottleneck": {"shortcut": "bottleneck", "bottleneck_activation": False},
    "ReLU6 bottleneck": {"shortcut": "bottleneck", "bottleneck_activation": True},
    "shortcut between expansions": {"shortcut": "expansion", "bottleneck_activation": False},
    "no shortcut": {"shortcut": "none", "bottleneck_activation": False},
}
SHORTCUTS = ("bottleneck", "expansion", "none")


class ToyMobileNetV2(nn.Module):
    """A small MobileNetV2 for 8 × 8 grey images, with Figure 6's switches.

    The same layers in the same order for every variant: stem 3×3 conv, then per block a 1×1
    expansion E, a 3×3 depthwise D and a 1×1 projection P, global pooling, linear classifier.
    What changes:

    * ``bottleneck_activation``: False — P is linear (the paper's design); True — ReLU6 after P.
    * ``shortcut``: "bottleneck" — x + P(D(E(x))) around each block whose input and output
      match, joining the thin tensors (the paper's design); "expansion" — the chain is cut
      differently, h + E(P(D(h))), so the shortcut joins the *expanded* tensors, at the same
      places and in the same number; "none" — no shortcut.
    """

    def __init__(self, stages=TOY_STAGES, stem: int = TOY_STEM, *, shortcut: str = "bottleneck",
                 bottleneck_activation: bool = False, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}")
        self.shortcut = shortcut
        self.stem = conv_bn_act(in_channels, stem, 3, activation=nn.ReLU6)
        expand, depthwise, project, residual = [], [], [], []
        cin = stem
        for t, c, n, s in stages:
            for i in range(n):
                stride, hidden = (s if i == 0 else 1), cin * t
                expand.append(conv_bn_act(cin, hidden, 1, activation=nn.ReLU6))
                depthwise.append(conv_bn_act(hidden, hidden, 3, stride, hidden, nn.ReLU6))
                project.append(conv_bn_act(hidden, c, 1, activation=nn.ReLU6 if bottleneck_activation else None))
                residual.append(stride == 1 and cin == c)
                cin = c
        self.expand, self.depthwise, self.project = (nn.ModuleList(expand), nn.ModuleList(depthwise),
                                                     nn.ModuleList(project))
        self.residual = residual
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        blocks = len(self.expand)
        if self.shortcut == "expansion":
            # Block i maps the expansion h_i to h_{i+1} = E_{i+1}(P_i(D_i(h_i))); h_i and h_{i+1}
            # have the same shape exactly where block i's bottlenecks do (stride 1, same width).
            h = self.expand[0](x)
            for i in range(blocks):
                z = self.project[i](self.depthwise[i](h))
                if i + 1 < blocks:
                    nxt = self.expand[i + 1](z)
                    h = h + nxt if self.residual[i] else nxt
            x = z
        else:
            for i in range(blocks):
                y = self.project[i](self.depthwise[i](self.expand[i](x)))
                x = x + y if self.shortcut == "bottleneck" and self.residual[i] else y
        return self.classifier(x.mean(dim=(2, 3)))

    @property
    def shortcuts(self) -> int:
        """How many shortcuts the forward pass adds."""
        if self.shortcut == "none":
            return 0
        if self.shortcut == "expansion":
            return sum(self.residual[:-1])
        return sum(self.residual)


@dataclass
class DigitsData:
    """scikit-learn's digits (1797 8 × 8 images, 10 classes), scaled to [0, 1], split once."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_digits_data(test_size: int = 597, seed: int = 0) -> DigitsData:
    """The digits data set (it ships with scikit-learn: no download), split by a seeded permutation."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target, dtype=torch.long)
    check_int(test_size, "test_size", at_least=1, at_most=len(x) - 1)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    test, train = perm[:test_size], perm[test_size:]
    return DigitsData(x[train], y[train], x[test], y[test])


def train_digits(variant: str, seed: int, data: DigitsData, *, epochs: int = 15, batch_size: int = 64,
                 lr: float = 3e-3, stages=TOY_STAGES, stem: int = TOY_STEM) -> pd.DataFrame:
    """Train one :class:`ToyMobileNetV2` variant (a key of :data:`VARIANTS`) from ``seed``.

    Adam with a cosine learning-rate decay, cross-entropy, mini-batches in a seeded order. Runs
    on one thread with deterministic algorithms, so a (variant, seed) gives the same numbers on
    every run on the same machine. Returns one row per epoch: ``variant``, ``seed``, ``epoch``
    (1-based), ``train_loss`` (mean over the epoch's batches), ``test_loss``, ``test_acc``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
    check_int(epochs, "epochs", at_least=1)
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(seed)
        model = ToyMobileNetV2(stages, stem, **VARIANTS[variant])
        steps = -(-len(data.x_train) // batch_size)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps)
        order = torch.Generator().manual_seed(seed)
        rows = []
        for epoch in range(1, epochs + 1):
            model.train()
            perm = torch.randperm(len(data.x_train), generator=order)
            losses = []
            for b in range(0, len(perm), batch_size):
                idx = perm[b:b + batch_size]
                loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.item())
            model.eval()
            with torch.no_grad():
                logits = model(data.x_test)
            rows.append({"variant": variant, "seed": seed, "epoch": epoch,
                         "train_loss": float(np.mean(losses)),
                         "test_loss": F.cross_entropy(logits, data.y_test).item(),
                         "test_acc": (logits.argmax(1) == data.y_test).float().mean().item()})
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=True)
    return pd.DataFrame(rows)


def run_ablation(variants=tuple(VARIANTS), seeds=(0, 1, 2, 3, 4), *, epochs: int = 15,
                 data: DigitsData | None = None) -> pd.DataFrame:
    """Every variant from every seed (:func:`train_digits`), one row per (variant, seed, epoch)."""
    data = load_digits_data() if data is None else data
    frames = [train_digits(v, s, data, epochs=epochs) for v in variants for s in seeds]
    return pd.concat(frames, ignore_index=True)


def stored_ablation(path: str | os.PathLike, remeasure: bool, *, seeds=(0, 1, 2, 3, 4),
                    epochs: int = 15) -> pd.DataFrame:
    """The ablation as stored in ``path`` (CSV, each row with the machine that trained it, see
    :mod:`mnlab.studies.stored`); trained afresh and written there when ``remeasure`` is true or
    the file is missing. A stored table that does not hold exactly the variants, seeds and
    epochs asked for is an error, not silently used."""
    table = stored_tables({"ablation": path}, remeasure,
                          lambda: {"ablation": run_ablation(tuple(VARIANTS), tuple(seeds), epochs=epochs)})["ablation"]
    expected = {(v, s, e) for v in VARIANTS for s in seeds for e in range(1, epochs + 1)}
    found = set(zip(table.variant, table.seed, table.epoch))
    if found != expected:
        raise ValueError(f"{os.fspath(path)} does not hold the ablation asked for ({len(VARIANTS)} variants × "
                         f"seeds {tuple(seeds)} × {epochs} epochs); re-run with remeasure=True")
    return table


def ablation_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Final-epoch test accuracy per variant over seeds: mean, std, min, max; the difference to
    the linear bottleneck seed by seed (paired: same seed, same batches), its mean and std, and
    in how many seeds the variant ended below the linear bottleneck; the final train loss."""
    last = table[table.epoch == table.epoch.max()]
    order = list(dict.fromkeys(last.variant))
    acc = last.pivot(index="seed", columns="variant", values="test_acc")[order]
    diff = acc.sub(acc["linear bottleneck"], axis=0)
    summary = pd.DataFrame({"mean": acc.mean(), "std": acc.std(), "min": acc.min(), "max": acc.max(),
                            "vs linear (mean)": diff.mean(), "vs linear (std)": diff.std(),
                            "seeds below linear": (diff < 0).sum(), "seeds": acc.count(),
                            "final train loss": last.groupby("variant").train_loss.mean()}).loc[order]
    summary.index.name = "variant"
    return summary


def plot_ablation(table: pd.DataFrame) -> Figure:
    """Figure 6 of the paper, small: test accuracy per epoch, mean over seeds with a ±1 std band;
    (a) the bottleneck's non-linearity, (b) the shortcut's place."""
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    groups = [("(a) non-linearity in the bottleneck", ["linear bottleneck", "ReLU6 bottleneck"]),
              ("(b) where the shortcut goes", ["linear bottleneck", "shortcut between expansions", "no shortcut"])]
    labels = {"linear bottleneck": "linear bottleneck, shortcut between bottlenecks"}
    colours = dict(zip(VARIANTS, ["tab:blue", "tab:red", "tab:orange", "tab:grey"]))
    for ax, (title, names) in zip(axes, groups):
        for name in names:
            curve = table[table.variant == name].groupby("epoch").test_acc.agg(["mean", "std"])
            ax.plot(curve.index, 100 * curve["mean"], color=colours[name], label=labels.get(name, name))
            ax.fill_between(curve.index, 100 * (curve["mean"] - curve["std"]),
                            100 * (curve["mean"] + curve["std"]), color=colours[name], alpha=0.15)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="lower right")
    axes[0].set_ylabel("test accuracy (%)")
    low = 100 * table[table.epoch >= 3].test_acc.min()
    axes[0].set_ylim(max(0.0, low - 2), 100)
    return fig


# --------------------------------------------------------------------------- memory (Table 3)


def table3_blocks(model: nn.Module) -> list[str]:
    """The tensors Table 3 counts: each block's output from the first bottleneck on (for V2 the
    stem's output is the first bottleneck's expansion input and is not counted; the 1280-wide
    last conv is not a bottleneck either) and the pooled vector."""
    children = list(model.features.named_children())
    has_bottlenecks = any(isinstance(block, InvertedResidual) for _, block in children)
    blocks = [f"features.{name}" for name, block in children
              if not has_bottlenecks or isinstance(block, InvertedResidual)]
    return blocks + ["classifier.pool"]


def table3(name: str) -> BlockMemory:
    """MobileNetV2's Table 3 for ``"mobilenet_v1"`` or ``"mobilenet_v2"`` at 224, 16-bit:
    the largest block output per resolution and its size in KB (1 KB = 1000 bytes)."""
    if name not in ("mobilenet_v1", "mobilenet_v2"):
        raise ValueError(f"name must be 'mobilenet_v1' or 'mobilenet_v2', got {name!r}")
    model = create_model(name).eval()
    return block_memory_table(model, 224, blocks=table3_blocks(model), dtype_bytes=2)


def table3_comparison() -> pd.DataFrame:
    """Table 3 beside the paper, row by row: for MobileNetV1 and V2 and each resolution, the
    paper's channels and KB (:mod:`mnlab.papers`) and ours (:func:`table3`), and the block."""
    from mnlab.papers import figure

    rows = []
    for name in ("mobilenet_v1", "mobilenet_v2"):
        for r in table3(name).table.itertuples(index=False):
            key = f"mobilenet_v2/table3/{name}/{r.height}"
            rows.append({"model": name, "size": r.size, "paper channels": int(figure(f"{key}/channels").value),
                         "channels": r.channels, "paper KB": figure(f"{key}/memory_kb").printed,
                         "KB": r.memory_kb, "block": r.block})
    return pd.DataFrame(rows)


def stage_starting_widths(stages=BOTTLENECKS, resolution: int = 224, stem_stride: int = 2) -> dict[int, int]:
    """For each side length, the widest output c of a Table 2 stage whose *input* has that side
    and whose stride is 2: the width the paper's Table 3 prints for 56², 28² and 14²."""
    side = resolution // stem_stride
    widths: dict[int, int] = {}
    for t, c, n, s in stages:
        if s == 2:
            widths[side] = max(widths.get(side, 0), c)
        side //= s
    return widths


class ChunkedInvertedResidual(nn.Module):
    """An inverted residual evaluated a slice of hidden channels at a time (inference only).

    MobileNetV2, Sec. 5.1 (memory efficient inference): the block is F(x) = [A ∘ N ∘ B](x) with
    B the 1×1 expansion, N the per-channel depthwise + non-linearity, A the linear 1×1
    projection. Because N acts on each hidden channel separately and A is a sum over hidden
    channels, F(x) = Σ_j A_j(N_j(B_j(x))) over slices j of the hidden channels: only one slice
    of the expanded tensor needs to exist at a time. Same weights, same output (up to float
    summation order) as the wrapped block; BatchNorm uses its running statistics, as in eval.

    ``expand``: for a block without an expansion layer (MobileNetV2's first, t = 1), the
    conv-BN-activation before it (the stem) can take the expansion's place, so that the stem's
    wide output is also made one slice at a time; the wrapper then reads the stem's input.
    Squeeze-and-excite pools over every hidden channel before it can scale any, so blocks with
    SE are refused.
    """

    def __init__(self, block: InvertedResidual, chunks: int, expand: nn.Sequential | None = None):
        super().__init__()
        if not isinstance(block, InvertedResidual):
            raise ValueError(f"block must be an InvertedResidual, got {type(block).__name__}")
        if hasattr(block.block, "se"):
            raise ValueError("a block with squeeze-and-excite cannot be chunked over hidden channels")
        hidden = block.block.depthwise[0].out_channels
        if expand is not None:
            if hasattr(block.block, "expand") or block.use_residual:
                raise ValueError("expand can only stand in for a missing expansion of a block without shortcut")
            if not (isinstance(expand, nn.Sequential) and isinstance(expand[0], nn.Conv2d)
                    and expand[0].groups == 1 and expand[0].out_channels == hidden
                    and isinstance(expand[1], nn.BatchNorm2d)):
                raise ValueError(f"expand must be a conv-BN[-activation] nn.Sequential with {hidden} outputs")
        check_int(chunks, "chunks", at_least=1, at_most=hidden, note=" (the hidden width)")
        self.stem = expand   # registered first: analyzers read the input width from the first conv
        self.inner = block
        self.chunks = int(chunks)

    @staticmethod
    def _bn(x: torch.Tensor, bn: nn.BatchNorm2d, lo: int, hi: int) -> torch.Tensor:
        return F.batch_norm(x, bn.running_mean[lo:hi], bn.running_var[lo:hi], bn.weight[lo:hi],
                            bn.bias[lo:hi], False, 0.0, bn.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            raise RuntimeError("ChunkedInvertedResidual is for inference: call .eval() first")
        layers = self.inner.block
        expand = layers.expand if hasattr(layers, "expand") else self.stem
        dw_conv, dw_bn, dw_act = layers.depthwise
        project_conv, project_bn = layers.project
        bounds = np.linspace(0, dw_conv.out_channels, self.chunks + 1).round().astype(int)
        out = None
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            # One tensor is made from the one before it, which is then dropped: at most two
            # slices live at once, as in an nn.Sequential.
            if expand is not None:
                conv = expand[0]
                h = F.conv2d(x, conv.weight[lo:hi], None, conv.stride, conv.padding)
                h = self._bn(h, expand[1], lo, hi)
                if len(expand) > 2:
                    h = expand[2](h)
            else:
                h = x[:, lo:hi]
            h = F.conv2d(h, dw_conv.weight[lo:hi], None, dw_conv.stride, dw_conv.padding, 1, hi - lo)
            h = self._bn(h, dw_bn, lo, hi)
            h = dw_act(h)
            h = F.conv2d(h, project_conv.weight[:, lo:hi])
            out = h if out is None else out.add_(h)
            del h
        out = F.batch_norm(out, project_bn.running_mean, project_bn.running_var, project_bn.weight,
                           project_bn.bias, False, 0.0, project_bn.eps)
        return x + out if self.inner.use_residual else out


def chunked(model: nn.Module, chunks: int | None = None, *, fuse_stem: bool = True) -> nn.Module:
    """An eval-mode copy of a MobileNet whose inverted residual blocks run in slices of hidden
    channels (:class:`ChunkedInvertedResidual`); the model passed in is not modified.

    ``chunks=None`` cuts each block into round(hidden / input channels) slices (t slices: each
    as wide as the block's input, the paper's "t tensors of size n/t"); an integer uses that
    many (capped at the hidden width). ``fuse_stem``: if the first block has no expansion and
    follows a conv-BN-activation stem, the stem becomes its expansion (and an identity in
    ``features``), so the stem's output is never whole either.
    """
    import copy

    copied = copy.deepcopy(model).eval()
    features = getattr(copied, "features", None)
    fused = None
    if fuse_stem and isinstance(features, nn.Sequential) and len(features) > 1 \
            and isinstance(features[1], InvertedResidual) and not hasattr(features[1].block, "expand") \
            and not features[1].use_residual and isinstance(features[0], nn.Sequential) \
            and isinstance(features[0][0], nn.Conv2d):
        fused = features[0]
        features[0] = nn.Identity()
    for parent in list(copied.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, InvertedResidual):
                expand = fused if fused is not None and child is features[1] else None
                hidden = child.block.depthwise[0].out_channels
                c_in = (expand if expand is not None else child.block[0])[0].in_channels
                n = max(1, round(hidden / c_in)) if chunks is None else min(int(chunks), hidden)
                setattr(parent, name, ChunkedInvertedResidual(child, min(n, hidden), expand))
    return copied.eval()


def peak_memory(models: dict[str, nn.Module], resolution: int = 224, dtype: torch.dtype = torch.float16) -> pd.DataFrame:
    """Peak activation memory of each model from tensor lifetimes (:func:`mnlab.analysis.analyze`),
    in KB (1000 bytes) at ``dtype`` (16-bit by default, as Table 3), with the op at the peak."""
    rows = []
    for name, model in models.items():
        report = analyze(model, resolution, dtype=dtype)
        timeline = report.memory_timeline()
        at = timeline.loc[timeline.live_bytes.idxmax()]
        rows.append({"model": name, "peak_kb": report.totals["peak_activation_bytes"] / 1000,
                     "at": f"{at['name']} ({at['op']})"})
    return pd.DataFrame(rows).set_index("model")


def memory_timelines(models: dict[str, nn.Module], resolution: int = 224,
                     dtype: torch.dtype = torch.float16) -> pd.DataFrame:
    """Live activation bytes over each model's forward pass (one row per allocation or free),
    with ``model`` and ``progress`` (the op index as a fraction of the model's ops, 0 … 1)."""
    frames = []
    for name, model in models.items():
        timeline = analyze(model, resolution, dtype=dtype).memory_timeline()
        step = timeline.step.clip(lower=0)
        frames.append(timeline.assign(model=name, progress=step / max(step.max(), 1)))
    return pd.concat(frames, ignore_index=True)


def plot_memory_timelines(timelines: pd.DataFrame, table3_max_kb: dict[str, float] | None = None) -> Figure:
    """Live activation memory (KB, 16-bit) through the forward pass, one line per model; dashed
    lines mark Table 3's maxima if given."""
    fig = Figure(figsize=(8, 3.8), layout="constrained")
    ax = fig.add_subplot()
    colours = ["tab:grey", "tab:red", "tab:blue", "tab:green"]
    for colour, (name, part) in zip(colours, timelines.groupby("model", sort=False)):
        ax.step(part.progress, part.live_bytes / 1000, where="post", color=colour, lw=1, label=name)
    for colour, (name, kb) in zip(["black", "tab:blue"], (table3_max_kb or {}).items()):
        ax.axhline(kb, color=colour, ls="--", lw=0.8, label=f"Table 3 max, {name}: {kb:,.0f} KB")
    ax.set_xlabel("progress through the forward pass (fraction of ops)")
    ax.set_ylabel("live activations (KB, 16-bit)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="upper right")
    return fig


# --------------------------------------------------------------------------- expansion ratio


def expansion_models(ratios=range(2, 11)) -> dict[int, nn.Module]:
    """MobileNetV2 1.0 with every t = 6 replaced by each ratio (the first block keeps t = 1)."""
    return {t: create_model("mobilenet_v2", expansion=t).eval() for t in ratios}


def expansion_sweep(ratios=range(2, 11), resolution: int = 224) -> pd.DataFrame:
    """Counts of :func:`expansion_models`: MACs, parameters, and peak activation memory
    (float32, MB) evaluated eagerly and in slices (:func:`chunked`)."""
    rows = []
    for t, model in expansion_models(ratios).items():
        totals = analyze(model, resolution).totals
        rows.append({"t": t, "macs": totals["macs"], "params": totals["params"],
                     "peak_mb": totals["peak_activation_bytes"] / 1e6,
                     "peak_chunked_mb": analyze(chunked(model), resolution).totals["peak_activation_bytes"] / 1e6})
    return pd.DataFrame(rows)


def expansion_latency(ratios=range(2, 11), resolution: int = 224, *, backend: str = "deploy",
                      rounds: int = 3, budget_s: float = 0.15) -> pd.DataFrame:
    """Interleaved batch-1 one-thread timings of :func:`expansion_models` (:func:`time_models`):
    ``t``, ``latency_ms`` (median) and ``best_ms`` (fastest run)."""
    models = {f"t={t}": m for t, m in expansion_models(ratios).items()}
    times = time_models(models, resolution, backend=backend, rounds=rounds, budget_s=budget_s)
    return pd.DataFrame({"t": list(ratios), "latency_ms": times.median_ms.values, "best_ms": times.best_ms.values})


def linear_fit(x, y) -> tuple[float, float]:
    """Least-squares slope and intercept of y against x."""
    slope, intercept = np.polyfit(np.asarray(x, dtype=float), np.asarray(y, dtype=float), 1)
    return float(slope), float(intercept)


def plot_expansion_sweep(table: pd.DataFrame, shade: tuple[float, float] | None = None) -> Figure:
    """Cost against the expansion ratio t: MACs, parameters, peak memory, and latency if the
    table has it (median and fastest run). ``shade``: a range of t to mark (the paper's
    "nearly identical" accuracy range, from :mod:`mnlab.papers`)."""
    panels = [("macs", 1e6, "MACs (M)"), ("params", 1e6, "parameters (M)"),
              ("peak_mb", 1, "peak activations (MB, fp32)")]
    if "latency_ms" in table:
        panels.append(("latency_ms", 1, "latency (ms, 1 thread)"))
    fig = Figure(figsize=(3 * len(panels), 3.2), layout="constrained")
    axes = fig.subplots(1, len(panels))
    for ax, (column, scale, label) in zip(axes, panels):
        part = table.dropna(subset=[column])   # latency may be measured at fewer ratios
        ax.plot(part.t, part[column] / scale, marker="o",
                label={"peak_mb": "eager", "latency_ms": "median"}.get(column))
        if column == "peak_mb":
            ax.plot(part.t, part.peak_chunked_mb, marker="s", label="in slices")
            ax.legend(fontsize="small")
        if column == "latency_ms":
            ax.plot(part.t, part.best_ms, marker="s", label="fastest run")
            ax.legend(fontsize="small")
        if shade is not None:
            ax.axvspan(*shade, color="tab:green", alpha=0.08)
        ax.set_xlabel("expansion ratio t")
        ax.set_title(label, fontsize="medium")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    title = "MobileNetV2 1.0 at 224 as the expansion ratio t varies"
    if shade is not None:
        title += f" (shaded: t = {shade[0]:g}…{shade[1]:g}, 'nearly identical' accuracy in the paper)"
    fig.suptitle(title)
    return fig


def latency_models() -> dict[str, nn.Module]:
    """Table 4's three networks, eval mode: MobileNetV1, MobileNetV2 1.0 and 1.4."""
    return {"MobileNetV1": create_model("mobilenet_v1").eval(),
            "MobileNetV2": create_model("mobilenet_v2").eval(),
            "MobileNetV2 (1.4)": create_model("mobilenet_v2", width_mult=1.4).eval()}


def time_models(models: dict[str, nn.Module], input_shape=224, *, backend: str = "eager", rounds: int = 3,
                budget_s: float = 0.2) -> pd.DataFrame:
    """Time ``models`` interleaved (:func:`mnlab.analysis.compare_latency`: batch 1, one thread,
    each round times every model once, median of the round medians and the fastest run).

    ``backend="deploy"`` times what a deployment runs (:func:`mnlab.analysis.deploy`: BatchNorm
    folded, traced, frozen, optimized for inference), built once per model before timing.
    Adds ``vs_first`` (median relative to the first model's) and ``vs_first_best`` (the same
    from the fastest runs).
    """
    if backend not in ("eager", "deploy"):
        raise ValueError(f"backend must be 'eager' or 'deploy', got {backend!r}")
    if not isinstance(models, dict) or not models:
        raise ValueError(f"models must be a non-empty dict of name -> nn.Module, got {models!r:.80}")
    times = compare_latency(models, input_shape, rounds=rounds, budget_s=budget_s, min_runs=5, backend=backend)
    first = times.index[0]
    times["vs_first"] = times.median_ms / times.median_ms[first]
    times["vs_first_best"] = times.best_ms / times.best_ms[first]
    return times
