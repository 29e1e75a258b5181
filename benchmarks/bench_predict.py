"""What the latency predictors cost (issue 16, "Budget"): building them, and one prediction.

1. build: the book's data set (``chapters/data/latency_dataset.csv``, measured end to end) is
   described, then every predictor is fitted and scored on both splits, timing each kernel and
   op it needs on the backend — from scratch unless ``--cache-dir`` already holds them
   (target ≤ 15 minutes on 2 cores; a progress bar shows the timing);
2. one prediction: MobileNetV2 at 224 by the fitted kernel-level predictor, model counted and
   split into kernels included (target ≤ 50 ms).

Usage: ``python benchmarks/bench_predict.py [--backend onnxruntime] [--cache-dir DIR]``. With
``--cache-dir chapters/data`` it fills the book's kernel table. Not a test: it prints figures.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd
import torch

from mnlab.analysis.kernel_bank import KernelBank
from mnlab.models import create_model
from mnlab.studies import latency_prediction as lp

DATA = Path(__file__).resolve().parent.parent / "chapters" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--cache-dir", default=None, help="where the kernel table is kept (default: a fresh one)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    data = pd.read_csv(DATA / lp.DATASET_CSV)
    data = data[data.backend == args.backend].reset_index(drop=True)
    if data.empty:
        raise SystemExit(f"no end-to-end measurements for backend {args.backend!r} in {DATA / lp.DATASET_CSV}")
    cache_dir = Path(args.cache_dir) if args.cache_dir else Path(tempfile.mkdtemp())
    start = time.perf_counter()
    described = lp.describe_dataset(data)
    bank = KernelBank(args.backend, cache=cache_dir / lp.KERNELS_CSV)
    before = len(bank)
    result = lp.build(data, described, bank, training=cache_dir / lp.TRAINING_CSV)
    build_s = time.perf_counter() - start
    print(f"build: {build_s / 60:.1f} min for {len(data)} configurations, {len(bank) - before} kernels and ops "
          f"timed on {args.backend!r} (target ≤ 15 min)")
    for split, (scores, _, _) in result.items():
        print(f"\n{split}:\n{scores.round(3).to_string()}")
    kernel = result["by family"][2]["kernel-level (nn-Meter)"]
    model = create_model("mobilenet_v2").eval()
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        kernel.predict(model, 224)
        times.append((time.perf_counter() - t0) * 1e3)
    print(f"\none prediction (MobileNetV2 @224, counting included): median {statistics.median(times):.1f} ms, "
          f"best {min(times):.1f} ms (target ≤ 50 ms)")


if __name__ == "__main__":
    main()
