"""Reference implementations: exact parameter counts, shapes, tracing, re-parameterization, bad input."""
import pytest
import torch
from torch import nn

import mnlab
from mnlab.models import MobileOneBlock, make_divisible, reparameterize
from mnlab.models.layers import HardSigmoid, HardSwish, InvertedResidual
from mnlab.studies.mobileone import randomize_batchnorm_

from mnlab.papers import figure, figures

# Exact counts of the reference implementations (torchvision, timm, apple/ml-mobileone, TF-slim layout).
EXACT_PARAMS = [
    (key.split("/")[1], {"width_mult": float(key.split("/")[2])} if key.split("/")[2][0].isdigit() else {},
     int(fig.value))
    for key, fig in figures("reference/").items() if "reparameterized" not in key
]
REPARAMETERIZED_PARAMS = [int(figure(f"reference/mobileone_s{i}/reparameterized/params").value) for i in range(5)]
assert len(EXACT_PARAMS) == 21 and len(REPARAMETERIZED_PARAMS) == 5


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name,kwargs,expected", EXACT_PARAMS,
                         ids=[f"{n}-{kw.get('width_mult', '')}" for n, kw, _ in EXACT_PARAMS])
def test_parameter_count_equals_reference(name, kwargs, expected):
    assert n_params(mnlab.create_model(name, **kwargs)) == expected


@pytest.mark.parametrize("variant", range(5))
def test_reparameterized_parameter_count(variant):
    model = mnlab.create_model(f"mobileone_s{variant}")
    assert n_params(reparameterize(model)) == REPARAMETERIZED_PARAMS[variant]


@pytest.mark.parametrize("name", mnlab.list_models())
def test_logits_shape_at_default_and_other_resolutions(name):
    model = mnlab.create_model(name, num_classes=10).eval()
    with torch.inference_mode():
        for batch, side in [(1, mnlab.default_resolution(name)), (2, 32), (3, 97)]:
            assert model(torch.randn(batch, 3, side, side)).shape == (batch, 10)
        assert model(torch.randn(1, 3, 64, 48)).shape == (1, 10)   # non-square works too


@pytest.mark.parametrize("name", mnlab.list_models())
def test_traceable_by_jit_and_fx(name):
    model = mnlab.create_model(name).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        graph = torch.fx.symbolic_trace(model)
        torch.testing.assert_close(graph(x), expected)
        traced = torch.jit.trace(model, x)
        torch.testing.assert_close(traced(x), expected)


def test_default_resolutions():
    assert mnlab.default_resolution("mobilenet_v2") == 224
    assert [mnlab.default_resolution(f"efficientnet_lite{i}") for i in range(5)] == [224, 240, 260, 280, 300]


def _randomize(model: nn.Module, dtype=torch.float32) -> nn.Module:
    """Random BN statistics, so that a fusion error cannot hide behind γ=1, μ=0, σ=1."""
    return randomize_batchnorm_(model.to(dtype), seed=1).eval()


@pytest.mark.parametrize("variant", range(5))
@pytest.mark.parametrize("dtype,tolerance", [(torch.float32, 1e-4), (torch.float64, 1e-9)])
def test_reparameterize_is_numerically_equivalent(variant, dtype, tolerance):
    model = _randomize(mnlab.create_model(f"mobileone_s{variant}"), dtype)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fused = reparameterize(model)
    x = torch.randn(2, 3, 64, 64, dtype=dtype)
    with torch.no_grad():
        reference, out = model(x), fused(x)
    scale = reference.abs().max()
    assert (out - reference).abs().max() <= tolerance * scale
    # one conv per block, no BN left inside the blocks
    for block in (m for m in fused.modules() if isinstance(m, MobileOneBlock)):
        convs = [m for m in block.modules() if isinstance(m, nn.Conv2d) and m is not None
                 and not any(m is c for c in getattr(block.se, "modules", lambda: [])())]
        assert convs == [block.reparam_conv]
        assert not any(isinstance(m, nn.BatchNorm2d) for m in block.modules())
    # the original is untouched
    assert all(isinstance(m.reparam_conv, type(None)) for m in model.modules() if isinstance(m, MobileOneBlock))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_reparameterize_rejects_models_without_blocks():
    with pytest.raises(ValueError, match="MobileOneBlock"):
        reparameterize(mnlab.create_model("mobilenet_v2"))
    with pytest.raises(ValueError, match="model"):
        reparameterize("mobileone_s0")


def test_identity_branch_kernel_on_a_grouped_block():
    """A depthwise block with only the BN identity branch active is the identity (γ=1, β=0, μ=0, σ²=1−ε)."""
    block = MobileOneBlock(4, 4, 3, groups=4, branches=1).eval()
    with torch.no_grad():
        for m in block.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_var.fill_(1 - m.eps)
        block.conv_branches[0][1].weight.zero_()
        block.scale[1].weight.zero_()
    w, b = block.fused_kernel_and_bias()
    expected = torch.zeros(4, 1, 3, 3)
    expected[:, 0, 1, 1] = 1
    torch.testing.assert_close(w, expected)
    torch.testing.assert_close(b, torch.zeros(4))


@pytest.mark.parametrize("value,divisor,expected", [
    (32, 8, 32), (24, 8, 24), (11.2, 8, 16), (26.4, 8, 24), (12, 8, 16), (7.5, 8, 8), (100, 8, 104),
    (1280 * 1.4, 8, 1792), (3, 8, 8), (35, 8, 32), (36.0, 8, 40), (9, 8, 16), (67, 16, 64)])
def test_make_divisible_known_values(value, divisor, expected):
    # rule: nearest multiple of the divisor, at least the divisor, never below 90% of the value
    assert make_divisible(value, divisor) == expected


def test_hard_activations_match_their_formulas():
    x = torch.linspace(-8, 8, 1601, dtype=torch.float64)
    torch.testing.assert_close(HardSigmoid()(x), torch.clamp(x + 3, 0, 6) / 6)
    torch.testing.assert_close(HardSwish()(x), x * torch.clamp(x + 3, 0, 6) / 6)
    assert HardSwish()(torch.tensor([-3.0, 0.0, 3.0])).tolist() == [0.0, 0.0, 3.0]


def test_inverted_residual_shapes_and_shortcut():
    x = torch.randn(2, 16, 20, 20)
    same = InvertedResidual(16, 16, 96, stride=1).eval()
    assert same.use_residual
    assert same(x).shape == (2, 16, 20, 20)
    with torch.no_grad():
        torch.testing.assert_close(same(x), x + same.block(x))
    assert not InvertedResidual(16, 24, 96, stride=1).use_residual
    strided = InvertedResidual(16, 16, 96, stride=2)
    assert not strided.use_residual
    assert strided(x).shape == (2, 16, 10, 10)
    # expansion 96 = 16 · 6 on the 1×1, then depthwise 3×3, then linear projection (no activation)
    assert same.block.expand[0].out_channels == 96
    assert same.block.depthwise[0].groups == 96
    assert len(same.block.project) == 2


def test_mobilenet_v2_expansion_changes_hidden_width():
    model = mnlab.create_model("mobilenet_v2", expansion=4)
    second = model.features[2]            # first t = 6 block, input 16 channels
    assert second.block.expand[0].out_channels == 64


@pytest.mark.parametrize("kwargs,argument", [
    ({"width_mult": 0}, "width_mult"), ({"width_mult": -1}, "width_mult"),
    ({"width_mult": "wide"}, "width_mult"), ({"width_mult": float("nan")}, "width_mult"),
    ({"num_classes": 0}, "num_classes"), ({"num_classes": 2.5}, "num_classes"),
])
@pytest.mark.parametrize("name", ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large"])
def test_bad_constructor_arguments(name, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        mnlab.create_model(name, **kwargs)


def test_bad_expansion_and_activation():
    with pytest.raises(ValueError, match="expansion"):
        mnlab.create_model("mobilenet_v2", expansion=0.5)
    with pytest.raises(ValueError, match="activation"):
        mnlab.create_model("mobilenet_v1", activation="tanh")
    with pytest.raises(ValueError, match="depth"):
        mnlab.create_model("efficientnet_lite0", depth=0)


def test_unknown_model_name_lists_known_ones():
    with pytest.raises(ValueError, match="mobilenet_v2") as info:
        mnlab.create_model("mobilenet_v9")
    assert "mobilenet_v9" in str(info.value) and "mobileone_s4" in str(info.value)


@pytest.mark.parametrize("name", ["mobilenet_v1", "mobilenet_v3_small", "mobileone_s0"])
def test_bad_inputs_when_called(name):
    model = mnlab.create_model(name).eval()
    with pytest.raises(ValueError, match="resolution"):
        model(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match="channels"):
        model(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match="4-D"):
        model(torch.randn(3, 64, 64))


def test_relu6_option_of_mobilenet_v1():
    assert any(isinstance(m, nn.ReLU6) for m in mnlab.create_model("mobilenet_v1", activation="relu6").modules())
    assert not any(isinstance(m, nn.ReLU6) for m in mnlab.create_model("mobilenet_v1").modules())


# ---- one width argument, one way to refuse bad numbers ------------------------------------------

WIDTH_FAMILIES = [name for name in mnlab.list_models() if mnlab.models.family(name) != "MobileOne"]


@pytest.mark.parametrize("name", WIDTH_FAMILIES)
def test_width_mult_scales_every_family_but_mobileone(name):
    with torch.device("meta"):
        narrow = n_params(mnlab.create_model(name, width_mult=0.5))
        default = n_params(mnlab.create_model(name))
    assert narrow < default


def test_efficientnet_lite_width_mult_is_the_readme_width_coefficient():
    lite2 = mnlab.create_model("efficientnet_lite2")
    assert n_params(lite2) == n_params(mnlab.create_model("efficientnet_lite2", width_mult=1.1))
    assert n_params(lite2) == n_params(mnlab.models.efficientnet_lite(width_mult=1.1, depth=1.2, dropout=0.3))


@pytest.mark.parametrize("name", [f"mobileone_s{i}" for i in range(5)])
def test_mobileone_refuses_width_mult_its_variant_is_its_width(name):
    with pytest.raises(ValueError, match=r"width_mult is not available for MobileOne.*mobileone_s0, "
                                         r"mobileone_s1"):
        mnlab.create_model(name, width_mult=0.5)
    assert n_params(mnlab.create_model(name, width_mult=None)) == n_params(mnlab.create_model(name))


def test_unknown_argument_lists_the_allowed_ones():
    with pytest.raises(ValueError, match=r"mobilenet_v1 takes no argument\(s\) width; allowed: width_mult, "
                                         r"num_classes, activation"):
        mnlab.create_model("mobilenet_v1", width=0.5)


@pytest.mark.parametrize("typo,suggestion", [("mobilenetv2", "mobilenet_v2"), ("mobilnet_v3_large", "mobilenet_v3_large"),
                                             ("efficientnet-lite0", "efficientnet_lite0"), ("mobileone-s1", "mobileone_s1")])
def test_unknown_model_name_suggests_close_ones(typo, suggestion):
    with pytest.raises(ValueError, match=rf"unknown model name '{typo}'; did you mean {suggestion}\b"):
        mnlab.create_model(typo)
    with pytest.raises(ValueError, match="did you mean"):
        mnlab.default_resolution(typo)


@pytest.mark.parametrize("kwargs,argument", [
    ({"width_mult": float("inf")}, "width_mult"), ({"width_mult": 1e6}, "width_mult"),
    ({"width_mult": True}, "width_mult"), ({"expansion": float("inf")}, "expansion"),
    ({"expansion": float("nan")}, "expansion"), ({"num_classes": 10**30}, "num_classes"),
    ({"num_classes": True}, "num_classes"), ({"dropout": 1.5}, "dropout"), ({"dropout": float("nan")}, "dropout"),
])
def test_values_no_network_can_have_are_refused(kwargs, argument):
    with pytest.raises(ValueError, match=rf"{argument} must be .*got"):
        mnlab.create_model("mobilenet_v2", **kwargs)


@pytest.mark.parametrize("name,kwargs,argument", [
    ("efficientnet_lite0", {"depth": float("inf")}, "depth"), ("efficientnet_lite0", {"width_mult": -1}, "width_mult"),
    ("mobilenet_v3_small", {"width_mult": float("inf")}, "width_mult"), ("mobilenet_v1", {"width_mult": 10**400}, "width_mult"),
    ("mobileone_s0", {"num_classes": 0}, "num_classes")])
def test_bad_numbers_in_every_family(name, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        mnlab.create_model(name, **kwargs)


def test_numpy_numbers_are_accepted():
    import numpy as np
    with torch.device("meta"):
        model = mnlab.create_model("mobilenet_v2", width_mult=np.float32(0.5), num_classes=np.int64(10),
                                   expansion=np.int32(4))
    assert model.classifier.fc.out_features == 10
    assert n_params(model) == n_params(mnlab.create_model("mobilenet_v2", width_mult=0.5, num_classes=10, expansion=4))


def test_one_conv_norm_act_builder():
    """MobileOne's branches are the shared conv-BN (no activation): same layers, same names."""
    block = MobileOneBlock(8, 16, 3, branches=2)
    assert [type(m) for m in block.conv_branches[0]] == [nn.Conv2d, nn.BatchNorm2d]
    assert block.conv_branches[0][0].padding == (1, 1) and block.conv_branches[0][0].bias is None
    assert not hasattr(mnlab.models.mobileone, "conv_bn")
