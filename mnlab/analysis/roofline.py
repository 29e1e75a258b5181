"""The roofline model (Williams, Waterman & Patterson, CACM 2009) for this CPU.

A layer that performs F FLOPs while moving B bytes has arithmetic intensity I = F / B. On a
machine that computes at most P FLOP/s and streams at most β bytes/s, it can run no faster than

    attainable(I) = min(P, I · β)

Below the ridge point I* = P / β a layer is *memory-bound* (the slanted roof), above it
*compute-bound* (the flat roof). Depthwise convolutions do k² MACs per input value and sit far
left, under the memory roof; 1×1 convolutions reuse every input value C_out times and sit near
the compute roof: why MobileNets' MAC counts say little about their latency (MobileOne Sec. 1).

:func:`machine_peaks` measures P and β here instead of quoting a datasheet: P from a large
float32 matmul (what a dense conv becomes), β from a large copy (what a depthwise conv
approaches). :func:`roofline` places each profiled layer under those roofs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from mnlab.analysis.latency import check_threads, environment
from mnlab.validation import check_int, check_real


@dataclass
class MachinePeaks:
    """Measured roofs of this CPU at ``threads`` threads.

    ``gflops``: best float32 matmul rate (GFLOP/s, FLOPs = 2·n³) at n = ``matmul_n``.
    ``gbps``: best rate of a copy of ``copy_bytes`` bytes, counting bytes read + bytes written
    (GB/s = 1e9 bytes/s); the buffers are larger than the last-level cache, so this is DRAM.
    ``cache_gbps``: the same copy of ``cache_copy_bytes`` bytes, small enough to stay in cache,
    as MobileNet activations at batch 1 mostly do; a second, higher memory roof.
    """

    gflops: float
    gbps: float
    cache_gbps: float
    matmul_n: int
    copy_bytes: int
    cache_copy_bytes: int
    threads: int
    env: dict = field(default_factory=dict)

    @property
    def ridge_intensity(self) -> float:
        """FLOPs per byte above which a layer is compute-bound (against the DRAM roof)."""
        return self.gflops / self.gbps


def _best_seconds(fn, min_time_s: float, repeats: int) -> float:
    """Best-of-``repeats`` time per call, each repeat looping ``fn`` for at least ``min_time_s``.

    The best, not the median: a peak is what the machine *can* do; interruptions only slow it.
    """
    fn()  # warm-up: first-touch of pages, kernel selection
    best = float("inf")
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time_s:
                break
        best = min(best, elapsed / calls)
    return best


def _with_threads(threads: int, fn):
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        return fn()
    finally:
        torch.set_num_threads(previous)


def matmul_gflops(n: int, threads: int = 1, *, min_time_s: float = 0.05, repeats: int = 3) -> float:
    """GFLOP/s of an n×n by n×n float32 matmul (2·n³ FLOPs) at ``threads`` threads."""
    threads = check_threads(threads)
    n = check_int(n, "n", at_least=1)
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    out = torch.empty(n, n)
    seconds = _with_threads(threads,
                            lambda: _best_seconds(lambda: torch.mm(a, b, out=out), min_time_s, repeats))
    return 2 * n ** 3 / seconds / 1e9


def copy_gbps(nbytes: int, threads: int = 1, *, min_time_s: float = 0.05, repeats: int = 3) -> float:
    """GB/s of copying one float32 buffer of ``nbytes`` into another (read + write counted)."""
    threads = check_threads(threads)
    nbytes = check_int(nbytes, "nbytes", at_least=4)
    src = torch.ones(nbytes // 4)
    dst = torch.empty_like(src)
    seconds = _with_threads(threads, lambda: _best_seconds(lambda: dst.copy_(src), min_time_s, repeats))
    return 2 * src.numel() * 4 / seconds / 1e9


def matmul_curve(sizes: Sequence[int] = (16, 32, 64, 128, 256, 512, 1024), threads: int = 1) -> pd.DataFrame:
    """GFLOP/s against matrix side n: small matmuls are overhead-bound, large ones reach a plateau,
    the compute roof. One row per size: n, gflops."""
    return pd.DataFrame({"n": list(sizes), "gflops": [matmul_gflops(n, threads) for n in sizes]})


def machine_peaks(threads: int = 1, *, matmul_n: int = 1024, copy_bytes: int = 512 * 2 ** 20,
                  cache_copy_bytes: int = 2 * 2 ** 20) -> MachinePeaks:
    """Measure the compute roof (matmul) and the memory roofs (large and cache-sized copies).

    Defaults take about two seconds: n = 1024 is past the matmul plateau on common CPUs (see
    :func:`matmul_curve`), and 512 MiB buffers exceed any last-level cache we know of.
    """
    threads = check_threads(threads)
    return MachinePeaks(
        gflops=matmul_gflops(matmul_n, threads),
        gbps=copy_gbps(copy_bytes, threads, repeats=2),
        cache_gbps=copy_gbps(cache_copy_bytes, threads),
        matmul_n=matmul_n, copy_bytes=copy_bytes, cache_copy_bytes=cache_copy_bytes,
        threads=threads, env=environment(threads, backend="eager"))


def roofline(layers: pd.DataFrame, peaks: MachinePeaks, *, gbps: float | None = None) -> pd.DataFrame:
    """Place each timed layer under the roofs: one row per layer with a time and FLOPs > 0.

    ``layers`` is :func:`~mnlab.analysis.profile_layers`' table (columns name, kind, flops,
    bytes_read, bytes_written, time_ms). Intensity is recomputed as FLOPs / (bytes read +
    bytes written) so it matches the copy benchmark's byte count. Returns name, kind,
    intensity (FLOP/byte), achieved_gflops, attainable_gflops = min(peak, intensity · β),
    bound ("memory"/"compute") and efficiency = achieved / attainable. ``gbps`` overrides β
    (pass ``peaks.cache_gbps`` for the cache roof).
    """
    if not isinstance(layers, pd.DataFrame):
        raise ValueError(f"layers must be a pandas DataFrame such as profile_layers(...).layers, "
                         f"got {type(layers).__name__}: {layers!r:.60}")
    missing = [c for c in ("name", "kind", "flops", "bytes_read", "bytes_written", "time_ms")
               if c not in layers.columns]
    if missing:
        raise ValueError(f"layers is missing column(s) {missing}; pass profile_layers(...).layers")
    if not isinstance(peaks, MachinePeaks):
        raise ValueError(f"peaks must be a MachinePeaks from machine_peaks(), got {type(peaks).__name__}")
    beta = peaks.gbps if gbps is None else check_real(gbps, "gbps", above=0)
    rows = layers[(layers["flops"] > 0) & layers["time_ms"].notna() & (layers["time_ms"] > 0)]
    moved = rows["bytes_read"] + rows["bytes_written"]
    intensity = rows["flops"] / moved.where(moved > 0)
    memory_roof = intensity * beta
    attainable = np.minimum(memory_roof, peaks.gflops)
    achieved = rows["flops"] / (rows["time_ms"] * 1e6)  # FLOPs / (ms · 1e-3) / 1e9
    return pd.DataFrame({
        "name": rows["name"],
        "kind": rows["kind"],
        "flops": rows["flops"],
        "bytes": moved,
        "time_ms": rows["time_ms"],
        "intensity": intensity,
        "achieved_gflops": achieved,
        "attainable_gflops": attainable,
        "bound": np.where(memory_roof < peaks.gflops, "memory", "compute"),
        "efficiency": achieved / attainable,
    }).reset_index(drop=True)
