"""The search space of chapter 8: MobileNetV2/V3-like networks sampled at random.

nn-Meter (Zhang et al. 2021) and MnasNet (Tan et al. 2019) sample networks from a space like
this one to train and test latency predictors: MobileNetV3-Large's skeleton of six stages, each
with a width, a depth, a kernel size of 3, 5 or 7, an expansion ratio, squeeze-and-excite on or
off and an activation (:class:`Stage`), at one of four resolutions (:class:`Architecture`).
:func:`sample_architecture` draws network number ``seed``, the same on every machine.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from torch import nn

from mnlab.models import build_mobilenet_v3
from mnlab.models.layers import make_divisible
from mnlab.models.mobilenet_v3 import HS, RE, Bneck
from mnlab.validation import check_int

#: The stages of the space (MobileNetV3-Large's skeleton) — base output channels, stride of the
#: first block, choices of depth. The first stage is one block without expansion, as in V2/V3.
STAGES: list[tuple[int, int, tuple[int, ...]]] = [
    (16, 1, (1,)), (24, 2, (1, 2, 3)), (40, 2, (2, 3, 4)), (80, 2, (2, 3, 4)),
    (112, 1, (1, 2, 3)), (160, 2, (2, 3, 4)),
]
WIDTHS = (0.5, 0.75, 1.0, 1.25, 1.5)
KERNELS = (3, 5, 7)
EXPANSIONS = (3, 4, 6)
RESOLUTIONS = (160, 192, 224, 256)


@dataclass(frozen=True)
class Stage:
    """One stage of a sampled network: ``depth`` blocks of ``out`` channels, the first with
    ``stride``; every block has ``kernel``, ``expansion``, ``se`` and activation ``nl``."""

    out: int
    depth: int
    stride: int
    kernel: int
    expansion: int
    se: bool
    nl: str


@dataclass(frozen=True)
class Architecture:
    """A network of the search space, and the input resolution it runs at."""

    stages: tuple[Stage, ...]
    resolution: int

    def rows(self) -> list[Bneck]:
        """MobileNetV3 table rows (k, exp, out, SE, NL, s) for ``mnlab.models.build_mobilenet_v3``."""
        rows, in_channels = [], 16
        for stage in self.stages:
            for i in range(stage.depth):
                hidden = in_channels if stage.expansion == 1 else make_divisible(in_channels * stage.expansion, 8)
                rows.append(Bneck(stage.kernel, hidden, stage.out, stage.se, stage.nl, stage.stride if i == 0 else 1))
                in_channels = stage.out
        return rows

    def build(self) -> nn.Module:
        return build_mobilenet_v3(self.rows(), 1280).eval()

    @property
    def spec(self) -> str:
        """Compact text — per stage out×depth k kernel e expansion [+se] nl, then @resolution."""
        parts = [f"{s.out}x{s.depth}k{s.kernel}e{s.expansion}{'+se' if s.se else ''}{s.nl}" for s in self.stages]
        return " ".join(parts) + f" @{self.resolution}"


def sample_architecture(seed: int) -> Architecture:
    """The search-space network number ``seed`` (the same on every machine)."""
    rng = random.Random(check_int(seed, "seed", at_least=0))
    stages = []
    for i, (base, stride, depths) in enumerate(STAGES):
        out = make_divisible(base * rng.choice(WIDTHS), 8)
        expansion = 1 if i == 0 else rng.choice(EXPANSIONS)
        nl = RE if i < 2 else rng.choice((RE, HS))
        stages.append(Stage(out, rng.choice(depths), stride, rng.choice(KERNELS), expansion,
                            rng.random() < 0.5, nl))
    return Architecture(tuple(stages), rng.choice(RESOLUTIONS))
