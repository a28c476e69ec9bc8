"""Drug priors: score a pair by how its two drugs behaved in train -- no chemistry, no pair information.

Binary DDI sets sample their negatives so unevenly that each drug's positive rate in train alone reaches
AUROC ~0.99 on a random split and ~0.5 when the test drugs are unseen; multi-class DDI sets have the same
shortcut per interaction type. A model's number means little until it is read next to these, so
`evaluate_model` reports them beside every DDI evaluation (``references``) through the two
``*_reference`` functions here, and `run_baselines` lists `DrugPrior` as a binary baseline.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ..tasks.metrics import accuracy, binary_auroc, macro_f1, multiclass_auroc
from .frames import LABELLED_PAIR_COLUMNS, PAIR_COLUMNS, rows_to_frame


class DrugPrior:
    """Scores a pair only by how often each drug is positive in train -- no chemistry, no pair information.

    ``rate(d) = (positives(d) + m * p0) / (pairs(d) + m)`` is each drug's positive rate shrunk toward the
    global train rate ``p0`` with ``m`` pseudo-pairs, so a drug seen once is not scored 0 or 1, and an unseen
    drug falls back to exactly ``p0``. A pair scores the mean of its two drugs' rates; on a cold-drug split
    (both drugs unseen) every pair scores ``p0`` and the AUROC is 0.5 by construction.

    Drugs are keyed by their SMILES string as written in the rows (``key`` can map it, e.g. to a DrugBank id).

    Example::

        prior = DrugPrior().fit(train_rows)        # rows with smiles_a, smiles_b, label (0/1)
        scores = prior.predict_proba(test_rows)    # np.ndarray [n] in [0, 1]
    """

    def __init__(self, smoothing: float = 1.0, key: Callable[[str], str] = str) -> None:
        self.smoothing = smoothing
        self.key = key

    def fit(self, train_rows) -> DrugPrior:
        frame = rows_to_frame(train_rows, LABELLED_PAIR_COLUMNS)
        labels = frame["label"].astype(float).to_numpy()
        if not np.isin(labels, (0.0, 1.0)).all():
            raise ValueError("DrugPrior needs binary labels 0/1 in column 'label'")
        self.global_rate_ = float(labels.mean())
        positives: dict[str, float] = {}
        counts: dict[str, int] = {}
        for column in PAIR_COLUMNS:
            for smiles, label in zip(frame[column], labels, strict=True):
                drug = self.key(smiles)
                positives[drug] = positives.get(drug, 0.0) + label
                counts[drug] = counts.get(drug, 0) + 1
        m = self.smoothing
        self.rates_ = {d: (positives[d] + m * self.global_rate_) / (counts[d] + m) for d in counts}
        return self

    def drug_rate(self, smiles: str) -> float:
        return self.rates_.get(self.key(smiles), self.global_rate_)

    def predict_proba(self, rows) -> np.ndarray:
        frame = rows_to_frame(rows, PAIR_COLUMNS)
        return np.array(
            [
                0.5 * (self.drug_rate(a) + self.drug_rate(b))
                for a, b in zip(frame["smiles_a"], frame["smiles_b"])
            ]
        )


def drug_prior_reference(train_frame: pd.DataFrame | None, frame: pd.DataFrame) -> dict:
    """The no-chemistry reference (issue 9): score a pair by its drugs' positive rates in train."""
    if train_frame is None or not len(train_frame):
        return {"skipped": "no train split given to fit it on"}
    scores = np.asarray(DrugPrior().fit(train_frame).predict_proba(frame), dtype=float)
    y_true = frame["label"].to_numpy(float).astype(int)
    return {
        "auroc": binary_auroc(y_true == 1, scores),
        "accuracy": accuracy(y_true, (scores >= 0.5).astype(int)),
        "num_train_rows": len(train_frame),
    }


def drug_type_prior_reference(
    train_frame: pd.DataFrame | None, frame: pd.DataFrame, num_classes: int, smoothing: float = 1.0
) -> dict:
    """The multi-class drug prior: p(type | pair) from how often each drug had each type in train.

    Scores = smoothed type counts of drug A (as #Drug1) + drug B (as #Drug2), normalised. No chemistry.
    """
    if train_frame is None or not len(train_frame):
        return {"skipped": "no train split given to fit it on"}
    counts: dict[tuple[str, int], np.ndarray] = {}
    for a, b, label in zip(train_frame["smiles_a"], train_frame["smiles_b"], train_frame["label"]):
        for key in ((a, 0), (b, 1)):
            counts.setdefault(key, np.zeros(num_classes))[int(label)] += 1
    empty = np.zeros(num_classes)
    scores = np.stack(
        [
            counts.get((a, 0), empty) + counts.get((b, 1), empty) + smoothing
            for a, b in zip(frame["smiles_a"], frame["smiles_b"])
        ]
    )
    probabilities = scores / scores.sum(1, keepdims=True)
    y_true = frame["label"].to_numpy(float).astype(int)
    y_pred = probabilities.argmax(1)
    return {
        "accuracy": accuracy(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred),
        "auroc": multiclass_auroc(y_true, probabilities),
        "num_train_rows": len(train_frame),
    }


__all__ = ["DrugPrior", "drug_prior_reference", "drug_type_prior_reference"]
