"""Execute notebooks with nbclient, the way CI does (data pinned to the embedded sample)."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import nbformat

#: Environment under which solution outputs are recorded and checked by nbval.
PINNED_ENV = {"COURSE_DATA_SOURCE": "sample", "PYTHONHASHSEED": "0", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}


@contextmanager
def pinned_environment(extra: dict[str, str] | None = None):
    """Set PINNED_ENV (and ``extra``) in os.environ for the kernels started inside."""
    saved = dict(os.environ)
    os.environ.update(PINNED_ENV)
    os.environ.update(extra or {})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def execute(path: str | os.PathLike, *, allow_errors: bool = False, timeout: int = 300,
            kernel_name: str = "python3") -> nbformat.NotebookNode:
    """Run every cell of the notebook at ``path`` in a fresh kernel (working directory: its folder).

    Returns the executed notebook; the file is not changed. With ``allow_errors`` a failing cell
    is recorded in its outputs and execution goes on.
    """
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    # the kernel's channels are Unix sockets in a folder of our own (not TCP ports open to every local user)
    with tempfile.TemporaryDirectory(prefix="course-kernel-") as sockets:
        km = KernelManager(kernel_name=kernel_name, transport="ipc", ip=os.path.join(sockets, "kernel"))
        client = NotebookClient(nb, km=km, timeout=timeout, allow_errors=allow_errors, record_timing=False,
                                resources={"metadata": {"path": str(path.parent.resolve())}})
        with pinned_environment():
            client.execute()
    return nb


def execute_in_place(path: str | os.PathLike, **kwargs) -> None:
    """Execute a solution notebook and save it with its outputs.

    The state of the widgets the notebook made (nbclient records it in ``metadata.widgets``) is
    saved too, so that JupyterLab, nbviewer and nbconvert's HTML show the explorer as it was
    left, curves included, before any cell is run. Its model ids are random: ``course assign``
    drops that metadata from the student notebooks, nbval does not compare notebook metadata,
    and the cells displaying widgets are tagged ``nbval-ignore-output``.
    """
    nb = execute(path, **kwargs)
    nbformat.write(nb, path)
