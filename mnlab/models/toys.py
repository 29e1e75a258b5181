"""Toy networks the chapters build to test one claim at a time (no published architecture), and
the inference variants of published blocks they count or time.

Each section belongs to a chapter; the models read like the experiment they serve.
"""
from __future__ import annotations

import copy
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mnlab.models.layers import (Classifier, DepthwiseSeparable, InvertedResidual, SqueezeExcite,
                                 conv_bn_act)
from mnlab.validation import check_int

# =========================================================================== chapter 3: MobileNetV2

#: The toy network's stages (t, c, n, s), the proportions of Table 2 on an 8 × 8 image.
TOY_STAGES: list[tuple[int, int, int, int]] = [(6, 8, 2, 1), (6, 16, 3, 2), (6, 24, 1, 2)]
TOY_STEM = 8

#: The variants of Figure 6, (a) the bottleneck's non-linearity and (b) where the shortcut goes.
ABLATION_VARIANTS: dict[str, dict] = {
    "linear bottleneck": {"shortcut": "bottleneck", "bottleneck_activation": False},
    "ReLU6 bottleneck": {"shortcut": "bottleneck", "bottleneck_activation": True},
    "shortcut between expansions": {"shortcut": "expansion", "bottleneck_activation": False},
    "no shortcut": {"shortcut": "none", "bottleneck_activation": False},
}
SHORTCUTS = ("bottleneck", "expansion", "none")


class ToyMobileNetV2(nn.Module):
    """A small MobileNetV2 for 8 × 8 grey images, with Figure 6's switches.

    The same layers in the same order for every variant: stem 3×3 conv, then per block a 1×1
    expansion E, a 3×3 depthwise D and a 1×1 projection P, global pooling, linear classifier.
    What changes:

    * ``bottleneck_activation``: False — P is linear (the paper's design); True — ReLU6 after P.
    * ``shortcut``: "bottleneck" — x + P(D(E(x))) around each block whose input and output
      match, joining the thin tensors (the paper's design); "expansion" — the chain is cut
      differently, h + E(P(D(h))), so the shortcut joins the *expanded* tensors, at the same
      places and in the same number; "none" — no shortcut.
    """

    def __init__(self, stages: Sequence[tuple[int, int, int, int]] = TOY_STAGES, stem: int = TOY_STEM, *, shortcut: str = "bottleneck",
                 bottleneck_activation: bool = False, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}")
        self.shortcut = shortcut
        self.stem = conv_bn_act(in_channels, stem, 3, activation=nn.ReLU6)
        expand, depthwise, project, residual = [], [], [], []
        cin = stem
        for t, c, n, s in stages:
            for i in range(n):
                stride, hidden = (s if i == 0 else 1), cin * t
                expand.append(conv_bn_act(cin, hidden, 1, activation=nn.ReLU6))
                depthwise.append(conv_bn_act(hidden, hidden, 3, stride, hidden, nn.ReLU6))
                project.append(conv_bn_act(hidden, c, 1, activation=nn.ReLU6 if bottleneck_activation else None))
                residual.append(stride == 1 and cin == c)
                cin = c
        self.expand, self.depthwise, self.project = (nn.ModuleList(expand), nn.ModuleList(depthwise),
                                                     nn.ModuleList(project))
        self.residual = residual
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        blocks = len(self.expand)
        if self.shortcut == "expansion":
            # Block i maps the expansion h_i to h_{i+1} = E_{i+1}(P_i(D_i(h_i))); h_i and h_{i+1}
            # have the same shape exactly where block i's bottlenecks do (stride 1, same width).
            h = self.expand[0](x)
            for i in range(blocks):
                z = self.project[i](self.depthwise[i](h))
                if i + 1 < blocks:
                    nxt = self.expand[i + 1](z)
                    h = h + nxt if self.residual[i] else nxt
            x = z
        else:
            for i in range(blocks):
                y = self.project[i](self.depthwise[i](self.expand[i](x)))
                x = x + y if self.shortcut == "bottleneck" and self.residual[i] else y
        return self.classifier(x.mean(dim=(2, 3)))

    @property
    def shortcuts(self) -> int:
        """How many shortcuts the forward pass adds."""
        if self.shortcut == "none":
            return 0
        if self.shortcut == "expansion":
            return sum(self.residual[:-1])
        return sum(self.residual)



class ChunkedInvertedResidual(nn.Module):
    """An inverted residual evaluated a slice of hidden channels at a time (inference only).

    MobileNetV2, Sec. 5.1 (memory efficient inference): the block is F(x) = [A ∘ N ∘ B](x) with
    B the 1×1 expansion, N the per-channel depthwise + non-linearity, A the linear 1×1
    projection. Because N acts on each hidden channel separately and A is a sum over hidden
    channels, F(x) = Σ_j A_j(N_j(B_j(x))) over slices j of the hidden channels: only one slice
    of the expanded tensor needs to exist at a time. Same weights, same output (up to float
    summation order) as the wrapped block; BatchNorm uses its running statistics, as in eval.

    ``expand``: for a block without an expansion layer (MobileNetV2's first, t = 1), the
    conv-BN-activation before it (the stem) can take the expansion's place, so that the stem's
    wide output is also made one slice at a time; the wrapper then reads the stem's input.
    Squeeze-and-excite pools over every hidden channel before it can scale any, so blocks with
    SE are refused.
    """

    def __init__(self, block: InvertedResidual, chunks: int, expand: nn.Sequential | None = None) -> None:
        super().__init__()
        if not isinstance(block, InvertedResidual):
            raise ValueError(f"block must be an InvertedResidual, got {type(block).__name__}")
        if hasattr(block.block, "se"):
            raise ValueError("a block with squeeze-and-excite cannot be chunked over hidden channels")
        hidden = block.block.depthwise[0].out_channels
        if expand is not None:
            if hasattr(block.block, "expand") or block.use_residual:
                raise ValueError("expand can only stand in for a missing expansion of a block without shortcut")
            if not (isinstance(expand, nn.Sequential) and isinstance(expand[0], nn.Conv2d)
                    and expand[0].groups == 1 and expand[0].out_channels == hidden
                    and isinstance(expand[1], nn.BatchNorm2d)):
                raise ValueError(f"expand must be a conv-BN[-activation] nn.Sequential with {hidden} outputs")
        check_int(chunks, "chunks", at_least=1, at_most=hidden, note=" (the hidden width)")
        self.stem = expand   # registered first: analyzers read the input width from the first conv
        self.inner = block
        self.chunks = int(chunks)

    @staticmethod
    def _bn(x: torch.Tensor, bn: nn.BatchNorm2d, lo: int, hi: int) -> torch.Tensor:
        return F.batch_norm(x, bn.running_mean[lo:hi], bn.running_var[lo:hi], bn.weight[lo:hi],
                            bn.bias[lo:hi], False, 0.0, bn.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            raise RuntimeError("ChunkedInvertedResidual is for inference: call .eval() first")
        layers = self.inner.block
        expand = layers.expand if hasattr(layers, "expand") else self.stem
        dw_conv, dw_bn, dw_act = layers.depthwise
        project_conv, project_bn = layers.project
        bounds = np.linspace(0, dw_conv.out_channels, self.chunks + 1).round().astype(int)
        out = None
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            # One tensor is made from the one before it, which is then dropped: at most two
            # slices live at once, as in an nn.Sequential.
            if expand is not None:
                conv = expand[0]
                h = F.conv2d(x, conv.weight[lo:hi], None, conv.stride, conv.padding)
                h = self._bn(h, expand[1], lo, hi)
                if len(expand) > 2:
                    h = expand[2](h)
            else:
                h = x[:, lo:hi]
            h = F.conv2d(h, dw_conv.weight[lo:hi], None, dw_conv.stride, dw_conv.padding, 1, hi - lo)
            h = self._bn(h, dw_bn, lo, hi)
            h = dw_act(h)
            h = F.conv2d(h, project_conv.weight[:, lo:hi])
            out = h if out is None else out.add_(h)
            del h
        out = F.batch_norm(out, project_bn.running_mean, project_bn.running_var, project_bn.weight,
                           project_bn.bias, False, 0.0, project_bn.eps)
        return x + out if self.inner.use_residual else out


def chunked(model: nn.Module, chunks: int | None = None, *, fuse_stem: bool = True) -> nn.Module:
    """An eval-mode copy of a MobileNet whose inverted residual blocks run in slices of hidden
    channels (:class:`ChunkedInvertedResidual`); the model passed in is not modified.

    ``chunks=None`` cuts each block into round(hidden / input channels) slices (t slices: each
    as wide as the block's input, the paper's "t tensors of size n/t"); an integer uses that
    many (capped at the hidden width). ``fuse_stem``: if the first block has no expansion and
    follows a conv-BN-activation stem, the stem becomes its expansion (and an identity in
    ``features``), so the stem's output is never whole either.
    """
    copied = copy.deepcopy(model).eval()
    features = getattr(copied, "features", None)
    fused = None
    if fuse_stem and isinstance(features, nn.Sequential) and len(features) > 1 \
            and isinstance(features[1], InvertedResidual) and not hasattr(features[1].block, "expand") \
            and not features[1].use_residual and isinstance(features[0], nn.Sequential) \
            and isinstance(features[0][0], nn.Conv2d):
        fused = features[0]
        features[0] = nn.Identity()
    for parent in list(copied.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, InvertedResidual):
                expand = fused if fused is not None and child is features[1] else None
                hidden = child.block.depthwise[0].out_channels
                c_in = (expand if expand is not None else child.block[0])[0].in_channels
                n = max(1, round(hidden / c_in)) if chunks is None else min(int(chunks), hidden)
                setattr(parent, name, ChunkedInvertedResidual(child, min(n, hidden), expand))
    return copied.eval()



# =========================================================================== chapter 4: MobileNetV3


class ComposedActivation(nn.Module):
    """An activation written as separate tensor operations, the way a framework without a fused
    kernel runs it: each operation reads and writes the whole tensor."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "swish":
            return x * torch.sigmoid(x)
        return x * (torch.clamp(x + 3.0, 0.0, 6.0) / 6.0)   # h-swish

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"


# =========================================================================== chapter 5: EfficientNet-Lite


def digits_net(activation: Callable[[], nn.Module] = nn.ReLU6, width: int = 12, *,
               squeeze_excite: bool = False) -> nn.Sequential:
    """A small MobileNet for 8×8 digits: conv 3×3 stem, three depthwise separable blocks
    (strides 1, 2, 2), global pooling and a linear classifier; BN after every conv.
    ``width`` is the stem's channels; the blocks double it twice. ``squeeze_excite=True`` puts
    EfficientNet's SE (squeeze to a quarter of the block's input, swish inside, sigmoid gate)
    between each block's depthwise and pointwise convolutions, as B0's first block has it."""
    w = check_int(width, "width", at_least=1)

    def block(cin: int, cout: int, stride: int) -> DepthwiseSeparable:
        se = SqueezeExcite(cin, max(1, cin // 4), nn.SiLU, nn.Sigmoid) if squeeze_excite else None
        return DepthwiseSeparable(cin, cout, stride, activation=activation, squeeze_excite=se)

    features = nn.Sequential(conv_bn_act(1, w, 3, 1, activation=activation),
                             block(w, 2 * w, 1), block(2 * w, 4 * w, 2), block(4 * w, 8 * w, 2))
    return nn.Sequential(features, Classifier(8 * w, 10))


# =========================================================================== chapter 6: MobileOne (Tables 2–3)


class SEReLU(nn.Module):
    """ReLU followed by a squeeze-and-excite channel gate (sigmoid): the paper's "SE-ReLU"."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.se = SqueezeExcite(channels, max(1, channels // 16), nn.ReLU, nn.Sigmoid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.relu(x))


#: The activations timed, as name → constructor taking the channel count.
TIMED_ACTIVATIONS: dict[str, Callable[[int], nn.Module]] = {
    "ReLU": lambda c: nn.ReLU(),
    "ReLU6": lambda c: nn.ReLU6(),
    "h-swish": lambda c: nn.Hardswish(),
    "SiLU (swish)": lambda c: nn.SiLU(),
    "GELU": lambda c: nn.GELU(),
    "SE-ReLU (sigmoid gate)": SEReLU,
}


class _Pair(nn.Module):
    """Depthwise 3×3 conv-BN-act then pointwise 1×1 conv-BN-act (two of the 30 layers),
    optionally with a skip connection around the pair and/or SE before the last activation."""

    def __init__(self, channels: int, act: Callable[[int], nn.Module], skip: bool, se: bool) -> None:
        super().__init__()
        c = channels
        self.dw = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False), nn.BatchNorm2d(c), act(c))
        self.pw = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))
        self.se = SqueezeExcite(c, max(1, c // 16), nn.ReLU, nn.Sigmoid) if se else nn.Identity()
        self.act = act(c)
        self.skip = skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.se(self.pw(self.dw(x)))
        return self.act(out + x if self.skip else out)


def thirty_layer_net(activation: str = "ReLU", *, channels: int = 64, layers: int = 30,
                     skip: bool = False, se: bool = False) -> nn.Sequential:
    """The paper's test network for Tables 2–3, in MobileNet form: a 3×3 stride-2 stem, then
    ``layers`` − 1 conv layers as depthwise/pointwise pairs at one width, global pool and a
    1000-way linear layer. ``activation`` is a key of :data:`TIMED_ACTIVATIONS`; ``skip`` adds a
    residual connection around each pair, ``se`` a squeeze-and-excite (C/16) in each pair."""
    if activation not in TIMED_ACTIVATIONS:
        raise ValueError(f"activation must be one of {list(TIMED_ACTIVATIONS)}, got {activation!r}")
    channels, layers = check_int(channels, "channels", at_least=1), check_int(layers, "layers", at_least=3)
    act = TIMED_ACTIVATIONS[activation]
    torch.manual_seed(0)
    body: list[nn.Module] = [nn.Sequential(nn.Conv2d(3, channels, 3, 2, 1, bias=False), nn.BatchNorm2d(channels),
                                           act(channels))]
    body += [_Pair(channels, act, skip, se) for _ in range((layers - 1) // 2)]
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(channels, 1000))
    return nn.Sequential(*body, head).eval()
