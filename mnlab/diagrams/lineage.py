"""Chapter 7: the family's lineage, each paper placed at its year as ``references.bib`` gives it.

A paper's year is the year of its first public version: the arXiv identifier's YYMM when the
entry carries one (``arXiv:1704.04861`` → 2017), otherwise the entry's ``year``. The ideas on
the edges are the ones the chapters trace from paper to paper.
"""
from __future__ import annotations

import pathlib
import re
from typing import NamedTuple

from matplotlib.figure import Figure

from mnlab.diagrams.style import PALETTE, arrow, box, canvas, diagram, text, title

BIB = pathlib.Path(__file__).resolve().parents[2] / "references.bib"


class Paper(NamedTuple):
    key: str        # the references.bib key
    name: str
    idea: str
    lane: int       # row of the map, 0 at the top
    offset: float   # position inside its year, 0 … 1


LANES = ["hand-designed blocks", "searched for a device", "scaled", "latency, not FLOPs",
         "re-parameterized", "transformers at MobileNet speed"]
LANE_KIND = ["pointwise", "depthwise", "conv", "identity", "se", "linear"]

PAPERS = [
    Paper("howard2017mobilenets", "MobileNetV1", "depthwise separable,\nwidth α, resolution ρ", 0, 0.2),
    Paper("sandler2018mobilenetv2", "MobileNetV2", "inverted residual,\nlinear bottleneck", 0, 0.3),
    Paper("ma2018shufflenetv2", "ShuffleNetV2", "measure speed:\nguidelines G1–G4", 3, 0.5),
    Paper("tan2019mnasnet", "MnasNet", "latency in the\nsearch reward, SE", 1, 0.6),
    Paper("howard2019searching", "MobileNetV3", "NAS + NetAdapt,\nh-swish, SE ¼", 1, 0.55),
    Paper("tan2019efficientnet", "EfficientNet", "compound scaling\nof B0", 2, 0.5),
    Paper("efficientnetlite2020", "EfficientNet-Lite", "no SE, ReLU6,\nfixed stem/head", 2, 0.5),
    Paper("ding2021repvgg", "RepVGG", "structural\nre-parameterization", 4, 0.3),
    Paper("vasu2023mobileone", "MobileOne", "k branches folded\ninto one conv", 4, 0.3),
    Paper("li2022efficientformer", "EfficientFormer", "latency-driven\nslimming", 5, 0.5),
    Paper("vasu2023fastvit", "FastViT", "RepMixer: skips\nre-parameterized", 4, 0.5),
    Paper("wang2024repvit", "RepViT", "MobileNetV3 with\nViT-style blocks", 0, 0.5),
    Paper("qin2024mobilenetv4", "MobileNetV4", "universal inverted\nbottleneck (UIB)", 1, 0.5),
]

# (from, to): the idea of the first that the second builds on, as the chapters trace it.
EDGES = [
    ("howard2017mobilenets", "sandler2018mobilenetv2"),
    ("sandler2018mobilenetv2", "tan2019mnasnet"),
    ("tan2019mnasnet", "howard2019searching"),
    ("tan2019mnasnet", "tan2019efficientnet"),
    ("tan2019efficientnet", "efficientnetlite2020"),
    ("ding2021repvgg", "vasu2023mobileone"),
    ("vasu2023mobileone", "vasu2023fastvit"),
    ("howard2019searching", "wang2024repvit"),
    ("howard2019searching", "qin2024mobilenetv4"),
]


def bib_years(path: pathlib.Path = BIB) -> dict[str, int]:
    """Year of first publication of every entry of ``references.bib`` (see the module docstring)."""
    if not path.exists():
        raise ValueError(f"references.bib not found at {path}: the lineage reads the papers' years from it")
    years = {}
    for key, body in re.findall(r"@\w+\{([^,]+),(.*?)\n\}", path.read_text(), flags=re.S):
        arxiv = re.search(r"arXiv[: ]*(?:arXiv:)?(\d{2})(\d{2})\.\d{4,5}", body)
        year = re.search(r"\byear\s*=\s*\{(\d{4})\}", body)
        if arxiv:
            years[key.strip()] = 2000 + int(arxiv.group(1))
        elif year:
            years[key.strip()] = int(year.group(1))
    return years


@diagram
def lineage(since: int = 2017, until: int = 2022) -> Figure:
    """The papers from ``since`` to ``until`` on a time line, one lane per way of making a network
    cheaper; papers after 2022 (what came next) are dashed."""
    years = bib_years()
    papers = [p for p in PAPERS if since <= years[p.key] <= until]
    if not papers:
        raise ValueError(f"no paper between since={since!r} and until={until!r}")
    first = since
    span = until - first + 1
    year_w = 1.55
    width = 1.7 + span * year_w
    fig, ax = canvas(width, 4.9)
    lane_y = {i: 4.1 - i * 0.72 for i in range(len(LANES))}
    used = sorted({p.lane for p in papers})
    for i in used:
        text(ax, 0.1, lane_y[i] + 0.36, LANES[i], size=7.5, ha="left", colour=PALETTE["identity"], style="italic")
    where = {}
    for p in papers:
        x = 1.55 + (years[p.key] - first + p.offset) * year_w
        y = lane_y[p.lane]
        where[p.key] = (x, y)
        later = years[p.key] > 2022
        box(ax, x - 0.62, y - 0.26, 1.24, 0.52, f"{p.name}\n{p.idea}", LANE_KIND[p.lane], gid=f"paper:{p.key}",
            fontsize=7, dashed=later, fill=0.85 if later else 0.72)
    for year in range(first, until + 1):
        x = 1.55 + (year - first) * year_w
        ax.plot([x - 0.1, x - 0.1], [0.35, 4.55], color=PALETTE["removed"], lw=0.8, zorder=0)
        text(ax, x + year_w / 2 - 0.1, 0.2, str(year), size=9, weight="bold")
    for a, b in EDGES:
        if a in where and b in where:
            (xa, ya), (xb, yb) = where[a], where[b]
            if abs(ya - yb) < 0.1:
                arrow(ax, (xa + 0.62, ya), (xb - 0.62, yb), width=0.9)
            elif xb - 0.62 <= xa <= xb + 0.62:
                arrow(ax, (xa, ya - 0.26), (xa, yb + 0.26), width=0.9)
            else:
                start = (xa, ya - 0.26) if yb < ya else (xa, ya + 0.26)
                arrow(ax, start, (xb - 0.62, yb), connection="angle,angleA=-90,angleB=180,rad=0.1"
                      if yb < ya else "angle,angleA=90,angleB=180,rad=0.1", width=0.9)
    title(ax, width / 2, 4.72, f"The MobileNet family, {first}–{until}" +
          ("  (dashed: what came next)" if until > 2022 else ""))
    return fig
