"""A mypy plugin for ``make``'s type check (pyproject.toml ``[tool.mypy] plugins``).

torch types ``nn.Module.__getattr__`` — how a module's submodules, parameters and buffers are
reached (``block.conv``, ``model.features``) — as returning ``Tensor | Module``: it cannot know
which. mnlab's models are trees built in code and walked by name everywhere, so every such
access would need a cast. This plugin types exactly those look-ups as ``Any`` (unchecked, as
torch itself leaves them); every declared attribute and everything else keeps its type.
"""
from __future__ import annotations

from typing import Callable

from mypy.plugin import AttributeContext, Plugin
from mypy.types import AnyType, Instance, Type, TypeOfAny, UnionType, get_proper_type

_MODULE = "torch.nn.modules.module.Module"
_DYNAMIC = {"torch._tensor.Tensor", _MODULE}


def _any_if_dynamic(ctx: AttributeContext) -> Type:
    result = get_proper_type(ctx.default_attr_type)
    if isinstance(result, UnionType):
        names = {getattr(get_proper_type(item), "type", None) and get_proper_type(item).type.fullname
                 for item in result.items}
        if names == _DYNAMIC:
            return AnyType(TypeOfAny.special_form)
    return ctx.default_attr_type


class TorchGetattr(Plugin):
    def get_attribute_hook(self, fullname: str) -> Callable[[AttributeContext], Type] | None:
        return _any_if_dynamic if fullname.startswith(_MODULE + ".") else None


def plugin(version: str) -> type[Plugin]:
    return TorchGetattr
