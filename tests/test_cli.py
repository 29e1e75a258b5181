"""The ``mnlab`` command: output, CSV, exit codes and one-line errors."""
import subprocess
import sys

import pandas as pd
import pytest
import torch

from mnlab.analysis import COLUMNS, analyze
from mnlab.cli import main

models = pytest.importorskip("mnlab.models", reason="the model registry is not importable yet")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_lists_the_registry(capsys):
    code, out, err = run(capsys, "models")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert [line.split()[0] for line in lines[1:]] == models.list_models()
    assert "efficientnet_lite4" in out and "300" in out


def test_summary_prints_layers_and_totals(capsys):
    code, out, err = run(capsys, "summary", "mobilenet_v1", "--width", "0.5", "--resolution", "160")
    assert code == 0 and err == ""
    report = analyze(models.create_model("mobilenet_v1", width_mult=0.5).eval(), 160)
    assert "input (1, 3, 160, 160)" in out
    assert "features.13.pointwise.0" in out and "depthwise 3×3" in out
    for label, key in [("MACs (Mult-Adds)", "macs"), ("FLOPs (= 2 x MACs)", "flops"),
                       ("parameters", "params"), ("bytes read", "bytes_read"),
                       ("bytes written", "bytes_written"),
                       ("peak activation memory (bytes)", "peak_activation_bytes")]:
        line = next(line for line in out.splitlines() if line.startswith(label))
        assert f"{report.totals[key]:,}" in line, line


def test_summary_by_kind(capsys):
    code, out, _ = run(capsys, "summary", "mobilenet_v1", "--by-kind")
    assert code == 0
    assert "macs_pct" in out and "conv 1×1" in out
    assert "features.1.depthwise.0" not in out  # the grouping replaces the per-layer rows
    assert "568,740,352" in out  # MobileNetV1's 569M Mult-Adds


def test_summary_writes_csv(capsys, tmp_path):
    path = tmp_path / "layers.csv"
    code, out, _ = run(capsys, "summary", "mobilenet_v3_small", "--csv", str(path))
    assert code == 0 and f"to {path}" in out
    table = pd.read_csv(path)
    assert list(table.columns) == COLUMNS
    expected = analyze(models.create_model("mobilenet_v3_small").eval(), 224).totals["macs"]
    assert table["macs"].sum() == expected


@pytest.mark.parametrize("argv,message", [
    (["summary", "mobilenet_v9"], "unknown model name 'mobilenet_v9'"),
    (["summary", "mobilenet_v1", "--width", "-1"], "width_mult"),
    (["summary", "mobilenet_v1", "--width", "wide"], "--width"),
    (["summary", "mobilenet_v1", "--resolution", "0"], "--resolution"),
    (["summary", "mobilenet_v1", "--resolution", "16"], "input_shape 16"),
    (["summary", "mobilenet_v1", "--resolution", "abc"], "--resolution"),
    (["summary"], "MODEL"),
    (["frobnicate"], "invalid choice"),
    ([], "COMMAND"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("mnlab: error: ")
    assert message in err


def test_width_on_a_model_without_width_mult_exits_2(capsys):
    takes_no_width = []
    for name in models.list_models():
        try:
            with torch.device("meta"):  # shapes only: fast
                models.create_model(name, width_mult=0.5)
        except ValueError as refused:  # MobileOne: its variant is its width
            assert "width_mult is not available" in str(refused)
            takes_no_width.append(name)
    assert takes_no_width == [f"mobileone_s{i}" for i in range(5)]
    code, out, err = run(capsys, "summary", takes_no_width[0], "--width", "0.5")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "width_mult is not available for MobileOne" in err


def test_unwritable_csv_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "summary", "mobilenet_v1", "--csv", str(tmp_path / "no" / "dir.csv"))
    assert code == 2 and err.count("\n") == 1


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "summary" in capsys.readouterr().out


def test_module_entry_point():
    done = subprocess.run([sys.executable, "-m", "mnlab.cli", "summary", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("mnlab: error: unknown model name 'nope'")
