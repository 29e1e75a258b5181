"""mnlab.studies.stored: results kept as CSV with the machine that produced them."""
import pandas as pd
import pytest
import torch

from mnlab.analysis.latency import cpu_model
from mnlab.studies import stored


def test_stored_tables_measure_once_record_the_machine_and_read_back(tmp_path):
    calls = []

    def measure():
        calls.append(1)
        return {"a": pd.DataFrame({"x": [1, 2], "y": [0.1234567891, 2.0]}), "b": pd.DataFrame({"z": ["p"]})}

    paths = {"a": tmp_path / "a.csv", "b": tmp_path / "b.csv"}
    first = stored.stored_tables(paths, False, measure)
    again = stored.stored_tables(paths, False, measure)
    assert len(calls) == 1   # read as stored the second time
    pd.testing.assert_frame_equal(first["a"], again["a"])
    assert list(first["a"].y) == [0.123457, 2.0]   # six significant digits
    row = first["b"].iloc[0]
    assert (row.cpu, row.threads, row.torch) == (cpu_model(), 1, torch.__version__)
    assert row.cpu_capability == torch.backends.cpu.get_cpu_capability()
    assert not list(tmp_path.glob("*.tmp"))
    stored.stored_tables(paths, True, measure)
    assert len(calls) == 2   # remeasure=True measures anew
    paths["a"].unlink()
    stored.stored_tables(paths, False, measure)
    assert len(calls) == 3   # a missing file is measured


def test_stored_tables_reject_bad_input(tmp_path):
    with pytest.raises(ValueError, match="remeasure"):
        stored.stored_tables({"a": tmp_path / "a.csv"}, "yes", dict)
    with pytest.raises(ValueError, match="paths"):
        stored.stored_tables({}, True, dict)
    with pytest.raises(ValueError, match=r"returned tables \['b'\], expected \['a'\]"):
        stored.stored_tables({"a": tmp_path / "a.csv"}, True, lambda: {"b": pd.DataFrame()})


def test_machine_of_names_every_machine():
    table = pd.DataFrame({"cpu": ["Intel Xeon", "Intel Xeon", "AMD EPYC"], "logical_cores": [2, 2, 4],
                          "threads": [1, 1, 2], "torch": ["2.13.0+cpu"] * 3, "cpu_capability": ["AVX512"] * 3})
    assert stored.machine_of(table) == ("Intel Xeon (2 logical cores), 1 thread, torch 2.13.0+cpu, AVX512 kernels / "
                                        "AMD EPYC (4 logical cores), 2 threads, torch 2.13.0+cpu, AVX512 kernels")
    assert stored.machine_of(table.drop(columns="cpu_capability")).endswith("2 threads, torch 2.13.0+cpu")
    assert stored.machine_of(table, cpu_only=True) == "Intel Xeon / AMD EPYC"
    assert stored.machine_of(table[["cpu"]], cpu_only=True) == "Intel Xeon / AMD EPYC"
    with pytest.raises(ValueError, match="cpu"):
        stored.machine_of(pd.DataFrame({"x": [1]}))
