"""MobileOne — Vasu et al., 2022, "MobileOne: An Improved One millisecond Mobile Backbone"
(arXiv 2206.04040; reference code apple/ml-mobileone).

At training time every block is over-parameterized: k parallel conv-BN branches, a 1×1 conv-BN
"scale" branch (when the kernel is larger than 1×1) and a BN-only identity branch (when the
input and output match), summed before the ReLU. All branches are linear, so after training
:func:`reparameterize` folds them into ONE convolution with a bias (Sec. 3.2): the inference
network is a plain feed-forward stack of depthwise 3×3 and pointwise 1×1 convs.

Variants (Table 7 / the reference code): blocks per stage (2, 8, 10, 1) after a 3×3 stem;
widths int(64·α0), int(128·α1), int(256·α2), int(512·α3); stem width min(64, int(64·α0)).

    Variant   α0    α1    α2    α3    k   SE
    S0        0.75  1.0   1.0   2.0   4   -
    S1        1.5   1.5   2.0   2.5   1   -
    S2        1.5   2.0   2.5   4.0   1   -
    S3        2.0   2.5   3.0   4.0   1   -
    S4        3.0   3.5   3.5   4.0   1   last 5 units of stage 3 and stage 4 (C/16)
"""
from __future__ import annotations

import copy
from typing import NamedTuple

import torch
from torch import nn

from mnlab.models.layers import Classifier, MobileNet, SqueezeExcite, check_num_classes, conv_bn_act, named

BLOCKS_PER_STAGE = (2, 8, 10, 1)
BASE_WIDTHS = (64, 128, 256, 512)


class Variant(NamedTuple):
    widths: tuple[float, float, float, float]
    branches: int
    se: bool


MOBILEONE_SPECS: dict[str, Variant] = {
    "mobileone_s0": Variant((0.75, 1.0, 1.0, 2.0), 4, False),
    "mobileone_s1": Variant((1.5, 1.5, 2.0, 2.5), 1, False),
    "mobileone_s2": Variant((1.5, 2.0, 2.5, 4.0), 1, False),
    "mobileone_s3": Variant((2.0, 2.5, 3.0, 4.0), 1, False),
    "mobileone_s4": Variant((3.0, 3.5, 3.5, 4.0), 1, True),
}


class MobileOneBlock(nn.Module):
    """One MobileOne unit (Fig. 3): Σ branches → [SE] → ReLU, re-parameterizable into one conv."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, branches: int = 1, squeeze_excite: bool = False) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.groups = kernel_size, stride, groups
        self.conv_branches = nn.ModuleList(
            conv_bn_act(in_channels, out_channels, kernel_size, stride, groups, activation=None)
            for _ in range(branches))
        self.scale = (conv_bn_act(in_channels, out_channels, 1, stride, groups, activation=None)
                      if kernel_size > 1 else None)
        self.identity = (nn.BatchNorm2d(in_channels)
                         if in_channels == out_channels and stride == 1 else None)
        self.reparam_conv: nn.Conv2d | None = None
        self.se = (SqueezeExcite(out_channels, int(out_channels * 0.0625), nn.ReLU, nn.Sigmoid)
                   if squeeze_excite else nn.Identity())
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reparam_conv is not None:
            out = self.reparam_conv(x)
        else:
            out = sum(branch(x) for branch in self.conv_branches)
            if self.scale is not None:
                out = out + self.scale(x)
            if self.identity is not None:
                out = out + self.identity(x)
        return self.activation(self.se(out))

    def fused_kernel_and_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The single k×k kernel and bias equal to the sum of all branches in eval mode.

        Each branch is first written as a k×k conv followed by BN; BN folds into it (Eq. of
        Sec. 3.2: W' = W·γ/σ, b' = β − μ·γ/σ with σ = sqrt(var + ε)); the 1×1 scale kernel is
        zero-padded to k×k; the identity is the k×k kernel with a 1 at the centre of each
        channel's own input. Convolution is linear, so the branch kernels and biases add.
        """
        k = self.kernel_size
        kernels, biases = [], []
        for branch in self.conv_branches:
            kernels.append(branch[0].weight)
            biases.append(branch[1])
        if self.scale is not None:
            pad = k // 2
            kernels.append(nn.functional.pad(self.scale[0].weight, [pad, pad, pad, pad]))
            biases.append(self.scale[1])
        if self.identity is not None:
            per_group = self.in_channels // self.groups
            eye = torch.zeros(self.in_channels, per_group, k, k, dtype=kernels[0].dtype,
                              device=kernels[0].device)
            eye[torch.arange(self.in_channels), torch.arange(self.in_channels) % per_group, k // 2, k // 2] = 1
            kernels.append(eye)
            biases.append(self.identity)
        weight = torch.zeros_like(kernels[0])
        bias = torch.zeros(self.out_channels, dtype=weight.dtype, device=weight.device)
        for kernel, bn in zip(kernels, biases):
            std = (bn.running_var + bn.eps).sqrt()
            weight = weight + kernel * (bn.weight / std).reshape(-1, 1, 1, 1)
            bias = bias + bn.bias - bn.running_mean * bn.weight / std
        return weight, bias

    def reparameterize_(self) -> None:
        """Replace the branches by the one fused conv (in place; see :func:`reparameterize`)."""
        if self.reparam_conv is not None:
            return
        weight, bias = self.fused_kernel_and_bias()
        conv = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride,
                         self.kernel_size // 2, groups=self.groups, bias=True,
                         device=weight.device, dtype=weight.dtype)
        conv.weight.data.copy_(weight.detach())
        conv.bias.data.copy_(bias.detach())
        self.reparam_conv = conv
        self.conv_branches = nn.ModuleList()
        self.scale = None
        self.identity = None


def mobileone(variant: str = "mobileone_s0", num_classes: int = 1000, width_mult: float | None = None) -> MobileNet:
    """Build a train-time MobileOne S0–S4 (Table 7 of the paper; apple/ml-mobileone layout).

    MobileOne has no width multiplier: its variant *is* its width (the α0–α3 of Table 7), so
    ``width_mult`` is accepted only to refuse it with a ``ValueError`` that says so, as every
    other family of the registry takes one.
    """
    if variant not in MOBILEONE_SPECS:
        raise ValueError(f"variant must be one of {sorted(MOBILEONE_SPECS)}, got {variant!r}")
    if width_mult is not None:
        raise ValueError(f"width_mult is not available for MobileOne, got width_mult={width_mult!r}: "
                         f"its variant is its width, so pick one of {', '.join(MOBILEONE_SPECS)}")
    num_classes = check_num_classes(num_classes)
    spec = MOBILEONE_SPECS[variant]
    widths = [int(base * a) for base, a in zip(BASE_WIDTHS, spec.widths)]
    in_channels = min(64, int(64 * spec.widths[0]))
    # The stem has one conv branch in every variant (k applies to the stages), as in apple/ml-mobileone.
    blocks: list[nn.Module] = [MobileOneBlock(3, in_channels, 3, stride=2, branches=1)]
    se_blocks = (0, 0, BLOCKS_PER_STAGE[2] // 2 if spec.se else 0, BLOCKS_PER_STAGE[3] if spec.se else 0)
    for planes, n, n_se in zip(widths, BLOCKS_PER_STAGE, se_blocks):
        stage = []
        for i in range(n):
            se = i >= n - n_se
            stage.append(MobileOneBlock(in_channels, in_channels, 3, 2 if i == 0 else 1,
                                        groups=in_channels, branches=spec.branches, squeeze_excite=se))
            stage.append(MobileOneBlock(in_channels, planes, 1, 1, branches=spec.branches, squeeze_excite=se))
            in_channels = planes
        blocks.append(nn.Sequential(*stage))
    return MobileNet(nn.Sequential(*blocks), Classifier(in_channels, num_classes))


def reparameterize(model: nn.Module) -> nn.Module:
    """Return the inference form of a MobileOne: a deep copy in which every
    :class:`~mnlab.models.mobileone.MobileOneBlock` is one conv with bias. The model passed in is left untouched.

    The fusion uses BN running statistics, so the result equals the original in eval mode;
    the copy is returned in eval mode.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    blocks = [m for m in model.modules() if isinstance(m, MobileOneBlock)]
    if not blocks:
        raise ValueError("model has no MobileOneBlock to re-parameterize")
    fused = copy.deepcopy(model).eval()
    with torch.no_grad():
        for module in fused.modules():
            if isinstance(module, MobileOneBlock):
                module.reparameterize_()
    return fused


def _variant(name: str):
    def build(num_classes: int = 1000, width_mult: float | None = None) -> MobileNet:
        return mobileone(name, num_classes, width_mult)

    return named(build, name, f"{name} in its train-time (multi-branch) form; see :func:`reparameterize`.")


mobileone_s0 = _variant("mobileone_s0")
mobileone_s1 = _variant("mobileone_s1")
mobileone_s2 = _variant("mobileone_s2")
mobileone_s3 = _variant("mobileone_s3")
mobileone_s4 = _variant("mobileone_s4")
