"""What every analyzer accepts: a module, and an input shape given as a resolution or (N, C, H, W)."""
from __future__ import annotations

import math
from typing import TypeAlias

import torch
from torch import nn

from mnlab.validation import is_int

#: What every analyzer takes as ``input_shape``: a resolution r (a batch-1 image (1, C, r, r),
#: C the model's input channels) or (N, C, H, W), as a tuple, a list or a ``torch.Size``; see
#: :func:`resolve_input_shape`. A (C, H, W) triple is refused.
InputShape: TypeAlias = int | tuple[int, int, int, int] | list[int] | torch.Size


def check_module(model: object, name: str = "model") -> nn.Module:
    """Refuse anything that is not an ``nn.Module`` with a ``ValueError`` naming the argument."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"{name} must be a torch.nn.Module, got {type(model).__name__}: {model!r:.80}")
    return model


#: The largest input an analyzer accepts, in bytes (a tensor's size is a signed 64-bit count).
MAX_INPUT_BYTES = 2 ** 63 - 1

_INPUT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                 nn.ConvTranspose3d)


def _input_channels(model: nn.Module) -> int:
    """Input channels of the first conv or linear layer in registration order, else 3."""
    for module in model.modules():
        if isinstance(module, _INPUT_LAYERS):
            return module.in_channels
        if isinstance(module, nn.Linear):
            return module.in_features
    return 3


def resolve_input_shape(model: nn.Module, input_shape: InputShape) -> tuple[int, int, int, int]:
    """The (N, C, H, W) an analyzer runs ``model`` on.

    ``input_shape`` is a resolution r > 0 — a batch-1 image (1, C, r, r), C the input channels
    of the model's first conv or linear layer, or 3 — or a 4-tuple (N, C, H, W) of positive ints
    (Python or NumPy integers). The tensor must be one PyTorch can describe: at most 2**63 bytes
    (``MAX_INPUT_BYTES``) at 8 bytes per element.
    """
    allowed = "a resolution r > 0 (int) or a 4-tuple (N, C, H, W) of positive ints"
    if is_int(input_shape):
        if input_shape <= 0:
            raise ValueError(f"input_shape must be {allowed}, got {input_shape!r}")
        r = int(input_shape)
        shape = (1, _input_channels(model), r, r)
    elif (isinstance(input_shape, (tuple, list, torch.Size)) and len(input_shape) == 4
            and all(is_int(v) and v > 0 for v in input_shape)):
        n, c, h, w = (int(v) for v in input_shape)
        shape = (n, c, h, w)
    else:
        raise ValueError(f"input_shape must be {allowed}, got {input_shape!r}")
    if math.prod(shape) * 8 > MAX_INPUT_BYTES:
        raise ValueError(f"input_shape {input_shape!r} is too large: an input of shape {shape} has "
                         f"{math.prod(shape):.3g} elements, more than a tensor of 2**63 bytes holds")
    return shape
