"""Running a model on meta tensors without changing it.

:func:`~mnlab.analysis.analyze` runs the model through ``torch.func.functional_call`` with meta
copies of its parameters and buffers. The model's own tensors never see the meta device, but a
forward pass can still change the model: it may assign a tensor to itself (a cache), register a
buffer or a submodule, append to a list; and hooks the user registered would run on meta
tensors. :class:`Sandbox` takes care of all of it: it suspends every forward hook that is not
PyTorch's own (weight norm and pruning hooks are part of the computation and stay), records
each module's attributes, and puts every attribute, container and hook back afterwards, also
when the forward pass raises.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn.modules import module as module_hooks

_GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks")
_MODULE_HOOKS = ("_forward_hooks", "_forward_pre_hooks")
_SCRIPTED = (torch.jit.ScriptModule, torch.jit.ScriptFunction)
_CONTAINERS = {dict, OrderedDict, list, set}  # put back by content (subclasses: by reference)
_KNOWN = _CONTAINERS | {bool, int, float, str, type(None), tuple}  # cannot be TorchScript


def meta_state(model: nn.Module, dtype: torch.dtype
               ) -> tuple[dict[int, str], dict[str, torch.Tensor], dict[int, int], set[int]]:
    """Meta copies of the model's parameters and buffers, for ``functional_call``.

    Returns ``(names, meta, param_numel, buffer_ids)``: qualified module names by ``id``, the
    ``{name: meta copy}`` dict, the element count of each parameter copy by ``id`` and the ``id``
    of each buffer copy. A tensor gets one copy under every name it has (a weight tied between
    two modules stays one tensor). Each module is visited once: a module registered under two
    names must be swapped once, or functional_call would restore it wrongly.
    """
    names: dict[int, str] = {}
    meta: dict[str, torch.Tensor] = {}
    copies: dict[int, torch.Tensor] = {}  # id of the real tensor -> its copy
    param_numel: dict[int, int] = {}
    for module_name, module in model.named_modules():
        names[id(module)] = module_name
        for name, t in module.named_parameters(module_name, recurse=False, remove_duplicate=False):
            if id(t) not in copies:
                copy = copies[id(t)] = _meta_copy(t, dtype)
                param_numel[id(copy)] = t.numel()
            meta[name] = copies[id(t)]
        for name, t in module.named_buffers(module_name, recurse=False, remove_duplicate=False):
            if id(t) not in copies:
                copies[id(t)] = _meta_copy(t, dtype)
            meta[name] = copies[id(t)]
    buffer_ids = {id(t) for t in copies.values()} - param_numel.keys()
    return names, meta, param_numel, buffer_ids


def _meta_copy(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.empty(tensor.shape, dtype=dtype if tensor.is_floating_point() else tensor.dtype,
                       device="meta")


class Sandbox:
    """``with Sandbox(model):`` — the model (and PyTorch's global hooks) as they were afterwards.

    Made before the run: a shallow record of every module's ``__dict__`` and of the contents of
    each dict, list and set in it (parameters, buffers, submodules, hooks, user caches). A model
    whose forward runs TorchScript is refused here with a ``ValueError``: its ops happen inside
    the TorchScript interpreter, which the counter cannot see, and a frozen graph holds real
    tensors that meta inputs cannot mix with (``mnlab.analysis.DeployedModule`` is one such
    wrapper). On entry, user forward hooks, per module and global, are set aside. On exit,
    every module's attributes and recorded containers are put back as they were.
    """

    def __init__(self, model: nn.Module) -> None:
        self.saved = []
        for module_name, module in model.named_modules():
            state = vars(module)
            containers = [(v, v.copy() if v else None) for v in state.values() if type(v) in _CONTAINERS]
            scripted = [] if type(module).__module__.startswith("torch.nn.") else [
                k for k, v in state.items() if type(v) not in _KNOWN and isinstance(v, _SCRIPTED)]
            if scripted or isinstance(module, torch.jit.ScriptModule):
                _refuse_torchscript(".".join([module_name or "model", *scripted[:1]]))
            self.saved.append((module, state.copy(), containers))

    def __enter__(self) -> "Sandbox":
        self.globals = {name: getattr(module_hooks, name) for name in _GLOBAL_HOOKS}
        for name, hooks in self.globals.items():
            setattr(module_hooks, name, _torch_hooks(hooks))
        for module, _, _ in self.saved:
            state = vars(module)
            for name in _MODULE_HOOKS:
                if state.get(name):  # a new dict: the original is put back untouched on exit
                    state[name] = _torch_hooks(state[name])
        return self

    def __exit__(self, *exc) -> None:
        for name, hooks in self.globals.items():
            setattr(module_hooks, name, hooks)
        for module, attributes, containers in self.saved:
            state = vars(module)
            state.clear()
            state.update(attributes)
            for container, contents in containers:
                if contents is None:
                    if container:
                        container.clear()
                elif type(container) is list:
                    container[:] = contents
                else:
                    container.clear()
                    container.update(contents)


def _refuse_torchscript(where: str) -> None:
    raise ValueError(f"model runs TorchScript ({where}): analyze counts the ops of eager Python code "
                     "and cannot see inside a scripted or traced module; count the eager model it "
                     "was built from (for a deploy form, the model given to deploy())")


def _torch_hooks(hooks: dict) -> OrderedDict:
    """The hooks PyTorch itself installs (weight norm, pruning, parametrizations): they compute."""
    return OrderedDict((k, h) for k, h in hooks.items() if _module_of(h).startswith("torch."))


def _module_of(hook) -> str:
    return getattr(hook, "__module__", None) or type(hook).__module__ or ""
