"""The inference engines behind :func:`mnlab.analysis.deploy`: how each backend is built and run.

Each engine is a callable, torch tensor in → torch tensor out, with ``set_threads(n)``; the
artefact it runs is a file in the deploy cache (:mod:`mnlab.analysis.deployment` picks the path).

``"deploy"``  TorchScript: traced, frozen, ``torch.jit.optimize_for_inference`` (oneDNN
              kernels), on torch's own intra-op threads.
``"onnxruntime"``  ``torch.onnx.export`` (the TorchScript-based exporter, ``dynamo=False``: it
              exports a MobileNet in about a second where the ``torch.export``-based one takes
              three, and it names every node after its module path, which the per-layer profile
              maps back to module names), run by ONNX Runtime's CPU provider with every graph
              optimisation on (``ORT_ENABLE_ALL``: BN and activations fused into the convolution,
              NCHWc layouts), one inter-op thread and ``threads`` intra-op threads.
``"onnxruntime-int8"``  the fp32 export above, pre-processed by ORT's ``quant_pre_process``
              and quantized by ``quantize_static``: QDQ format, weights int8 per output channel
              (or per tensor, ``per_channel=False``), activations uint8 per tensor from MinMax
              calibration (ORT's x86 default, U8S8), full 8-bit weights (``reduce_range`` off).
              ORT's U8S8 kernels multiply with VNNI's ``vpdpbusd`` where the CPU has it
              (:func:`int8_isa`); without VNNI (plain AVX2 or AVX-512BW) they use
              ``vpmaddubsw``, which adds pairs of u8·s8 products in int16 and can saturate — ORT
              documents ``reduce_range`` (7-bit weights) against that. An int8 result can thus
              differ slightly between CPUs with and without VNNI.
``"xnnpack"``  ``torch.export`` → ExecuTorch's XNNPACK delegate (``XnnpackPartitioner``) → a
              ``.pte`` program run by the ExecuTorch runtime; its thread pool is ExecuTorch's.

None of the runtimes is imported before it is needed; a missing one raises ``ImportError``
naming what to install.
"""
from __future__ import annotations

import io
import json
import os
import re
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol, Sequence

import torch
from torch import nn

from mnlab.storage import write_atomic

if TYPE_CHECKING:  # imported where used: optional at run time
    import onnx
    import onnxruntime as ort

#: What each backend needs beyond torch, as import name → pip name.
REQUIREMENTS = {
    "eager": {},
    "deploy": {},
    "onnxruntime": {"onnx": "onnx", "onnxruntime": "onnxruntime"},
    "onnxruntime-int8": {"onnx": "onnx", "onnxruntime": "onnxruntime"},
    "xnnpack": {"executorch": "executorch==1.5.1"},
}
ONNX_OPSET = 17


def require(backend: str) -> None:
    """Raise ``ImportError`` naming the packages to install if ``backend``'s runtime is missing."""
    import importlib.util

    missing = [pip for module, pip in REQUIREMENTS[backend].items() if importlib.util.find_spec(module) is None]
    if missing:
        raise ImportError(f"backend {backend!r} needs {', '.join(missing)}: pip install 'mnlab[runtimes]' "
                          f"(or pip install {' '.join(missing)})")


@contextmanager
def quiet_native() -> Iterator[None]:
    """Silence what native libraries print on import and load (ExecuTorch's cpuinfo lines, ORT's
    notices): file descriptors 1 and 2 point to /dev/null inside the block. Python exceptions
    still propagate with their messages."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


class Engine(Protocol):
    """What a deployed backend runs on: a tensor in, a tensor out, and its own thread count."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def set_threads(self, threads: int) -> None: ...


# --------------------------------------------------------------------------- TorchScript

class TorchScriptEngine:
    """The frozen TorchScript form; it runs on torch's intra-op threads (set by the timer)."""

    def __init__(self, form: nn.Module, x: torch.Tensor) -> None:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarning (shape checks) and deprecation notices
            traced = torch.jit.trace(form, x)
            self.scripted = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.scripted(x)

    def set_threads(self, threads: int) -> None:
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------- ONNX Runtime

def failing_op(message: str) -> str | None:
    """The ``namespace::op`` an exporter's error message names, if any."""
    match = re.search(r"\b([A-Za-z_]\w*::[A-Za-z_]\w*)", message)
    if match:
        return match.group(1)
    match = re.search(r"torch\.ops\.(\w+)\.(\w+)", message)
    return f"{match.group(1)}::{match.group(2)}" if match else None


def export_onnx(form: nn.Module, x: torch.Tensor, path: Path) -> None:
    """Export ``form`` at the shape of ``x`` to ONNX (opset :data:`ONNX_OPSET`), BN constant-folded.

    An operator the exporter cannot translate raises the exporter's error; :func:`mnlab.analysis.deploy`
    turns it into one that names the operator and the module calling it.
    """
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings(), quiet_native():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        # The legacy exporter writes to a file object too; torch's stub lists paths only.
        torch.onnx.export(form, (x,), buffer,  # type: ignore[arg-type]
                          dynamo=False, opset_version=ONNX_OPSET,
                          input_names=["input"], output_names=["output"], do_constant_folding=True)
    write_atomic(path, buffer.getvalue())


def ort_session(path: Path, threads: int, *, profile_prefix: str | None = None,
                optimized_path: Path | None = None) -> ort.InferenceSession:
    """An ONNX Runtime CPU session on ``path``: all graph optimisations, sequential execution,
    ``threads`` intra-op threads, one inter-op thread; optionally profiling, and saving the
    optimized graph (what actually runs) to ``optimized_path``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def optimized_op_types(path: Path) -> list[str]:
    """The op types of the graph ONNX Runtime runs for the model at ``path``: after its graph
    optimizations (:func:`ort_session`), i.e. the kernels its profiler times."""
    import tempfile

    import onnx

    with tempfile.TemporaryDirectory(prefix="mnlab_ort_optimized_") as workdir:
        optimized = Path(workdir) / "optimized.onnx"
        ort_session(path, 1, optimized_path=optimized)
        return [node.op_type for node in onnx.load(str(optimized)).graph.node]


class OrtEngine:
    """An ONNX Runtime session; a new thread count opens a new session (ORT fixes it per session)."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        self.path = Path(path)
        self.threads: int | None = None
        self.set_threads(threads)

    def set_threads(self, threads: int) -> None:
        if threads != self.threads:
            self.session = ort_session(self.path, threads)
            self.input_name = self.session.get_inputs()[0].name
            self.threads = threads

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        array = x.detach().contiguous().numpy()
        return torch.from_numpy(self.session.run(None, {self.input_name: array})[0])


class _Batches:
    """ORT's ``CalibrationDataReader``: the calibration samples one by one."""

    def __init__(self, samples: Sequence[torch.Tensor], input_name: str):
        self.items = iter([{input_name: s.contiguous().numpy()} for s in samples])

    def get_next(self):
        return next(self.items, None)


def _x86_flags() -> set[str] | None:
    """The CPU's x86 feature flags from ``/proc/cpuinfo``; None where there are none to read
    (not Linux, or not x86: ARM lists "Features")."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    match = re.search(r"^flags\s*:(.*)$", text, re.MULTILINE)
    return set(match.group(1).split()) if match else None


def nchwc_block() -> int | None:
    """The channel block of ORT's NCHWc layout on this CPU, as ORT's MLAS library picks it
    (``platform.cpp``): 16 floats with AVX-512F, 8 on other x86-64 CPUs; None if this is not
    an x86 CPU whose flags can be read. The graph optimizer blocks a convolution or pool only
    where its channels fit the block, so the optimized graph can differ between the two sizes."""
    flags = _x86_flags()
    return None if flags is None else 16 if "avx512f" in flags else 8


def int8_isa() -> str:
    """The x86 instructions ORT's int8 kernels can use on this CPU, from ``/proc/cpuinfo``:
    "AVX-512 VNNI", "AVX-VNNI" (AVX2 with VNNI), "AVX-512 (no VNNI)", "AVX2 (no VNNI)" or
    "unknown" (no flags to read, e.g. not Linux)."""
    flags = _x86_flags() or set()
    if "avx512_vnni" in flags:
        return "AVX-512 VNNI"
    if "avx_vnni" in flags:
        return "AVX-VNNI"
    if "avx512bw" in flags:
        return "AVX-512 (no VNNI)"
    return "AVX2 (no VNNI)" if "avx2" in flags else "unknown"


def quantize_int8(fp32_path: Path, samples: Sequence[torch.Tensor], path: Path, per_channel: bool = True) -> None:
    """Static post-training quantization of an fp32 ONNX model (see the module docstring);
    weights per output channel, or per tensor when ``per_channel`` is false."""
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quant_pre_process,
                                          quantize_static)

    path.parent.mkdir(parents=True, exist_ok=True)
    pre = path.with_name(f"{path.stem}.{os.getpid()}.pre.onnx")
    out = path.with_name(f"{path.stem}.{os.getpid()}.q.onnx")
    try:
        with quiet_native():
            quant_pre_process(str(fp32_path), str(pre))
            quantize_static(str(pre), str(out), _Batches(samples, "input"), quant_format=QuantFormat.QDQ,
                            per_channel=per_channel, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
        os.replace(out, path)
    finally:
        for leftover in (pre, out):
            leftover.unlink(missing_ok=True)


class ProfiledSession:
    """An ONNX Runtime session (as :func:`ort_session`) under ORT's profiler; ``finish`` returns
    the optimized graph that ran (``onnx.ModelProto``), each run's list of (node name, op type,
    µs) from the profiler's "Node" events and each run's ``model_run`` µs."""

    def __init__(self, path: Path, threads: int, workdir: Path) -> None:
        self.optimized = workdir / "optimized.onnx"
        self.session = ort_session(path, threads, profile_prefix=str(workdir / "ort_profile"),
                                   optimized_path=self.optimized)
        self.input_name = self.session.get_inputs()[0].name

    def run(self, x: torch.Tensor) -> None:
        self.session.run(None, {self.input_name: x.detach().contiguous().numpy()})

    def finish(self) -> tuple[onnx.ModelProto, list[list[tuple[str, str, float]]], list[float]]:
        import onnx

        with open(self.session.end_profiling(), encoding="utf-8") as f:
            events = json.load(f)
        per_run, totals, current = [], [], []
        for event in events:
            if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
                current.append((event["name"][: -len("_kernel_time")], event["args"].get("op_name", ""),
                                float(event["dur"])))
            elif event.get("cat") == "Session" and event["name"] == "model_run":
                per_run.append(current)
                totals.append(float(event["dur"]))
                current = []
        return onnx.load(str(self.optimized)), per_run, totals


# --------------------------------------------------------------------------- ExecuTorch XNNPACK

def lower_xnnpack(form: nn.Module, x: torch.Tensor, path: Path) -> list[str]:
    """Export ``form`` with ``torch.export`` and lower it to ExecuTorch with the XNNPACK delegate.

    Writes the ``.pte`` program to ``path``; returns the operators left outside the delegate
    (run by ExecuTorch's portable kernels), empty when XNNPACK runs the whole graph.
    """
    with quiet_native():
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        exported = torch.export.export(form, (x,))
        program = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()]).to_executorch()
    outside = sorted({str(node.target) for node in program.exported_program().graph.nodes
                      if node.op == "call_function" and "call_delegate" not in str(node.target)
                      and "getitem" not in str(node.target) and "alloc" not in str(node.target)})
    write_atomic(path, program.buffer)
    return outside


#: ExecuTorch's thread pool is one per process; resetting it invalidates every XNNPACK method
#: loaded before (running one afterwards deadlocks), so each reset bumps this generation and an
#: engine reloads its method when the generation it loaded under is gone.
_POOL_GENERATION = [0]


class XnnpackEngine:
    """An ExecuTorch program with the XNNPACK delegate; threads are ExecuTorch's global pool."""

    def __init__(self, path: Path, x: torch.Tensor, threads: int = 1) -> None:
        with quiet_native():
            from executorch.runtime import Runtime

            self.program = Runtime.get().load_program(str(path))
        self.method: Any = None             # executorch's Method (untyped), loaded by _load()
        self.generation: int | None = None
        self.set_threads(threads)
        with quiet_native():
            self(x)  # the first run prints what cpuinfo finds

    def set_threads(self, threads: int) -> None:
        from executorch.extension.pybindings import portable_lib

        with quiet_native():   # the pool's first use prints what cpuinfo finds
            if portable_lib._threadpool_get_thread_count() != threads:
                portable_lib._unsafe_reset_threadpool(threads)
                _POOL_GENERATION[0] += 1
        self._load()

    def _load(self) -> None:
        if self.generation != _POOL_GENERATION[0]:
            self.method = self.program.load_method("forward")
            self.generation = _POOL_GENERATION[0]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self._load()
        # The output lives in the program's planned memory: copy it before the next call reuses it.
        return self.method.execute([x.contiguous()])[0].clone()
