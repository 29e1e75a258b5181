"""Do mnlab's SSDLite, DeepLabv3 and LR-ASPP compute the same function as torchvision's?

Not a test (torchvision is not a dependency, and its compiled ops may not load beside the
project's torch): run it in a separate environment that has torchvision, e.g.

    python -m venv /tmp/tv && /tmp/tv/bin/pip install torch==2.13.0 torchvision==0.28.0 pandas scipy tqdm matplotlib
    PYTHONPATH=. /tmp/tv/bin/python benchmarks/check_torchvision_heads.py

For each of ``ssdlite320_mobilenet_v3_large``, ``deeplabv3_mobilenet_v3_large`` and
``lraspp_mobilenet_v3_large``: both models are built untrained, torchvision's weights and
BatchNorm statistics (randomized, so that a wrong mapping cannot hide behind γ = 1, μ = 0) are
copied into ours tensor by tensor — in order within each matching part, every shape checked —
and both run on the same random batch in eval mode. torchvision's MobileNetV3 BatchNorms use
TensorFlow's ε = 0.001, ours PyTorch's default 1e-5: the script reports the difference as built
(a few 1e-4), then copies ε too and requires agreement to 1e-5. The SSD is compared at its head outputs
(torchvision's box decoding and NMS have no weights and need its compiled ops). Prints the
largest relative difference per output; exits non-zero above 1e-5.
"""
from __future__ import annotations

import sys

import torch

import mnlab

# (ours, torchvision) state-dict prefixes whose tensors correspond one to one, in order.
PARTS = {
    "ssdlite320_mobilenet_v3_large": [("backbone.", "backbone.features."), ("extra.", "backbone.extra."),
                                      ("box_head.", "head.regression_head."),
                                      ("class_head.", "head.classification_head.")],
    "deeplabv3_mobilenet_v3_large": [("backbone.", "backbone."), ("head.", "classifier."), ("aux.", "aux_classifier.")],
    "lraspp_mobilenet_v3_large": [("backbone.", "backbone."), ("head.", "classifier.")],
}


def torchvision_model(name: str):
    import torchvision.models.detection as det
    import torchvision.models.segmentation as seg

    if name.startswith("ssdlite"):
        return det.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)
    kwargs = {"aux_loss": True} if name.startswith("deeplab") else {}
    return getattr(seg, name)(weights=None, weights_backbone=None, num_classes=21, **kwargs)


def copy_state(ours: torch.nn.Module, theirs: torch.nn.Module, parts) -> int:
    """Copy every tensor of ``theirs`` into ``ours`` part by part; returns how many."""
    mine, source = ours.state_dict(), theirs.state_dict()
    copied = 0
    for our_prefix, their_prefix in parts:
        a = [k for k in mine if k.startswith(our_prefix) and not k.endswith("num_batches_tracked")]
        b = [k for k in source if k.startswith(their_prefix) and not k.endswith("num_batches_tracked")]
        assert len(a) == len(b), f"{our_prefix}: {len(a)} tensors here, {len(b)} in torchvision"
        for k, j in zip(a, b):
            assert mine[k].shape == source[j].shape, f"{k} {tuple(mine[k].shape)} vs {j} {tuple(source[j].shape)}"
            mine[k] = source[j].clone()
            copied += 1
    ours.load_state_dict(mine)
    return copied


def copy_eps(ours: torch.nn.Module, theirs: torch.nn.Module, parts) -> None:
    """Give each of our BatchNorms the ε of its torchvision counterpart (same order per part)."""
    for our_prefix, their_prefix in parts:
        a = [m for k, m in ours.named_modules() if k.startswith(our_prefix) and isinstance(m, torch.nn.BatchNorm2d)]
        b = [m for k, m in theirs.named_modules() if k.startswith(their_prefix) and isinstance(m, torch.nn.BatchNorm2d)]
        for mine, source in zip(a, b, strict=True):
            mine.eps = source.eps


def randomize(model: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def outputs(name: str, model, x, torchvision: bool) -> dict[str, torch.Tensor]:
    if name.startswith("ssdlite") and torchvision:
        features = list(model.backbone(x).values())
        return model.head(features)
    return dict(model(x))


def main() -> int:
    torch.manual_seed(0)
    worst = 0.0
    for name, parts in PARTS.items():
        theirs, ours = torchvision_model(name).eval(), mnlab.create_model(name).eval()
        randomize(theirs)
        n = copy_state(ours, theirs, parts)
        x = torch.randn(2, 3, 320, 320)
        with torch.no_grad():
            b = outputs(name, theirs, x, True)
            as_built = outputs(name, ours, x, False)
            copy_eps(ours, theirs, parts)
            a = outputs(name, ours, x, False)
        for key in b:
            built = ((as_built[key] - b[key]).abs().max() / b[key].abs().max()).item()
            error = ((a[key] - b[key]).abs().max() / b[key].abs().max()).item()
            worst = max(worst, error)
            print(f"{name:30s} {key:16s} {str(tuple(a[key].shape)):18s} {n} tensors copied; max rel. diff "
                  f"{built:.1e} as built (BN ε), {error:.1e} with torchvision's ε")
    return 0 if worst <= 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
