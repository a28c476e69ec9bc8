"""Remove pairs of one set from another by canonical pair key (SOURCES.md lists the overlaps between sets).

CompSol, Abraham and FreeSolv sit inside CombiSolv-Exp, and the CombiSolv-QM 10w files inside the 100w ones: a
benchmark that trains on one and tests on another must drop the shared pairs first, or it measures memory.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..featurization import canonical_smiles
from .builder import MoleculeCache


def pair_key(
    smiles_a: str, smiles_b: str, *, ordered: bool = True, canonicalize: bool = True
) -> tuple[str, str]:
    """(A, B) as canonical SMILES; ``ordered=False`` for symmetric tasks, where (A, B) and (B, A) are one pair."""
    if canonicalize:
        smiles_a, smiles_b = canonical_smiles(smiles_a), canonical_smiles(smiles_b)
    return (smiles_a, smiles_b) if ordered or smiles_a <= smiles_b else (smiles_b, smiles_a)


def _keys(frame: pd.DataFrame, ordered: bool, cache: MoleculeCache | None) -> list[tuple[str, str] | None]:
    """Pair keys of ``frame``; ``None`` where a SMILES is invalid. ``cache=None``: the SMILES are already canonical."""
    a, b = frame["smiles_a"].tolist(), frame["smiles_b"].tolist()
    if cache is not None:
        a, b = cache.canonicalize(a), cache.canonicalize(b)
    return [
        None if x is None or y is None else pair_key(x, y, ordered=ordered, canonicalize=False)
        for x, y in zip(a, b)
    ]


def remove_overlapping_pairs(
    rows: pd.DataFrame,
    reference: pd.DataFrame | Iterable[pd.DataFrame],
    *,
    ordered: bool = True,
    canonicalize: bool = True,
) -> tuple[pd.DataFrame, int]:
    """Rows of ``rows`` whose pair is not in ``reference`` (one frame or several), and how many were removed.

    Both need ``smiles_a`` / ``smiles_b`` columns (e.g. ``dataset.to_pandas()``). Built MoT-instructions data is
    already canonical: pass ``canonicalize=False`` to skip RDKit. A row with an unparseable SMILES is kept.
    """
    references = [reference] if isinstance(reference, pd.DataFrame) else list(reference)
    cache = MoleculeCache() if canonicalize else None
    seen = {key for frame in references for key in _keys(frame, ordered, cache) if key is not None}
    keep = [key not in seen for key in _keys(rows, ordered, cache)]
    kept = rows.loc[keep]
    return kept, len(rows) - len(kept)


__all__ = ["pair_key", "remove_overlapping_pairs"]
