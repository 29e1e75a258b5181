"""mnlab.studies.mobileone: re-parameterization step by step, counts, the latency studies."""
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from mnlab.models import MobileOneBlock
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
    fig = mo.plot_reparam_kernels(kernels, channel=2)
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


def test_time_forms_pairs_the_two_forms_round_by_round():
    table = mo.time_forms(["mobileone_s0"], resolution=64, rounds=3, budget_s=0.01)
    assert list(table.columns) == ["model", "train_ms", "reparam_ms", "speedup"] and table.loc[0, "model"] == "S0"
    assert table.loc[0, "train_ms"] > 0 and table.loc[0, "reparam_ms"] > 0 and table.loc[0, "speedup"] > 0
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

