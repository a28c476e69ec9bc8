"""Lazy package exports (PEP 562), the way transformers' ``_LazyModule`` keeps ``import transformers`` cheap.

``import moltc_hf`` must not pay for the dataset builder (pandas/pyarrow work), the evaluation report
(matplotlib) or the reference models (scikit-learn): a package ``__init__`` names what it exports and from
which submodule, and the submodule is imported on first attribute access.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports ``package.<exports[name]>`` on first access to ``name``."""

    def __getattr__(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    return __getattr__


__all__ = ["lazy_exports"]
