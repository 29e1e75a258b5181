"""Latency as deployed (issue 14): eager PyTorch against ONNX Runtime fp32 and int8 and
ExecuTorch/XNNPACK, MobileNetV2 at 224, batch 1, one thread, in ONE interleaved run.

Prints:

1. how long each backend takes to build (export, quantize, lower) and its error against eager;
2. from one interleaved run (``compare_latency``, every backend timed in turn, round after
   round, so a neighbour's load hits all alike): each backend's median and best, the CV of
   its round medians, and the ratios ORT/eager (target <= 0.5), int8/fp32 ORT (target <= 0.8)
   and XNNPACK/eager;
3. where the time goes, eager (forward hooks) against ONNX Runtime fp32 and int8 (its
   profiler, fused nodes mapped back to layers): share of 1x1 convs, depthwise convs,
   BatchNorm and activations, and each ORT profile's sum of layers against end-to-end (target
   within 15%).

Usage: ``python benchmarks/bench_runtimes.py [--rounds N] [--threads N]``. Not a test: it prints.
"""
from __future__ import annotations

import argparse
import time
import warnings

import torch

from mnlab.analysis import BACKENDS, compare_latency, deploy, profile_layers
from mnlab.analysis.latency import environment
from mnlab.models import create_model
from mnlab.studies.mobileone import randomize_batchnorm_


def build(model, threads: int) -> dict:
    runners = {"eager": model}
    print("1. Build (export / quantize / lower) and agreement with eager")
    for backend in [b for b in BACKENDS if b not in ("eager", "deploy")]:
        start = time.perf_counter()
        try:
            runners[backend] = deploy(model, 224, backend=backend, threads=threads)
        except ImportError as exc:
            print(f"   {backend:17s} not available: {exc}")
            continue
        r = runners[backend]
        print(f"   {backend:17s} {time.perf_counter() - start:6.1f} s, max error {r.error:.1e} of the output "
              f"range (bound {r.tolerance:g})" + (f", outside XNNPACK: {r.outside_delegate}"
                                                   if r.outside_delegate else ""))
    return runners


def shares(profile) -> dict:
    layers = profile.layers
    total = layers["time_ms"].sum()
    kind = layers["kind"]
    return {"1x1 conv": layers.loc[kind == "conv 1×1", "time_ms"].sum() / total,
            "depthwise": layers.loc[kind.str.startswith("depthwise"), "time_ms"].sum() / total,
            "batchnorm": layers.loc[kind == "batchnorm", "time_ms"].sum() / total,
            "activation": layers.loc[kind == "activation", "time_ms"].sum() / total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)  # noise is reported below as figures
    start = time.perf_counter()
    env = environment(args.threads)
    print(f"CPU {env['cpu']}, {env['logical_cores']} logical cores, {args.threads} thread(s), "
          f"torch {env['torch']}\n")
    torch.manual_seed(0)
    model = create_model("mobilenet_v2").eval()
    with torch.no_grad():
        randomize_batchnorm_(model, 0)
    runners = build(model, args.threads)

    table = compare_latency(runners, 224, rounds=args.rounds, threads=args.threads, budget_s=0.5, min_runs=10)
    print(f"\n2. One interleaved run, {args.rounds} rounds (median of round medians; CV of round medians)")
    for name, row in table.iterrows():
        print(f"   {name:17s} median {row.median_ms:7.2f} ms  best {row.best_ms:7.2f} ms  "
              f"CV {100 * row.median_cv:4.1f}%  ({row.runs} runs)")
    ratio = table["median_ms"]
    if "onnxruntime" in ratio:
        print(f"   ORT / eager          {ratio['onnxruntime'] / ratio['eager']:.2f}   (target <= 0.5)")
    if "onnxruntime-int8" in ratio:
        print(f"   int8 / fp32 ORT      {ratio['onnxruntime-int8'] / ratio['onnxruntime']:.2f}   (target <= 0.8)")
    if "xnnpack" in ratio:
        print(f"   XNNPACK / eager      {ratio['xnnpack'] / ratio['eager']:.2f}")

    print("\n3. Where the time goes (share of the sum of layers)")
    for backend in ("eager", "onnxruntime", "onnxruntime-int8"):
        profile = profile_layers(model, 224, threads=args.threads, runs=30, backend=backend)
        s = shares(profile)
        print(f"   {backend:12s} " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in s.items())
              + f"; sum of layers / end-to-end {profile.summary()['layer_sum_ratio']:.2f}")
        if backend != "eager":
            # The same profiled runs: kernel times against ORT's model_run, which a neighbour's
            # preemption inflates alike (the plain end-to-end above is timed in other runs).
            print(f"   {'':12s} sum of layers / model_run of the same runs "
                  f"{profile.layer_sum_ms / profile.instrumented_ms:.2f}   (target 0.85-1.15)")
    print(f"\n(total {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
