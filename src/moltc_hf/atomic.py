"""Write a whole file or folder or nothing: a run killed (or a disk filled) mid-write never leaves output that looks
done. Every output of the package (datasets, models, predictions, reports, rejects, manifests) goes through here.

The unfinished version lives beside the target under a dotted ``.partial`` name (so a resuming job can find and
remove strays) and is renamed into place only when complete; a rename within one folder is atomic.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path


def partial_path(path: str | os.PathLike, *, keep_suffix: bool = False) -> Path:
    """``.<name>.partial`` beside ``path``; ``keep_suffix``: ``.<stem>.partial<suffix>``, for writers that choose
    a format by the file's suffix (matplotlib, pandas)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.partial{path.suffix}" if keep_suffix else f".{path.name}.partial")


def write_file_atomically(
    path: str | os.PathLike, write: Callable[[Path], object], *, keep_suffix: bool = False
) -> Path:
    """``write(tmp)`` to `partial_path` of ``path``, then rename it into place; on any error the partial file is
    removed and ``path`` keeps what it held before (or stays absent)."""
    path = Path(path)
    partial = partial_path(path, keep_suffix=keep_suffix)
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    return write_file_atomically(path, lambda tmp: tmp.write_text(text))


def swap_folder_in(
    partial: Path, folder: Path, carry_over: Callable[[Path, Path], None] | None = None
) -> None:
    """Rename the finished ``partial`` folder to ``folder``, so ``folder`` is at every moment absent, old or
    complete. An existing ``folder`` is first renamed to ``.<name>.old``; ``carry_over(old, folder)`` may move
    what of it the new one keeps (a dataset's other configs), then it is removed."""
    if not folder.exists():
        os.replace(partial, folder)
        return
    old = folder.with_name(f".{folder.name}.old")
    if old.exists():
        shutil.rmtree(old)
    os.replace(folder, old)
    os.replace(partial, folder)
    if carry_over is not None:
        carry_over(old, folder)
    shutil.rmtree(old)


def write_folder_atomically(folder: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` into ``.<name>.partial`` beside ``folder``, then `swap_folder_in`.

    A kill or a full disk while the final model is written leaves the previous ``final/`` (or none) and a
    ``.partial`` folder that the next run removes, never a ``final/`` with half its weights.
    """
    partial = partial_path(folder)
    if partial.exists():
        shutil.rmtree(partial)
    write(partial)
    swap_folder_in(partial, folder)


__all__ = [
    "partial_path",
    "swap_folder_in",
    "write_file_atomically",
    "write_folder_atomically",
    "write_text_atomically",
]
