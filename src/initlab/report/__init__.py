"""Figures and self-contained HTML reports. The only package (besides the notebook's own
plotting in :mod:`initlab.course`) that imports matplotlib, always with the Agg backend
(in :mod:`initlab.report.figures`; importing this package itself is cheap).

:func:`write_files` is the one writer of a command's outputs: everything goes into a temporary
folder beside ``out`` and the finished files are moved in, so an interrupted run leaves nothing
half-written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["write_files"]


def write_files(files: dict[str, bytes], out) -> dict[str, Path]:
    """Write ``files`` (name -> content) into folder ``out`` (created if needed); return name -> path.

    All files are written into a temporary sibling folder first and moved into ``out`` only once
    every one is complete (``os.replace`` within one file system).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        out.mkdir(exist_ok=True)
        paths = {}
        for name in files:
            os.replace(tmp / name, out / name)
            paths[name] = out / name
        return paths
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
