"""zoo_sweep: the default grid, the cache keyed by machine, bad input."""
import pandas as pd
import pytest
from torch import nn

pytest.importorskip("mnlab.models", reason="mnlab.models (the lead's models) not importable yet")
pytest.importorskip("mnlab.analysis.counting", reason="mnlab.analysis.counting (analyze) not importable yet")

from mnlab import zoo  # noqa: E402
from mnlab.zoo import COLUMNS, ZooConfig, default_configs, zoo_sweep  # noqa: E402

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
