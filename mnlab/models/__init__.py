"""Layer 1 of mnlab: reference implementations of the MobileNet family, plain ``nn.Module`` subclasses.

``create_model(name, **kwargs)`` builds any of them by name; ``list_models()`` lists the names;
``default_resolution(name)`` is the input side each was published at (224, or the
EfficientNet-Lite table's). Every family takes ``width_mult`` (the width multiplier α) except
MobileOne, whose variant is its width: there ``width_mult`` is refused with a ``ValueError``.
"""
from __future__ import annotations

import difflib
import inspect
from typing import Callable

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

_FAMILIES = {
    "mobilenet_v1": "MobileNetV1", "conv_mobilenet_v1": "MobileNetV1", "shallow_mobilenet_v1": "MobileNetV1",
    "mobilenet_v2": "MobileNetV2", "mobilenet_v3_large": "MobileNetV3", "mobilenet_v3_small": "MobileNetV3",
    **{name: "EfficientNet-Lite" for name in SCALING},
    **{f"mobileone_s{i}": "MobileOne" for i in range(5)},
}


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`, in the book's order."""
    return list(_REGISTRY)


def check_model_name(name) -> str:
    """``name`` if the registry knows it, else a ``ValueError`` that suggests the close names."""
    if not isinstance(name, str) or name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise ValueError(f"unknown model name {name!r}; {hint}known models: {', '.join(_REGISTRY)}")
    return name


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a model by name; ``kwargs`` go to its constructor (``width_mult``, ``num_classes``, …).

    An argument the constructor does not take is a ``ValueError`` listing the ones it does.
    """
    build = _REGISTRY[check_model_name(name)]
    allowed = list(inspect.signature(build).parameters)
    unknown = [key for key in kwargs if key not in allowed]
    if unknown:
        raise ValueError(f"{name} takes no argument(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    return build(**kwargs)


def default_resolution(name: str) -> int:
    """The input side the model was published at: 224, or the EfficientNet-Lite table's."""
    check_model_name(name)
    return SCALING[name].resolution if name in SCALING else 224


def family(name: str) -> str:
    """The family a registry name belongs to ("MobileNetV1", …, "MobileOne")."""
    return _FAMILIES[check_model_name(name)]


__all__ = [
    "create_model", "list_models", "default_resolution", "family", "check_model_name", "reparameterize", "make_divisible",
    "MobileOneBlock", "build_mobilenet_v3", "efficientnet_lite",
    *_REGISTRY,
]
