"""Helpers shared by the course notebooks: data, plots, self-checks and instructor tools.

Notebooks use ``course.load_dataset(...)``, ``course.check(question, fn)`` and
``course.plots``; instructors use the ``course`` command (``course assign``, ``course fetch``).
"""
from . import data, explorer, idx, plots, search
from .checks import check, run_check
from .data import DataError, load_dataset
from .idx import IDXFormatError, read_idx, write_idx

__all__ = ["data", "explorer", "idx", "plots", "search", "check", "run_check", "load_dataset", "DataError",
           "IDXFormatError", "read_idx", "write_idx"]
__version__ = "0.1.0"
