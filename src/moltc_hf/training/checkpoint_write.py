"""A checkpoint that cannot be written whole is removed, and the run stops with one line saying why.

``Trainer._save_checkpoint`` writes ``checkpoint-N/`` in place (weights, optimizer, RNG, ``trainer_state.json``
last). On a full disk the safetensors writer raises ``SafetensorError ... No space left on device`` half-way,
which left a folder with no weights (or truncated ones) that looked like a checkpoint. Here any write error
removes that folder and becomes an ``OSError`` with its errno, which ``moltc train`` prints as one line; the
previous complete checkpoints stay, so ``--resume`` continues from the newest of them.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

_KNOWN = {
    "No space left on device": errno.ENOSPC,
    "File too large": errno.EFBIG,
    "Disk quota exceeded": errno.EDQUOT,
}


class CheckpointWriteError(OSError):
    """``checkpoint-N`` could not be written (full disk, quota, file size limit); it was removed."""


def save_or_remove(save, folder: Path) -> None:
    """``save()`` writes ``folder``; if it fails with a write error, remove ``folder`` and raise one clear error."""
    from safetensors import SafetensorError

    try:
        save()
    except (OSError, SafetensorError) as err:
        # (also a folder being rewritten: half overwritten is not complete either)
        shutil.rmtree(folder, ignore_errors=True)
        text = " ".join(str(err).split())
        code = getattr(err, "errno", None) or next((c for k, c in _KNOWN.items() if k in text), None)
        cause = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is full"}.get(
            code, "a write failed"
        )
        cause = "a file grew past the size limit" if code == errno.EFBIG else cause
        survivors = sorted(
            (p for p in folder.parent.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
            key=lambda p: int(p.name.split("-")[-1]),
        )
        resume = (
            f"--resume continues from {survivors[-1].name}" if survivors else "--resume starts from step 0"
        )
        raise CheckpointWriteError(
            code or errno.EIO,
            f"could not write {folder.name} in {folder.parent} ({cause}: {text}); the incomplete {folder.name} was "
            f"removed. Free disk space and rerun with --resume ({resume}).",
        ) from None
