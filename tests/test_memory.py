"""mnlab.analysis.memory: peak activation memory from tensor lifetimes, and MobileNetV2's Table 3."""
import pytest
import torch
from torch import nn

from mnlab.analysis import analyze, block_memory_table, default_blocks

F32 = 4


def chain(inplace: bool) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU(inplace=inplace), nn.Conv2d(8, 4, 1))


def test_peak_of_a_chain():
    # input 3·10·10·4 = 1200 B stays alive (the caller holds it); conv → 3200 B; the ReLU's
    # 3200 B output is allocated while the conv output is still alive: 1200 + 3200 + 3200.
    # Then the conv output is freed (4400) and the last conv adds 1600 (6000).
    report = analyze(chain(inplace=False), (1, 3, 10, 10))
    assert report.totals["peak_activation_bytes"] == (300 + 800 + 800) * F32 == 7600
    assert report.totals["input_bytes"] == 1200
    timeline = report.memory_timeline()
    assert list(timeline["event"][:4]) == ["input", "alloc", "alloc", "free"]
    assert list(timeline["live_bytes"][:5]) == [1200, 4400, 7600, 4400, 6000]
    assert timeline["live_bytes"].max() == report.totals["peak_activation_bytes"]


def test_in_place_ops_allocate_nothing():
    # With ReLU(inplace=True) the largest moment is input + conv/ReLU output + last output.
    report = analyze(chain(inplace=True), (1, 3, 10, 10))
    assert report.totals["peak_activation_bytes"] == (300 + 800 + 400) * F32 == 6000
    assert "relu" not in set(report.memory_timeline()["op"])


def test_views_allocate_nothing():
    model = nn.Sequential(nn.Conv2d(3, 6, 1), nn.Flatten(), nn.Unflatten(1, (6, 4, 4)))
    report = analyze(model, (1, 3, 4, 4))
    assert report.totals["peak_activation_bytes"] == (48 + 96) * F32
    assert list(report.memory_timeline()["event"]).count("alloc") == 1


def test_a_residual_keeps_its_input_alive():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x):
            return x + self.conv(x)

    report = analyze(Residual(), (1, 3, 10, 10))
    assert report.totals["peak_activation_bytes"] == 3 * 1200  # x, conv(x) and the sum


def test_peak_follows_dtype():
    full = analyze(chain(False), (1, 3, 10, 10)).totals["peak_activation_bytes"]
    half = analyze(chain(False), (1, 3, 10, 10), dtype=torch.float16).totals["peak_activation_bytes"]
    assert half * 2 == full


def test_peak_is_not_changed_by_switches():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
    peaks = {analyze(model, 12, bn=bn).totals["peak_activation_bytes"] for bn in ("count", "fold", "ignore")}
    assert len(peaks) == 1


# ---- MobileNetV2 Table 3 --------------------------------------------------------------------------

class Blocks(nn.Module):
    """A sequential-block network: features = stem (112², 32) → block (112², 64) → block (56², 128)
    → block (56², 96), then a head outside ``features``."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, 2, 1),
            nn.Sequential(nn.Conv2d(32, 32, 3, 1, 1, groups=32), nn.Conv2d(32, 64, 1)),
            nn.Sequential(nn.Conv2d(64, 64, 3, 2, 1, groups=64), nn.Conv2d(64, 128, 1)),
            nn.Conv2d(128, 96, 1),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(96, 10))

    def forward(self, x):
        return self.head(self.features(x))


def test_block_memory_table():
    result = block_memory_table(Blocks(), 224)
    table = result.table
    assert list(table["size"]) == ["112 × 112", "56 × 56"]
    assert list(table["channels"]) == [64, 128]
    assert list(table["block"]) == ["features.1", "features.2"]
    # The sanity figure: 112 · 112 · 64 · 2 bytes / 1000 = 1605.6 KB (the paper's "1600K").
    assert table["memory_kb"].tolist() == pytest.approx([1605.632, 802.816])
    assert result.max_kb == pytest.approx(1605.632)
    assert result.dtype_bytes == 2


def test_block_memory_table_with_named_blocks_and_4_byte_floats():
    result = block_memory_table(Blocks(), (1, 3, 64, 64), blocks=["features.3", "head.0", "head.2"],
                                dtype_bytes=4)
    assert result.table[["size", "channels"]].values.tolist() == [["16 × 16", 96], ["1 × 1", 96]]
    assert result.table["memory_kb"].tolist() == pytest.approx([16 * 16 * 96 * 4 / 1000, 96 * 4 / 1000])
    assert result.max_kb == pytest.approx(98.304)


def test_default_blocks():
    assert default_blocks(Blocks()) == ["features.0", "features.1", "features.2", "features.3"]
    with pytest.raises(ValueError, match="blocks"):
        default_blocks(nn.Conv2d(3, 3, 1))


@pytest.mark.parametrize("blocks,match", [(["features.9"], "not modules of the model"),
                                          ("features.1", "list of module names"),
                                          ([], "list of module names")])
def test_bad_blocks(blocks, match):
    with pytest.raises(ValueError, match=match):
        block_memory_table(Blocks(), 64, blocks=blocks)


@pytest.mark.parametrize("dtype_bytes", [0, -2, 1.5, True, float("inf")])
def test_bad_dtype_bytes(dtype_bytes):
    with pytest.raises(ValueError, match=r"dtype_bytes must be an integer >= 1 \(2 for 16-bit\), got"):
        block_memory_table(Blocks(), 64, dtype_bytes=dtype_bytes)


def test_blocks_from_any_iterable_and_numpy_dtype_bytes():
    import numpy as np
    names = ["features.3", "head.0"]
    listed = block_memory_table(Blocks(), 64, blocks=names)
    generated = block_memory_table(Blocks(), 64, blocks=(name for name in names), dtype_bytes=np.int64(2))
    assert generated.table.equals(listed.table) and generated.dtype_bytes == 2


@pytest.mark.parametrize("blocks", [3, [3], (b for b in [])])
def test_blocks_that_are_not_names(blocks):
    with pytest.raises(ValueError, match="blocks must be a non-empty list of module names"):
        block_memory_table(Blocks(), 64, blocks=blocks)


def test_memory_does_not_import_the_counting_engine_lazily():
    """No import cycle: memory imports the counter at the top, the counter never imports memory."""
    import ast
    import mnlab.analysis.memory as memory

    for module in ("engine", "report", "registry", "counting", "liveness", "sandbox"):
        source = open(memory.__file__.replace("memory.py", f"{module}.py")).read()
        assert "mnlab.analysis.memory" not in source, module
    body = ast.parse(open(memory.__file__).read()).body
    nested = [n for f in body if isinstance(f, ast.FunctionDef) for n in ast.walk(f)
              if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert nested == []


def test_block_memory_table_bad_input_shape():
    with pytest.raises(ValueError, match="input_shape"):
        block_memory_table(Blocks(), (1, 3, 64))
