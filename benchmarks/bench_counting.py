"""How fast is mnlab's counter? Every registry model at its default resolution, counted by

* mnlab ``analyze`` (meta tensors, per-op rows, bytes, peak memory),
* fvcore ``FlopCountAnalysis(model, x).total()`` (a TorchScript trace with real tensors),
* ``torch.utils.flop_counter.FlopCounterMode`` around a real forward pass (its usual use), and
  around a meta-tensor forward (the same no-arithmetic trick mnlab uses),
* a plain meta-tensor forward pass with nothing counting (``meta``): the floor of any counter
  that runs the model,

then the time to re-count MobileNetV1 over a 4 × 4 grid of width × resolution (what a slider
does). Targets (issues 3 and 13): mnlab ≥ 10× faster than fvcore, no slower than FlopCounterMode
or a plain meta forward, grid < 1 s. Each tool runs once untimed first (imports, kernel
registration); the figures are medians (mnlab and the plain meta forward: 3 × --repeat runs,
fvcore and FlopCounterMode on real tensors: --repeat / 2, the meta FlopCounterMode: --repeat).
Other processes on the machine show up as noise: run it on a quiet one.

    .venv/bin/python benchmarks/bench_counting.py [--repeat N]
"""
from __future__ import annotations

import argparse
import logging
import platform
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from mnlab.analysis import analyze
from mnlab.models import create_model, default_resolution, list_models

WIDTHS = (0.25, 0.5, 0.75, 1.0)
RESOLUTIONS = (128, 160, 192, 224)


def median_seconds(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fvcore_total(model, x) -> int:
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return analysis.total()


def flop_counter_real(model, x) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() // 2


def meta_state(model) -> dict:
    return {name: torch.empty(t.shape, dtype=t.dtype, device="meta")
            for name, t in [*model.named_parameters(), *model.named_buffers()]}


def flop_counter_meta(model, shape) -> int:
    with FlopCounterMode(display=False) as counter:
        torch.func.functional_call(model, meta_state(model), (torch.empty(shape, device="meta"),))
    return counter.get_total_flops() // 2


def meta_forward(model, shape) -> None:
    """The same meta forward pass with nothing counting it."""
    with torch.no_grad():
        torch.func.functional_call(model, meta_state(model), (torch.empty(shape, device="meta"),))


def compare_tools(repeat: int) -> list[dict]:
    rows = []
    for name in list_models():
        model = create_model(name).eval()
        r = default_resolution(name)
        shape = (1, 3, r, r)
        x = torch.randn(shape)
        macs = analyze(model, r).totals["macs"]
        row = {
            "model": name, "r": r, "GMACs": macs / 1e9,
            "mnlab": median_seconds(lambda: analyze(model, r), 3 * repeat),  # cheap: more runs
            "fvcore": median_seconds(lambda: fvcore_total(model, x), max(1, repeat // 2)),
            "fcm": median_seconds(lambda: flop_counter_real(model, x), max(1, repeat // 2)),
            "fcm_meta": median_seconds(lambda: flop_counter_meta(model, shape), repeat),
            "meta": median_seconds(lambda: meta_forward(model, shape), 3 * repeat),
        }
        row["same_macs"] = flop_counter_meta(model, shape) == macs
        rows.append(row)
        print(format_row(row), flush=True)
    return rows


TOOLS = ("mnlab", "fvcore", "fcm", "fcm_meta", "meta")


def format_row(row: dict) -> str:
    ms = {k: row[k] * 1e3 for k in TOOLS}
    return (f"{row['model']:<22}{row['r']:>4}{row['GMACs']:>7.2f}"
            f"{ms['mnlab']:>9.1f}{ms['fvcore']:>9.1f}{ms['fcm']:>9.1f}{ms['fcm_meta']:>10.1f}{ms['meta']:>9.1f}"
            f"{row['fvcore'] / row['mnlab']:>9.1f}x{row['fcm'] / row['mnlab']:>9.1f}x"
            f"{row['fcm_meta'] / row['mnlab']:>9.2f}x{row['meta'] / row['mnlab']:>9.2f}x   "
            f"{'yes' if row['same_macs'] else 'NO'}")


def grid_seconds() -> tuple[float, float]:
    """The 4 × 4 width × resolution grid of MobileNetV1: (count only, models built once per
    width outside the timing; and build + count, the models built on the meta device)."""
    models = {w: create_model("mobilenet_v1", width_mult=w).eval() for w in WIDTHS}
    analyze(models[1.0], 224)  # warm-up
    start = time.perf_counter()
    for w in WIDTHS:
        for r in RESOLUTIONS:
            analyze(models[w], r)
    count_only = time.perf_counter() - start

    start = time.perf_counter()
    for w in WIDTHS:
        with torch.device("meta"):  # no weight initialisation: shapes are all a count needs
            model = create_model("mobilenet_v1", width_mult=w).eval()
        for r in RESOLUTIONS:
            analyze(model, r)
    with_build = time.perf_counter() - start
    return count_only, with_build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per tool and model (median)")
    args = parser.parse_args()
    logging.getLogger("fvcore").setLevel(logging.ERROR)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}, python {platform.python_version()}")
    print("times in ms (median of warm runs); ratios = other tool's time / mnlab's time; "
          "fcm = FlopCounterMode\n")
    print(f"{'model':<22}{'r':>4}{'GMACs':>7}{'mnlab':>9}{'fvcore':>9}{'fcm':>9}{'fcm meta':>10}{'meta':>9}"
          f"{'fvcore/':>10}{'fcm/':>10}{'fcm meta/':>10}{'meta/':>10}   same MACs as fcm")
    rows = compare_tools(args.repeat)

    total = {k: sum(r[k] for r in rows) for k in TOOLS}
    ratios = {k: [r[k] / r["mnlab"] for r in rows] for k in TOOLS[1:]}
    print(f"\n{'all models':<33}{total['mnlab'] * 1e3:>9.1f}{total['fvcore'] * 1e3:>9.1f}"
          f"{total['fcm'] * 1e3:>9.1f}{total['fcm_meta'] * 1e3:>10.1f}{total['meta'] * 1e3:>9.1f}"
          f"{total['fvcore'] / total['mnlab']:>9.1f}x{total['fcm'] / total['mnlab']:>9.1f}x"
          f"{total['fcm_meta'] / total['mnlab']:>9.2f}x{total['meta'] / total['mnlab']:>9.2f}x")
    for key, label in (("fvcore", "fvcore"), ("fcm", "FlopCounterMode (real tensors)"),
                       ("fcm_meta", "FlopCounterMode (meta tensors)"),
                       ("meta", "a plain meta forward (no counting)")):
        print(f"speed-up over {label:<34} min {min(ratios[key]):6.2f}x   "
              f"median {statistics.median(ratios[key]):6.2f}x   "
              f"geometric mean {statistics.geometric_mean(ratios[key]):6.2f}x")

    count_only, with_build = grid_seconds()
    print(f"\nMobileNetV1 4 x 4 grid, widths {WIDTHS} x resolutions {RESOLUTIONS}:")
    print(f"  re-count 16 points (4 models already built)        {count_only:6.3f} s   (target < 1 s)")
    print(f"  build 4 models on the meta device + count 16 points {with_build:6.3f} s")


if __name__ == "__main__":
    main()
