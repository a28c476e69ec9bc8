"""Write a whole folder or nothing: a run killed (or a disk filled) mid-write never leaves output that looks done."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def write_folder_atomically(folder: Path, write) -> None:
    """``write(tmp)`` into ``.<name>.partial`` beside ``folder``, then swap it in by renames.

    A kill or a full disk while the final model is written leaves the previous ``final/`` (or none) and a
    ``.partial`` folder that the next run removes, never a ``final/`` with half its weights.
    """
    partial = folder.with_name(f".{folder.name}.partial")
    old = folder.with_name(f".{folder.name}.old")
    for leftover in (partial, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    write(partial)
    if folder.exists():
        os.replace(folder, old)
    os.replace(partial, folder)
    if old.exists():
        shutil.rmtree(old)


__all__ = ["write_folder_atomically"]
