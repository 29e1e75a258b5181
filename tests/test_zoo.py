"""zoo_sweep: the default grid, the cache keyed by machine, bad input."""
import os

import pandas as pd
import pytest
from torch import nn

from mnlab import zoo
from mnlab.zoo import COLUMNS, ZooConfig, default_configs, zoo_sweep

# Two small, quick configurations: one width-scaled MobileNet, one re-parameterized MobileOne.
CONFIGS = [("mobilenet_v3_small", 0.5, 64), ("mobileone_s0", None, 64)]
QUICK = dict(progress=False, budget_s=0.05)

pytestmark = pytest.mark.filterwarnings("ignore:.*noisy")


def test_default_grid_covers_every_family():
    configs = default_configs()
    assert len(configs) >= 30
    resolved = [c.resolved() for c in configs]
    models = {c.model for c in resolved}
    assert {"mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
            "efficientnet_lite0", "mobileone_s0"} <= models
    assert any(c.reparameterized for c in resolved)
    assert len({c.width for c in resolved if c.model == "mobilenet_v2"}) >= 3
    assert len({c.resolution for c in resolved if c.model == "mobilenet_v1"}) >= 3
    assert len(set(resolved)) == len(resolved)  # no duplicates


def test_sweep_rows_and_cache(tmp_path, monkeypatch):
    cache = tmp_path / "zoo.csv"
    table = zoo_sweep(CONFIGS, cache=cache, **QUICK)
    assert list(table.columns) == COLUMNS and len(table) == 2
    assert list(table["model"]) == ["mobilenet_v3_small", "mobileone_s0"]
    assert list(table["family"]) == ["MobileNetV3", "MobileOne"]
    assert list(table["reparameterized"]) == [False, True]
    assert (table[["macs", "params", "bytes", "peak_activation_bytes", "latency_ms"]] > 0).all().all()
    assert table["fingerprint"].nunique() == 1 and cache.exists()

    # A re-run on the same machine measures nothing and returns the same table.
    def must_not_measure(*args, **kwargs):
        raise AssertionError("a cached configuration was measured again")

    monkeypatch.setattr(zoo, "measure_config", must_not_measure)
    again = zoo_sweep(CONFIGS, cache=cache, **QUICK)
    pd.testing.assert_frame_equal(again.drop(columns="width"), table.drop(columns="width"), check_dtype=False)

    # remeasure replaces the rows instead of appending.
    monkeypatch.undo()
    zoo_sweep(CONFIGS[:1], cache=cache, remeasure=True, **QUICK)
    assert len(pd.read_csv(cache)) == 2


def test_other_machine_rows_are_kept_but_not_returned(tmp_path):
    cache = tmp_path / "zoo.csv"
    table = zoo_sweep(CONFIGS[:1], cache=cache, **QUICK)
    other = table.assign(fingerprint="0123456789ab", cpu="another CPU", latency_ms=99.0)
    pd.concat([other, table]).to_csv(cache, index=False)
    again = zoo_sweep(CONFIGS[:1], cache=cache, **QUICK)
    assert len(again) == 1 and again["latency_ms"].iloc[0] != 99.0
    assert len(pd.read_csv(cache)) == 2


def test_config_forms():
    assert ZooConfig("mobileone_s1").resolved() == ZooConfig("mobileone_s1", None, 224, True)
    assert ZooConfig("efficientnet_lite2").resolved().resolution == 260
    assert ZooConfig("mobilenet_v2", 0.5).resolved() == ZooConfig("mobilenet_v2", 0.5, 224, False)


@pytest.mark.parametrize("configs, match", [
    ([], "at least one"),
    ([nn.Conv2d(3, 8, 3)], "config"),
    (nn.Conv2d(3, 8, 3), "configs"),
    ([("resnet50", 1.0, 224)], "unknown model"),
    ([("mobilenet_v2", 0.0, 224)], "width"),
    ([("mobileone_s0", 1.0, 224)], "width"),
    ([("mobilenet_v2", 1.0, 16)], "resolution"),
    ([("mobilenet_v2", 1.0, 224, True)], "reparameterized"),
])
def test_bad_configs(configs, match):
    with pytest.raises(ValueError, match=match):
        zoo_sweep(configs, cache=None, progress=False)


@pytest.mark.parametrize("threads", [0, -1, 2.5])
def test_bad_threads(threads):
    with pytest.raises(ValueError, match="threads"):
        zoo_sweep(CONFIGS, cache=None, progress=False, threads=threads)


def test_not_a_zoo_table_as_cache(tmp_path):
    cache = tmp_path / "other.csv"
    pd.DataFrame({"a": [1]}).to_csv(cache, index=False)
    with pytest.raises(ValueError, match="cache"):
        zoo_sweep(CONFIGS[:1], cache=cache, progress=False)


# ----------------------------------------------------------------------------- issue 13: the cache

def test_an_empty_file_is_an_empty_cache(tmp_path):
    cache = tmp_path / "zoo.csv"
    cache.write_text("")
    table = zoo_sweep(CONFIGS[:1], cache=cache, **QUICK)
    assert len(table) == 1 and len(pd.read_csv(cache)) == 1


def test_a_row_with_a_missing_latency_is_measured_again(tmp_path):
    cache = tmp_path / "zoo.csv"
    zoo_sweep(CONFIGS[:1], cache=cache, **QUICK)
    stored = pd.read_csv(cache)
    stored["latency_ms"] = float("nan")
    stored.to_csv(cache, index=False)
    again = zoo_sweep(CONFIGS[:1], cache=cache, **QUICK)
    assert again["latency_ms"].notna().all() and pd.read_csv(cache)["latency_ms"].notna().all()


def test_a_line_cut_off_mid_way_is_dropped_with_a_warning_and_removed(tmp_path, monkeypatch):
    cache = tmp_path / "zoo.csv"
    zoo_sweep(CONFIGS, cache=cache, **QUICK)
    text = cache.read_text()
    cache.write_text(text[: len(text) - 40])          # the second row loses its tail, no newline
    measured = []
    real = zoo.measure_config
    monkeypatch.setattr(zoo, "measure_config", lambda c, **kw: measured.append(c.model) or real(c, **kw))
    with pytest.warns(UserWarning, match=r"zoo\.csv.*cut off"):
        table = zoo_sweep(CONFIGS, cache=cache, **QUICK)
    assert measured == ["mobileone_s0"]                 # only the damaged row is measured again
    assert len(pd.read_csv(cache)) == 2 and cache.read_text().endswith("\n")
    for column in zoo.INT_COLUMNS:                      # integers stay integers, returned and stored
        assert pd.api.types.is_integer_dtype(table[column]), column
        assert pd.api.types.is_integer_dtype(pd.read_csv(cache)[column]), column


def test_an_unwritable_cache_is_refused_before_measuring(tmp_path, monkeypatch):
    monkeypatch.setattr(zoo, "measure_config", lambda *a, **k: pytest.fail("measured"))
    with pytest.raises(ValueError, match="directory"):
        zoo_sweep(CONFIGS, cache=tmp_path, **QUICK)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):   # root can write anyway
            with pytest.raises(ValueError, match=r"locked.*not writable"):
                zoo_sweep(CONFIGS, cache=locked / "zoo.csv", **QUICK)
        (tmp_path / "file").write_text("")
        with pytest.raises(ValueError, match=r"file.*not writable"):   # a file where a folder must be
            zoo_sweep(CONFIGS, cache=tmp_path / "file" / "zoo.csv", **QUICK)
    finally:
        locked.chmod(0o700)


def test_a_cache_that_is_not_text_names_the_file(tmp_path):
    cache = tmp_path / "zoo.csv"
    cache.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match=r"zoo\.csv"):
        zoo_sweep(CONFIGS, cache=cache, **QUICK)


@pytest.mark.parametrize("config, match", [(("mobilenet_v2", float("inf"), 224), "width"),
                                           (("mobilenet_v2", 1.0, 10 ** 12), "resolution"),
                                           (("mobilenet_v2", float("nan"), 224), "width")])
def test_configs_out_of_range_name_the_field(config, match):
    with pytest.raises(ValueError, match=match):
        zoo_sweep([config], cache=None, progress=False)


def test_sweep_on_onnxruntime_has_its_own_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("MNLAB_CACHE_DIR", str(tmp_path / "deploy"))
    cache = tmp_path / "zoo.csv"
    eager = zoo_sweep(CONFIGS[:1], cache=cache, **QUICK)
    ort = zoo_sweep(CONFIGS[:1], cache=cache, backend="onnxruntime", **QUICK)
    assert list(ort["backend"]) == ["onnxruntime"] and list(eager["backend"]) == ["eager"]
    assert ort["macs"].iloc[0] == eager["macs"].iloc[0]
    assert sorted(pd.read_csv(cache)["backend"]) == ["eager", "onnxruntime"]
    with pytest.raises(ValueError, match="backend"):
        zoo_sweep(CONFIGS[:1], cache=None, backend="tflite", progress=False)


def test_the_stored_book_table_keeps_one_row_per_backend_and_chapters_read_eager(tmp_path, monkeypatch):
    """mnlab.studies.synthesis.stored_zoo/read_zoo: a backend's re-measure replaces its own rows only."""
    from pathlib import Path

    from mnlab.studies import synthesis as syn
    monkeypatch.setenv("MNLAB_CACHE_DIR", str(tmp_path / "deploy"))
    path = tmp_path / "zoo.csv"
    eager = syn.stored_zoo(path, False, configs=CONFIGS[:1], budget_s=0.02)
    ort = syn.stored_zoo(path, False, configs=CONFIGS[:1], budget_s=0.02, backend="onnxruntime")
    assert list(ort["backend"]) == ["onnxruntime"] and len(pd.read_csv(path)) == 2
    syn.stored_zoo(path, True, configs=CONFIGS[:1], budget_s=0.02, backend="onnxruntime")
    assert len(pd.read_csv(path)) == 2
    pd.testing.assert_frame_equal(syn.read_zoo(path), eager)
    book = Path(__file__).resolve().parents[1] / "chapters" / "data" / "zoo_latency.csv"
    stored = syn.read_zoo(book)
    assert set(stored["backend"]) == {"eager"} and len(stored) == len(default_configs())
