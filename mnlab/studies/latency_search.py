"""Chapter 8 — searching under a latency budget with a predictor: NetAdapt, small, and MnasNet's reward.

* :class:`V2Widths` — every width of a MobileNetV2, so that one layer can be made narrower.
* :func:`netadapt` — NetAdapt (Yang et al. 2018): shrink one layer per step, chosen with a
  latency predictor (:mod:`mnlab.analysis.predict`), until a budget is met.
* :func:`measure_widths` — the result measured for real, beside uniform width multipliers,
  cached like the chapter's data set (:func:`mnlab.studies.latency_prediction.measure_dataset`).
* :func:`mnasnet_reward`, :func:`reward_table` — MnasNet's reward ACC × (LAT/T)^w (Tan et al.
  2019, eq. 2).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd
from torch import nn

from mnlab.models.layers import make_divisible
from mnlab.studies.latency_prediction import cached_rows, timings

if TYPE_CHECKING:
    from mnlab.analysis import Backend
    from mnlab.analysis.predict import Predictor


@dataclass(frozen=True)
class V2Widths:
    """Every width of a MobileNetV2 (Table 2 layout): the stem, each stage's output channels,
    each block's hidden (expansion) channels, and the last 1×1 conv."""

    stem: int
    outs: tuple[int, ...]
    hidden: tuple[int, ...]
    head: int

    @classmethod
    def of(cls, width_mult: float = 1.0) -> "V2Widths":
        """The widths of :func:`~mnlab.models.mobilenet_v2.mobilenet_v2` at ``width_mult``."""
        from mnlab.models.mobilenet_v2 import BOTTLENECKS, HEAD_CHANNELS, STEM_CHANNELS

        stem = make_divisible(STEM_CHANNELS * width_mult, 8)
        outs, hidden, c = [], [], stem
        for t, out, n, _ in BOTTLENECKS:
            outs.append(make_divisible(out * width_mult, 8))
            for _ in range(n):
                hidden.append(int(round(c * t)))
                c = outs[-1]
        return cls(stem, tuple(outs), tuple(hidden), make_divisible(HEAD_CHANNELS * max(1.0, width_mult), 8))

    def build(self) -> nn.Module:
        """The network, eval mode, seeded. Blocks whose expansion is the identity (t = 1) keep
        their hidden width tied to their input."""
        import torch
        from mnlab.models.layers import Classifier, InvertedResidual, MobileNet, conv_bn_act
        from mnlab.models.mobilenet_v2 import BOTTLENECKS

        torch.manual_seed(0)
        blocks: list[nn.Module] = [conv_bn_act(3, self.stem, 3, stride=2, activation=nn.ReLU6)]
        c, b = self.stem, 0
        for (t, _, n, s), out in zip(BOTTLENECKS, self.outs):
            for i in range(n):
                hidden = c if t == 1 else self.hidden[b]
                blocks.append(InvertedResidual(c, out, hidden, stride=s if i == 0 else 1))
                c, b = out, b + 1
        blocks.append(conv_bn_act(c, self.head, 1, activation=nn.ReLU6))
        return MobileNet(nn.Sequential(*blocks), Classifier(self.head, 1000, 0.2)).eval()

    @property
    def spec(self) -> str:
        """Every width as text — stem / stage outputs / hidden widths / head."""
        return "/".join([str(self.stem), "-".join(map(str, self.outs)), "-".join(map(str, self.hidden)),
                         str(self.head)])

    @classmethod
    def from_spec(cls, spec: str) -> "V2Widths":
        """The widths :attr:`spec` wrote (how a stored search result is read back)."""
        parts = spec.split("/")
        try:
            stem, outs, hidden, head = parts
            return cls(int(stem), tuple(map(int, outs.split("-"))), tuple(map(int, hidden.split("-"))), int(head))
        except ValueError:
            raise ValueError(f"spec must be 'stem/outs/hidden/head' with '-' between widths, got {spec!r}") from None

    def layers(self) -> list[tuple[str, int]]:
        """The widths NetAdapt may shrink: (name, index); the t = 1 block's hidden is its input."""
        return ([("stem", 0)] + [("outs", i) for i in range(len(self.outs))]
                + [("hidden", i) for i in range(1, len(self.hidden))] + [("head", 0)])

    def shrunk(self, layer: tuple[str, int], fraction: float) -> "V2Widths | None":
        """These widths with one layer ``fraction`` narrower (multiples of 8, at least 8)."""
        name, i = layer
        values = getattr(self, name)
        old = values[i] if isinstance(values, tuple) else values
        new = max(8, int(old * (1 - fraction)) // 8 * 8)
        if new >= old:
            return None
        if isinstance(values, tuple):
            return V2Widths(**{**self.__dict__, name: values[:i] + (new,) + values[i + 1:]})
        return V2Widths(**{**self.__dict__, name: new})


def netadapt(predictor: Predictor, budget_ms: float, *, start: V2Widths | None = None, resolution: int = 224,
             step: float = 0.1, max_steps: int = 200) -> pd.DataFrame:
    """NetAdapt (Yang et al. 2018), small: from MobileNetV2 shrink one layer per step until the
    *predicted* latency is at most ``budget_ms``.

    Each step tries to make every layer of :meth:`V2Widths.layers` ``step`` narrower and keeps
    the candidate that saves the most predicted latency per MAC it removes. NetAdapt proper
    keeps the candidate with the best accuracy after a short fine-tuning; with no ImageNet here,
    MACs kept stand in for capacity. Candidates within a millionth of the best count as tied
    and the earlier layer wins, so the search is the same on every CPU. Returns one row per step: ``step``, ``layer``,
    ``predicted_ms``, ``macs``, ``params`` and ``widths`` (the :class:`V2Widths`).
    """
    from mnlab.analysis.predict import describe

    if not budget_ms > 0:
        raise ValueError(f"budget_ms must be > 0, got {budget_ms!r}")
    if not 0 < step < 1:
        raise ValueError(f"step must be between 0 and 1, got {step!r}")
    widths = V2Widths.of(1.0) if start is None else start
    d = describe(widths.build(), resolution)
    history: list[dict[str, Any]] = [{"step": 0, "layer": "", "predicted_ms": predictor.predict_described(d),
                                      "macs": d.macs, "widths": widths}]
    while history[-1]["predicted_ms"] > budget_ms and len(history) <= max_steps:
        best = None
        for layer in widths.layers():
            candidate = widths.shrunk(layer, step)
            if candidate is None:
                continue
            cd = describe(candidate.build(), resolution)
            ms = predictor.predict_described(cd)
            saved = (history[-1]["predicted_ms"] - ms) / max(history[-1]["macs"] - cd.macs, 1)
            # a near-tie (within a millionth) keeps the earlier layer: the choice must not hang
            # on the last bits of a predictor's arithmetic, which differ between CPUs
            if best is None or saved - best[0] > 1e-6 * abs(best[0]):
                best = (saved, layer, candidate, cd.macs, ms)
        if best is None:
            break
        _, layer, widths, macs, ms = best
        history.append({"step": len(history), "layer": f"{layer[0]}[{layer[1]}]", "predicted_ms": ms,
                        "macs": macs, "widths": widths})
    table = pd.DataFrame(history)
    table["params"] = [sum(p.numel() for p in w.build().parameters()) for w in table.widths]
    return table


# --------------------------------------------------------------------------- MnasNet's reward

def mnasnet_reward(accuracy: float, latency_ms: float, target_ms: float, w: float = -0.07) -> float:
    """MnasNet's objective (Tan et al. 2019, eq. 2): ACC × (LAT / T)^w. With w = −0.07 (their
    soft constraint, α = β) a model twice as slow must be about 5% more accurate to score the same."""
    for name, value in (("accuracy", accuracy), ("latency_ms", latency_ms), ("target_ms", target_ms)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")
    return float(accuracy * (latency_ms / target_ms) ** w)


def reward_table(models: dict[str, tuple[float, float]], target_ms: float,
                 ws: Sequence[float] = (-0.07, -0.15)) -> pd.DataFrame:
    """The reward of each (top-1 %, latency ms) in ``models`` for each exponent in ``ws``."""
    rows = [{"model": name, "top1": acc, "latency_ms": ms,
             **{f"reward (w={w:g})": mnasnet_reward(acc, ms, target_ms, w) for w in ws}}
            for name, (acc, ms) in models.items()]
    return pd.DataFrame(rows).set_index("model")



#: Columns of the stored search result (``chapters/data/latency_netadapt.csv``).
SEARCH_COLUMNS = ["key", "macs", "params", "latency_ms", "best_ms", "spread", "backend", "threads", "cpu",
                  "logical_cores", "torch", "fingerprint", "measured_at"]


def measure_widths(networks: dict[str, V2Widths], *, backend: Backend = "onnxruntime",
                   cache: str | os.PathLike[str] | None = None,
                   measure: bool = True, resolution: int = 224, threads: int = 1, rounds: int = 10,
                   budget_s: float = 0.1) -> pd.DataFrame:
    """Time MobileNetV2 width variants (NetAdapt's result, uniform multipliers) in one
    interleaved run and store them like :func:`~mnlab.studies.latency_prediction.measure_dataset`;
    one row per network, ``key`` its name. A network is stored under its name and its widths
    (:attr:`V2Widths.spec`), so a search that ends elsewhere is never read as the old result."""
    from mnlab.analysis import analyze
    from mnlab.storage import write_csv

    keyed = {f"{name} [{widths.spec}]": widths for name, widths in networks.items()}   # a new result, a new row
    table, done, missing = cached_rows(cache, SEARCH_COLUMNS, list(keyed), backend, threads, measure)
    if missing:
        models = {k: (keyed[k].build(), resolution) for k in missing}
        timed = timings(models, backend=backend, threads=threads, rounds=rounds, budget_s=budget_s)
        rows = [{"key": k, "macs": analyze(m, resolution).totals["macs"],
                 "params": sum(p.numel() for p in m.parameters()), **timed[k]} for k, (m, _) in models.items()]
        table = pd.concat([table, pd.DataFrame(rows, columns=SEARCH_COLUMNS)], ignore_index=True)
        done = pd.concat([done, pd.DataFrame(rows).set_index("key")])
        if cache is not None:
            write_csv(table, cache)
    return done.loc[list(keyed)].reset_index()[SEARCH_COLUMNS].infer_objects().assign(key=list(networks))
