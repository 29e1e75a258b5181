"""mnlab.studies.mobileone: re-parameterization step by step, counts, the latency studies."""
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from mnlab.models import MobileOneBlock
from mnlab.plots import mobileone as mo_plots
from mnlab.studies import mobileone as mo

pytestmark = pytest.mark.filterwarnings("ignore:.*noisy")


def _x(channels=8, side=12):
    return torch.randn(1, channels, side, side, generator=torch.Generator().manual_seed(1))


def test_every_reparam_step_is_exact_to_float_precision():
    steps, kernels = mo.reparam_steps(mo.demo_block(), _x())
    assert list(steps["step"]) == ["1.1", "1.2", "1.3", "1.4", "2", "3a", "3b", "4", "5", "6"]
    assert (steps["max_abs_error"] < 1e-5).all()
    assert (steps["output_scale"] > 0.1).all()   # the BN statistics are not trivial
    assert set(kernels) == {"conv 1", "conv 2", "conv 3", "conv 4", "scale", "identity", "fused", "bias"}
    # the padded 1×1 kernel has zeros off-centre; the identity is the centre tap only
    assert kernels["scale"][:, :, 0, :].abs().sum() == 0
    assert (kernels["identity"][:, 0, 1, 1] != 0).all() and kernels["identity"][:, 0, 0, 0].abs().sum() == 0


def test_reparam_steps_dense_block_without_identity():
    torch.manual_seed(0)
    block = mo.randomize_batchnorm_(MobileOneBlock(4, 6, 3, stride=2, branches=2)).eval()
    steps, kernels = mo.reparam_steps(block, _x(4))
    assert "3a" not in set(steps["step"]) and "identity" not in kernels
    assert (steps["max_abs_error"] < 1e-5).all()


def test_reparam_steps_refuses_a_fused_block():
    block = mo.demo_block()
    block.reparameterize_()
    with pytest.raises(ValueError, match="train-time"):
        mo.reparam_steps(block, _x())


def test_randomize_batchnorm_is_seeded():
    a, b = mo.demo_block(seed=3), mo.demo_block(seed=3)
    assert torch.equal(a.identity.running_var, b.identity.running_var)
    assert not torch.equal(a.identity.running_var, torch.ones(8))


def test_plot_reparam_kernels_returns_a_figure():
    _, kernels = mo.reparam_steps(mo.demo_block(), _x())
    fig = mo_plots.plot_reparam_kernels(kernels, channel=2)
    assert isinstance(fig, Figure) and len(fig.axes) == 7


def test_reparam_counts_match_published_inference_form():
    counts = mo.reparam_counts()
    assert list(counts["model"]) == ["S0", "S1", "S2", "S3", "S4"]
    assert (counts["params_gap"].abs() < 0.03).all() and (counts["macs_gap"].abs() < 0.03).all()
    assert (counts["params_train"] > counts["params_reparam"]).all()
    assert counts.loc[0, "branches"] == 4 and counts.loc[0, "macs_train"] > 3 * counts.loc[0, "macs_reparam"]


def test_thirty_layer_net_shapes_and_equal_macs():
    relu, se = mo.thirty_layer_net("ReLU", channels=8), mo.thirty_layer_net("ReLU", channels=8, se=True)
    convs = [m for m in relu.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 29 and relu(torch.zeros(1, 3, 32, 32)).shape == (1, 1000)
    assert len([m for m in se.modules() if isinstance(m, torch.nn.Conv2d)]) == 29 + 2 * 14
    with pytest.raises(ValueError, match="activation"):
        mo.thirty_layer_net("swish-7")
    with pytest.raises(ValueError, match="channels"):
        mo.thirty_layer_net("ReLU", channels=0)


def test_interleaved_latency_and_tiny_studies():
    models = {"a": mo.thirty_layer_net("ReLU", channels=4, layers=5), "b": mo.thirty_layer_net("GELU", channels=4, layers=5)}
    times = mo.interleaved_latency(models, 32, rounds=2, budget_s=0.01)
    assert set(times) == {"a", "b"} and all(t > 0 for t in times.values())
    blocks = mo.block_study(resolution=32, rounds=1, budget_s=0.01)
    assert list(blocks["variant"]) == list(mo.BLOCK_VARIANTS)
    assert blocks.loc[1, "macs_vs_baseline"] == 0 and 0 < blocks.loc[2, "macs_vs_baseline"] < 0.001
    assert blocks.loc[2, "global_pools"] == 14 and blocks.loc[0, "latency_vs_baseline"] == 1
    acts = mo.activation_study(resolution=32, rounds=1, budget_s=0.01)
    assert list(acts["activation"]) == list(mo.STUDY_ACTIVATIONS) and acts.loc[0, "deploy_vs_relu"] == 1


def test_time_forms_pairs_the_two_forms_round_by_round(monkeypatch):
    """Each round times one variant's two forms together, the variants in turn; the speed-up is the
    median of the paired ratios, not the ratio of the fastest times. Medians by hand: S0's rounds
    give train/reparam 10/5, 4/4, 9/3 (ratios 2, 1, 3), S1's 6/2, 6/3, 6/6 (ratios 3, 2, 1)."""
    medians = {"mobileone_s0": [(10.0, 5.0), (4.0, 4.0), (9.0, 3.0)],
               "mobileone_s1": [(6.0, 2.0), (6.0, 3.0), (6.0, 6.0)]}
    calls = []

    def fake_compare_latency(pair, shape, **kwargs):
        name = next(n for n in medians if pair["train"] is forms[n]["train"])
        assert pair["reparam"] is forms[name]["reparam"] and shape == (1, 3, 64, 64)
        calls.append(name)
        train_ms, reparam_ms = medians[name][calls.count(name) - 1]
        return pd.DataFrame({"median_ms": {"train": train_ms, "reparam": reparam_ms}})

    forms = {}
    real_reparameterize = mo.reparameterize

    def remember(model):   # the forms time_forms builds, to check what each round times
        fused = real_reparameterize(model)
        forms[next(n for n in medians if n not in forms)] = {"train": model, "reparam": fused}
        return fused

    monkeypatch.setattr(mo, "compare_latency", fake_compare_latency)
    monkeypatch.setattr(mo, "reparameterize", remember)
    table = mo.time_forms(list(medians), resolution=64, rounds=3)
    assert calls == ["mobileone_s0", "mobileone_s1"] * 3
    assert table.to_dict("list") == {"model": ["S0", "S1"], "train_ms": [4.0, 6.0], "reparam_ms": [3.0, 2.0],
                                     "speedup": [2.0, 2.0]}
    with pytest.raises(ValueError, match="rounds"):
        mo.time_forms(["mobileone_s0"], resolution=64, rounds=0)


def test_correlation_pivot():
    corr = pd.DataFrame({"group": ["all", "all", "A", "A"], "metric": ["macs", "params"] * 2, "n": [5, 5, 3, 3],
                         "spearman": [0.9, 0.5, 1.0, 0.5], "kendall": [0.8, 0.4, 1.0, 0.3]})
    table = mo.correlation_pivot(corr, "kendall")
    assert list(table.columns) == ["all (n=5)", "A (n=3)"] and list(table.index) == ["macs", "params"]
    assert table.loc["params", "A (n=3)"] == 0.3
    with pytest.raises(ValueError):
        mo.correlation_pivot(corr, "pearson")


def test_deployed_wrapper_times_like_a_model_and_matches_eager():
    model = mo.thirty_layer_net("h-swish", channels=4, layers=5)
    from mnlab.analysis import deploy
    wrapped = deploy(model, 32, backend="deploy")
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(wrapped(x), model(x), atol=1e-4)
    assert list(wrapped.parameters()) == []          # the scripted module is not a submodule
    times = mo.interleaved_latency({"eager": model}, 32, rounds=1, budget_s=0.01, backend="deploy")
    assert times["eager"] > 0
    with pytest.raises(ValueError, match="backend"):
        mo.interleaved_latency({"a": model}, 32, backend="onnx")



ZOO = __import__("pathlib").Path(__file__).parents[1] / "chapters" / "data" / "zoo_latency.csv"


def test_backend_correlations_side_by_side():
    from mnlab.analysis import rank_correlation
    from mnlab.studies.synthesis import read_zoo
    table = mo.backend_correlations(ZOO)
    assert list(table.index) == ["macs", "params", "bytes"] and table.n.iloc[0] == 42
    assert list(table.columns[:3]) == [f"spearman {b}" for b in mo.ZOO_BACKENDS]
    ort = rank_correlation(read_zoo(ZOO, "onnxruntime"), metrics=("macs",))
    assert table.loc["macs", "spearman onnxruntime"] == pytest.approx(ort[ort.group == "all"].spearman.iloc[0])
    assert ((table.filter(like="spearman") > -1) & (table.filter(like="spearman") <= 1)).all().all()
    with pytest.raises(ValueError, match="int8"):
        mo.backend_correlations(ZOO, backends=("onnxruntime-int8",))


def test_published_correlations_are_table_1_beside_ours():
    paper = mo.published_correlations()
    assert paper.to_dict() == {"paper ρ iPhone 12": {"macs": 0.47, "params": 0.30},
                               "paper ρ desktop CPU": {"macs": 0.06, "params": 0.07}}
    joined = mo.backend_correlations(ZOO).filter(like="spearman").join(paper)
    assert joined.loc["bytes"].isna().sum() == 2 and joined.loc["macs"].notna().all()


def test_keep_branches_survives_deployment():
    from mnlab.analysis.deployment import deploy_form
    s0 = mo.randomize_batchnorm_(__import__("mnlab").create_model("mobileone_s0").eval())
    kept = deploy_form(mo.keep_branches(s0))
    blocks = [m for m in kept.modules() if isinstance(m, MobileOneBlock)]
    assert blocks and all(b.reparam_conv is None for b in blocks)
    assert sum(len(b.conv_branches) == 4 for b in blocks) > 0
    fused = [m for m in deploy_form(s0).modules() if isinstance(m, MobileOneBlock)]
    assert all(b.reparam_conv is not None for b in fused)      # what deploy does without it
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(kept(x), s0(x), atol=1e-3 * s0(x).abs().max().item())


def _fake_results():
    counts = mo.reparam_counts()
    steps, _ = mo.reparam_steps(mo.demo_block(), _x())
    forms = pd.DataFrame({"model": [f"S{i}" for i in range(5)], "train_ms": 2.0, "reparam_ms": 1.0, "speedup": 2.0})
    acts = pd.DataFrame({"activation": list(mo.STUDY_ACTIVATIONS), "macs": 1,
                         "onnxruntime_vs_relu": [1.0, 1.0, 1.1, 1.2, 1.3, 1.5]})
    blocks = pd.DataFrame({"variant": list(mo.BLOCK_VARIANTS), "macs_vs_baseline": [0, 0, 0.0005, 0.0005],
                           "latency_vs_baseline": [1.0, 1.1, 1.3, 1.4]})
    from mnlab.analysis import rank_correlation
    from mnlab.studies.synthesis import read_zoo
    zoo = read_zoo(ZOO, "onnxruntime")
    return counts, steps, forms, acts, blocks, zoo, rank_correlation(zoo, metrics=("macs", "params"))


def test_claims_from_the_studies():
    counts, steps, forms, acts, blocks, zoo, corr = _fake_results()
    claims = mo.claims(counts, steps, forms, acts, blocks, zoo, corr)
    by_what = {c.what: c for c in claims}
    assert len(claims) == 15 + 1 + 6 + 2
    assert by_what["re-parameterization leaves the function unchanged"].holds
    assert by_what["the re-parameterized S0 (k = 4 branches) is faster"].holds
    assert by_what["a sigmoid-gated activation (SE-ReLU) costs latency"].holds
    direction = by_what["MACs predict latency better than parameters"]
    assert direction.paper == "Spearman ρ 0.47 (FLOPs) vs 0.30 (params), iPhone 12" and not direction.must_hold
    desktop = by_what["on a desktop CPU latency hardly follows FLOPs or parameters"]
    assert desktop.paper == "Spearman ρ 0.06 (FLOPs), 0.07 (params), desktop CPU" and not desktop.must_hold
    assert "secondary" in desktop.source and desktop.tolerance == "each ρ within ±0.2 of the paper's"
    slow = forms.assign(speedup=[1.4, 2.0, 0.9, 2.0, 2.0])      # S0 below the margin, S2 slower
    slow_claims = {c.what: c for c in mo.claims(counts, steps, slow, acts, blocks, zoo, corr)}
    assert not slow_claims["the re-parameterized S0 (k = 4 branches) is faster"].holds
    assert not slow_claims["re-parameterized S1–S4 (one branch) are faster"].holds


def test_mobileone_figures_rebuild_without_timing():
    for name, build in mo_plots.FIGURES.items():
        assert isinstance(build(), Figure), name
    acts = pd.DataFrame({"activation": list(mo.STUDY_ACTIVATIONS), "macs": 1e6, "onnxruntime_ms": range(1, 7)})
    assert len(mo_plots.plot_activation_latency(acts).axes) == 1
