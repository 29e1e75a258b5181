"""Layer 1 of mnlab: reference implementations of the MobileNet family, plain ``nn.Module`` subclasses.

``create_model(name, **kwargs)`` builds any of them by name; ``list_models()`` lists the
classifiers' names, ``list_models("detection")`` / ``list_models("segmentation")`` the named
detectors and segmenters (torchvision's configurations; :func:`~mnlab.models.detection.ssd`,
:func:`~mnlab.models.segmentation.deeplabv3` and friends build every other one);
``default_resolution(name)`` is the input side each was published at (224, or the
EfficientNet-Lite table's; 320 for SSDLite, torchvision's 520 for the segmenters). Every
classifier family takes ``width_mult`` (the width multiplier α) except MobileOne, whose variant
is its width: there ``width_mult`` is refused with a ``ValueError``.
"""
from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable

from torch import nn

from mnlab.models.efficientnet_lite import (SCALING, efficientnet_lite, efficientnet_lite0,
                                            efficientnet_lite1, efficientnet_lite2,
                                            efficientnet_lite3, efficientnet_lite4)
from mnlab.models.layers import make_divisible
from mnlab.models.mobilenet_v1 import conv_mobilenet_v1, mobilenet_v1, shallow_mobilenet_v1
from mnlab.models.mobilenet_v2 import mobilenet_v2
from mnlab.models.mobilenet_v3 import build_mobilenet_v3, mobilenet_v3_large, mobilenet_v3_small
from mnlab.models.mobileone import (MobileOneBlock, mobileone_s0, mobileone_s1, mobileone_s2,
                                    mobileone_s3, mobileone_s4, reparameterize)
from mnlab.models.backbones import backbone
from mnlab.models.detection import ssd, ssdlite320_mobilenet_v3_large
from mnlab.models.segmentation import (deeplabv3, deeplabv3_mobilenet_v3_large, lraspp,
                                       lraspp_mobilenet_v3_large, raspp)

_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    f.__name__: f
    for f in (
        mobilenet_v1, conv_mobilenet_v1, shallow_mobilenet_v1,
        mobilenet_v2,
        mobilenet_v3_large, mobilenet_v3_small,
        efficientnet_lite0, efficientnet_lite1, efficientnet_lite2, efficientnet_lite3, efficientnet_lite4,
        mobileone_s0, mobileone_s1, mobileone_s2, mobileone_s3, mobileone_s4,
    )
}

# Detectors and segmenters by name, with the input side their reference was published at.
_TASK_MODELS: dict[str, dict[str, tuple[Callable[..., nn.Module], int]]] = {
    "detection": {"ssdlite320_mobilenet_v3_large": (ssdlite320_mobilenet_v3_large, 320)},
    "segmentation": {"deeplabv3_mobilenet_v3_large": (deeplabv3_mobilenet_v3_large, 520),
                     "lraspp_mobilenet_v3_large": (lraspp_mobilenet_v3_large, 520)},
}
_TASK_FAMILIES = {"ssdlite320_mobilenet_v3_large": "SSDLite", "deeplabv3_mobilenet_v3_large": "DeepLabv3",
                  "lraspp_mobilenet_v3_large": "LR-ASPP"}

_FAMILIES = {
    "mobilenet_v1": "MobileNetV1", "conv_mobilenet_v1": "MobileNetV1", "shallow_mobilenet_v1": "MobileNetV1",
    "mobilenet_v2": "MobileNetV2", "mobilenet_v3_large": "MobileNetV3", "mobilenet_v3_small": "MobileNetV3",
    **{name: "EfficientNet-Lite" for name in SCALING},
    **{f"mobileone_s{i}": "MobileOne" for i in range(5)},
}


def list_models(task: str = "classification") -> list[str]:
    """Names accepted by :func:`create_model` for ``task`` ("classification", "detection",
    "segmentation"), in the book's order."""
    if task == "classification":
        return list(_REGISTRY)
    if task not in _TASK_MODELS:
        raise ValueError(f"task must be 'classification', 'detection' or 'segmentation', got {task!r}")
    return list(_TASK_MODELS[task])


def _task_entry(name: str) -> tuple[Callable[..., nn.Module], int] | None:
    return next((models[name] for models in _TASK_MODELS.values() if name in models), None)


def _known() -> list[str]:
    return [*_REGISTRY, *(n for models in _TASK_MODELS.values() for n in models)]


def check_model_name(name: object) -> str:
    """``name`` if the registry knows it, else a ``ValueError`` that suggests the close names."""
    if not isinstance(name, str) or (name not in _REGISTRY and _task_entry(name) is None):
        close = difflib.get_close_matches(str(name), _known(), n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise ValueError(f"unknown model name {name!r}; {hint}known models: {', '.join(_known())}")
    return name


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a model by name; ``kwargs`` go to its constructor (``width_mult``, ``num_classes``, …).

    An argument the constructor does not take is a ``ValueError`` listing the ones it does.
    """
    check_model_name(name)
    entry = _task_entry(name)
    build = _REGISTRY[name] if entry is None else entry[0]
    allowed = list(inspect.signature(build).parameters)
    unknown = [key for key in kwargs if key not in allowed]
    if unknown:
        raise ValueError(f"{name} takes no argument(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    return build(**kwargs)


def default_resolution(name: str) -> int:
    """The input side the model was published at: 224, the EfficientNet-Lite table's, or the
    detector's / segmenter's."""
    check_model_name(name)
    entry = _task_entry(name)
    if entry is None:
        return SCALING[name].resolution if name in SCALING else 224
    return entry[1]


def family(name: str) -> str:
    """The family a registry name belongs to ("MobileNetV1", …, "MobileOne", "SSDLite", …)."""
    check_model_name(name)
    return _FAMILIES.get(name) or _TASK_FAMILIES[name]


__all__ = [
    "create_model", "list_models", "default_resolution", "family", "check_model_name", "reparameterize", "make_divisible",
    "MobileOneBlock", "build_mobilenet_v3", "efficientnet_lite",
    "backbone", "ssd", "deeplabv3", "raspp", "lraspp",
    *_REGISTRY, *_TASK_FAMILIES,
]
