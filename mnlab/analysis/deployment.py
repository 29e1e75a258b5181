"""A model as it is deployed: one :func:`deploy` for every backend, checked against eager.

Every deployed backend starts from the model's *deploy form* (:func:`deploy_form`): an eval-mode
copy in which every module that offers ``reparameterize_()`` has been re-parameterized (MobileOne
Sec. 3.2; RepVGG's convention) and every BatchNorm that follows a convolution is folded into it
(:func:`fold_batchnorm`), as every inference engine does. The backends (:data:`BACKENDS`):

========================  ====================================================================
``"eager"``               the module as written, one Python call per layer (not built here)
``"deploy"``              the deploy form traced to TorchScript, frozen, ``optimize_for_inference``
``"onnxruntime"``         ONNX export run by ONNX Runtime, all graph optimisations (fp32)
``"onnxruntime-int8"``    the same, statically quantized: QDQ, per-channel int8 weights
``"xnnpack"``             ExecuTorch with the XNNPACK delegate (fp32), the phones' CPU library
========================  ====================================================================

(:mod:`mnlab.analysis.runtimes` says how each is built.) :func:`deploy` runs the result on an
input and compares it with the eager model before returning it, so a timing is never taken of
a model that computes something else:

* fp32 backends: max|deployed − eager| ≤ 1e-4 · max|eager| (:data:`FP32_RTOL`);
* int8: ≤ :data:`INT8_RTOL` (0.25) · max|eager|, on the first calibration sample. Each int8
  tensor is rounded to 1/255 of its calibrated range, and the rounding errors of ~50 layers
  add up: over every registry model at 64 px (BN statistics randomized) the output error is
  0.008–0.16 of the output range, median 0.011, the re-parameterized MobileOnes the worst. The
  bound, about 1.6× the worst of those, says "quantized, not broken": it refuses a graph that
  computes another function, not quantization noise; the book's int8 chapter measures the
  error itself.

Built artefacts (ONNX and ``.pte`` files) go to a cache directory, :func:`cache_dir`
(``$MNLAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/mnlab/deploy``, else ``~/.cache/mnlab/deploy``),
named by a hash of the model (its classes' source files, its structure and every parameter
and buffer), the input shape, the backend, the runtime versions and, for int8, the calibration
samples. A second :func:`deploy` of the same model loads the artefact and only re-checks it.
"""
from __future__ import annotations

import copy
import hashlib
import inspect
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Literal, Sequence, cast, get_args

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from mnlab.analysis import runtimes
from mnlab.analysis.inputs import InputShape, check_module, resolve_input_shape

#: What :func:`~mnlab.analysis.measure_latency` can time: the module as written, or a deployed form.
Backend = Literal["eager", "deploy", "onnxruntime", "onnxruntime-int8", "xnnpack"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)
FP32_RTOL = 1e-4
INT8_RTOL = 0.25
#: The default calibration set of the int8 backend: this many batch-1 N(0, 1) inputs, seed 1
#: (the statistics of an ImageNet image after the usual per-channel normalisation).
DEFAULT_CALIBRATION_SAMPLES = 8


def check_backend(backend: object, allowed: Sequence[str] = BACKENDS) -> Backend:
    if not isinstance(backend, str) or backend not in allowed:
        raise ValueError(f"backend must be one of {allowed}, got {backend!r}")
    return cast(Backend, backend)   # one of allowed, a subset of BACKENDS


def example_input(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """A fixed random input of ``shape`` (own generator: the global RNG is not touched)."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- deploy form

def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Return an eval-mode deep copy in which every BatchNorm that directly follows a convolution
    inside an ``nn.Sequential`` is folded into that convolution; the BN becomes ``nn.Identity``.

    The folding of every inference engine (and MobileOne Sec. 3.2): in eval mode
    BN(y) = γ·(y − μ)/σ + β with σ = sqrt(var + ε) is affine per channel, so
    W' = W·γ/σ and b' = (b − μ)·γ/σ + β give one conv with the same output. Only
    ``Sequential`` neighbours are folded, because only there the execution order is known
    without tracing; a BN elsewhere is left as it is (still correct; the ONNX and XNNPACK
    exporters fold it themselves). The model passed in is never modified.
    """
    check_module(model)
    folded = copy.deepcopy(model).eval()
    _fold_in_place(folded)
    return folded


def _fold_in_place(model: nn.Module) -> None:
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, nn.Sequential):
                continue
            names = list(module._modules)
            for first, second in zip(names, names[1:]):
                conv, bn = module._modules[first], module._modules[second]
                if (isinstance(conv, (nn.Conv1d, nn.Conv2d, nn.Conv3d))
                        and isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d))
                        and bn.track_running_stats and bn.running_mean is not None
                        and bn.num_features == conv.out_channels):
                    module._modules[first] = fuse_conv_bn_eval(conv, bn)
                    module._modules[second] = nn.Identity()


def deploy_form(model: nn.Module) -> nn.Module:
    """The eval-mode copy every deployed backend starts from: modules offering
    ``reparameterize_()`` (MobileOne blocks) re-parameterized, then BN folded. The model passed
    in is never modified."""
    check_module(model)
    form = copy.deepcopy(model).eval()
    with torch.no_grad():
        for module in list(form.modules()):
            reparameterize_ = getattr(module, "reparameterize_", None)
            if callable(reparameterize_):
                reparameterize_()
    _fold_in_place(form)
    return form


# --------------------------------------------------------------------------- the cache

def cache_dir() -> Path:
    """Where built artefacts are kept (see the module docstring)."""
    if os.environ.get("MNLAB_CACHE_DIR"):
        return Path(os.environ["MNLAB_CACHE_DIR"])
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "mnlab" / "deploy"


def _runtime_versions(backend: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    names = ["torch", *[pip.split("=")[0] for pip in runtimes.REQUIREMENTS[backend].values()]]
    found = []
    for name in names:
        try:
            found.append(f"{name}={version(name)}")
        except PackageNotFoundError:
            found.append(f"{name}=?")
    return ",".join(found)


_PLAIN = (bool, int, float, str, type(None))


def _plain_attributes(module: nn.Module) -> str:
    """The module's own public attributes that are plain values (flags, sizes, names), sorted:
    two modules with equal weights and repr but another ``skip`` flag must not share an artefact."""
    def plain(value) -> bool:
        return isinstance(value, _PLAIN) or (isinstance(value, (tuple, list)) and all(map(plain, value)))

    return repr(sorted((k, v) for k, v in vars(module).items() if not k.startswith("_") and plain(v)))


def artefact_key(model: nn.Module, shape: Sequence[int], backend: str,
                 calibration: Sequence[torch.Tensor] | None = None) -> str:
    """A hash of everything a built artefact depends on (see the module docstring)."""
    h = hashlib.sha256()
    h.update(f"{backend}|{tuple(shape)}|{_runtime_versions(backend)}|opset{runtimes.ONNX_OPSET}|".encode())
    h.update(repr(model).encode())
    for name, module in model.named_modules():   # plain attributes steer forward() too (skip=True)
        h.update(f"{name}|{_plain_attributes(module)}|".encode())
    for source in sorted({inspect.getsourcefile(type(m)) or "" for m in model.modules()}):
        if source and os.path.exists(source):
            h.update(Path(source).read_bytes())
    for name, tensor in model.state_dict().items():
        h.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    for sample in calibration or ():
        h.update(sample.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:24]


# --------------------------------------------------------------------------- the runner

class DeployedModule(nn.Module):
    """A deployed model behind a plain ``nn.Module`` face: torch tensor in, torch tensor out.

    Built by :func:`deploy`. ``backend``, ``input_shape``, ``error`` (the relative error
    measured against eager at build time), ``tolerance``, ``artefact`` (the cached file, or None),
    ``calibration`` (int8: what it was calibrated on) and ``outside_delegate`` (XNNPACK: operators
    ExecuTorch runs with its portable kernels, not XNNPACK) describe it. The engine is held
    outside the module tree, so the timer treats this like any model.
    """

    engine: runtimes.Engine   # set beside the module tree, not as a submodule (see __init__)

    def __init__(self, engine: runtimes.Engine, *, backend: Backend, input_shape: tuple[int, int, int, int],
                 error: float, tolerance: float, artefact: Path | None = None, calibration: str = "",
                 outside_delegate: Sequence[str] = ()) -> None:
        super().__init__()
        object.__setattr__(self, "engine", engine)   # not a submodule
        if isinstance(engine, runtimes.TorchScriptEngine):
            # Visible as TorchScript, so that analyze() refuses it with its own clear message.
            object.__setattr__(self, "scripted", engine.scripted)
        self.backend, self.input_shape = backend, tuple(input_shape)
        self.error, self.tolerance, self.artefact = error, tolerance, artefact
        self.calibration, self.outside_delegate = calibration, list(outside_delegate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_meta:
            raise ValueError(f"a model deployed on {self.backend!r} runs real tensors only (it cannot be "
                             f"counted on meta tensors); count the eager model instead")
        if tuple(x.shape) != self.input_shape:
            raise ValueError(f"input shape must be {self.input_shape} (this {self.backend} model was "
                             f"built for it), got {tuple(x.shape)}")
        return self.engine(x)

    @contextmanager
    def threads(self, threads: int) -> Iterator[None]:
        """Run the block with the engine on ``threads`` threads (it keeps them afterwards), then
        put torch's own count back."""
        previous = torch.get_num_threads()
        try:
            self.engine.set_threads(threads)
            yield
        finally:
            torch.set_num_threads(previous)

    def extra_repr(self) -> str:
        return f"backend={self.backend!r}, input_shape={self.input_shape}, error={self.error:.1e}"


def _calibration_samples(calibration, shape) -> tuple[list[torch.Tensor], str]:
    if calibration is None:
        samples = [example_input(shape, seed=1 + i) for i in range(DEFAULT_CALIBRATION_SAMPLES)]
        return samples, f"default: {DEFAULT_CALIBRATION_SAMPLES} N(0,1) inputs, seed 1.."
    if isinstance(calibration, torch.Tensor):
        calibration = list(calibration.split(shape[0]))
    if isinstance(calibration, (list, tuple)) and calibration and all(
            isinstance(s, torch.Tensor) and tuple(s.shape) == tuple(shape) for s in calibration):
        return [s.detach().float().cpu() for s in calibration], f"{len(calibration)} given inputs"
    raise ValueError(f"calibration must be None (the default set) or a non-empty list of tensors of "
                     f"shape {tuple(shape)} (or one tensor of them stacked along dim 0); int8 needs "
                     f"calibration data to set its ranges, got {calibration!r:.80}")


def _check_deploy_args(model, backend, threads, calibration, per_channel):
    from mnlab.analysis.latency import check_threads   # latency imports this module

    if isinstance(model, DeployedModule):
        raise ValueError(f"model is already deployed (backend {model.backend!r}); pass the model itself")
    check_backend(backend, BACKENDS[1:])
    check_threads(threads)
    if calibration is not None and backend != "onnxruntime-int8":
        raise ValueError(f"calibration applies to backend 'onnxruntime-int8' only, not {backend!r}")
    if not isinstance(per_channel, bool) or (not per_channel and backend != "onnxruntime-int8"):
        raise ValueError(f"per_channel must be True or False, and False only with backend 'onnxruntime-int8', "
                         f"got {per_channel!r} with {backend!r}")
    runtimes.require(backend)


# --------------------------------------------------------------------------- deploy

class UnsupportedOperatorError(ValueError):
    """The model calls an operator the backend's exporter cannot translate."""


def deploy(model: nn.Module, input_shape: InputShape = 224, *, backend: Backend, threads: int = 1,
           calibration: torch.Tensor | Sequence[torch.Tensor] | None = None, per_channel: bool = True,
           tolerance: float | None = None) -> DeployedModule:
    """``model`` as ``backend`` runs it, for one input shape, checked against eager.

    ``backend``: one of ``BACKENDS`` except ``"eager"``. ``threads``: the engine's intra-op
    threads (the timer can change them later, see ``DeployedModule.threads``).
    ``calibration`` (``"onnxruntime-int8"`` only): the inputs whose activation ranges set the
    int8 scales, a list of tensors of the input shape (or one tensor of them stacked along dim
    0); None → ``DEFAULT_CALIBRATION_SAMPLES`` (8) N(0, 1) inputs. ``per_channel=False``
    (int8 only) quantizes each weight tensor with one scale instead of one per output channel.
    ``tolerance`` replaces the build-time check's bound (for a study that measures how far a
    quantized model strays; its ``error`` attribute has the value). The returned module is checked
    against the eager model (fp32: within 1e-4 of the output range; int8: within 0.25, see the
    docstring of ``mnlab.analysis.deployment`` for why); a disagreement raises
    ``RuntimeError`` with the error and the bound. The model passed in is not modified.

    Raises ``ValueError`` for a bad argument, :class:`UnsupportedOperatorError` (a ``ValueError``)
    naming the operator and the module when the model cannot be exported, ``ImportError`` naming
    what to install when the backend's runtime is missing.
    """
    check_module(model)
    shape = resolve_input_shape(model, input_shape)
    _check_deploy_args(model, backend, threads, calibration, per_channel)
    int8 = backend == "onnxruntime-int8"
    samples, described = _calibration_samples(calibration, shape) if int8 else (None, "")
    if int8 and not per_channel:
        described += "; per-tensor weights"
    engine, artefact, outside = _build(model, shape, backend, int(threads), samples, per_channel)
    x = samples[0] if samples is not None else example_input(shape)   # samples: int8 only
    if tolerance is None:
        tolerance = INT8_RTOL if int8 else FP32_RTOL
    elif not (isinstance(tolerance, (int, float)) and not isinstance(tolerance, bool) and tolerance > 0):
        raise ValueError(f"tolerance must be a number > 0 or None (the backend's bound), got {tolerance!r}")
    error = _relative_error(model, engine, x)
    if not error <= tolerance:
        raise RuntimeError(f"the {backend} form disagrees with the eager model: max relative error "
                           f"{error:.2e} > {tolerance:g}" + (f" (artefact {artefact})" if artefact else ""))
    return DeployedModule(engine, backend=backend, input_shape=shape, error=error, tolerance=tolerance,
                          artefact=artefact, calibration=described, outside_delegate=outside)


def _relative_error(model: nn.Module, engine, x: torch.Tensor) -> float:
    """max|engine(x) − model(x)| / max|model(x)|, the model run in eval mode and put back."""
    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.inference_mode():
            expected = model(x)
            got = engine(x)
    finally:
        for module, training in flags:
            module.training = training
    scale = expected.abs().max().item() or 1.0
    return (got.reshape(expected.shape) - expected).abs().max().item() / scale


def _build(model: nn.Module, shape: tuple, backend: str, threads: int, samples, per_channel: bool = True):
    """The engine, its cached artefact (None for TorchScript) and the ops outside the delegate."""
    x = example_input(shape)
    if backend == "deploy":
        return runtimes.TorchScriptEngine(deploy_form(model), x), None, []
    directory = cache_dir()
    if backend == "xnnpack":
        path = directory / f"{artefact_key(model, shape, backend)}.pte"
        sidecar = path.with_suffix(".outside.txt")
        if not (path.exists() and sidecar.exists()):
            outside = _exporting(model, backend, x, lambda form: runtimes.lower_xnnpack(form, x, path))
            runtimes.write_atomic(sidecar, "\n".join(outside).encode())
        outside = [line for line in sidecar.read_text().splitlines() if line]
        return runtimes.XnnpackEngine(path, x, threads), path, outside
    fp32 = directory / f"{artefact_key(model, shape, 'onnxruntime')}.onnx"
    if not fp32.exists():
        _exporting(model, backend, x, lambda form: runtimes.export_onnx(form, x, fp32))
    if backend == "onnxruntime":
        return runtimes.OrtEngine(fp32, threads), fp32, []
    weights = "" if per_channel else ".per-tensor"
    path = directory / f"{artefact_key(model, shape, backend, samples)}.int8{weights}.onnx"
    if not path.exists():
        runtimes.quantize_int8(fp32, samples, path, per_channel)
    return runtimes.OrtEngine(path, threads), path, []


def _exporting(model: nn.Module, backend: str, x: torch.Tensor, export):
    """Run ``export(deploy_form(model))``; an exporter's failure becomes an
    :class:`UnsupportedOperatorError` naming the operator and the module that calls it."""
    form = deploy_form(model)
    try:
        return export(form)
    except OSError as exc:
        raise OSError(f"cannot write the {backend} artefact to the deploy cache {str(cache_dir())!r} "
                      f"(set MNLAB_CACHE_DIR to a writable directory): {exc}") from exc
    except Exception as exc:  # the exporters raise many types; the message is kept in the chain
        op = runtimes.failing_op(str(exc))
        where = locate_op(form, x, op) if op else None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnsupportedOperatorError(
            f"model cannot be exported for backend {backend!r}: operator {op or '(not named by the exporter)'} "
            f"in module {where or '(unknown)'}; the exporter said: {first}") from exc


def locate_op(model: nn.Module, x: torch.Tensor, op: str) -> str | None:
    """The qualified name (and class) of the innermost module whose forward calls ``op``
    (``"namespace::name"``), found by running the model once; None if no module calls it."""
    from torch.nn.modules import module as hooks
    from torch.utils._python_dispatch import TorchDispatchMode

    names = {id(m): name or "<root>" for name, m in model.named_modules()}
    stack: list[nn.Module] = []
    found: list[str] = []

    class Spy(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            schema = getattr(func, "_schema", None)
            if not found and stack and schema is not None and schema.name == op:
                found.append(f"{names.get(id(stack[-1]), '?')} ({type(stack[-1]).__name__})")
            return func(*args, **(kwargs or {}))

    def leave(module, args, output):
        stack.pop()   # returns None: a forward hook's return value would replace the output

    pre = hooks.register_module_forward_pre_hook(lambda module, args: stack.append(module))
    post = hooks.register_module_forward_hook(leave)
    try:
        with torch.inference_mode(), Spy():
            model(x)
    except Exception:  # noqa: BLE001 - best effort: the caller reports the export error anyway
        pass
    finally:
        pre.remove()
        post.remove()
    return found[0] if found else None
