"""Names a module imports on first use (PEP 562): one ``__getattr__`` for every lazy module of ours."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_getattr(
    namespace: dict[str, Any],
    sources: Mapping[str, Iterable[str]],
    computed: Mapping[str, Callable[[], Any]] | None = None,
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for the module whose ``globals()`` is ``namespace``.

    Each name of ``sources[module]`` is ``module``'s attribute of that name; each name of ``computed`` is
    what its function returns. Either is looked up on first use only and then kept in ``namespace``.
    """
    where = {name: module for module, names in sources.items() for name in names}
    functions = dict(computed or {})
    owner = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        if name in where:
            value = getattr(importlib.import_module(where[name]), name)
        elif name in functions:
            value = functions[name]()
        else:
            raise AttributeError(f"module {owner!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    return __getattr__
