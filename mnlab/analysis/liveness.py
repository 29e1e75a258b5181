"""Live activation bytes over a forward pass, from tensor lifetimes.

:class:`LiveBytes` follows every activation tensor from the moment an op allocates it to the
moment Python frees it, and records the peak of the bytes alive at once. The counting engine
(:func:`mnlab.analysis.analyze`) feeds it; ``Report.totals["peak_activation_bytes"]`` and
``Report.memory_timeline()`` come from it. This is eager PyTorch's own behaviour: a tensor lives
while some variable (a caller's ``x``, a residual shortcut) still refers to it.
"""
from __future__ import annotations

import weakref

import torch

#: Columns of ``Report.memory_timeline()``: one row per event of :class:`LiveBytes`.
TIMELINE_COLUMNS = ["step", "name", "op", "event", "bytes", "live_bytes"]


class LiveBytes:
    """Live activation bytes over a forward pass, from tensor lifetimes.

    :meth:`allocate` is called for every *newly allocated* tensor (an op's output that is
    neither one of its inputs — in-place ops allocate nothing — nor a view of one). A weakref
    callback subtracts the bytes again when the tensor is freed. ``peak`` is the largest
    number of bytes alive at once; ``events`` is the timeline, one tuple per allocation or
    free: ``(step, module name, op, event, bytes, live bytes after)``. A free is attributed to
    the op that ran last before it.
    """

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0
        self.events: list[tuple[int, str, str, str, int, int]] = []
        self.step = -1
        self.name = ""
        self.op = "input"
        self._refs: dict[int, tuple[weakref.ref, int]] = {}
        self._active = True
        self._on_free = self._free  # one bound method for every weakref

    def allocate(self, tensor: torch.Tensor, event: str = "alloc") -> None:
        """Count ``tensor`` as alive until Python frees it."""
        nbytes = tensor.numel() * tensor.element_size()
        ref = weakref.ref(tensor, self._on_free)
        self._refs[id(ref)] = (ref, nbytes)
        self.live += nbytes
        if self.live > self.peak:
            self.peak = self.live
        self.events.append((self.step, self.name, self.op, event, nbytes, self.live))

    def _free(self, ref: weakref.ref) -> None:
        entry = self._refs.pop(id(ref), None)
        if entry is None or not self._active:
            return
        self.live -= entry[1]
        self.events.append((self.step, self.name, self.op, "free", -entry[1], self.live))

    def close(self) -> None:
        """Stop following tensors (those still alive, like the output, are simply dropped)."""
        self._active = False
        self._refs.clear()
