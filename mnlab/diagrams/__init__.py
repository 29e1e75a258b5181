"""Conceptual diagrams drawn from the models' own definitions (presentation layer).

Every diagram reads ``mnlab.models`` — channel counts, kernels, activations, branches, the
scaling table — and counts with ``mnlab.analysis``, so it cannot drift from the code it
explains. Each is a function returning a matplotlib ``Figure``; :data:`DIAGRAMS` lists them
with the chapters that show them, and ``make figures`` (``python -m mnlab.diagrams figures``)
writes each as ``figures/<name>.svg``, byte-for-byte the same on every run.

Nothing in ``mnlab`` imports this package; the book's notebooks do.
"""
from __future__ import annotations

import functools
import pathlib
from typing import Callable, NamedTuple

from matplotlib.figure import Figure

from mnlab.diagrams import heads, lineage, mobileone, residual, runtime, scaling, separable
from mnlab.diagrams.style import PALETTE, save_svg


#: The book's chapters as the diagrams name them ("4b" is chapter 4b, MobileNets as backbones).
CHAPTERS: tuple[int | str, ...] = (1, 2, 3, 4, "4b", 5, 6, 7, 8)


class Diagram(NamedTuple):
    """A diagram: how to draw it, the chapters that show it (the first as its key idea) and a
    caption for the chapter's ``figure`` directive."""

    draw: Callable[[], Figure]
    chapters: tuple[int | str, ...]
    caption: str
    key_idea: bool = False


#: Every diagram of the book by file name, with the chapters that show it and its caption.
DIAGRAMS: dict[str, Diagram] = {
    "convolution_kinds": Diagram(separable.convolution_kinds, (1,), "A standard convolution and its two factors, "
                                 "with their cost terms and Table 3's layer counted.", True),
    "separable_cost": Diagram(separable.separable_cost, (1,), "Table 3's layer to scale: what the separable pair "
                              "costs next to the standard convolution, and how little of it is depthwise."),
    "roofline_sketch": Diagram(separable.roofline_sketch, (1, 7), "The three convolutions of Table 3 on a roofline: "
                               "their arithmetic intensity, counted; the roofs sketched."),
    "width_resolution": Diagram(separable.width_resolution, (2,), "MobileNetV1's two knobs: α thins every layer, "
                                "ρ shrinks every feature map.", True),
    "v1_block": Diagram(separable.v1_block, (2,), "MobileNetV1's Figure 3, read from the models: a standard "
                        "convolutional layer and the depthwise separable layer that replaces it."),
    "inverted_residual": Diagram(residual.inverted_residual, (3,), "A classic residual and MobileNetV2's inverted "
                                 "residual, tensors to scale; the linear bottleneck hatched.", True),
    "v2_network": Diagram(residual.v2_network, (3,), "MobileNetV2's 17 blocks: the thin tensors passed between "
                          "blocks and the expanded ones that live only inside them."),
    "v3_block": Diagram(residual.v3_block, (4,), "MobileNetV3's block: h-swish, squeeze-and-excite at a quarter of "
                        "the expansion, a linear projection and the shortcut.", True),
    "v3_last_stage": Diagram(residual.v3_last_stage, (4,), "MobileNetV3's Figure 5: the original last stage "
                             "against the efficient one, every layer counted."),
    "ssdlite_head": Diagram(heads.ssdlite_head, ("4b",), "SSDLite on MobileNetV2: two maps read from the "
                            "backbone, four made by extra layers, a separable box and class predictor on each.", True),
    "lraspp_head": Diagram(heads.lraspp_head, ("4b",), "LR-ASPP on MobileNetV3-Large: a gated 1×1 branch on C5 "
                           "and a stride-8 skip, each mapped to the classes and summed."),
    "compound_scaling": Diagram(scaling.compound_scaling, (5,), "Width, depth and resolution scaled one at a time "
                                "and together, from the Lite scaling table.", True),
    "lite_block": Diagram(scaling.lite_block, (5,), "EfficientNet-B0's block and EfficientNet-Lite's: squeeze-and-"
                          "excite removed, swish replaced by ReLU6."),
    "mobileone_block": Diagram(mobileone.mobileone_block, (6,), "A MobileOne-S0 unit at training time, and the "
                               "single convolution each of its blocks becomes.", True),
    "mobileone_variants": Diagram(mobileone.mobileone_variants, (6,), "MobileOne S0–S4: stage widths, train-time "
                                  "branches and squeeze-and-excite."),
    "lineage": Diagram(lineage.lineage, (7,), "The MobileNet family from 2017 to 2022, one lane per way of making "
                       "a network cheaper.", True),
    "lineage_next": Diagram(functools.partial(lineage.lineage, 2019, 2024), (7,), "What came next: MobileNetV4, FastViT, "
                            "RepViT and EfficientFormer beside the networks they build on."),
    "kernel_fusion": Diagram(runtime.kernel_fusion, (8,), "Two blocks as written and as run: BatchNorm folded "
                             "into the convolution, the activation fused, squeeze-and-excite one kernel.", True),
    "latency_predictors": Diagram(runtime.latency_predictors, (8,), "MobileNetV2 as the four latency predictors "
                                  "read it: one number, its kernels, its ops, its kernels by type."),
}


def chapter_diagrams(chapter: int | str) -> dict[str, Diagram]:
    """The diagrams chapter ``chapter`` (one of :data:`CHAPTERS`) shows, its key idea first."""
    if isinstance(chapter, bool) or chapter not in CHAPTERS:
        raise ValueError(f"chapter must be one of {', '.join(map(str, CHAPTERS))}, got {chapter!r}")
    shown = {name: d for name, d in DIAGRAMS.items() if chapter in d.chapters}
    return dict(sorted(shown.items(), key=lambda item: not (item[1].key_idea and item[1].chapters[0] == chapter)))


def render(name: str) -> Figure:
    """Draw the diagram ``name`` (one of :data:`DIAGRAMS`)."""
    if name not in DIAGRAMS:
        raise ValueError(f"unknown diagram {name!r}; known diagrams: {', '.join(DIAGRAMS)}")
    return DIAGRAMS[name].draw()


def render_all(directory: str | pathlib.Path, names: list[str] | None = None) -> list[pathlib.Path]:
    """Write every diagram (or those in ``names``) as ``<directory>/<name>.svg``; returns the paths."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return [save_svg(render(name), directory / f"{name}.svg") for name in (names or list(DIAGRAMS))]


__all__ = ["CHAPTERS", "DIAGRAMS", "Diagram", "PALETTE", "chapter_diagrams", "render", "render_all"]
