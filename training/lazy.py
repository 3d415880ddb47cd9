"""Packages whose names import their modules only when first used.

``python -m contrique_training.proxy`` imports the package before its ``__main__`` runs. A package
``__init__`` that imported its modules at once imported torch (SciPy) with them, so without the train
(eval) extra the command ended in a ``ModuleNotFoundError`` traceback before
:func:`contrique_infer.entry_points.run_tool` could name the extra to install. A package that takes
its ``__getattr__`` from :func:`lazy_exports` keeps its names (``from contrique_training.proxy
import add_fade``) and imports a module only when one of its names is first used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(package: str, modules: Mapping[str, Sequence[str]]) -> tuple[list[str], Callable[[str], Any]]:
    """The ``__all__`` and the module ``__getattr__`` (PEP 562) of a package that exports names of its modules.

    Args:
        package: The package's ``__name__``.
        modules: For each module of the package (relative name), the names the package exports from it.

    Returns:
        ``(__all__, __getattr__)``: every exported name, sorted; and the function that imports a
        name's module when the name is first looked up, and keeps the value in the package.
    """
    where = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:  # not exported: `from package import submodule` goes on to import it
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return sorted(where), __getattr__
