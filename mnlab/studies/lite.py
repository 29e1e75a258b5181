"""Chapter 5 — EfficientNet-Lite: what the Lite release changed, and why ReLU6 quantizes better.

Two halves:

*Scaling and the three Lite changes* (tensorflow/tpu ``efficientnet/lite`` README). The
scaling table and the channels and repeats it gives each stage are read back from the built
models (:func:`stage_layout`), not from the spec; the Lite changes — stem and head fixed, no
squeeze-and-excite, ReLU6 instead of swish — are undone one at a time with
:func:`mnlab.models.efficientnet_lite`'s switches and counted (:func:`lite_counts`,
:func:`variant_counts`).

*Post-training int8 quantization*, the reason given for ReLU6: the fake quantizer of
``mnlab.analysis.quantize`` (per-tensor affine, Jacob et al. 2018) applied to small ReLU6,
swish and h-swish networks (``mnlab.models.toys.digits_net``) trained on scikit-learn's 8×8
digits with ``mnlab.training.train`` (one stratified split, one loop, several seeds):
:func:`quantization_study` compares float and int8 accuracy; deterministic on one CPU.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from mnlab.analysis import analyze
from mnlab.claims import Evidence, compare, statement
from mnlab.analysis.quantize import (ACTIVATIONS, activation_ranges, fake_quantize_model, relative_error,
                                     weight_errors)
from mnlab.models import efficientnet_lite
from mnlab.models.efficientnet_lite import SCALING
from mnlab.models.layers import DepthwiseSeparable, InvertedResidual
from mnlab.models.toys import digits_net
from mnlab.papers import figure
from mnlab.studies.stored import stored_tables
from mnlab.training import Digits, accuracy, digits, train

#: The names of the README's table, ``efficientnet_lite0`` to ``efficientnet_lite4``.
LITE_NAMES = list(SCALING)

# --------------------------------------------------------------------------- scaling, read back


def stage_layout(model: nn.Module) -> pd.DataFrame:
    """The stages of a built EfficientNet-Lite, read from its modules (not from the spec).

    One row per stage: ``stage`` ("stem", "1" … "7", "head"), ``operator``, ``kernel``,
    ``expansion``, ``channels`` (output), ``repeats``, ``stride`` (of its first block). A new
    stage starts where the output width changes, as it does at every stage of EfficientNet.
    """
    features = list(model.features)
    stem, head, blocks = features[0][0], features[-1][0], features[1:-1]
    rows = [{"stage": "stem", "operator": "conv 3×3", "kernel": stem.kernel_size[0], "expansion": None,
             "channels": stem.out_channels, "repeats": 1, "stride": stem.stride[0]}]
    for block in blocks:
        if isinstance(block, InvertedResidual):
            parts = block.block
            dw = parts.depthwise[0]
            inp = parts.expand[0].in_channels if hasattr(parts, "expand") else dw.in_channels
            expansion, out = dw.in_channels // inp, parts.project[0].out_channels
        elif isinstance(block, DepthwiseSeparable):
            dw, expansion, out = block.depthwise[0], 1, block.pointwise[0].out_channels
        else:
            raise ValueError(f"unexpected block {type(block).__name__} in an EfficientNet-Lite")
        if rows[-1]["stage"] != "stem" and rows[-1]["channels"] == out:
            rows[-1]["repeats"] += 1
            continue
        rows.append({"stage": str(len(rows)), "operator": f"MBConv{expansion} {dw.kernel_size[0]}×{dw.kernel_size[0]}",
                     "kernel": dw.kernel_size[0], "expansion": expansion, "channels": out,
                     "repeats": 1, "stride": dw.stride[0]})
    rows.append({"stage": "head", "operator": "conv 1×1", "kernel": 1, "expansion": None,
                 "channels": head.out_channels, "repeats": 1, "stride": 1})
    return pd.DataFrame(rows)


def build_lite(name: str, **changes: Any) -> nn.Module:
    """An EfficientNet-Lite of the README's table (``name`` in :data:`LITE_NAMES`), in eval mode;
    ``changes`` (``fix_stem_head``, ``squeeze_excite``, ``activation``) undo the Lite changes."""
    if name not in SCALING:
        raise ValueError(f"name must be one of {LITE_NAMES}, got {name!r}")
    s = SCALING[name]
    torch.manual_seed(0)
    return efficientnet_lite(s.width, s.depth, s.dropout, **changes).eval()


def scaling_table() -> pd.DataFrame:
    """The README's scaling table with what it produces: one row per Lite model.

    Columns ``model``, ``width``, ``depth``, ``resolution``, ``dropout`` (the table), then
    ``stem``, ``head`` and, per stage 1–7, ``c×n`` (channels × repeats) read from the model.
    """
    rows = []
    for name, s in SCALING.items():
        layout = stage_layout(build_lite(name)).set_index("stage")
        row = {"model": name.replace("efficientnet_", ""), "width": s.width, "depth": s.depth,
               "resolution": s.resolution, "dropout": s.dropout, "stem": layout.loc["stem", "channels"]}
        for stage in map(str, range(1, 8)):
            row[f"stage {stage}"] = f"{layout.loc[stage, 'channels']}×{layout.loc[stage, 'repeats']}"
        row["head"] = layout.loc["head", "channels"]
        rows.append(row)
    return pd.DataFrame(rows)


def lite_counts() -> pd.DataFrame:
    """Parameters and MACs of Lite0–4 at their resolutions beside the README's figures.

    Columns ``model``, ``resolution``, ``params``, ``params_readme``, ``params_gap`` (relative),
    ``macs``, ``madds_readme``, ``macs_gap`` and ``macs_all_ops``: MACs plus every other counted
    op (BN, activations, residual adds, pooling), the most generous count we can make.
    """
    rows = []
    for i, (name, s) in enumerate(SCALING.items()):
        report = analyze(build_lite(name), s.resolution)
        t = report.totals
        p_pub, m_pub = figure(f"efficientnet_lite/lite{i}/params").value, figure(f"efficientnet_lite/lite{i}/madds").value
        rows.append({"model": f"lite{i}", "resolution": s.resolution, "params": t["params"],
                     "params_readme": p_pub, "params_gap": t["params"] / p_pub - 1, "macs": t["macs"],
                     "madds_readme": m_pub, "macs_gap": t["macs"] / m_pub - 1,
                     "macs_all_ops": t["macs"] + t["ops"]})
    return pd.DataFrame(rows)


def stem_head_savings() -> pd.DataFrame:
    """What fixing the stem (32) and head (1280) saves at each size: the same model counted with
    both scaled by the width. Columns ``model``, ``width``, ``stem_scaled``, ``head_scaled``,
    ``params_fixed``, ``params_scaled``, ``params_saved`` (fraction of the scaled model),
    ``macs_fixed``, ``macs_scaled``, ``macs_saved``."""
    rows = []
    for name, s in SCALING.items():
        fixed, scaled = build_lite(name), build_lite(name, fix_stem_head=False)
        tf, ts = analyze(fixed, s.resolution).totals, analyze(scaled, s.resolution).totals
        layout = stage_layout(scaled).set_index("stage")
        rows.append({"model": name.replace("efficientnet_", ""), "width": s.width,
                     "stem_scaled": layout.loc["stem", "channels"], "head_scaled": layout.loc["head", "channels"],
                     "params_fixed": tf["params"], "params_scaled": ts["params"],
                     "params_saved": 1 - tf["params"] / ts["params"],
                     "macs_fixed": tf["macs"], "macs_scaled": ts["macs"], "macs_saved": 1 - tf["macs"] / ts["macs"]})
    return pd.DataFrame(rows)


#: Lite0 and the Lite changes undone one by one, as label → build switches.
LITE_CHANGES: dict[str, dict] = {
    "Lite0 (ReLU6, no SE)": {},
    "Lite0 + SE": {"squeeze_excite": True},
    "Lite0 + swish": {"activation": nn.SiLU},
    "Lite0 + SE + swish (= EfficientNet-B0)": {"squeeze_excite": True, "activation": nn.SiLU},
}


def variant_models() -> dict[str, nn.Module]:
    """Lite0 with each combination of :data:`LITE_CHANGES`, in eval mode."""
    return {label: build_lite("efficientnet_lite0", **changes) for label, changes in LITE_CHANGES.items()}


def variant_counts(resolution: int = 224) -> pd.DataFrame:
    """Params, MACs and the other ops (activations, element-wise) of each :data:`LITE_CHANGES` model.

    Columns ``variant``, ``params``, ``macs``, ``activation_ops``, ``elementwise_ops``,
    ``global_pools`` (SE's squeezes are global average pools: each is a full pass over a
    tensor before the block can go on).
    """
    rows = []
    for label, model in variant_models().items():
        report = analyze(model, resolution)
        layers = report.layers
        rows.append({"variant": label, "params": report.totals["params"], "macs": report.totals["macs"],
                     "activation_ops": int(layers.loc[layers.kind == "activation", "ops"].sum()),
                     "elementwise_ops": int(layers.loc[layers.kind == "elementwise", "ops"].sum()),
                     "global_pools": int((layers.op == "adaptive_avg_pool2d").sum())})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the digits study

#: The activations compared (the Lite README's ReLU6, EfficientNet's swish, MobileNetV3's h-swish).
STUDY_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"ReLU6": nn.ReLU6, "swish": nn.SiLU,
                                                         "h-swish": nn.Hardswish}


@dataclass
class QuantizationStudy:
    """What :func:`quantization_study` found: ``results`` per (activation, seed, bits), and the
    per-tensor ``ranges`` and per-layer ``weights`` errors of the first seed's models."""

    results: pd.DataFrame
    ranges: pd.DataFrame
    weights: pd.DataFrame


def quantization_study(activations: dict[str, Callable[[], nn.Module]] | None = None,
                       seeds: Sequence[int] = (0, 1, 2), bits: Sequence[int] = (8, 6, 5, 4), *,
                       data: Digits | None = None, calibration_size: int = 256, width: int = 12,
                       **train_kwargs: Any) -> QuantizationStudy:
    """Train one digits net per (activation, seed), then quantize it post-training.

    Calibration uses the first ``calibration_size`` training images (never the test set).
    ``results`` has one row per (activation, seed, bits) with ``float_acc``, ``quant_acc``,
    ``drop`` (points) and ``logit_error`` (relative error of the logits on the test set);
    ``ranges`` (:func:`range_table`) and ``weights`` (``weight_errors``, with ``activation``)
    describe the first seed's models.
    """
    activations = STUDY_ACTIVATIONS if activations is None else activations
    data = digits() if data is None else data
    calib = data.x_train[:calibration_size]
    rows, models = [], {}
    for label, act in activations.items():
        for seed in seeds:
            model, _ = train(partial(digits_net, act, width), data, seed=seed, **train_kwargs)
            models[(label, seed)] = model
            with torch.no_grad():
                ref = model(data.x_test)
            float_acc = accuracy(model, data.x_test, data.y_test)
            for b in bits:
                with torch.no_grad():
                    out = fake_quantize_model(model, calib, b)(data.x_test)
                quant_acc = 100.0 * (out.argmax(1) == data.y_test).float().mean().item()
                rows.append({"activation": label, "seed": seed, "bits": b, "float_acc": float_acc,
                             "quant_acc": quant_acc, "drop": float_acc - quant_acc,
                             "logit_error": relative_error(out, ref)})
    first = seeds[0]
    weights = pd.concat([weight_errors(models[(label, first)]).assign(activation=label) for label in activations],
                        ignore_index=True)
    return QuantizationStudy(pd.DataFrame(rows), range_table(models, calib, seed=first), weights)


def stored_quantization_study(prefix: str, remeasure: bool, *, seeds: Sequence[int] = (0, 1, 2),
                              bits: Sequence[int] = (8, 6, 5, 4)) -> QuantizationStudy:
    """The study as stored in ``<prefix>.results.csv``, ``.ranges.csv`` and ``.weights.csv``
    (each row with the machine that trained it, :mod:`mnlab.studies.stored`); trained afresh on
    this machine and stored when ``remeasure`` is true or a file is missing. A stored study that
    does not hold exactly the activations, seeds and bits asked for is an error."""
    paths = {part: f"{prefix}.{part}.csv" for part in ("results", "ranges", "weights")}
    study = QuantizationStudy(**stored_tables(
        paths, remeasure, lambda: vars(quantization_study(seeds=tuple(seeds), bits=tuple(bits)))))
    expected = {(a, s, b) for a in STUDY_ACTIVATIONS for s in seeds for b in bits}
    if set(zip(study.results.activation, study.results.seed, study.results.bits)) != expected:
        raise ValueError(f"{paths['results']} does not hold the study asked for (activations "
                         f"{list(STUDY_ACTIVATIONS)} × seeds {tuple(seeds)} × bits {tuple(bits)}); "
                         "re-run with remeasure=True")
    return study


def summarize_study(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread over seeds: one row per (activation, bits) with ``float_acc``,
    ``quant_acc``, ``drop_mean``, ``drop_max`` and ``logit_error`` (mean)."""
    grouped = results.groupby(["activation", "bits"], sort=False)
    table = grouped.agg(float_acc=("float_acc", "mean"), quant_acc=("quant_acc", "mean"),
                        drop_mean=("drop", "mean"), drop_max=("drop", "max"),
                        logit_error=("logit_error", "mean"), seeds=("seed", "nunique"))
    return table.reset_index()


def range_table(models: dict, x: torch.Tensor, seed: int = 0) -> pd.DataFrame:
    """Per activation, the per-layer ranges and 8-bit errors of the ``seed`` model, side by side:
    one row per (activation, point) from ``mnlab.analysis.quantize.activation_ranges``, with ``activation`` and
    ``layer`` (position among the points) added."""
    frames = []
    for (label, s), model in models.items():
        if s != seed:
            continue
        table = activation_ranges(model, x)
        table.insert(0, "activation", label)
        table.insert(1, "layer", range(len(table)))
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def range_summary(ranges: pd.DataFrame) -> pd.DataFrame:
    """:func:`range_table` condensed to one row per activation: ``int8_tensors`` (tensors a
    runtime stores quantized, input included), ``widest_activation`` (largest hi − lo of an
    activation output), ``widest_conv_output`` (of a conv output stored on its own, NaN when
    every conv is fused), ``mean_scale8`` and ``mean_rel_error8`` (over all tensors but the input)."""
    rows = []
    for label, part in ranges.groupby("activation", sort=False):
        width = part["hi"] - part["lo"]
        is_act = part["module"].isin([cls.__name__ for cls in ACTIVATIONS])
        is_conv = part["module"] == "Conv2d"
        inner = part["name"] != "input"
        rows.append({"activation": label, "int8_tensors": len(part),
                     "widest_activation": width[is_act].max(),
                     "widest_conv_output": width[is_conv].max() if is_conv.any() else np.nan,
                     "mean_scale8": part.loc[inner, "scale8"].mean(),
                     "mean_rel_error8": part.loc[inner, "rel_error8"].mean()})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- paper vs measured


def readme_int8_drops() -> list[float]:
    """The README's float − int8 top-1 of Lite0–Lite4, in points (ImageNet)."""
    return [figure(f"efficientnet_lite/lite{i}/top1").value - figure(f"efficientnet_lite/lite{i}/top1_int8").value
            for i in range(len(LITE_NAMES))]


def _count_claims(counts: pd.DataFrame, variants: pd.DataFrame, stem_head: pd.DataFrame) -> list:
    claims = [compare(f"efficientnet_lite/lite{i}/params", row.params, what=f"Lite{i} parameters")
              for i, row in counts.iterrows()]
    for i, row in counts.iterrows():
        claims.append(compare(f"efficientnet_lite/lite{i}/madds", row.macs, what=f"Lite{i} MAdds (conv + linear MACs)",
                              tolerance=0.03, must_hold=False,
                              note=f"{row.macs_gap:+.1%}: counting every other op as a MAdd too gives "
                                   f"{row.macs_all_ops / row.madds_readme - 1:+.1%}"))
    b0 = variants.set_index("variant").iloc[3]
    claims.append(compare("efficientnet/b0/params", b0.params, what="Lite0 + SE + swish = B0: parameters"))
    claims.append(compare("efficientnet/b0/madds", b0.macs, what="Lite0 + SE + swish = B0: MACs"))
    lite4 = stem_head.set_index("model").loc["lite4"]
    claims.append(statement("fixing stem and head saves parameters, not MACs", "stem and head fixed while scaling",
                            f"Lite4: −{lite4.params_saved:.1%} params, −{lite4.macs_saved:.1%} MACs",
                            lite4.params_saved > 2 * lite4.macs_saved > 0, source="efficientnet_lite",
                            evidence=Evidence.COUNT, tolerance="params saved > 2 × MACs saved"))
    return claims


def _quantization_claims(study: QuantizationStudy) -> list:
    results, drops = study.results, readme_int8_drops()
    summary = summarize_study(results)
    s8, s4 = (summary[summary.bits == b].set_index("activation") for b in (8, 4))
    widest = range_summary(study.ranges).set_index("activation").widest_activation
    relu6_drop8 = results[(results.activation == "ReLU6") & (results.bits == 8)]["drop"].max()
    seeds = results.seed.nunique()
    why = "ReLU6 for easier post-quantization"
    return [
        statement("ReLU6 networks survive post-training int8", f"Lite0–4 lose {min(drops):.1f}–{max(drops):.1f} "
                  "points (ImageNet)", f"digits, ReLU6: largest drop {relu6_drop8:.2f} points ({seeds} seeds)",
                  relu6_drop8 <= max(drops), source="efficientnet_lite", evidence=Evidence.PROXY,
                  tolerance="drop ≤ the README's largest"),
        statement("ReLU6 bounds every activation range", why,
                  f"widest range {widest['ReLU6']:.2f} (ReLU6) vs {widest['swish']:.2f} (swish)",
                  widest["ReLU6"] <= 6 < widest["swish"], source="efficientnet_lite", evidence=Evidence.PROXY,
                  tolerance="ReLU6 ≤ 6 < swish"),
        statement("int8 error is smaller with ReLU6 than with swish", why,
                  f"logit error {s8.loc['ReLU6', 'logit_error']:.1%} vs {s8.loc['swish', 'logit_error']:.1%}",
                  s8.loc["ReLU6", "logit_error"] < s8.loc["swish", "logit_error"], source="efficientnet_lite",
                  evidence=Evidence.PROXY, tolerance=f"mean of {seeds} seeds, 8 bits"),
        statement("swish loses more accuracy in int8 than ReLU6", why,
                  f"8-bit drop {s8.drop_mean['ReLU6']:.2f} (ReLU6) vs {s8.drop_mean['swish']:.2f} (swish) points",
                  s8.drop_mean["swish"] > s8.drop_mean["ReLU6"] + 0.5, source="efficientnet_lite",
                  evidence=Evidence.PROXY, tolerance="swish drop > ReLU6 drop + 0.5 points", must_hold=False,
                  note="not at 8 bits on 8×8 digits: too easy a task; the gap appears at 4 bits "
                       f"({s4.loc['ReLU6', 'drop_mean']:.1f} vs {s4.loc['swish', 'drop_mean']:.1f} points)"),
    ]


#: SE must cost more than this many times its share of MACs in latency (the timing claim's margin).
SE_LATENCY_FACTOR = 5


def claims(counts: pd.DataFrame, variants: pd.DataFrame, stem_head: pd.DataFrame, study: QuantizationStudy,
           variants_timed: pd.DataFrame) -> list:
    """The chapter's paper-vs-measured claims, from :func:`lite_counts`, :func:`variant_counts`,
    :func:`stem_head_savings`, the (stored) :func:`quantization_study` and ``variants_timed``:
    :func:`variant_counts` with ``latency_ms`` (Lite0 first, + SE second)."""
    se_latency = variants_timed.latency_ms.iloc[1] / variants_timed.latency_ms.iloc[0] - 1
    se_macs = variants_timed.macs.iloc[1] / variants_timed.macs.iloc[0] - 1
    timing = statement("SE costs latency beyond its MACs", "SE removed for mobile",
                       f"+{se_macs:.2%} MACs, {se_latency:+.0%} latency (ONNX Runtime, 1 thread)",
                       se_latency > SE_LATENCY_FACTOR * se_macs, source="efficientnet_lite", evidence=Evidence.TIMING,
                       tolerance=f"latency increase > {SE_LATENCY_FACTOR} × MAC increase",
                       note="directional timing claim; a busy machine can blur the margin")
    return [*_count_claims(counts, variants, stem_head), *_quantization_claims(study), timing]


def lite_costs(variant: int) -> dict:
    """What the chapter's explorer shows for Lite``variant`` at its published resolution:
    ``resolution``, ``macs``, ``params`` and ``peak_activation_bytes``."""
    name = f"efficientnet_lite{int(variant)}"
    if name not in SCALING:
        raise ValueError(f"variant must be one of 0–{len(SCALING) - 1}, got {variant!r}")
    resolution = SCALING[name].resolution
    totals = analyze(build_lite(name), resolution).totals
    return {"resolution": resolution, "macs": totals["macs"], "params": totals["params"],
            "peak_activation_bytes": totals["peak_activation_bytes"]}
