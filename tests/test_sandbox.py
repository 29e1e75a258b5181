"""analyze leaves the model exactly as it was, keeps user hooks off meta tensors, and tells the
model's own errors from a bad input_shape and from what it cannot count."""
import pytest
import torch
from torch import nn
from torch.nn.modules import module as module_hooks
from torch.nn.utils import prune

from mnlab.analysis import analyze, deploy


def state_of(model: nn.Module) -> list:
    """Every module's attributes and the contents of its containers, by identity."""
    out = []
    for name, module in model.named_modules():
        attributes = {}
        for key, value in vars(module).items():
            if isinstance(value, dict):
                value = ("dict", id(value), [(k, id(v)) for k, v in value.items()])
            elif isinstance(value, (list, set)):
                value = ("seq", id(value), sorted(map(id, value)))
            else:
                value = id(value)
            attributes[key] = value
        out.append((name, attributes))
    return out


class Caching(nn.Module):
    """A forward pass that changes its module in every way a user's code might."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.history = []
        self.cache = None

    def forward(self, x):
        y = self.conv(x)
        self.cache = y                        # a tensor kept for the next call
        self.history.append(y)                # a list grown in place
        self.conv.last_output = y             # an attribute on a child
        self.register_buffer("running", y.mean((0, 2, 3)))  # a buffer registered on the fly
        self.extra = nn.Identity()            # a submodule created on the fly
        self.calls = getattr(self, "calls", 0) + 1
        return self.extra(y)


def test_whatever_the_forward_assigns_is_undone():
    model = Caching()
    before = state_of(model)
    analyze(model, 8)
    assert state_of(model) == before
    assert model.cache is None and model.history == [] and not hasattr(model, "calls")
    assert "running" not in dict(model.named_buffers()) and not hasattr(model.conv, "last_output")
    out = model(torch.randn(1, 3, 8, 8))  # the next real forward works: nothing is left on meta
    assert out.device.type == "cpu" and model.cache.device.type == "cpu"


def test_state_is_restored_when_the_forward_raises():
    class Half(Caching):
        def forward(self, x):
            super().forward(x)
            raise RuntimeError("late failure")

    model = Half()
    before = state_of(model)
    with pytest.raises(RuntimeError, match="late failure"):
        analyze(model, 8)
    assert state_of(model) == before


def test_user_hooks_do_not_run_on_meta_tensors_and_stay_registered():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU())
    seen = []
    handles = [model[0].register_forward_hook(lambda m, a, out: seen.append(("post", out.device.type))),
               model[0].register_forward_pre_hook(lambda m, a: seen.append(("pre", a[0].device.type))),
               module_hooks.register_module_forward_hook(lambda m, a, out: seen.append(("global", out.device.type)))]
    try:
        report = analyze(model, 8)
        assert seen == [] and report.totals["macs"] == 8 * 8 * 3 * 4
        model(torch.randn(1, 3, 8, 8))
        assert ("post", "cpu") in seen and ("pre", "cpu") in seen and ("global", "cpu") in seen
    finally:
        for handle in handles:
            handle.remove()


def test_pytorch_own_hooks_still_compute_weight_norm_and_pruning():
    conv = nn.Conv2d(3, 8, 3)
    with pytest.warns(FutureWarning):
        normed = nn.utils.weight_norm(nn.Conv2d(3, 8, 3))
    pruned = prune.l1_unstructured(nn.Conv2d(3, 8, 3), "weight", amount=0.5)
    expected = analyze(conv, 10).totals["macs"]
    for model in (normed, pruned):
        report = analyze(model, 10)
        assert report.totals["macs"] == expected == 8 * 8 * 8 * 27
        assert report.unknown_ops == [] and model.weight.device.type == "cpu"


def test_the_deploy_form_is_refused_with_a_clear_error():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval()
    wrapper = deploy(model, (1, 3, 16, 16), backend="deploy")
    with pytest.raises(ValueError, match=r"model runs TorchScript \(model.scripted\).*eager model"):
        analyze(wrapper, (1, 3, 16, 16))
    with pytest.raises(ValueError, match="TorchScript"):
        analyze(torch.jit.script(nn.Conv2d(3, 4, 3)), 8)


# ---- whose error is it -----------------------------------------------------------------------

class Inner(nn.Module):
    def __init__(self, error):
        super().__init__()
        self.error = error

    def forward(self, x):
        raise self.error


@pytest.mark.parametrize("error,raised", [(KeyError("no such key"), RuntimeError),
                                          (AssertionError("shapes differ"), RuntimeError),
                                          (TypeError("bad type"), ValueError),
                                          (ValueError("bad value"), ValueError)])
def test_the_models_own_error_names_the_module_and_is_chained(error, raised):
    model = nn.Sequential(nn.Conv2d(3, 3, 1), nn.Sequential(nn.ReLU(), Inner(error)))
    with pytest.raises(raised, match=rf"Sequential raised {type(error).__name__} in module '1.1' \(Inner\)") as info:
        analyze(model, 8)
    assert info.value.__cause__ is error
    assert "cannot be run" not in str(info.value)  # not blamed on input_shape


def test_an_op_that_refuses_the_shape_blames_input_shape_and_names_the_op():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Sequential(nn.ReLU(), nn.Linear(5, 2)))
    with pytest.raises(ValueError, match=r"input_shape \(1, 3, 9, 9\) cannot be run through Sequential: "
                                         r"linear in module '1.1' \(Linear\) failed") as info:
        analyze(model, (1, 3, 9, 9))
    assert isinstance(info.value.__cause__, RuntimeError)


def test_values_on_meta_tensors_are_a_limit_of_the_counter():
    class NeedsValues(nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x  # data-dependent control flow

    with pytest.raises(RuntimeError, match="cannot be counted on meta tensors"):
        analyze(NeedsValues(), 4)


def test_tensors_made_in_forward_join_the_meta_tensors():
    class Positions(nn.Module):
        def forward(self, x):
            rows = torch.arange(x.shape[-1], dtype=x.dtype)
            return x + rows + torch.zeros(x.shape[-1], device="cpu") + torch.ones(1, dtype=x.dtype)

    report = analyze(Positions(), 6)
    assert report.unknown_ops == []
    assert list(report.layers["op"]) == ["arange", "add", "zeros", "add", "ones", "add"]
    assert report.layers.loc[0, "input_shape"] == () and report.layers.loc[0, "output_shape"] == (6,)
