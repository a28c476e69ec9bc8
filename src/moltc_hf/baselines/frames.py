"""Rows in, one DataFrame out: the single conversion that baselines and `evaluate_model` share.

Both accept the same row containers (a pandas DataFrame, a `datasets.Dataset`, a list of dicts). Doing the
conversion in one place means a container that works for a baseline works for the model's evaluation too,
and a missing column fails with the same message everywhere. This module depends on pandas only, so the
evaluation code can import it without pulling in the reference models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

PAIR_COLUMNS = ("smiles_a", "smiles_b")
LABELLED_PAIR_COLUMNS = (*PAIR_COLUMNS, "label")


def rows_to_frame(rows, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """DataFrame / `datasets.Dataset` / list of dicts -> DataFrame with a fresh 0..n-1 index.

    ``columns=None`` keeps every column; otherwise only ``columns``, in that order, and a `KeyError`
    naming the missing ones (and the ones present) when some are absent.
    """
    if isinstance(rows, pd.DataFrame):
        frame = rows.reset_index(drop=True)
    elif hasattr(rows, "to_pandas"):
        frame = rows.to_pandas()
    else:
        frame = pd.DataFrame(list(rows))
    if columns is None:
        return frame
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"rows lack column(s) {missing}; they have {list(frame.columns)}")
    return frame.loc[:, list(columns)]


def pair_vectors(rows, molecule: Callable[..., np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each row's (A, B) vectors from ``molecule(smiles, row=, field=)``; a bad SMILES names its row and field."""
    frame = rows_to_frame(rows, PAIR_COLUMNS)
    for i, (a, b) in enumerate(zip(frame["smiles_a"], frame["smiles_b"], strict=True)):
        yield molecule(a, row=i, field="smiles_a"), molecule(b, row=i, field="smiles_b")


__all__ = ["LABELLED_PAIR_COLUMNS", "PAIR_COLUMNS", "pair_vectors", "rows_to_frame"]
