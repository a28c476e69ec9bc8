"""Regression references: the train mean, and ridge / random forest on RDKit descriptors of both molecules.

A language model that "predicts" FreeSolv is only interesting if it beats the mean predictor, and only
competitive if it approaches a random forest on RDKit descriptors; these are the two ends of that scale.
"""

from __future__ import annotations

import numpy as np
from rdkit.Chem import Descriptors
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..featurization import parse_molecule
from .frames import LABELLED_PAIR_COLUMNS, PAIR_COLUMNS, pair_vectors, rows_to_frame


class MeanRegressor:
    """Predicts the train mean for every row: the floor any regression model must clearly beat."""

    def fit(self, train_rows) -> MeanRegressor:
        self.mean_ = float(rows_to_frame(train_rows, LABELLED_PAIR_COLUMNS)["label"].astype(float).mean())
        return self

    def predict(self, rows) -> np.ndarray:
        return np.full(len(rows_to_frame(rows, PAIR_COLUMNS)), self.mean_)


class DescriptorFeaturizer:
    """All RDKit 2D descriptors of a molecule (``Descriptors.CalcMolDescriptors``), cached by SMILES.

    Non-finite values (a few descriptors overflow on odd molecules) become 0 and everything is clipped to
    ±1e5 so the scaler and the forest never see inf. A pair's features are molecule A's then molecule B's.
    """

    def __init__(self) -> None:
        self.names = [name for name, _ in Descriptors.descList]
        self._cache: dict[str, np.ndarray] = {}

    def molecule(self, smiles: str, *, row: int | None = None, field: str | None = None) -> np.ndarray:
        if smiles not in self._cache:
            mol = parse_molecule(smiles, row=row, field=field)
            values = Descriptors.CalcMolDescriptors(mol, missingVal=0.0)
            vector = np.array([values[name] for name in self.names], dtype=np.float64)
            vector[~np.isfinite(vector)] = 0.0
            self._cache[smiles] = np.clip(vector, -1e5, 1e5)
        return self._cache[smiles]

    def pairs(self, rows) -> np.ndarray:
        return np.stack([np.concatenate(pair) for pair in pair_vectors(rows, self.molecule)])


class DescriptorRegressor:
    """Ridge (``kind="ridge"``, standardised) or random forest (``kind="rf"``) on both molecules' descriptors."""

    def __init__(
        self, kind: str = "rf", *, seed: int = 0, n_estimators: int = 300, alpha: float = 1.0
    ) -> None:
        if kind not in ("ridge", "rf"):
            raise ValueError(f"kind must be 'ridge' or 'rf', got {kind!r}")
        self.kind = kind
        self.featurizer = DescriptorFeaturizer()
        if kind == "ridge":
            self.estimator = make_pipeline(StandardScaler(), Ridge(alpha=alpha))
        else:
            self.estimator = RandomForestRegressor(n_estimators=n_estimators, random_state=seed, n_jobs=1)

    def fit(self, train_rows) -> DescriptorRegressor:
        frame = rows_to_frame(train_rows, LABELLED_PAIR_COLUMNS)
        self.estimator.fit(self.featurizer.pairs(frame), frame["label"].astype(float).to_numpy())
        return self

    def predict(self, rows) -> np.ndarray:
        return self.estimator.predict(self.featurizer.pairs(rows))


__all__ = ["DescriptorFeaturizer", "DescriptorRegressor", "MeanRegressor"]
