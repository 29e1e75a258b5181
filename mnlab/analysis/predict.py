"""Latency predictors: four ways to guess a model's latency without running it, one interface.

MobileOne (Vasu et al. 2022) and MobileNetV3's search (Howard et al. 2019) start from the same
observation: Mult-Adds do not predict latency. The systems that search under a latency budget
use something better — lookup tables of measured ops (ProxylessNAS, FBNet, Once-for-All) or
nn-Meter's kernel-level regressors (Zhang et al. 2021). The four predictors here go from the
cheapest to nn-Meter's, each with ``fit`` on measured configurations and ``predict(model,
input_shape)`` in milliseconds:

1. :class:`MacsLinear` — latency = a · MACs + b.
2. :class:`Roofline` — each kernel takes max(MACs / π, bytes / β) plus a fixed cost per kernel
   (Williams et al. 2009); π, β and the cost are fitted.
3. :class:`LookupTable` — every op (conv, BatchNorm, activation, add, …) timed alone on the
   backend and summed: nn-Meter's "per-op sum without fusion" baseline.
4. :class:`KernelModel` — nn-Meter: the model split into the kernels the runtime executes
   (:func:`~mnlab.analysis.kernels.kernels`), one regressor per kernel type trained on sampled
   and adaptively re-sampled kernel configurations, the predictions summed.

Everything here works on any ``nn.Module``: a model is described by its
:func:`~mnlab.analysis.analyze` report (:func:`describe`). Fitting on a list of
:class:`Description` saves analysing a model once per predictor. :func:`accuracy` scores
predictions the way nn-Meter does (share within ±10%), plus RMSPE and Spearman's ρ.
"""
from __future__ import annotations

import random
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from torch import nn
from scipy.optimize import least_squares, nnls
from scipy.stats import spearmanr

from mnlab.analysis.counting import analyze
from mnlab.analysis.inputs import InputShape
from mnlab.analysis.kernel_bank import EMPTIES, KernelBank
from mnlab.analysis.kernel_space import INITIAL_SAMPLES, neighbours, sample_kernel
from mnlab.analysis.kernels import Kernel, kernel_features, kernels, ops


@dataclass
class Description:
    """What the predictors see of one model at one input shape: its MACs and bytes, its
    fused kernels (:func:`~mnlab.analysis.kernels.kernels`) and its ops
    (:func:`~mnlab.analysis.kernels.ops`)."""

    macs: int
    bytes: int
    kernels: list[Kernel]
    ops: list[Kernel]


def describe(model: nn.Module, input_shape: InputShape) -> Description:
    """Count ``model`` once (:func:`~mnlab.analysis.analyze`) and split it into kernels and ops."""
    report = analyze(model, input_shape)
    return Description(report.totals["macs"], report.totals["bytes_read"] + report.totals["bytes_written"],
                       kernels(report), ops(report))


def accuracy(predicted: npt.ArrayLike, measured: npt.ArrayLike) -> dict[str, float]:
    """nn-Meter's score (Sec. 6.1): the share of models predicted within ±10% (and ±5%) of the
    measurement; also the root mean square percentage error and Spearman's rank ρ."""
    p, m = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    if p.shape != m.shape or p.ndim != 1 or len(p) < 2:
        raise ValueError(f"predicted and measured must be 1-D of equal length >= 2, got shapes {p.shape}, {m.shape}")
    if not (m > 0).all():
        raise ValueError("measured latencies must all be > 0")
    error = p / m - 1
    return {"n": len(m), "rmspe": float(np.sqrt(np.mean(error ** 2))),
            "within_10": float(np.mean(np.abs(error) <= 0.10)), "within_5": float(np.mean(np.abs(error) <= 0.05)),
            "spearman": float(spearmanr(p, m).statistic)}


def _check_fit(described: list[Description], latency_ms: npt.ArrayLike) -> np.ndarray:
    if not isinstance(described, (list, tuple)) or not all(isinstance(d, Description) for d in described):
        raise ValueError("described must be a list of Description (see describe())")
    t = np.asarray(latency_ms, dtype=float)
    if t.shape != (len(described),) or len(t) < 2:
        raise ValueError(f"latency_ms must give one latency per description (>= 2), got shape {t.shape} "
                         f"for {len(described)} descriptions")
    if not (np.isfinite(t) & (t > 0)).all():
        raise ValueError("latency_ms must all be finite and > 0")
    return t


class Predictor:
    """The interface: ``fit(described, latency_ms)`` then ``predict(model, input_shape)`` (ms)."""

    name = "predictor"
    fitted = False

    def fit(self, described: list[Description], latency_ms: npt.ArrayLike) -> "Predictor":
        raise NotImplementedError

    def predict_described(self, d: Description) -> float:
        raise NotImplementedError

    def predict(self, model: nn.Module, input_shape: InputShape) -> float:
        """Predicted latency of ``model`` at ``input_shape`` (a resolution or (N, C, H, W)), in ms."""
        return self.predict_described(describe(model, input_shape))

    def predict_many(self, described: list[Description]) -> np.ndarray:
        return np.array([self.predict_described(d) for d in described])

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError(f"{type(self).__name__} must be fitted before it predicts; call fit() first")


def _relative_lstsq(columns: np.ndarray, t: np.ndarray, nonnegative: bool = False) -> np.ndarray:
    """Coefficients x minimising Σ ((columns · x − t) / t)², i.e. the relative error."""
    a = columns / t[:, None]
    if nonnegative:
        return nnls(a, np.ones_like(t))[0]
    return np.linalg.lstsq(a, np.ones_like(t), rcond=None)[0]


class MacsLinear(Predictor):
    """latency = a · MACs + b, fitted to minimise the relative error (the FLOPs baseline)."""

    name = "MACs, linear"

    def fit(self, described: list[Description], latency_ms: npt.ArrayLike) -> "MacsLinear":
        t = _check_fit(described, latency_ms)
        macs = np.array([d.macs for d in described], dtype=float)
        self.a, self.b = _relative_lstsq(np.column_stack([macs, np.ones_like(macs)]), t)
        self.fitted = True
        return self

    def predict_described(self, d: Description) -> float:
        self._check_fitted()
        return float(self.a * d.macs + self.b)


class Roofline(Predictor):
    """Σ over kernels of max(MACs / π, bytes / β) + c per kernel: each kernel is bound by
    arithmetic or by memory (the roofline model), and pays a fixed launch cost c. π (MACs/ms),
    β (bytes/ms) and c (ms) are fitted by least squares on the relative error."""

    name = "MACs + bytes, roofline"

    def _time(self, params, d: Description) -> float:
        log_pi, log_beta, c = params
        macs = np.array([k.macs for k in d.kernels], dtype=float)
        moved = np.array([k.bytes for k in d.kernels], dtype=float)
        return float(np.maximum(macs / np.exp(log_pi), moved / np.exp(log_beta)).sum() + c * len(d.kernels))

    def fit(self, described: list[Description], latency_ms: npt.ArrayLike) -> "Roofline":
        t = _check_fit(described, latency_ms)
        x0 = [np.log(np.median([d.macs for d in described] / t)),
              np.log(np.median([d.bytes for d in described] / t)), 0.0]
        result = least_squares(lambda p: np.array([self._time(p, d) for d in described]) / t - 1, x0,
                               bounds=([-np.inf, -np.inf, 0.0], [np.inf, np.inf, np.inf]))
        self.params = result.x
        self.fitted = True
        return self

    @property
    def peaks(self) -> dict:
        """The fitted π (GMAC/s), β (GB/s) and per-kernel cost (µs)."""
        log_pi, log_beta, c = self.params
        return {"gmacs_per_s": np.exp(log_pi) / 1e6, "gbytes_per_s": np.exp(log_beta) / 1e6, "per_kernel_us": c * 1e3}

    def predict_described(self, d: Description) -> float:
        self._check_fitted()
        return self._time(self.params, d)


class LookupTable(Predictor):
    """Every op timed alone on the bank's backend, summed; nothing fused (nn-Meter's op-level
    baseline, the latency tables of ProxylessNAS and FBNet). The runtime's cost per call
    (:attr:`~mnlab.analysis.kernel_bank.KernelBank.overhead_ms`) is taken off each op and counted once per model.
    ``fit`` learns nothing (no end-to-end latency is used): an op is timed the first time a
    prediction needs it, or a ``ValueError`` names it if the bank only reads."""

    name = "per-op lookup table"

    def __init__(self, bank: KernelBank) -> None:
        if not isinstance(bank, KernelBank):
            raise ValueError(f"bank must be a KernelBank, got {type(bank).__name__}")
        self.bank = bank

    def fit(self, described: list[Description], latency_ms: npt.ArrayLike | None = None) -> "LookupTable":
        if not isinstance(described, (list, tuple)) or not all(isinstance(d, Description) for d in described):
            raise ValueError("described must be a list of Description (see describe())")
        self.fitted = True
        return self

    def predict_described(self, d: Description) -> float:
        self._check_fitted()
        overhead = self.bank.overhead_ms
        return float(np.maximum(self.bank.latency(d.ops) - overhead, 0.0).sum() + overhead)


def _tree_inputs(f: pd.DataFrame) -> np.ndarray:
    logs = np.log1p(f[["h", "w", "c_in", "c_out", "mid", "macs", "bytes"]].to_numpy())
    return np.column_stack([logs, f[["k", "stride", "act_code"]].to_numpy()])


class _KindRegressor:
    """One kernel type's latency: a non-negative linear base a·MACs + b·bytes + c (which
    extrapolates), times a boosted-tree correction learnt on the log ratio (which does not)."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, kernel_list: list[Kernel], t: np.ndarray) -> "_KindRegressor":
        from sklearn.ensemble import GradientBoostingRegressor

        f = kernel_features(kernel_list)
        self.coef = _relative_lstsq(np.column_stack([f.macs, f.bytes, np.ones(len(f))]), t, nonnegative=True)
        residual = np.log(t / self._base(f))
        self.shift, self.trees = float(np.median(residual)), None
        if len(t) >= 8:
            self.trees = GradientBoostingRegressor(n_estimators=150, max_depth=3, learning_rate=0.05,
                                                   random_state=self.seed).fit(_tree_inputs(f), residual)
        return self

    def _base(self, f: pd.DataFrame) -> np.ndarray:
        return np.maximum(f.macs.to_numpy() * self.coef[0] + f.bytes.to_numpy() * self.coef[1] + self.coef[2], 1e-6)

    def predict(self, kernel_list: list[Kernel]) -> np.ndarray:
        return self.predict_features(kernel_features(kernel_list))

    def predict_features(self, f: pd.DataFrame) -> np.ndarray:
        correction = self.trees.predict(_tree_inputs(f)) if self.trees is not None else self.shift
        return self._base(f) * np.exp(correction)


def _cv_error(kernel_list: list[Kernel], t: np.ndarray, seed: int) -> np.ndarray:
    """Relative error of each sample when predicted by a regressor fitted without it (5-fold)."""
    from sklearn.model_selection import KFold

    error = np.zeros(len(t))
    if len(t) < 10:
        return error
    for train, test in KFold(5, shuffle=True, random_state=seed).split(t):
        model = _KindRegressor(seed).fit([kernel_list[i] for i in train], t[train])
        error[test] = model.predict([kernel_list[i] for i in test]) / t[test] - 1
    return error


class KernelModel(Predictor):
    """nn-Meter's predictor: kernels (after fusion) predicted one by one and summed.

    ``fit`` builds each kernel type's training set from ``samples`` random configurations per
    type (:data:`~mnlab.analysis.kernel_space.INITIAL_SAMPLES`) and up to ``prior_per_kind``
    kernels of the training models, times them alone on the bank's backend, then runs
    ``adaptive_rounds`` rounds of adaptive sampling: the samples whose 5-fold cross-validated
    error exceeds ``tolerance`` get two neighbours each (at most ``per_round`` per type), timed
    and added. What an empty call of its type costs (:data:`~mnlab.analysis.kernel_bank.EMPTIES`:
    the runtime's call, and what a kernel alone pays that it does not pay inside a network) is
    taken off each kernel, and the runtime's call counted once per model. With ``calibrate`` the sum is finally scaled, latency = a · Σ, a the median ratio of
    measured to summed latency over the training models (kernels timed alone do not run exactly
    as they run inside a network: caches, and on a busy machine, preemption). A kernel type that
    was never measured raises a ``ValueError``, or with ``unknown="fallback"`` is predicted from a
    MACs-and-bytes model of all kernels and flagged (a ``UserWarning``, and the ``fallback``
    column of :meth:`breakdown`).

    ``training``: a training set chosen before, as :meth:`training_table` gave it (``kind``,
    ``key`` and ``adaptive``, whether adaptive sampling added the kernel). It is used as it is,
    without sampling: which kernels adaptive sampling adds hangs on the measurements and on the
    last bits of the regressors' arithmetic, so the sampling is part of the measurement, stored
    with it, and a fit on another CPU reads it rather than re-deciding it.
    """

    name = "kernel-level (nn-Meter)"

    def __init__(self, bank: KernelBank, *, samples: dict | None = None, prior_per_kind: int = 12,
                 adaptive_rounds: int = 2, per_round: int = 16, tolerance: float = 0.10,
                 calibrate: bool = True, unknown: str = "error", seed: int = 0,
                 training: pd.DataFrame | None = None) -> None:
        if not isinstance(bank, KernelBank):
            raise ValueError(f"bank must be a KernelBank, got {type(bank).__name__}")
        if unknown not in ("error", "fallback"):
            raise ValueError(f"unknown must be 'error' or 'fallback', got {unknown!r}")
        self.bank, self.samples = bank, dict(INITIAL_SAMPLES if samples is None else samples)
        self.prior_per_kind, self.adaptive_rounds, self.per_round = prior_per_kind, adaptive_rounds, per_round
        self.tolerance, self.calibrate, self.unknown, self.seed = tolerance, calibrate, unknown, seed
        self.given_training = None if training is None else _training_from_table(training)

    def _times(self, kernel_list: list[Kernel]) -> np.ndarray:
        """Each kernel's time alone, less what an empty call of its type costs."""
        empty = np.array([self.call_ms.get(k.kind, self.overhead) for k in kernel_list])
        return np.maximum(self.bank.latency(kernel_list) - empty, 1e-4)

    def _training_set(self, described: list[Description], rng: random.Random) -> dict[str, list[Kernel]]:
        by_kind: dict[str, list[Kernel]] = {}
        for kind, n in self.samples.items():
            by_kind.setdefault(kind, []).extend(sample_kernel(kind, rng) for _ in range(n))
        seen = sorted({k for d in described for k in d.kernels}, key=lambda k: k.key)
        for kind in sorted({k.kind for k in seen}):
            of_kind = [k for k in seen if k.kind == kind]
            by_kind.setdefault(kind, []).extend(rng.sample(of_kind, min(self.prior_per_kind, len(of_kind))))
        return {kind: list(dict.fromkeys(ks)) for kind, ks in by_kind.items()}

    def _adaptive(self, training: dict[str, list[Kernel]], rng: random.Random) -> dict[str, list[Kernel]]:
        """``adaptive_rounds`` rounds of adaptive sampling from ``training`` (class docstring)."""
        self.added = dict.fromkeys(training, 0)   # adaptive samples per kernel type
        initial = {k for ks in training.values() for k in ks}
        for _ in range(self.adaptive_rounds):
            new = {}
            for kind, ks in training.items():
                # rounded, and ties broken by key: the choice must not hang on a CPU's last bits
                error = np.round(np.abs(_cv_error(ks, self._times(ks), self.seed)), 3)
                order = sorted(range(len(ks)), key=lambda i: (-error[i], ks[i].key))
                worst = [ks[i] for i in order if error[i] > self.tolerance]
                new[kind] = [n for k in worst[:self.per_round // 2] for n in neighbours(k, rng)]
            if not self.bank.measure:   # a stored bank: use the neighbours it holds
                new = {kind: [k for k in ks if k in self.bank] for kind, ks in new.items()}
            if not any(new.values()):
                break
            self.bank.latency([k for ks in new.values() for k in ks])
            grown = {kind: list(dict.fromkeys(ks + new.get(kind, []))) for kind, ks in training.items()}
            self.added = {kind: self.added[kind] + len(grown[kind]) - len(training[kind]) for kind in training}
            training = grown
        self.adaptive = {k for ks in training.values() for k in ks} - initial
        return training

    def fit(self, described: list[Description], latency_ms: npt.ArrayLike) -> "KernelModel":
        t = _check_fit(described, latency_ms)
        self.overhead = self.bank.overhead_ms
        kinds = sorted(EMPTIES)
        self.call_ms = dict(zip(kinds, self.bank.latency([EMPTIES[kind] for kind in kinds])))
        if self.given_training is not None:
            training, self.adaptive = self.given_training
            self.added = {kind: sum(k in self.adaptive for k in ks) for kind, ks in training.items()}
            self.bank.latency([k for ks in training.values() for k in ks])   # measured, or a ValueError
        else:
            rng = random.Random(self.seed)
            training = self._training_set(described, rng)
            self.bank.latency([k for ks in training.values() for k in ks])   # one progress bar
            training = self._adaptive(training, rng)
        # in key order: a fit must not depend on the order the kernels were sampled or stored in
        self.training = training = {kind: sorted(training[kind], key=lambda k: k.key) for kind in sorted(training)}
        self.regressors = {kind: _KindRegressor(self.seed).fit(ks, self._times(ks)) for kind, ks in training.items()}
        every = [k for ks in training.values() for k in ks]
        self.fallback = _KindRegressor(self.seed)
        self.fallback.coef = _relative_lstsq(np.column_stack([kernel_features(every)[["macs", "bytes"]].to_numpy(),
                                                              np.ones(len(every))]), self._times(every), True)
        self.fallback.trees, self.fallback.shift = None, 0.0
        self.a, self.fitted = 1.0, True
        if self.calibrate:   # one scale: kernels timed alone run faster or slower than inside a model
            self.a = float(np.exp(np.median(np.log(t / self._sums(described)))))
        return self

    def training_table(self) -> pd.DataFrame:
        """The kernels the regressors were trained on, one row each: ``kind``, ``key``, and
        ``adaptive`` (added by adaptive sampling)."""
        self._check_fitted()
        return pd.DataFrame([{"kind": kind, "key": k.key, "adaptive": k in self.adaptive}
                             for kind, ks in self.training.items() for k in ks])

    def _sums(self, described: list[Description]) -> np.ndarray:
        return np.array([self._kernel_ms(d)[0].sum() + self.overhead for d in described])

    def _kernel_ms(self, d: Description) -> tuple[np.ndarray, np.ndarray]:
        """Each kernel's predicted time (uncalibrated, per-call cost excluded) and whether the
        fallback predicted it."""
        self._check_fitted()
        kinds = np.array([k.kind for k in d.kernels])
        features = kernel_features(d.kernels)
        ms, fallback = np.zeros(len(kinds)), np.zeros(len(kinds), dtype=bool)
        for kind in dict.fromkeys(kinds.tolist()):
            rows = kinds == kind
            if kind in self.regressors:
                ms[rows] = self.regressors[kind].predict_features(features[rows])
                continue
            if self.unknown == "error":
                example = d.kernels[int(np.argmax(rows))].key
                raise ValueError(f"kernel type {kind!r} was never measured (e.g. {example}); measured "
                                 f"types: {sorted(self.regressors)}. Pass unknown='fallback' to predict it from "
                                 "a MACs-and-bytes model of all kernels, flagged")
            ms[rows], fallback[rows] = self.fallback.predict_features(features[rows]), True
        return ms, fallback

    def breakdown(self, d: Description) -> pd.DataFrame:
        """One row per kernel of ``d``: ``kind``, ``key``, ``predicted_ms`` (uncalibrated, per-call
        cost excluded) and ``fallback`` (True where the kernel type was never measured)."""
        ms, fallback = self._kernel_ms(d)
        return pd.DataFrame({"kind": [k.kind for k in d.kernels], "key": [k.key for k in d.kernels],
                             "predicted_ms": ms, "fallback": fallback})

    def predict_described(self, d: Description) -> float:
        ms, fallback = self._kernel_ms(d)
        if fallback.any():
            kinds = sorted({k.kind for k, f in zip(d.kernels, fallback) if f})
            warnings.warn(f"{int(fallback.sum())} kernel(s) of types never measured ({kinds}) predicted by "
                          "the fallback", stacklevel=2)
        return float(self.a * (ms.sum() + self.overhead))


def _training_from_table(table: pd.DataFrame) -> tuple[dict[str, list[Kernel]], set[Kernel]]:
    """A training set, and its adaptively sampled kernels, from :meth:`KernelModel.training_table` rows."""
    missing = {"kind", "key", "adaptive"} - set(getattr(table, "columns", ()))
    if not isinstance(table, pd.DataFrame) or missing or not len(table):
        raise ValueError("training must be a non-empty KernelModel.training_table() (columns kind, key, adaptive)"
                         + (f"; missing {sorted(missing)}" if isinstance(table, pd.DataFrame) and missing else ""))
    training: dict[str, list[Kernel]] = {}
    adaptive = set()
    for kind, key, added in zip(table.kind, table.key, table.adaptive):
        kernel = Kernel.from_key(key)
        if kernel.kind != kind:
            raise ValueError(f"training row {key!r} is a {kernel.kind!r} kernel, listed as {kind!r}")
        training.setdefault(kind, []).append(kernel)
        if added in (True, "True", 1):
            adaptive.add(kernel)
    return training, adaptive
