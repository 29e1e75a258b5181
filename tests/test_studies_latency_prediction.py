"""Chapter 8's study: the search space, the data set and its cache, NetAdapt, MnasNet's reward, claims."""
import numpy as np
import pandas as pd
import pytest

import mnlab.analysis
from mnlab.analysis import analyze
from mnlab.analysis.predict import KernelModel, MacsLinear, describe
from mnlab.claims import Evidence
from mnlab.models import create_model
from mnlab.papers import figure
from mnlab.studies import latency_prediction as lp
from mnlab.studies import search_space as ss
from mnlab.studies import latency_search as ls


def test_search_space_samples_are_reproducible_and_in_range():
    a, b = ss.sample_architecture(3), ss.sample_architecture(3)
    assert a == b and a.spec == b.spec and a != ss.sample_architecture(4)
    for seed in range(30):
        arch = ss.sample_architecture(seed)
        assert arch.resolution in ss.RESOLUTIONS and len(arch.stages) == len(ss.STAGES)
        for stage, (base, stride, depths) in zip(arch.stages, ss.STAGES):
            assert stage.depth in depths and stage.kernel in ss.KERNELS and stage.stride == stride
            assert stage.out % 8 == 0 and 0.45 * base <= stage.out <= 1.7 * base   # 1.5 × 24 rounds to 40
    rows = a.rows()
    assert len(rows) == sum(s.depth for s in a.stages)
    assert analyze(a.build(), a.resolution).totals["macs"] > 0
    with pytest.raises(ValueError, match="seed"):
        ss.sample_architecture(-1)


def test_dataset_has_the_issue_s_composition():
    configs = lp.dataset_configs()
    families = pd.Series([c.family for c in configs]).value_counts()
    assert len(configs) >= 150 and families["search space"] >= 80
    assert {"MobileNetV1", "MobileNetV2", "MobileNetV3", "EfficientNet-Lite", "MobileOne"} <= set(families.index)
    assert families["EfficientNet-Lite"] == 5 and families["MobileOne"] == 5
    assert len({c.key for c in configs}) == len(configs)
    assert sum(c.expansion is not None for c in configs) == 5
    assert lp.config_of({"model": "mobilenet_v2", "width": 1.0, "resolution": 224, "expansion": 4.0,
                         "sample": float("nan")}) == lp.Config("mobilenet_v2", 1.0, 224, 4.0)


def test_splits_hold_out_the_real_networks():
    data = pd.DataFrame({"family": ["search space"] * 4 + ["MobileNetV1", "MobileOne"], "key": list("abcdef")})
    splits = lp.splits(data)
    assert splits["by family"] == ([0, 1, 2, 3], [4, 5])
    train, test = splits["random"]
    assert sorted(train + test) == list(range(6)) and len(train) == 3


def fake_compare(models, shapes, **kwargs):
    ms = {name: 1.0 + 1e-5 * float(np.prod(shapes[name] if isinstance(shapes[name], tuple) else shapes[name] ** 2))
          for name in models}
    return pd.DataFrame({"median_ms": ms, "min_ms": ms, "max_ms": ms, "best_ms": ms, "runs": dict.fromkeys(models, 5)})


def test_dataset_is_cached_by_machine(tmp_path, monkeypatch):
    cache = tmp_path / "data.csv"
    configs = [lp.Config("mobilenet_v3_small", 0.75, 96), lp.space_config(1)]
    monkeypatch.setattr(mnlab.analysis, "compare_latency", fake_compare)
    table = lp.measure_dataset(configs, backend="deploy", cache=cache, progress=False)
    assert list(table.key) == [c.key for c in configs] and list(table.columns) == lp.COLUMNS
    assert table.family.tolist() == ["MobileNetV3", "search space"]
    monkeypatch.setattr(mnlab.analysis, "compare_latency", lambda *a, **k: pytest.fail("measured again"))
    again = lp.measure_dataset(configs[::-1], backend="deploy", cache=cache, progress=False)
    assert list(again.key) == [c.key for c in configs[::-1]]
    with pytest.raises(ValueError, match="not stored"):
        lp.measure_dataset([lp.space_config(2)], backend="deploy", cache=cache, measure=False)


def test_v2_widths_rebuild_mobilenet_v2_and_shrink_one_layer():
    widths = ls.V2Widths.of(1.0)
    built, reference = widths.build(), create_model("mobilenet_v2").eval()
    assert sum(p.numel() for p in built.parameters()) == figure("reference/mobilenet_v2/1.0/params").value
    assert analyze(built, 224).totals["macs"] == analyze(reference, 224).totals["macs"]
    half = ls.V2Widths.of(0.5)
    assert analyze(half.build(), 224).totals["macs"] == analyze(create_model("mobilenet_v2", width_mult=0.5), 224).totals["macs"]
    thinner = widths.shrunk(("hidden", 4), 0.25)
    assert thinner.hidden[4] == 144 and thinner.hidden[:4] == widths.hidden[:4]   # block 4: 32 · 6 = 192, · 0.75
    assert widths.shrunk(("head", 0), 0.5).head == 640
    assert ls.V2Widths(8, widths.outs, widths.hidden, 1280).shrunk(("stem", 0), 0.5) is None


def test_netadapt_meets_the_predicted_budget_one_layer_at_a_time():
    """With latency proportional to MACs, every step removes MACs and the loop stops at the budget."""
    described = [describe(create_model("mobilenet_v2", width_mult=w), 224) for w in (0.5, 1.0)]
    predictor = MacsLinear().fit(described, [d.macs / 1e8 for d in described])
    start = predictor.predict_described(described[1])
    history = ls.netadapt(predictor, 0.8 * start, step=0.25)
    assert history.predicted_ms.iloc[0] == pytest.approx(start)
    assert history.predicted_ms.iloc[-1] <= 0.8 * start < history.predicted_ms.iloc[-2]
    assert (np.diff(history.macs) < 0).all() and history.layer.iloc[1] != ""
    with pytest.raises(ValueError, match="budget_ms"):
        ls.netadapt(predictor, 0)


def test_netadapt_does_not_hang_on_the_last_bits_of_a_prediction():
    """Latency ∝ MACs makes every layer save the same per MAC: a tie at every step, which the
    earlier layer wins; last-bit noise (another CPU's arithmetic) must not change the search."""
    described = [describe(create_model("mobilenet_v2", width_mult=w), 224) for w in (0.5, 1.0)]
    exact = MacsLinear().fit(described, [d.macs / 1e8 for d in described])
    rng = np.random.default_rng(0)

    class Noisy:
        def predict_described(self, d):
            return exact.predict_described(d) * (1 + 1e-13 * rng.standard_normal())

    budget = 0.85 * exact.predict_described(described[1])
    plain, noisy = ls.netadapt(exact, budget, step=0.25), ls.netadapt(Noisy(), budget, step=0.25)
    assert plain.layer.tolist() == noisy.layer.tolist() and len(plain) > 2
    assert plain.layer.iloc[1] == "stem[0]"   # the first layer of a tie


def test_mnasnet_reward_by_hand():
    assert ls.mnasnet_reward(75.0, 75.0, 75.0) == 75.0
    assert ls.mnasnet_reward(75.0, 150.0, 75.0) == pytest.approx(75.0 * 2 ** -0.07)
    # the paper's exchange rate: twice the latency and 5% more accuracy score about the same
    assert ls.mnasnet_reward(75.0 * 1.05, 150.0, 75.0) == pytest.approx(75.0, rel=0.002)
    table = ls.reward_table({"a": (75.2, 78.0)}, 75.0)
    assert table.loc["a", "reward (w=-0.07)"] == pytest.approx(75.2 * (78 / 75) ** -0.07)
    with pytest.raises(ValueError, match="latency_ms"):
        ls.mnasnet_reward(70.0, 0.0, 75.0)


def scores(kernel_within, macs_within):
    rows = {KernelModel.name: [kernel_within, 0.9], MacsLinear.name: [macs_within, 0.8]}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["within_10", "spearman"]).assign(n=60)


def test_claims_are_findings_except_the_arithmetic():
    results = {"scores": scores(0.7, 0.2), "lookup": pd.Series({"within_10": 0.5, "n": 6}),
               "netadapt": {"budget": 0.7, "measured": 0.72, "macs": 2.2e8, "uniform_macs": 2.0e8},
               "repeatable": 0.9, "machine": "test machine"}
    table = lp.claims(results)
    by_what = {c.what: c for c in table}
    assert all(not c.must_hold and c.evidence is Evidence.TIMING for c in table if "reward" not in c.what)
    assert by_what["MnasNet reward: accuracy that pays for twice the latency"].holds
    assert not by_what["kernel-level predictor reaches the chapter's target"].holds
    assert not by_what["a second measurement agrees with the first within ±10%"].holds
    assert by_what["kernels predict latency better than MACs"].holds
    assert by_what["NetAdapt meets a latency budget found with a predictor"].holds   # 0.72 ≤ 0.7 · 1.05
    assert by_what["a per-layer search keeps more MACs than a uniform width at equal latency"].holds
    worse = lp.claims({**results, "scores": scores(0.1, 0.2)})
    assert not {c.what: c for c in worse}["kernels predict latency better than MACs"].holds


def test_repeatability_is_the_share_of_configurations_that_agree():
    first = pd.DataFrame({"key": list("abcd"), "latency_ms": [1.0, 2.0, 4.0, 8.0]})
    second = pd.DataFrame({"key": list("dcbe"), "latency_ms": [8.7, 4.2, 2.3, 1.0]})   # e is not in the first
    assert lp.repeatability(first, second) == pytest.approx(2 / 3)   # c +5%, d +8.75% agree; b +15% does not
    assert lp.repeatability(first, second, tolerance=0.2) == 1.0
    with pytest.raises(ValueError, match="share 0"):
        lp.repeatability(first, second.assign(key=list("wxyz")))


def test_figures_draw_the_data_they_are_given():
    from mnlab.plots.latency_prediction import plot_predictions, plot_widths

    predictions = pd.DataFrame({"predictor": ["a", "a", "b", "b"], "family": ["V1", "V2"] * 2,
                                "measured": [1.0, 2.0, 1.0, 2.0], "predicted": [1.1, 1.8, 0.5, 4.0]})
    fig = plot_predictions(predictions, title="t")
    drawn = [ax for ax in fig.axes if ax.collections]
    assert [ax.get_title() for ax in drawn] == ["a", "b"]
    widths = {"start": ls.V2Widths.of(1.0), "thin": ls.V2Widths.of(0.5)}
    bars = plot_widths(widths).axes[0].patches
    assert len(bars) == 2 * (1 + 16 + 1) and bars[0].get_height() == 32   # stem, blocks 1–16, head


def test_search_results_are_stored_by_their_widths(tmp_path, monkeypatch):
    cache = tmp_path / "search.csv"
    monkeypatch.setattr(mnlab.analysis, "compare_latency", fake_compare)
    first = ls.measure_widths({"start": ls.V2Widths.of(0.5)}, backend="deploy", cache=cache)
    assert first.key.tolist() == ["start"] and first.macs.iloc[0] == analyze(create_model("mobilenet_v2", width_mult=0.5), 224).totals["macs"]
    with pytest.raises(ValueError, match="not stored"):   # same name, other widths: not the stored network
        ls.measure_widths({"start": ls.V2Widths.of(0.75)}, backend="deploy", cache=cache, measure=False)
    again = ls.measure_widths({"start": ls.V2Widths.of(0.5)}, backend="deploy", cache=cache, measure=False)
    assert again.latency_ms.iloc[0] == first.latency_ms.iloc[0]


def test_widths_are_read_back_from_their_spec():
    for widths in (ls.V2Widths.of(1.0), ls.V2Widths.of(0.35).shrunk(("hidden", 3), 0.5)):
        assert ls.V2Widths.from_spec(widths.spec) == widths
    with pytest.raises(ValueError, match="spec must be 'stem/outs/hidden/head'"):
        ls.V2Widths.from_spec("32/16-24/1280")


def test_exported_figures_read_the_stored_search():
    """``make figures`` rebuilds chapter 8's figures from chapters/data: the width figure shows
    MobileNetV2, NetAdapt's result and the uniform multiplier nearest it in the stored run."""
    from mnlab.plots import latency_prediction as plots

    assert set(plots.FIGURES) == {"latency_predictions", "latency_netadapt_widths"}
    path = plots.DATA / lp.SEARCH_CSV
    stored = pd.read_csv(path)
    backend = plots.stored_backend(path)
    assert backend == stored.sort_values("measured_at").backend.iloc[-1]
    networks = plots.stored_search(path, backend)
    assert list(networks)[:2] == ["MobileNetV2 1.0", "NetAdapt"] and list(networks)[2].startswith("uniform α=")
    assert networks["MobileNetV2 1.0"] == ls.V2Widths.of(1.0)
    alpha = float(list(networks)[2].split("=")[1])
    assert networks[list(networks)[2]] == ls.V2Widths.of(alpha)


def test_build_stores_each_split_s_kernel_training_set_and_reads_it_back(tmp_path, monkeypatch):
    from mnlab.analysis.kernel_bank import KernelBank
    from mnlab.analysis.kernels import Kernel
    from mnlab.analysis.predict import Description, KernelModel

    from mnlab.analysis import kernel_bank

    monkeypatch.setattr(kernel_bank, "compare_latency", fake_compare)   # no clock
    Bank = KernelBank

    def fit_kernel_model_only(predictors, described, data, split, latency="latency_ms"):
        model = predictors[KernelModel.name]
        model.fit(described, data[latency].to_numpy())
        return pd.DataFrame({"within_10": [1.0]}, index=[model.name]), pd.DataFrame()

    monkeypatch.setattr(lp, "evaluate", fit_kernel_model_only)
    ks = [Kernel("pointwise", 14, 14, 32, 64), Kernel("depthwise", 14, 14, 32, 32, 3, 1, 32, "relu")]
    described = [Description(1, 1, ks[: i + 1], []) for i in range(2)]
    data = pd.DataFrame({"latency_ms": [0.05, 0.07]})
    path = tmp_path / "training.csv"
    measured = lp.build(data, described, Bank("deploy", cache=tmp_path / "k.csv", progress=False), training=path)
    table = pd.read_csv(path)
    assert set(table.split) == {"random", "by family"} and (table.backend == "deploy").all()
    chosen = measured["random"][2][KernelModel.name].training

    reader = Bank("deploy", cache=tmp_path / "k.csv", measure=False)
    again = lp.build(data, described, reader, training=path)
    assert again["random"][2][KernelModel.name].training == chosen   # read back, not re-sampled
    assert len(pd.read_csv(path)) == len(table)                      # and nothing appended
    table[table.split == "random"].to_csv(path, index=False)
    with pytest.raises(ValueError, match="no stored training set for split 'by family'"):
        lp.build(data, described, reader, training=path)


def test_dataset_summary_by_family():
    data = pd.DataFrame({"key": list("abc"), "family": ["V1", "V1", "V2"], "macs": [1e6, 3e6, 2e6],
                         "latency_ms": [1.0, 2.0, 5.0], "spread": [0.1, 0.3, 0.0]})
    table = lp.dataset_summary(data)
    assert table.loc["V1"].tolist() == [2, 1.0, 3.0, 1.0, 2.0, 0.2] and table.index.tolist() == ["V1", "V2"]
