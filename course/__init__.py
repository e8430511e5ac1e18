"""Helpers shared by the course notebooks: data, plots, self-checks and instructor tools.

Notebooks use ``course.load_dataset(...)``, ``course.check(question, fn)`` and
``course.plots``; instructors use the ``course`` command (``course assign``, ``course fetch``).
Submodules are imported when first used, so that ``import course`` (and the grader) stay quick.
"""
import importlib

_SUBMODULES = {"data", "explorer", "idx", "plots", "search"}
_NAMES = {"check": "checks", "run_check": "checks", "DataError": "data", "load_dataset": "data",
          "IDXFormatError": "idx", "read_idx": "idx", "write_idx": "idx"}

__all__ = sorted(_SUBMODULES | set(_NAMES))
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
