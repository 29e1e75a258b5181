"""How far can the latency numbers of the book be trusted? (issue 4, "Stability and agreement")

Measures, in one run, and prints:

1. stability: MobileNetV2 at 224 timed five times with ``measure_latency``; the coefficient of
   variation of the five medians (target ≤ 3% on a quiet machine);
2. agreement: the same model timed by ``torch.utils.benchmark.Timer(...).adaptive_autorange()``;
   the ratio of medians (target within 5%);
3. per-layer bookkeeping: ``profile_layers`` sum of layers against the end-to-end median (target
   within 15%) and the cost of the instrumentation;
4. re-parameterization: MobileOne-S0 in its train-time (multi-branch) form against its
   re-parameterized form (MobileOne Sec. 3.2, Table 4 shows why it matters);
5. the deploy backend (BN folded, TorchScript frozen, ``optimize_for_inference``) against eager.

Usage: ``python benchmarks/bench_latency.py [--threads N]``. Not a test: it prints figures.
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
import torch.utils.benchmark as benchmark

from mnlab.analysis import measure_latency, profile_layers
from mnlab.analysis.latency import environment, example_input
from mnlab.models import create_model, reparameterize


def stability(model, threads: int, repeats: int = 5) -> list[float]:
    return [measure_latency(model, 224, threads=threads).median_ms for _ in range(repeats)]


def torch_timer_median_ms(model, threads: int) -> float:
    model.eval()
    timer = benchmark.Timer(stmt="with torch.inference_mode(): model(x)",
                            globals={"torch": torch, "model": model, "x": example_input((1, 3, 224, 224))},
                            num_threads=threads)
    return timer.adaptive_autorange(min_run_time=2.0).median * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    threads = args.threads
    warnings.simplefilter("ignore", UserWarning)  # noise is reported below as figures, not warnings
    start = time.perf_counter()
    env = environment(threads)
    print(f"CPU {env['cpu']}, {env['logical_cores']} logical cores, {threads} thread(s), "
          f"torch {env['torch']}, Python {env['python']}")

    torch.manual_seed(0)
    v2 = create_model("mobilenet_v2").eval()

    medians = stability(v2, threads)
    mean = statistics.fmean(medians)
    cv = statistics.stdev(medians) / mean
    print("\n1. Stability: MobileNetV2 @224, measure_latency x5")
    print(f"   medians (ms): {', '.join(f'{m:.2f}' for m in medians)}")
    print(f"   CV of medians: {100 * cv:.1f}%   (target <= 3% on a quiet machine)")

    ours = statistics.median(medians)
    theirs = torch_timer_median_ms(v2, threads)
    print("\n2. Agreement with torch.utils.benchmark.Timer.adaptive_autorange")
    print(f"   measure_latency median of medians {ours:.2f} ms, Timer median {theirs:.2f} ms, "
          f"ratio {ours / theirs:.3f}   (target 0.95-1.05)")

    profile = profile_layers(v2, 224, threads=threads)
    s = profile.summary()
    print("\n3. Per-layer profile (forward hooks on leaf modules), MobileNetV2 @224")
    print(f"   end-to-end {s['end_to_end_ms']:.2f} ms, sum of layers {s['layer_sum_ms']:.2f} ms, "
          f"ratio {s['layer_sum_ratio']:.3f}   (target 0.85-1.15)")
    print(f"   with hooks {s['instrumented_ms']:.2f} ms: overhead {s['overhead_ms']:.2f} ms "
          f"({100 * s['overhead_ratio']:.1f}%) over {s['hooked_calls']} hooked calls; "
          f"hook floor {1e3 * s['hook_floor_ms']:.1f} us per call")
    outside = profile.layers.loc[profile.layers["time_ms"].isna(), "op"].value_counts()
    print(f"   ops outside leaf modules (untimed): {({op: int(n) for op, n in outside.items()})}")
    by_kind = profile.layers.groupby("kind")["time_ms"].sum().sort_values(ascending=False)
    print("   time by kind (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in by_kind.items() if v > 0))

    torch.manual_seed(0)
    s0 = create_model("mobileone_s0").eval()
    s0_fused = reparameterize(s0)
    train_form = measure_latency(s0, 224, threads=threads).median_ms
    inference_form = measure_latency(s0_fused, 224, threads=threads).median_ms
    print("\n4. MobileOne-S0 @224: train-time vs re-parameterized (eager)")
    print(f"   train-time {train_form:.2f} ms, re-parameterized {inference_form:.2f} ms, "
          f"speed-up x{train_form / inference_form:.2f}")

    deployed = measure_latency(v2, 224, threads=threads, backend="deploy").median_ms
    s0_deployed = measure_latency(s0_fused, 224, threads=threads, backend="deploy").median_ms
    print("\n5. Deploy backend (BN folded + TorchScript freeze + optimize_for_inference) vs eager")
    print(f"   MobileNetV2 {ours:.2f} -> {deployed:.2f} ms (x{ours / deployed:.2f}); "
          f"MobileOne-S0 re-param. {inference_form:.2f} -> {s0_deployed:.2f} ms "
          f"(x{inference_form / s0_deployed:.2f})")
    print(f"\n(total {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
