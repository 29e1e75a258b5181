"""mnlab.studies.synthesis: the stored zoo (read as stored, re-measured only on request), the
published top-1 join, the Pareto front and the numbers behind the advice."""
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from mnlab.papers import figure
from mnlab.plots.synthesis import plot_pareto
from mnlab.studies import synthesis as syn
from mnlab.studies.stored import machine_of
from mnlab.zoo import COLUMNS

TINY = [("mobilenet_v3_small", 0.5, 64), ("mobileone_s0", None, 64)]

pytestmark = pytest.mark.filterwarnings("ignore:.*noisy")


def test_stored_zoo_measures_once_then_reads_as_stored(tmp_path):
    path = tmp_path / "data" / "zoo.csv"
    first = syn.stored_zoo(path, False, configs=TINY, budget_s=0.02)   # no file yet: measures
    assert path.exists() and list(first.columns) == COLUMNS and len(first) == 2
    # Pretend another machine measured it: the stored rows come back untouched, not re-timed.
    stored = pd.read_csv(path)
    stored["cpu"], stored["fingerprint"], stored["latency_ms"] = "Some Other CPU", "0000", [1.5, 2.5]
    stored.to_csv(path, index=False)
    again = syn.stored_zoo(path, False, configs=TINY, budget_s=0.02)
    assert list(again["latency_ms"]) == [1.5, 2.5] and set(again["cpu"]) == {"Some Other CPU"}
    assert again["reparameterized"].tolist() == [False, True]   # booleans survive the CSV
    assert "Some Other CPU" in machine_of(again)
    # remeasure=True times anew on this machine and rewrites the file
    fresh = syn.stored_zoo(path, True, configs=TINY, budget_s=0.02, repeats=2)
    assert "Some Other CPU" not in set(fresh["cpu"]) and (fresh["latency_ms"] > 0).all()
    assert syn.read_zoo(path)["latency_ms"].tolist() == fresh["latency_ms"].tolist()


def test_stored_zoo_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="remeasure"):
        syn.stored_zoo(tmp_path / "z.csv", "yes")
    with pytest.raises(ValueError, match="repeats"):
        syn.stored_zoo(tmp_path / "z.csv", True, repeats=0)
    with pytest.raises(FileNotFoundError):
        syn.read_zoo(tmp_path / "missing.csv")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="missing columns"):
        syn.read_zoo(tmp_path / "bad.csv")


def test_the_book_table_is_stored_and_complete():
    """chapters/data/zoo_latency.csv: every default configuration, one machine."""
    from pathlib import Path
    from mnlab.zoo import default_configs
    path = Path(__file__).resolve().parents[1] / "chapters" / "data" / "zoo_latency.csv"
    table = syn.read_zoo(path)
    assert len(table) == len(default_configs()) >= 30
    assert table["fingerprint"].nunique() == 1 and (table["latency_ms"] > 0).all()


@pytest.mark.parametrize("model,width,res,key", [
    ("mobilenet_v1", 0.75, 224, "mobilenet_v1/table6/0.75/top1"),
    ("mobilenet_v1", 1.0, 160, "mobilenet_v1/table7/160/top1"),
    ("mobilenet_v1", 0.75, 160, None),
    ("mobilenet_v2", 1.4, 224, "mobilenet_v2/table4/mobilenet_v2_1.4/top1"),
    ("mobilenet_v2", 0.5, 224, None),
    ("mobilenet_v3_small", 0.75, 224, "mobilenet_v3/table3/small_0.75/top1"),
    ("mobilenet_v3_large", 1.0, 160, None),
    ("efficientnet_lite3", 1.2, 280, "efficientnet_lite/lite3/top1"),
    ("mobileone_s2", np.nan, 224, "mobileone/s2/top1"),
])
def test_top1_keys_exist_in_papers(model, width, res, key):
    assert syn.top1_key(model, width, res) == key
    if key:
        assert figure(key).unit == "%"


def _toy():
    return pd.DataFrame({
        "family": ["A", "A", "B", "B"], "model": ["mobilenet_v1", "mobilenet_v1", "mobileone_s0", "mobileone_s1"],
        "width": [1.0, 0.5, np.nan, np.nan], "resolution": [224, 224, 224, 224], "reparameterized": [False, False, True, True],
        "macs": [569e6, 149e6, 275e6, 825e6], "params": [4.2e6, 1.3e6, 2.1e6, 4.8e6],
        "peak_activation_bytes": [2 ** 22] * 4, "latency_ms": [20.0, 8.0, 12.0, 10.0]})


def test_with_published_top1_and_labels():
    table = syn.with_published_top1(_toy())
    assert list(table["label"]) == ["V1 1", "V1 0.5", "MobileOne-S0", "MobileOne-S1"]
    assert list(table["top1"]) == [70.6, 63.7, 71.4, 75.9]


def test_pareto_front():
    table = pd.DataFrame({"latency_ms": [1, 2, 3, 4, 2, np.nan], "top1": [60, 70, 65, 80, 70, 90]})
    assert syn.pareto_front(table).tolist() == [True, True, False, True, True, False]
    with pytest.raises(ValueError, match="column"):
        syn.pareto_front(table, cost="ms")


def test_synthesis_table_and_plot():
    table = syn.synthesis_table(_toy())
    assert list(table["label"]) == ["V1 0.5", "MobileOne-S1", "MobileOne-S0", "V1 1"]   # by latency
    assert table["pareto"].tolist() == [True, True, False, False]
    assert table.loc[0, "gmacs_per_s"] == pytest.approx(149e6 / 8e6)
    assert isinstance(plot_pareto(table), Figure)


def test_the_exported_pareto_figures_rebuild_from_stored_data():
    from mnlab.plots import exported_figures
    figures = exported_figures()
    for name in ("synthesis_pareto", "synthesis_pareto_eager"):
        fig = figures[name]()
        assert isinstance(fig, Figure) and fig.axes[0].get_xscale() == "log"


def test_worst_inversion_and_family_throughput():
    inv = syn.worst_inversion(_toy(), "macs")
    # V1 1.0 (569M) is slower than S1 (825M MACs): 20 / 10 = 2x
    assert (inv["a"], inv["b"]) == ("V1 1", "MobileOne-S1") and inv["latency_ratio"] == 2.0
    assert inv["metric_ratio"] == pytest.approx(569 / 825)
    rates = syn.family_throughput(_toy())
    assert list(rates.index) == ["B", "A"] and rates.loc["B", "configs"] == 2


def test_kind_shares():
    layers = pd.DataFrame({"kind": ["conv 1×1", "depthwise 3×3", "activation", "conv 1×1"],
                           "macs": [80, 20, 0, 0], "time_ms": [1.0, 2.0, 1.0, np.nan]})
    shares = syn.kind_shares(layers)
    assert list(shares.index) == ["depthwise 3×3", "conv 1×1", "activation"]
    assert shares.loc["depthwise 3×3", "time_per_mac_ratio"] == pytest.approx(0.5 / 0.2)
    assert np.isnan(shares.loc["activation", "time_per_mac_ratio"])


def test_cheapest_reaching():
    table = syn.synthesis_table(_toy())
    assert syn.cheapest_reaching(table, 71)["label"] == "MobileOne-S1"
    assert syn.cheapest_reaching(table, 60)["label"] == "V1 0.5"
    with pytest.raises(ValueError, match="reaches"):
        syn.cheapest_reaching(table, 90)


def test_runtime_speedup_small_model():
    from mnlab.studies.mobileone import thirty_layer_net
    result = syn.runtime_speedup(thirty_layer_net("ReLU", channels=4, layers=5), 32, rounds=1, budget_s=0.01)
    assert set(result) == {"eager_ms", "deployed_ms", "speedup"}
    assert result["speedup"] == pytest.approx(result["eager_ms"] / result["deployed_ms"])


def _book_zoo(backend):
    from pathlib import Path
    return syn.read_zoo(Path(__file__).resolve().parents[1] / "chapters" / "data" / "zoo_latency.csv", backend)


def test_front_changes():
    eager = _toy()
    deployed = eager.assign(latency_ms=[20.0, 8.0, 9.0, 10.0])   # S0 now 9 ms: faster than S1
    changes = syn.front_changes(eager, deployed)
    # eager front: V1 0.5 (8 ms), S1 (10 ms); deployed: V1 0.5, S0 (9 ms, 71.4), S1 (10 ms, 75.9)
    assert changes == {"joined": ["MobileOne-S0"], "left": [], "kept": ["V1 0.5", "MobileOne-S1"]}
    assert syn.front_changes(eager, eager)["joined"] == []
    with pytest.raises(ValueError, match="different configurations"):
        syn.front_changes(eager, eager.iloc[:3])


def test_cost_ranking_orders_metrics_by_spearman():
    from scipy import stats
    zoo = _book_zoo("onnxruntime")
    ranking = syn.cost_ranking(zoo)
    assert list(ranking.index) == sorted(syn.COST_NAMES, key=lambda m: -stats.spearmanr(zoo[m], zoo.latency_ms)[0])
    assert ranking.spearman["macs"] == pytest.approx(stats.spearmanr(zoo.macs, zoo.latency_ms)[0])


def test_deploy_gain():
    eager = _toy()
    deployed = eager.assign(latency_ms=[10.0, 2.0, 12.0, 5.0]).iloc[::-1]   # joined by key, not order
    gain = syn.deploy_gain(eager, deployed)
    assert gain.to_dict() == {"B": pytest.approx((1.0 + 2.0) / 2), "A": pytest.approx((2.0 + 4.0) / 2)}
    with pytest.raises(ValueError, match="configurations"):
        syn.deploy_gain(eager.iloc[:2], deployed)


def test_claims_follow_the_stored_zoo():
    shares = pd.DataFrame({"macs_share": [0.05], "time_share": [0.2], "time_per_mac_ratio": [4.0]},
                          index=pd.Index(["depthwise 3×3"], name="kind"))
    zoo = _book_zoo("onnxruntime")
    labels = [syn.label_of(r) for r in zoo.to_dict("records")]
    lat = dict(zip(labels, zoo["latency_ms"]))
    claims = syn.claims(zoo, shares)
    assert [c.what for c in claims][0] == "MobileNetV2 is faster than MobileNetV1"
    assert claims[0].holds == (lat["V2 1"] < lat["V1 1"])
    assert claims[-1].holds and claims[-1].must_hold   # 4 > 1.5: a large effect, must hold
    assert all(c.machine for c in claims[:-1])
    slower = zoo.copy()
    slower.loc[[label == "V2 1" for label in labels], "latency_ms"] = 2 * lat["V1 1"]
    assert not syn.claims(slower, shares.assign(time_per_mac_ratio=1.2))[0].holds
    assert not syn.claims(slower, shares.assign(time_per_mac_ratio=1.2))[-1].holds
