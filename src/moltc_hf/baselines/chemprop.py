"""chemprop v2 D-MPNN as an optional reference, driven through its CLI rather than its Python internals.

chemprop is the standard graph-network baseline for molecular property prediction, but it is a heavy
optional extra whose internals change between releases; calling its ``chemprop train`` / ``chemprop
predict`` commands keeps us on its public interface, and `chemprop_available` lets callers skip the row
cleanly when it is not installed.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from .frames import LABELLED_PAIR_COLUMNS, PAIR_COLUMNS, rows_to_frame


def chemprop_available() -> bool:
    """True when chemprop v2 is importable and its ``chemprop`` command is on PATH."""
    return importlib.util.find_spec("chemprop") is not None and shutil.which("chemprop") is not None


class ChempropPair:
    """chemprop v2 D-MPNN on both molecules (``--smiles-columns smiles_a smiles_b``), regression or classification.

    Optional: raises `RuntimeError` with an install hint when chemprop is missing (``pip install 'chemprop>=2'``).
    """

    def __init__(self, task: str = "regression", *, epochs: int = 30, seed: int = 0) -> None:
        if not chemprop_available():
            raise RuntimeError(
                "chemprop v2 is not installed; `pip install 'chemprop>=2'` to add this baseline"
            )
        self.task, self.epochs, self.seed = task, epochs, seed
        self._workdir = Path(tempfile.mkdtemp(prefix="moltc-chemprop-"))

    def fit(self, train_rows) -> ChempropPair:
        rows_to_frame(train_rows, LABELLED_PAIR_COLUMNS).to_csv(self._workdir / "train.csv", index=False)
        command = [
            "chemprop",
            "train",
            "--data-path",
            str(self._workdir / "train.csv"),
            "--task-type",
            self.task,
        ]
        command += [
            "--smiles-columns",
            *PAIR_COLUMNS,
            "--target-columns",
            "label",
            "--epochs",
            str(self.epochs),
        ]
        command += [
            "--data-seed",
            str(self.seed),
            "--pytorch-seed",
            str(self.seed),
            "--split-sizes",
            "0.9",
            "0.1",
            "0.0",
        ]
        command += ["--accelerator", "cpu", "--output-dir", str(self._workdir / "model")]
        subprocess.run(command, check=True, capture_output=True, text=True)
        return self

    def _predict(self, rows) -> np.ndarray:
        rows_to_frame(rows, PAIR_COLUMNS).to_csv(self._workdir / "test.csv", index=False)
        command = ["chemprop", "predict", "--test-path", str(self._workdir / "test.csv")]
        command += ["--smiles-columns", *PAIR_COLUMNS, "--model-paths", str(self._workdir / "model")]
        command += ["--preds-path", str(self._workdir / "preds.csv"), "--accelerator", "cpu"]
        subprocess.run(command, check=True, capture_output=True, text=True)
        predictions = pd.read_csv(self._workdir / "preds.csv")
        return predictions[[c for c in predictions.columns if c not in PAIR_COLUMNS][-1]].to_numpy(
            dtype=float
        )

    predict = _predict
    predict_proba = _predict


__all__ = ["ChempropPair", "chemprop_available"]
