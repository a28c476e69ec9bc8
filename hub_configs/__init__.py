"""Shipped as the package ``moltc_hf.hub_configs`` (see pyproject.toml): model configs, recipes, card.

A regular package, not a namespace one, so ``importlib.resources.files("moltc_hf.hub_configs")`` resolves in
setuptools' editable installs too (their finder only maps a sub-package that has an ``__init__.py``).
"""
