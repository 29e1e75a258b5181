"""Chapter 5 — real int8: Lite's ReLU6 against swish and SE + swish on ONNX Runtime's int8 kernels.

The Lite release replaced swish by ReLU6 "for easier post-quantization"; its blog tells why: the
float EfficientNet lost most of its ImageNet accuracy in post-training int8 (the figures are
``efficientnet_lite/blog/b0/...`` in :mod:`mnlab.papers`), its activations spanning hundreds.
The fake quantizer of :mod:`mnlab.studies.lite` models that; this module runs the real thing:
``mnlab.analysis.deploy(..., backend="onnxruntime-int8")`` (static QDQ, MinMax calibration,
uint8 activations, int8 weights per tensor or per output channel) in three variants,
:data:`INT8_VARIANTS` — Lite (ReLU6), Lite with swish, and B0's SE + swish.

Two kinds of network, for two kinds of question:

* the digits networks (``mnlab.models.toys.digits_net``, trained with ``mnlab.training.train``
  on scikit-learn's 8×8 digits, the same seeds as the fake-quantization study): *accuracy*
  float against int8, per-tensor against per-channel weights, and the calibrated range of
  every activation tensor (:func:`digits_int8_study`);
* the full-size Lite0, Lite0 + swish and B0-like models at 224 px, **untrained** (random
  initialisation; nothing may be downloaded): what random weights can still show — the int8
  output error against fp32, the calibrated ranges and the int8 speed-up
  (:func:`fullsize_int8_study`, :func:`int8_latency`). Random weights say nothing about
  accuracy, and their ranges are those of random features, not of ImageNet features.

Results that ran on int8 kernels are stored with the machine (:func:`stored_int8_study`);
the timing is taken where the chapter runs, in one interleaved run.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Sequence

import pandas as pd
import torch
from torch import nn

from mnlab.analysis import compare_latency, deploy
from mnlab.analysis.deployment import DEFAULT_CALIBRATION_SAMPLES, INT8_RTOL, example_input
from mnlab.analysis.quantize import calibrated_ranges, relative_error
from mnlab.analysis.runtimes import int8_isa
from mnlab.claims import Evidence, statement
from mnlab.models.toys import digits_net
from mnlab.papers import figure
from mnlab.studies.lite import build_lite, readme_int8_drops
from mnlab.studies.stored import stored_tables
from mnlab.training import Digits, accuracy, digits, train

#: The three variants, as label → the switches of ``digits_net`` and ``efficientnet_lite``.
INT8_VARIANTS: dict[str, dict] = {
    "ReLU6 (Lite)": {},
    "swish": {"activation": nn.SiLU},
    "SE + swish (B0)": {"activation": nn.SiLU, "squeeze_excite": True},
}
#: The weight granularities compared — label → ``deploy``'s ``per_channel``.
WEIGHTS = {"per-tensor": False, "per-channel": True}
#: The activations whose outputs are quantized on their own (ReLU/ReLU6 fuse into the conv).
_ACTIVATION_OPS = ("Mul", "Sigmoid")


@dataclass
class Int8Study:
    """``digits`` (one row per variant, seed and weight granularity), ``digits_ranges`` (the
    calibrated ranges of the first seed's networks), ``fullsize`` (one row per full-size
    variant and granularity) and ``fullsize_ranges``; see the functions that build them."""

    digits: pd.DataFrame
    digits_ranges: pd.DataFrame
    fullsize: pd.DataFrame
    fullsize_ranges: pd.DataFrame


def _ranges(deployed: nn.Module, model: nn.Module, variant: str) -> pd.DataFrame:
    table = calibrated_ranges(deployed, model)
    table.insert(0, "variant", variant)
    table.insert(1, "layer", range(len(table)))
    return table


def digits_int8_study(seeds: Sequence[int] = (0, 1, 2), *, data: Digits | None = None,
                      calibration_size: int = 256, width: int = 12, **train_kwargs: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train one digits net per (variant, seed) and run it on ORT's int8 kernels.

    Calibration: the first ``calibration_size`` training images, one batch-1 input each (never
    the test set). Returns ``results``, one row per (variant, seed, weights) with ``float_acc``
    and ``int8_acc`` (test top-1, %), ``drop`` (points), ``flipped`` (test images whose
    predicted class changed) and ``logit_error`` (relative L2 error of the int8 logits on the
    test set), and ``ranges``: :func:`~mnlab.analysis.quantize.calibrated_ranges` of the first
    seed's per-channel networks (the activation ranges do not depend on the weights' granularity).
    """
    data = digits() if data is None else data
    calibration = data.x_train[:calibration_size]
    rows, ranges = [], []
    for label, changes in INT8_VARIANTS.items():
        for seed in seeds:
            model, _ = train(partial(digits_net, width=width, **changes), data, seed=seed, **train_kwargs)
            with torch.inference_mode():
                ref = model(data.x_test)
            for weights, per_channel in WEIGHTS.items():
                runner = deploy(model, (1, 1, 8, 8), backend="onnxruntime-int8", calibration=calibration,
                                per_channel=per_channel)
                with torch.inference_mode():
                    out = torch.cat([runner(x[None]) for x in data.x_test])
                pred, ref_pred = out.argmax(1), ref.argmax(1)
                float_acc = accuracy(model, data.x_test, data.y_test)
                int8_acc = 100.0 * (pred == data.y_test).float().mean().item()
                rows.append({"variant": label, "seed": seed, "weights": weights, "float_acc": float_acc,
                             "int8_acc": int8_acc, "flipped": int((pred != ref_pred).sum()),
                             "logit_error": relative_error(out, ref), "drop": float_acc - int8_acc})
                if seed == seeds[0] and per_channel:
                    ranges.append(_ranges(runner, model, label))
    return pd.DataFrame(rows), pd.concat(ranges, ignore_index=True)


def fullsize_models(resolution: int = 224) -> dict[str, nn.Module]:
    """Lite0 in each of :data:`INT8_VARIANTS`, untrained (seed 0), eval mode, with every
    BatchNorm's running statistics estimated on the int8 backend's default calibration inputs.

    Freshly initialised, BN's statistics are (0, 1): it normalises nothing, and with random
    weights the signal shrinks block by block (to about 10⁻³ by the fifth block), leaving an
    output that is the classifier's bias. Estimated on data, each BN normalises its input as a
    trained network's does, so every layer carries signal and the folded weights differ per
    channel — but the ranges stay those of random features, not of ImageNet features."""
    shape = (1, 3, resolution, resolution)
    inputs = [example_input(shape, seed=1 + i) for i in range(DEFAULT_CALIBRATION_SAMPLES)]
    return {label: _with_bn_statistics(build_lite("efficientnet_lite0", **changes), inputs)
            for label, changes in INT8_VARIANTS.items()}


@torch.no_grad()
def _with_bn_statistics(model: nn.Module, inputs: Sequence[torch.Tensor]) -> nn.Module:
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None   # a cumulative average over the inputs
    model.train()
    for x in inputs:
        model(x)
    for bn in bns:
        bn.momentum = 0.1
    return model.eval()


def fullsize_int8_study(resolution: int = 224, test_inputs: int = 8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The untrained Lite0, Lite0 + swish and B0-like models on ORT int8, calibrated on the
    backend's default set (8 N(0, 1) images). ``results``: one row per (variant, weights) with
    ``output_error`` (relative L2 error of the int8 output against eager fp32, over
    ``test_inputs`` N(0, 1) images not in the calibration set), ``max_error`` (deploy's own
    check: ``max |int8 − fp32| / max |fp32|`` on the first calibration image),
    ``within_deploy_bound`` (``max_error`` ≤ ``INT8_RTOL``, the bound :func:`~mnlab.analysis.deploy` holds an
    int8 model to; the study lifts it to measure) and ``top1_agreement`` (the
    fraction of them whose arg-max class int8 keeps; random weights give near-flat logits, so
    this is a harsh test); ``ranges``: the calibrated ranges of the per-channel models."""
    shape = (1, 3, resolution, resolution)
    inputs = [example_input(shape, seed=100 + i) for i in range(test_inputs)]
    rows, ranges = [], []
    for label, model in fullsize_models(resolution).items():
        with torch.inference_mode():
            ref = torch.cat([model(x) for x in inputs])
        for weights, per_channel in WEIGHTS.items():
            # per-tensor weights stray beyond deploy's "quantized, not broken" bound: measured here
            runner = deploy(model, shape, backend="onnxruntime-int8", per_channel=per_channel, tolerance=10.0)
            with torch.inference_mode():
                out = torch.cat([runner(x) for x in inputs])
            table = _ranges(runner, model, label)
            rows.append({"variant": label, "weights": weights, "output_error": relative_error(out, ref),
                         "max_error": runner.error, "within_deploy_bound": runner.error <= INT8_RTOL,
                         "top1_agreement": float((out.argmax(1) == ref.argmax(1)).float().mean())})
            if per_channel:
                ranges.append(table)
    return pd.DataFrame(rows), pd.concat(ranges, ignore_index=True)


def stored_int8_study(prefix: str, remeasure: bool, *, seeds: Sequence[int] = (0, 1, 2)) -> Int8Study:
    """Both studies as stored in ``<prefix>.digits.csv``, ``.digits_ranges.csv``,
    ``.fullsize.csv`` and ``.fullsize_ranges.csv``, every row with its machine
    (:mod:`mnlab.studies.stored`) and ``int8_isa``; measured afresh when ``remeasure`` is
    true or a file is missing. A stored study without exactly :data:`INT8_VARIANTS` × ``seeds``
    × :data:`WEIGHTS` is an error."""
    def measure() -> dict[str, pd.DataFrame]:
        tables = dict(zip(("digits", "digits_ranges"), digits_int8_study(seeds=tuple(seeds))))
        tables.update(zip(("fullsize", "fullsize_ranges"), fullsize_int8_study()))
        return {name: table.assign(int8_isa=int8_isa()) for name, table in tables.items()}

    paths = {part: f"{prefix}.{part}.csv" for part in ("digits", "digits_ranges", "fullsize", "fullsize_ranges")}
    study = Int8Study(**stored_tables(paths, remeasure, measure))
    expected = {(v, s, w) for v in INT8_VARIANTS for s in seeds for w in WEIGHTS}
    if set(zip(study.digits.variant, study.digits.seed, study.digits.weights)) != expected:
        raise ValueError(f"{paths['digits']} does not hold the study asked for (variants {list(INT8_VARIANTS)} × "
                         f"seeds {tuple(seeds)} × weights {list(WEIGHTS)}); re-run with remeasure=True")
    return study


def accuracy_table(digits_results: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per variant: ``float_acc``, then ``int8_acc`` and ``drop_max`` (the worst
    seed) for per-tensor and per-channel weights, columns named ``<measure> (<weights>)``."""
    grouped = digits_results.groupby(["variant", "weights"], sort=False)
    table = grouped.agg(float_acc=("float_acc", "mean"), int8_acc=("int8_acc", "mean"),
                        drop_max=("drop", "max"), logit_error=("logit_error", "mean")).reset_index()
    wide = table.pivot(index="variant", columns="weights", values=["int8_acc", "drop_max", "logit_error"])
    wide.columns = [f"{measure} ({weights})" for measure, weights in wide.columns]
    floats = table.groupby("variant", sort=False).float_acc.first()
    return pd.concat([floats, wide], axis=1).loc[list(INT8_VARIANTS)].reset_index()


def range_widths(ranges: pd.DataFrame) -> pd.DataFrame:
    """Per variant, from calibrated ranges: ``int8_tensors``, ``widest`` (largest hi − lo of
    any quantized tensor but the input: conv outputs, sums, logits), ``widest_activation``
    (largest hi − lo of a swish/sigmoid output, or of a conv output whose ReLU6 ORT folded into
    the rounding) and ``activation_step`` (its int8 step, widest_activation / 255)."""
    rows = []
    for label, part in ranges.groupby("variant", sort=False):
        width = (part.hi - part.lo)[part.op != "input"]
        fused = part.op.isin(["Conv", "Clip", "Relu"]) & (part.lo >= 0)
        widest_activation = width[part.op.isin(_ACTIVATION_OPS) | fused].max()
        rows.append({"variant": label, "int8_tensors": len(part), "widest": width.max(),
                     "widest_activation": widest_activation, "activation_step": widest_activation / 255})
    return pd.DataFrame(rows)


def int8_latency(resolution: int = 224, *, rounds: int = 3, budget_s: float = 0.3) -> pd.DataFrame:
    """Each full-size variant on ORT fp32 and on ORT int8 (per-channel), all six timed in one
    interleaved :func:`~mnlab.analysis.compare_latency` run, batch 1, one thread. One row per
    variant: ``fp32_ms``, ``int8_ms`` (fastest round's median), ``speedup`` (fp32 / int8) and
    ``int8_isa`` (``mnlab.analysis.runtimes.int8_isa``)."""
    shape = (1, 3, resolution, resolution)
    runners = {}
    for i, model in enumerate(fullsize_models(resolution).values()):
        runners[f"{i}/fp32"] = deploy(model, shape, backend="onnxruntime")
        # the B0-like model strays beyond deploy's bound (see fullsize_int8_study): timed all the same
        runners[f"{i}/int8"] = deploy(model, shape, backend="onnxruntime-int8", tolerance=10.0)
    table = compare_latency(runners, shape, rounds=rounds, budget_s=budget_s, min_runs=7)
    rows = []
    for i, label in enumerate(INT8_VARIANTS):
        fp32, int8 = table.loc[f"{i}/fp32", "min_ms"], table.loc[f"{i}/int8", "min_ms"]
        rows.append({"variant": label, "fp32_ms": fp32, "int8_ms": int8, "speedup": fp32 / int8,
                     "int8_isa": int8_isa()})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- paper vs measured

def blog_collapse() -> dict:
    """The blog's collapse as numbers: ``float_top1``, ``int8_top1`` (%), ``range`` (lo, hi)
    of the swish model's activations and ``step`` (that range's int8 step, (hi − lo) / 255)."""
    key = "efficientnet_lite/blog/swish"
    lo, hi = -figure(f"{key}/range_low").value, figure(f"{key}/range_high").value
    return {"float_top1": figure(f"{key}/top1").value, "int8_top1": figure(f"{key}/top1_int8").value,
            "range": (lo, hi), "step": (hi - lo) / 255}


def claims(study: Int8Study, timed: pd.DataFrame) -> list:
    """Real-int8 claims from the stored :class:`Int8Study` and :func:`int8_latency`'s table."""
    acc = study.digits[study.digits.weights == "per-channel"]
    worst = acc.groupby("variant", sort=False)["drop"].max()
    error = study.digits.groupby(["variant", "weights"], sort=False).logit_error.mean()
    widths = range_widths(study.digits_ranges).set_index("variant")
    relu6, swish, se = INT8_VARIANTS
    blog, seeds = blog_collapse(), study.digits.seed.nunique()
    lite_drops = readme_int8_drops()
    why = "ReLU6 for easier post-quantization"
    cap_held = widths.widest_activation[relu6] <= 6 * (1 + 1e-6) < widths.widest_activation[swish]
    timed = timed.set_index("variant")
    full = study.fullsize[study.fullsize.weights == "per-channel"].set_index("variant").output_error
    machine = f"{study.digits.cpu.iloc[0]}, ONNX Runtime int8 on {timed.int8_isa.iloc[0]}"
    return [
        statement("ReLU6 networks survive real int8 (ONNX Runtime)",
                  f"Lite0–4 lose {min(lite_drops):.1f}–{max(lite_drops):.1f} points (ImageNet)",
                  f"digits, ReLU6, per-channel: largest drop {worst[relu6]:.2f} points ({seeds} seeds)",
                  worst[relu6] <= max(lite_drops), source="efficientnet_lite", evidence=Evidence.PROXY,
                  tolerance="drop ≤ the README's largest"),
        statement("the runtime's calibrated ranges: ReLU6 capped at 6, swish not", why,
                  f"widest activation range {widths.widest_activation[relu6]:.2f} (ReLU6), "
                  f"{widths.widest_activation[swish]:.2f} (swish), {widths.widest_activation[se]:.2f} (SE + swish)",
                  cap_held, source="efficientnet_lite", evidence=Evidence.PROXY, tolerance="ReLU6 ≤ 6 < swish"),
        statement("the swish model's int8 collapse comes with wide activation ranges",
                  f"{blog['float_top1']:.0f}% → {blog['int8_top1']:.0f}% top-1, activations in "
                  f"[{blog['range'][0]:.0f}, {blog['range'][1]:.0f}] (int8 step {blog['step']:.2f})",
                  f"digits: int8 step of the widest activation {widths.activation_step[relu6]:.3f} (ReLU6) vs "
                  f"{widths.activation_step[swish]:.3f} (swish); logit error {error[relu6, 'per-channel']:.1%} vs "
                  f"{error[swish, 'per-channel']:.1%}",
                  widths.widest_activation[relu6] < widths.widest_activation[swish]
                  and error[relu6, "per-channel"] < error[swish, "per-channel"],
                  source="efficientnet_lite/blog/swish/top1_int8", evidence=Evidence.PROXY,
                  tolerance="ReLU6 narrower and smaller logit error", must_hold=False,
                  note=f"the mechanism, not the collapse: swish loses at most {worst[swish]:.2f} points on 8×8 "
                       "digits, an easy task; the collapse needs ImageNet and a trained B0"),
        statement("per-channel weights err less than per-tensor",
                  "per-channel weights keep MobileNets close to float; per-tensor (per-layer) ones may not",
                  "logit error per-tensor → per-channel: " + ", ".join(
                      f"{v} {error[v, 'per-tensor']:.1%} → {error[v, 'per-channel']:.1%}" for v in INT8_VARIANTS),
                  all(error[v, "per-channel"] <= error[v, "per-tensor"] for v in INT8_VARIANTS),
                  source="krishnamoorthi2018", evidence=Evidence.PROXY, must_hold=False,
                  tolerance="per-channel ≤ per-tensor, every variant (mean of seeds)"),
        statement("int8 output error grows with swish and SE (full-size, untrained)", why,
                  "relative output error, per-channel: " + ", ".join(f"{v} {full[v]:.1%}" for v in INT8_VARIANTS),
                  full[relu6] < full[swish] < full[se], source="efficientnet_lite", evidence=Evidence.PROXY,
                  tolerance="ReLU6 < swish < SE + swish", must_hold=False,
                  note="random weights, BN statistics from the calibration images: arithmetic, not accuracy"),
        statement("int8 runs faster than fp32", f"Lite0 {figure('efficientnet_lite/lite0/latency').printed} → "
                  f"{figure('efficientnet_lite/lite0/latency_int8').printed} (Pixel 4 CPU)",
                  "fp32 / int8 on ONNX Runtime, 1 thread: " + ", ".join(
                      f"{v} {timed.speedup[v]:.2f}×" for v in INT8_VARIANTS),
                  timed.speedup[relu6] > 1, source="efficientnet_lite/lite0/latency_int8", evidence=Evidence.TIMING,
                  tolerance="Lite0 int8 faster than fp32", machine=machine,
                  note="a finding of this CPU: int8 gains depend on VNNI (vpdpbusd) being there"),
    ]
