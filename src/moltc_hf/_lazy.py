"""Lazy package exports (PEP 562), the way transformers' ``_LazyModule`` keeps ``import transformers`` cheap.

``import moltc_hf`` must not pay for the dataset builder (pandas/pyarrow work), the evaluation report
(matplotlib) or the reference models (scikit-learn): a package ``__init__`` names what it exports and from
which submodule, and the submodule is imported on first attribute access.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence


def lazy_exports(
    package: str, modules: Mapping[str, str | Sequence[str]], moved_modules: Mapping[str, str] | None = None
) -> tuple[Callable[[str], object], list[str]]:
    """``(__getattr__, __all__)`` for a package exporting ``modules[m]`` (names, or one space-separated string)
    from each submodule ``m``.

    The returned ``__getattr__`` imports ``package.<m>`` on first access to one of its names; a key that is an
    absolute module name (``moltc_hf.tasks.registry``) is imported as is, so a package can keep serving names
    that moved to another package.
    """
    exports = {
        name: module
        for module, names in modules.items()
        for name in (names.split() if isinstance(names, str) else names)  # "a b c" or ("a", "b", "c")
    }

    moved = dict(moved_modules or {})

    def __getattr__(name: str) -> object:
        if name in moved:
            return importlib.import_module(moved[name])
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = exports[name]
        root = package.split(".", 1)[0]
        return getattr(
            importlib.import_module(module if module.startswith(f"{root}.") else f"{package}.{module}"), name
        )

    return __getattr__, sorted(exports)


__all__ = ["lazy_exports"]
