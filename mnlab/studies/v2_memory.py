"""Chapter 3 — MobileNetV2's memory (Sandler et al. 2018, Table 3 and Sec. 5.1): the largest
tensor between blocks per resolution, the true peak from tensor lifetimes, and the peak of a
network whose blocks run in slices of hidden channels (:func:`mnlab.models.toys.chunked`)."""
from __future__ import annotations

from typing import Sequence

import pandas as pd
import torch
from torch import nn

from mnlab.analysis import analyze, block_memory_table
from mnlab.analysis.memory import BlockMemory
from mnlab.models import create_model
from mnlab.models.layers import InvertedResidual
from mnlab.models.mobilenet_v2 import BOTTLENECKS
from mnlab.models.toys import chunked
from mnlab.papers import figure


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
    rows = []
    for name in ("mobilenet_v1", "mobilenet_v2"):
        for r in table3(name).table.itertuples(index=False):
            key = f"mobilenet_v2/table3/{name}/{r.height}"
            rows.append({"model": name, "size": r.size, "paper channels": int(figure(f"{key}/channels").value),
                         "channels": r.channels, "paper KB": figure(f"{key}/memory_kb").printed,
                         "KB": r.memory_kb, "block": r.block})
    return pd.DataFrame(rows)


def stage_starting_widths(stages: Sequence[tuple[int, int, int, int]] = BOTTLENECKS, resolution: int = 224,
                          stem_stride: int = 2) -> dict[int, int]:
    """For each side length, the widest output c of a Table 2 stage whose *input* has that side
    and whose stride is 2: the width the paper's Table 3 prints for 56², 28² and 14²."""
    side = resolution // stem_stride
    widths: dict[int, int] = {}
    for t, c, n, s in stages:
        if s == 2:
            widths[side] = max(widths.get(side, 0), c)
        side //= s
    return widths


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


def memory_models() -> dict[str, nn.Module]:
    """MobileNetV1, MobileNetV2 and MobileNetV2 with its blocks evaluated in slices, eval mode."""
    v2 = create_model("mobilenet_v2").eval()
    return {"MobileNetV1": create_model("mobilenet_v1").eval(), "MobileNetV2": v2,
            "MobileNetV2, blocks in slices": chunked(v2)}


def table3_maxima() -> dict[str, float]:
    """Table 3's maximum (KB, 16-bit) of V1 and V2 by our count, keyed "V1", "V2"."""
    return {"V1": table3("mobilenet_v1").max_kb, "V2": table3("mobilenet_v2").max_kb}
