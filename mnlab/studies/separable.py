"""Chapter 1: the depthwise separable convolution, one layer at a time.

MobileNetV1 (Howard et al. 2017), Sec. 3.1: a standard Dk×Dk convolution from M to N channels on
a DF×DF map costs Dk·Dk·M·N·DF·DF Mult-Adds (eq. 2). Split into a depthwise Dk×Dk filter per
input channel (Dk·Dk·M·DF·DF, eq. 3) and a pointwise 1×1 combination (M·N·DF·DF), it costs
their sum (eq. 5), a fraction 1/N + 1/Dk² of the original (eq. 6). Table 3 applies this to one
14×14×512 layer and then thins it with α and shrinks it with ρ.

The layers here are bare convolutions (no BatchNorm, no activation), as in the paper's count.
"""
from __future__ import annotations

import itertools
from typing import Sequence

import pandas as pd
from torch import nn

from mnlab.analysis import Backend, analyze, compare_latency
from mnlab.claims import Claim, Evidence, compare, statement, within

# MobileNetV1, Table 3: the layer the paper uses — Dk = 3, M = N = 512, DF = 14.
TABLE3_LAYER = {"in_channels": 512, "out_channels": 512, "size": 14, "kernel": 3}
TABLE3_ALPHA = 0.75
TABLE3_RHO = 0.714


def standard_conv(in_channels: int, out_channels: int, kernel: int = 3) -> nn.Conv2d:
    """A standard Dk×Dk convolution, 'same' padding, no bias."""
    return nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False)


def separable_conv(in_channels: int, out_channels: int, kernel: int = 3) -> nn.Sequential:
    """Depthwise Dk×Dk (one filter per input channel) then pointwise 1×1, no bias."""
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, kernel, padding=kernel // 2, groups=in_channels, bias=False),
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
    )


def formula_costs(in_channels: int, out_channels: int, size: int, kernel: int) -> dict[str, float]:
    """The paper's closed forms (eqs. 2, 3, 5, 6): MACs and parameters of each piece."""
    m, n, df, k = in_channels, out_channels, size, kernel
    return {
        "standard_macs": k * k * m * n * df * df,
        "depthwise_macs": k * k * m * df * df,
        "pointwise_macs": m * n * df * df,
        "separable_macs": k * k * m * df * df + m * n * df * df,
        "standard_params": k * k * m * n,
        "depthwise_params": k * k * m,
        "pointwise_params": m * n,
        "separable_params": k * k * m + m * n,
        "ratio": 1 / n + 1 / (k * k),
    }


def counted_costs(in_channels: int, out_channels: int, size: int, kernel: int) -> dict[str, float]:
    """The same quantities counted by :func:`mnlab.analysis.analyze` on real modules."""
    shape = (1, in_channels, size, size)
    standard = analyze(standard_conv(in_channels, out_channels, kernel), shape).layers
    separable = analyze(separable_conv(in_channels, out_channels, kernel), shape).layers
    depthwise, pointwise = separable.iloc[0], separable.iloc[1]
    return {
        "standard_macs": int(standard.macs.sum()),
        "depthwise_macs": int(depthwise.macs),
        "pointwise_macs": int(pointwise.macs),
        "separable_macs": int(separable.macs.sum()),
        "standard_params": int(standard.params.sum()),
        "depthwise_params": int(depthwise.params),
        "pointwise_params": int(pointwise.params),
        "separable_params": int(separable.params.sum()),
        "ratio": separable.macs.sum() / standard.macs.sum(),
    }


def formula_vs_counted(in_channels: int, out_channels: int, size: int, kernel: int) -> pd.DataFrame:
    """One row per quantity: the paper's formula beside the counter, and whether they agree."""
    formula = formula_costs(in_channels, out_channels, size, kernel)
    counted = counted_costs(in_channels, out_channels, size, kernel)
    table = pd.DataFrame({"formula": formula, "counted": counted})
    table["agree"] = [abs(f - c) <= 1e-12 * max(abs(f), 1) for f, c in zip(table.formula, table.counted)]
    return table


def reduction_sweep(channels: Sequence[int] = (8, 16, 32, 64, 128, 256, 512, 1024),
                    kernels: Sequence[int] = (3, 5, 7), size: int = 14) -> pd.DataFrame:
    """Eq. 6 over a grid of output widths N and kernels Dk (M = N): formula and counted ratio,
    and the saving (standard / separable MACs) the paper summarizes as "8 to 9 times" for 3×3."""
    rows = []
    for n, k in itertools.product(channels, kernels):
        counted = counted_costs(n, n, size, k)
        rows.append({"N": n, "kernel": k, "formula_ratio": 1 / n + 1 / (k * k),
                     "counted_ratio": counted["ratio"], "saving": 1 / counted["ratio"]})
    return pd.DataFrame(rows)


def table3() -> pd.DataFrame:
    """MobileNetV1 Table 3, counted: the 14×14×512 layer, made separable, thinned by α = 0.75,
    and shrunk by ρ = 0.714 (rows cumulative, as in the paper)."""
    m, df, k = TABLE3_LAYER["in_channels"], TABLE3_LAYER["size"], TABLE3_LAYER["kernel"]
    thin = int(TABLE3_ALPHA * m)
    small = round(TABLE3_RHO * df)
    layers = [
        ("conv", "Conv 3×3", standard_conv(m, m, k), m, df),
        ("separable", "Depthwise Separable Conv", separable_conv(m, m, k), m, df),
        ("alpha=0.75", "α = 0.75", separable_conv(thin, thin, k), thin, df),
        ("rho=0.714", "ρ = 0.714", separable_conv(thin, thin, k), thin, small),
    ]
    rows = []
    for key, label, module, channels, size in layers:
        totals = analyze(module, (1, channels, size, size)).totals
        rows.append({"key": key, "layer": label, "channels": channels, "size": size,
                     "macs": totals["macs"], "params": totals["params"]})
    return pd.DataFrame(rows).set_index("key")


def g1_sweep(widths: Sequence[tuple[int, int]] = ((256, 256), (128, 512), (64, 1024), (32, 2048)),
             size: int = 28) -> pd.DataFrame:
    """ShuffleNetV2 guideline G1: 1×1 convs with the same MACs B = h·w·c1·c2 (c1·c2 is constant
    across ``widths``) and different c1 : c2 ratios. The counted memory access cost
    MAC = h·w·(c1 + c2) + c1·c2 (elements; the counter's ``memory_access_elems``) is smallest at c1 = c2, where it meets the bound
    2·sqrt(h·w·B) + B/(h·w) (ShuffleNetV2, Sec. 3, eq. 1)."""
    products = {c1 * c2 for c1, c2 in widths}
    if len(products) != 1:
        raise ValueError(f"widths must all have the same c1·c2 (fixed FLOPs), got {widths!r}")
    hw = size * size
    rows = []
    for c1, c2 in widths:
        layers = analyze(nn.Conv2d(c1, c2, 1, bias=False), (1, c1, size, size)).layers
        macs = int(layers.macs.sum())
        rows.append({"c1:c2": f"1:{c2 // c1}" if c2 % c1 == 0 else f"{c1}:{c2}", "c1": c1, "c2": c2,
                     "macs": macs, "memory_access_elems": int(layers.memory_access_elems.sum()),
                     "bound": 2 * (hw * macs) ** 0.5 + macs / hw})
    return pd.DataFrame(rows)


def latency_sweep(channels: Sequence[int] = (64, 128, 256, 512), size: int = 14, kernel: int = 3,
                  rounds: int = 5, budget_s: float = 0.1, backend: Backend = "onnxruntime") -> pd.DataFrame:
    """Time the standard and the separable layer (M = N = ``channels``) at batch 1, one thread,
    interleaved (:func:`~mnlab.analysis.compare_latency`), on ``backend`` (deployed: ONNX Runtime).

    Returns N, both medians (ms), the speed-up between the fastest runs of each (robust to a
    busy machine) and the MAC ratio it would be if time followed Mult-Adds.
    """
    rows = []
    for n in channels:
        times = compare_latency({"standard": standard_conv(n, n, kernel), "separable": separable_conv(n, n, kernel)},
                                (1, n, size, size), rounds=rounds, budget_s=budget_s, backend=backend)
        costs = formula_costs(n, n, size, kernel)
        rows.append({"N": n, "standard_ms": times.median_ms["standard"], "separable_ms": times.median_ms["separable"],
                     "speedup": times.best_ms["standard"] / times.best_ms["separable"],
                     "mac_ratio": costs["standard_macs"] / costs["separable_macs"]})
    return pd.DataFrame(rows)


def g1_timing(g1: pd.DataFrame, size: int = 28, rounds: int = 7, budget_s: float = 0.1,
              backend: Backend = "onnxruntime") -> pd.DataFrame:
    """:func:`g1_sweep`'s layers timed interleaved on ``backend`` (batch 1, one thread): the rows
    with ``latency_ms``, each layer's fastest run over ``rounds`` rounds (the least disturbed)."""
    layers = {r["c1:c2"]: nn.Conv2d(r.c1, r.c2, 1, bias=False) for _, r in g1.iterrows()}
    shapes = {r["c1:c2"]: (1, r.c1, size, size) for _, r in g1.iterrows()}
    times = compare_latency(layers, shapes, rounds=rounds, budget_s=budget_s, backend=backend)
    return g1.assign(latency_ms=times.best_ms[list(layers)].values)


def g1_verdict(timed: pd.DataFrame) -> dict:
    """The fastest c1:c2 of :func:`g1_timing`, its margin over the next (relative) and how much
    slower the most unbalanced layer ran than the balanced one."""
    ordered = timed.latency_ms.sort_values()
    return {"fastest": timed.loc[ordered.index[0], "c1:c2"], "margin": ordered.iloc[1] / ordered.iloc[0] - 1,
            "slowdown_last": timed.latency_ms.iloc[-1] / timed.latency_ms.iloc[0]}


#: How much larger than its Mult-Add share the depthwise convolution's time share must be.
DW_TIME_FACTOR = 3
#: The margin by which the balanced layer must be fastest for G1 to count as reproduced.
G1_MARGIN = 0.10


def claims(results: dict) -> list[Claim]:
    """Chapter 1's claims. ``results`` holds ``table3`` (:func:`table3`), ``sweep``
    (:func:`reduction_sweep`), ``g1`` (:func:`g1_sweep`) and, for the timing claims,
    ``timings`` (:func:`latency_sweep`), ``dw_time_share`` (the depthwise share of the
    separable layer's profiled time) and ``g1_times`` (:func:`g1_timing`); ``machine`` names
    where they were measured. Timings are never must-hold."""
    t3, three = results["table3"], results["sweep"].query("kernel == 3").set_index("N").saving
    out = []
    for key, row in t3.iterrows():
        out.append(compare(f"mobilenet_v1/table3/{key}/madds", row.macs, what=f"Table 3 · {row.layer} · Mult-Adds"))
        out.append(compare(f"mobilenet_v1/table3/{key}/params", row.params, what=f"Table 3 · {row.layer} · parameters"))
    low, high = "mobilenet_v1/sec3.1/separable_saving_low", "mobilenet_v1/sec3.1/separable_saving_high"
    out.append(within(low, high, three[512], what="3×3 separable saving at N = 512"))
    out.append(within(low, high, three[16], what="3×3 separable saving at N = 16", must_hold=False,
                      note="eq. 6: the saving 1/(1/N + 1/9) falls below 8 for narrow layers"))
    kept = t3.loc["rho=0.714", "params"] == t3.loc["alpha=0.75", "params"]
    out.append(statement("ρ leaves the parameter count unchanged", "ρ reduces Mult-Adds by ρ² (params unchanged)",
                         f"{t3.loc['rho=0.714', 'params']:,} = {t3.loc['alpha=0.75', 'params']:,} params", kept,
                         source="mobilenet_v1", evidence=Evidence.COUNT, tolerance="exact"))
    g1 = results["g1"]
    at_bound = g1.memory_access_elems.idxmin() == 0 and abs(g1.memory_access_elems.iloc[0] - g1.bound.iloc[0]) < 1e-6
    out.append(statement("G1: equal widths minimize memory access cost", "MAC minimal at c1 = c2",
                         f"{g1.memory_access_elems.iloc[0]:,} elements at 1:1 = bound", bool(at_bound),
                         source="shufflenet_v2", evidence=Evidence.COUNT, tolerance="counted"))
    if "timings" in results:
        out += _timing_claims(results)
    return out


def _timing_claims(results: dict) -> list[Claim]:
    """The timing half of :func:`claims`: findings about the machine that measured them."""
    machine, timed = results.get("machine"), results["timings"].set_index("N")
    speedup, ratio = timed.speedup[512], timed.mac_ratio[512]
    dw_share = results["dw_time_share"]
    dw_macs = 1 / (1 + 512 / 9)    # depthwise / separable Mult-Adds at N = 512, Dk = 3 (eqs. 3 and 5)
    verdict = g1_verdict(results["g1_times"])
    return [
        statement("Mult-Adds overstate the speed-up on a CPU", "FLOPs are an indirect metric of speed",
                  f"{speedup:.1f}× faster for {ratio:.1f}× fewer Mult-Adds", speedup < ratio, source="shufflenet_v2",
                  evidence=Evidence.TIMING, machine=machine, tolerance="measured speed-up < MAC ratio",
                  note="ONNX Runtime, 1 thread; the standard conv, closer to the compute roof, slows down "
                       "more than the separable pair when the core is shared"),
        statement("Depthwise costs far more time than its Mult-Adds", "FLOPs are an indirect metric of speed",
                  f"{dw_share:.0%} of the time, {dw_macs:.1%} of the Mult-Adds", dw_share > DW_TIME_FACTOR * dw_macs,
                  source="shufflenet_v2", evidence=Evidence.TIMING, machine=machine,
                  tolerance=f"time share > {DW_TIME_FACTOR} × MAC share (ONNX Runtime profile)"),
        statement("G1: equal widths run fastest", "1:1 fastest (GPU, ARM)",
                  f"fastest here: {verdict['fastest']}, {verdict['margin']:.0%} ahead of the next",
                  verdict["fastest"] == "1:1" and verdict["margin"] > G1_MARGIN, source="shufflenet_v2",
                  evidence=Evidence.TIMING, machine=machine, must_hold=False,
                  tolerance=f"1:1 fastest by > {G1_MARGIN:.0%} (best of interleaved rounds)",
                  note=f"the trend holds (1:64 took {verdict['slowdown_last']:.2f}× as long); "
                       "the smallest step is within noise here"),
    ]
