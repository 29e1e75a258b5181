"""machine_peaks and the roofline data: sane peaks, the min(P, I·β) formula, the plot."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from mnlab.analysis.roofline import MachinePeaks, machine_peaks, matmul_curve, roofline
from mnlab.plots import plot_roofline

pytestmark = pytest.mark.filterwarnings("ignore:noisy latency measurement")

SMALL = dict(matmul_n=256, copy_bytes=32 * 2 ** 20, cache_copy_bytes=256 * 2 ** 10)


def test_peaks_are_positive_and_described():
    peaks = machine_peaks(threads=1, **SMALL)
    assert peaks.gflops > 0 and peaks.gbps > 0 and peaks.cache_gbps > 0
    assert (peaks.matmul_n, peaks.copy_bytes, peaks.threads) == (256, 32 * 2 ** 20, 1)
    assert peaks.ridge_intensity == pytest.approx(peaks.gflops / peaks.gbps)
    assert peaks.env["threads"] == 1


def test_matmul_rate_grows_with_size_up_to_a_plateau():
    curve = matmul_curve(sizes=(8, 32, 128, 256, 512))
    g = dict(zip(curve["n"], curve["gflops"]))
    assert (curve["gflops"] > 0).all()
    assert g[8] < g[32] < g[128]  # overhead-bound: more work per call, higher rate
    best = curve["gflops"].max()
    assert g[256] > 0.4 * best and g[512] > 0.4 * best  # the plateau: no collapse at large n


def test_peaks_restore_threads():
    torch.set_num_threads(2)
    machine_peaks(threads=1, **SMALL)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("threads", [0, -2, 1.0])
def test_peaks_bad_threads(threads):
    with pytest.raises(ValueError, match="threads"):
        machine_peaks(threads=threads)


def fake_peaks(gflops=100.0, gbps=10.0):
    return MachinePeaks(gflops=gflops, gbps=gbps, cache_gbps=4 * gbps, matmul_n=1, copy_bytes=1,
                        cache_copy_bytes=1, threads=1)


def fake_layers():
    # intensity = flops / (read + written): 1, 10 and 100 FLOP/byte; ridge at 100 / 10 = 10.
    return pd.DataFrame({
        "name": ["dw", "ridge", "pw", "bn"],
        "kind": ["depthwise 3×3", "conv 3×3", "conv 1×1", "batchnorm"],
        "flops": [1e6, 1e7, 1e8, 0],
        "bytes_read": [5e5, 5e5, 5e5, 100],
        "bytes_written": [5e5, 5e5, 5e5, 100],
        "intensity": [1.0, 10.0, 100.0, 0.0],
        "time_ms": [1.0, 1.0, 2.0, 0.1],
    })


def test_roofline_is_min_of_compute_and_bandwidth_times_intensity():
    table = roofline(fake_layers(), fake_peaks())
    assert list(table["name"]) == ["dw", "ridge", "pw"]  # no FLOPs, no point
    assert list(table["attainable_gflops"]) == pytest.approx([10.0, 100.0, 100.0])
    assert list(table["bound"]) == ["memory", "compute", "compute"]
    # achieved = FLOPs / time: 1e6 / 1 ms = 1 GFLOP/s, 1e7 / 1 ms = 10, 1e8 / 2 ms = 50
    assert list(table["achieved_gflops"]) == pytest.approx([1.0, 10.0, 50.0])
    assert list(table["efficiency"]) == pytest.approx([0.1, 0.1, 0.5])
    cache = roofline(fake_layers(), fake_peaks(), gbps=40.0)
    assert cache["attainable_gflops"].iloc[0] == pytest.approx(40.0)


def test_roofline_names_missing_columns():
    with pytest.raises(ValueError, match="time_ms"):
        roofline(fake_layers().drop(columns="time_ms"), fake_peaks())


@pytest.mark.parametrize("layers,peaks,gbps,match", [
    ("x", None, None, "layers must be a pandas DataFrame"), (None, None, None, "layers must be a pandas DataFrame"),
    ("fake", "peaks", None, "peaks must be a MachinePeaks"), ("fake", "fake", float("inf"), "gbps must be a finite number > 0"),
    ("fake", "fake", 0, "gbps must be a finite number > 0"), ("fake", "fake", "40", "gbps must be")])
def test_roofline_bad_input(layers, peaks, gbps, match):
    layers = fake_layers() if layers == "fake" else layers
    peaks = fake_peaks() if peaks == "fake" else peaks
    with pytest.raises(ValueError, match=match):
        roofline(layers, peaks, gbps=gbps)


def test_numpy_integers_for_the_benchmark_sizes():
    from mnlab.analysis.roofline import copy_gbps, matmul_gflops
    assert matmul_gflops(np.int64(16), min_time_s=0.001, repeats=1) > 0
    assert copy_gbps(np.int64(4096), min_time_s=0.001, repeats=1) > 0


def test_plot_roofline_colours_by_kind():
    fig = plot_roofline(roofline(fake_layers(), fake_peaks()), fake_peaks())
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.collections) == 3  # one scatter per layer kind
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"


def test_profile_to_roofline_on_a_small_net():
    from mnlab.analysis.profile import profile_layers
    model = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                          nn.Conv2d(16, 16, 3, 1, 1, groups=16), nn.Conv2d(16, 32, 1))
    profile = profile_layers(model, 32, runs=5, warmup=1)
    table = roofline(profile.layers, fake_peaks())
    assert set(table["kind"]) == {"conv 3×3", "depthwise 3×3", "conv 1×1"}
    assert (table["achieved_gflops"] > 0).all()
    assert not math.isnan(table["intensity"].sum())
    assert np.all(table["attainable_gflops"] <= 100.0 + 1e-9)
