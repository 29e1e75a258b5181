"""Training the book's toy networks: one data set, one split, one loop.

Two chapters train small networks on real images to test a design claim by proxy: MobileNetV2's
Figure 6 ablation (linear bottleneck, shortcut placement) and EfficientNet-Lite's quantization
study (ReLU6 against swish). Both use scikit-learn's 8×8 handwritten digits — 1,797 images that ship
inside the package, so nothing is downloaded — split once, stratified, and trained by :func:`train`.

Determinism: :func:`train` seeds the weights and the batch order from ``seed`` and runs on one
thread with deterministic algorithms, so a (network, seed) gives the same numbers on every run on
one machine. Across machines (other CPU kernels) the numbers differ in their last bits and training
then follows a slightly different path: the chapters store their training results with the
machine that produced them and compare them with a stated tolerance, never byte for byte.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from mnlab.validation import check_int, check_real

__all__ = ["Digits", "digits", "train", "accuracy"]


@dataclass(frozen=True)
class Digits:
    """The digits as (N, 1, 8, 8) float tensors in [0, 1] and their labels, split once."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def head(self, train: int, test: int | None = None) -> "Digits":
        """The first ``train`` training and ``test`` test images: a smaller data set for quick runs."""
        test = len(self.x_test) if test is None else test
        return Digits(self.x_train[:train], self.y_train[:train], self.x_test[:test], self.y_test[:test])


def digits(test_fraction: float = 0.25, seed: int = 0) -> Digits:
    """scikit-learn's digits, split into train and test with every class in the same proportion."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    check_real(test_fraction, "test_fraction", above=0, below=1)
    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None]
    xtr, xte, ytr, yte = train_test_split(x, data.target, test_size=test_fraction, random_state=seed,
                                          stratify=data.target)
    return Digits(torch.from_numpy(xtr), torch.from_numpy(ytr).long(),
                  torch.from_numpy(xte), torch.from_numpy(yte).long())


def _positive_int(value, name: str) -> int:
    return check_int(value, name, at_least=1)


def train(build: Callable[[], nn.Module], data: Digits, *, seed: int = 0, epochs: int = 6,
          batch_size: int = 32, lr: float = 0.01) -> tuple[nn.Module, pd.DataFrame]:
    """Build a network with ``build()`` and train it on ``data``; returns it in eval mode and its history.

    Adam with a cosine learning-rate decay to zero over all steps, cross-entropy, mini-batches in
    an order drawn from ``seed``; the weights are initialised from ``seed`` too (``build`` runs
    right after ``torch.manual_seed(seed)``). The history has one row per epoch: ``epoch``
    (1-based), ``train_loss`` (mean over the epoch's batches), ``test_loss`` and ``test_acc``
    (top-1 on the test split, in percent).
    """
    epochs, batch_size = _positive_int(epochs, "epochs"), _positive_int(batch_size, "batch_size")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(seed)
        model = build()
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * math.ceil(len(data.x_train) / batch_size))
        order = torch.Generator().manual_seed(seed)
        history = []
        for epoch in range(1, epochs + 1):
            model.train()
            losses = []
            for idx in torch.randperm(len(data.x_train), generator=order).split(batch_size):
                loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.item())
            model.eval()
            with torch.no_grad():
                logits = model(data.x_test)
            history.append({"epoch": epoch, "train_loss": float(np.mean(losses)),
                            "test_loss": F.cross_entropy(logits, data.y_test).item(),
                            "test_acc": _percent_correct(logits, data.y_test)})
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=True)
    return model.eval(), pd.DataFrame(history)


def _percent_correct(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return 100.0 * (logits.argmax(1) == labels).float().mean().item()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of ``model`` on (``x``, ``y``), in percent (as the papers print it)."""
    model.eval()
    return _percent_correct(model(x), y)
