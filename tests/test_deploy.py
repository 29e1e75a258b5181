"""deploy(): every backend computes what the eager model computes, is built once and cached,
and fails with errors that say what to do.

Export and lowering are the cost here (ONNX export about a second per registry model, int8
quantization one to three, ExecuTorch/XNNPACK lowering ten to thirty on a busy two-core
machine). The default run checks every registry model on ONNX Runtime fp32, one model per
family on int8 and MobileNetV3-Small (the richest operator set: h-swish, SE, h-sigmoid) on
XNNPACK; ``MNLAB_TEST_ALL_BACKENDS=1`` checks every registry model on every backend.
"""
import os

import pytest
import torch
from torch import nn

from mnlab.analysis import BACKENDS, DeployedModule, UnsupportedOperatorError, compare_latency, deploy
from mnlab.analysis import runtimes
from mnlab.analysis.deployment import FP32_RTOL, INT8_RTOL, artefact_key, deploy_form, fold_batchnorm
from mnlab.analysis.latency import measure_latency
from mnlab.models import create_model, list_models
from mnlab.studies.mobileone import randomize_batchnorm_

ALL = os.environ.get("MNLAB_TEST_ALL_BACKENDS") == "1"
FAMILY_REPRESENTATIVES = ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_lite0",
                          "mobileone_s0"]
pytestmark = pytest.mark.filterwarnings("ignore:noisy latency measurement")


@pytest.fixture(autouse=True, scope="module")
def _cache_dir(tmp_path_factory):
    """Artefacts of this module go to a temporary cache, not the user's."""
    previous = os.environ.get("MNLAB_CACHE_DIR")
    os.environ["MNLAB_CACHE_DIR"] = str(tmp_path_factory.mktemp("deploy_cache"))
    yield
    if previous is None:
        del os.environ["MNLAB_CACHE_DIR"]
    else:
        os.environ["MNLAB_CACHE_DIR"] = previous


def random_bn(model: nn.Module, seed: int = 1) -> nn.Module:
    with torch.no_grad():
        return randomize_batchnorm_(model, seed)


def small_net() -> nn.Module:
    return random_bn(nn.Sequential(
        nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
        nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, groups=16, bias=False), nn.BatchNorm2d(16), nn.Hardswish()),
        nn.Conv2d(16, 32, 1, bias=True), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    ))


def relative_error(got, expected):
    return ((got - expected).abs().max() / expected.abs().max()).item()


def registry_model(name: str) -> nn.Module:
    torch.manual_seed(0)
    return random_bn(create_model(name)).eval()


def assert_matches_eager(model, runner, shape, rtol, seed=7):
    """An input the build-time check did not see: the runner must agree with eager on it too."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        expected, got = model.eval()(x), runner(x)
    assert isinstance(got, torch.Tensor) and got.shape == expected.shape
    assert relative_error(got, expected) <= rtol


# ----------------------------------------------------------------------------- deploy form

def test_fold_batchnorm_matches_eager_and_leaves_the_original_alone():
    model = small_net().train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    folded = fold_batchnorm(model)
    assert model.training and isinstance(model[1], nn.BatchNorm2d)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        assert torch.allclose(folded(x), model(x), rtol=1e-4, atol=1e-5)


def test_fold_batchnorm_keeps_a_bn_that_follows_no_conv():
    folded = fold_batchnorm(nn.Sequential(nn.ReLU(), nn.BatchNorm2d(3)))
    assert isinstance(folded[1], nn.BatchNorm2d)


def test_deploy_form_reparameterizes_mobileone_and_folds_every_bn():
    model = registry_model("mobileone_s0")
    form = deploy_form(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in form.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())   # the original is untouched
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert relative_error(form(x), model(x)) <= FP32_RTOL


# ----------------------------------------------------------------------------- each backend

@pytest.mark.parametrize("backend", ["deploy", "onnxruntime"])   # xnnpack: below, on a registry model
def test_fp32_backend_matches_eager_and_leaves_the_model_alone(backend):
    model = small_net().train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    runner = deploy(model, (1, 3, 40, 40), backend=backend)
    assert model.training and all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert isinstance(runner, DeployedModule) and runner.backend == backend
    assert runner.error <= runner.tolerance == FP32_RTOL
    assert list(runner.parameters()) == []          # the engine is not a submodule
    assert_matches_eager(model, runner, (1, 3, 40, 40), FP32_RTOL)
    if backend != "deploy":
        assert runner.artefact.exists() and str(runner.artefact).startswith(os.environ["MNLAB_CACHE_DIR"])
    with pytest.raises(ValueError, match="input shape"):
        runner(torch.randn(1, 3, 32, 32))


def test_int8_is_static_qdq_with_per_channel_weights_and_close_to_eager():
    import onnx
    from onnx import numpy_helper

    model = small_net()
    runner = deploy(model, 40, backend="onnxruntime-int8")
    assert runner.error <= INT8_RTOL and runner.calibration.startswith("default")
    graph = onnx.load(str(runner.artefact)).graph
    ops = [n.op_type for n in graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    # The first conv's weight is dequantized with one scale per output channel (16).
    weight_dq = [n for n in graph.node if n.op_type == "DequantizeLinear" and inits.get(n.input[0]) is not None
                 and inits[n.input[0]].ndim == 4]
    assert weight_dq and all(inits[n.input[1]].shape == (inits[n.input[0]].shape[0],) for n in weight_dq)
    assert inits[weight_dq[0].input[0]].dtype.name == "int8"
    x = torch.randn(1, 3, 40, 40, generator=torch.Generator().manual_seed(5))   # not a calibration input
    with torch.inference_mode():
        assert 0 < relative_error(runner(x), model.eval()(x)) <= INT8_RTOL   # quantized: not exact


def test_int8_calibration_set_is_part_of_the_cache_key():
    model = small_net()
    given = [torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(s)) for s in range(4)]
    default, custom = deploy(model, 40, backend="onnxruntime-int8"), deploy(model, 40, backend="onnxruntime-int8",
                                                                             calibration=given)
    assert custom.calibration == "4 given inputs" and custom.artefact != default.artefact
    stacked = deploy(model, 40, backend="onnxruntime-int8", calibration=torch.cat(given))
    assert stacked.artefact == custom.artefact


@pytest.mark.parametrize("name", list_models())
def test_every_registry_model_on_onnxruntime(name):
    model = registry_model(name)
    assert_matches_eager(model, deploy(model, 64, backend="onnxruntime"), (1, 3, 64, 64), FP32_RTOL)


@pytest.mark.parametrize("name", list_models() if ALL else FAMILY_REPRESENTATIVES)
def test_registry_models_on_int8(name):
    model = registry_model(name)
    runner = deploy(model, 64, backend="onnxruntime-int8")   # checked against eager on calibration input 0
    assert runner.error <= INT8_RTOL


@pytest.mark.parametrize("name", list_models() if ALL else ["mobilenet_v3_small"])
def test_registry_models_on_xnnpack(name):
    model = registry_model(name)
    assert_matches_eager(model, deploy(model, 64, backend="xnnpack"), (1, 3, 64, 64), FP32_RTOL)


# ----------------------------------------------------------------------------- the cache

def test_a_second_deploy_loads_the_artefact_and_a_changed_model_gets_a_new_one(monkeypatch):
    model = small_net()
    first = deploy(model, 40, backend="onnxruntime")

    def must_not_export(*args, **kwargs):
        raise AssertionError("the cached artefact was exported again")

    monkeypatch.setattr(runtimes, "export_onnx", must_not_export)
    again = deploy(model, 40, backend="onnxruntime")
    assert again.artefact == first.artefact
    monkeypatch.undo()
    with torch.no_grad():
        model[0].weight[0, 0, 0, 0] += 1.0
    assert artefact_key(model, (1, 3, 40, 40), "onnxruntime") not in str(first.artefact)
    assert artefact_key(model, (1, 3, 48, 48), "onnxruntime") != artefact_key(model, (1, 3, 40, 40), "onnxruntime")
    assert deploy(model, 40, backend="onnxruntime").artefact != first.artefact


# ----------------------------------------------------------------------------- timing on backends

def test_measure_and_compare_on_a_deployed_backend():
    model = small_net()
    result = measure_latency(model, 32, backend="onnxruntime", warmup=1, min_runs=5, budget_s=0.05)
    assert result.env["backend"] == "onnxruntime" and result.best_ms <= result.median_ms
    runner = deploy(model, 32, backend="onnxruntime")
    table = compare_latency({"eager": model, "ort": runner}, 32, rounds=1, budget_s=0.02, min_runs=3)
    assert list(table["backend"]) == ["eager", "onnxruntime"]
    with pytest.raises(ValueError, match="backend"):
        measure_latency(runner, 32, backend="xnnpack")


def test_runner_threads_are_set_for_the_block_and_torch_is_restored():
    runner = deploy(small_net(), 32, backend="onnxruntime")
    torch.set_num_threads(1)
    with runner.threads(2):
        assert runner.engine.session.get_session_options().intra_op_num_threads == 2
    assert torch.get_num_threads() == 1


# ----------------------------------------------------------------------------- bad input

@torch.library.custom_op("mnlabtest::mystery", mutates_args=())
def mystery(x: torch.Tensor) -> torch.Tensor:
    return x * 2


@mystery.register_fake
def _(x):
    return torch.empty_like(x)


class Mystery(nn.Module):
    def forward(self, x):
        return mystery(x)


@pytest.mark.parametrize("backend", ["onnxruntime", "onnxruntime-int8"])
def test_an_unexportable_op_names_the_op_and_the_module(backend):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ReLU(), Mystery()))
    with pytest.raises(UnsupportedOperatorError, match=r"mnlabtest::mystery.*1\.1 \(Mystery\)"):
        deploy(model, 16, backend=backend)


def test_a_missing_runtime_names_what_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "executorch" else real(name, *a))
    with pytest.raises(ImportError, match=r"xnnpack.*executorch.*pip install 'mnlab\[runtimes\]'"):
        deploy(small_net(), 32, backend="xnnpack")


def test_a_backend_that_disagrees_with_eager_is_refused(monkeypatch):
    real = runtimes.OrtEngine.__call__
    monkeypatch.setattr(runtimes.OrtEngine, "__call__", lambda self, x: real(self, x) * 1.01)
    with pytest.raises(RuntimeError, match="disagrees"):
        deploy(small_net(), 32, backend="onnxruntime")


@pytest.mark.parametrize("kwargs, match", [
    ({"backend": "eager"}, "backend"), ({"backend": "tflite"}, "backend"), ({"backend": None}, "backend"),
    ({"backend": "onnxruntime", "threads": 0}, "threads"),
    ({"backend": "onnxruntime", "calibration": [torch.zeros(1, 3, 32, 32)]}, "calibration"),
    ({"backend": "onnxruntime-int8", "calibration": []}, "calibration"),
    ({"backend": "onnxruntime-int8", "calibration": [torch.zeros(1, 3, 8, 8)]}, "calibration"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        deploy(small_net(), 32, **kwargs)


def test_backends_are_the_issues_names():
    assert {"eager", "onnxruntime", "onnxruntime-int8", "xnnpack", "deploy"} == set(BACKENDS)


def test_the_counter_refuses_a_deployed_model_and_points_to_the_eager_one():
    from mnlab.analysis import analyze
    runner = deploy(small_net(), 32, backend="onnxruntime")
    with pytest.raises(ValueError, match="count the eager model"):
        analyze(runner, 32)


class _MaybeSkip(nn.Module):
    """Equal weights and repr whatever ``skip`` is; only the flag changes what forward computes."""

    def __init__(self, skip: bool):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.skip = skip

    def forward(self, x):
        y = self.conv(x)
        return y + x if self.skip else y


def test_a_plain_attribute_that_steers_forward_is_part_of_the_cache_key():
    torch.manual_seed(0)
    plain = _MaybeSkip(False).eval()
    skipping = _MaybeSkip(True).eval()
    skipping.load_state_dict(plain.state_dict())
    assert repr(plain) == repr(skipping)
    assert artefact_key(plain, (1, 3, 16, 16), "onnxruntime") != artefact_key(skipping, (1, 3, 16, 16), "onnxruntime")
    deploy(plain, 16, backend="onnxruntime")
    runner = deploy(skipping, 16, backend="onnxruntime")   # was refused: it loaded plain's artefact
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(runner(x), skipping(x), rtol=1e-4, atol=1e-5)


def test_nchwc_block_is_mlas_choice_from_the_cpu_flags(monkeypatch):
    """16 floats with AVX-512F, 8 on other x86-64 CPUs (MLAS platform.cpp); None off x86."""
    assert runtimes.nchwc_block() in (8, 16, None)
    for flags, block in [({"sse2", "avx2", "avx512f", "avx512bw"}, 16), ({"sse2", "avx2"}, 8), (None, None)]:
        monkeypatch.setattr(runtimes, "_x86_flags", lambda flags=flags: flags)
        assert runtimes.nchwc_block() == block
    monkeypatch.setattr(runtimes, "_x86_flags", lambda: None)
    assert runtimes.int8_isa() == "unknown"
