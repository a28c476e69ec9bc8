"""Reference models that every MolTC number is read against: mean, descriptor ridge/RF, drug prior, Morgan LR.

A language model that "predicts" FreeSolv is only interesting if it beats a mean predictor, and only
competitive if it approaches a random forest on RDKit descriptors. Binary DDI sets are worse: their negatives
are sampled so unevenly that a *drug prior* -- each drug's positive rate in train, no chemistry at all --
reaches AUROC ~0.99 on a random split and ~0.5 when the test drugs are unseen. These classes make those
references one line each, on exactly the rows (and split) the model sees.

Every baseline takes *rows* with the MoT-instructions columns ``smiles_a``, ``smiles_b`` and ``label``:
a pandas DataFrame, a `datasets.Dataset`, or a list of dicts. ``fit(train_rows)`` returns ``self``;
regressors have ``predict(rows) -> np.ndarray`` and classifiers ``predict_proba(rows) -> np.ndarray``
(probability of the positive class, shape ``[n]``).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import DataStructs
from rdkit.Chem import Descriptors, rdFingerprintGenerator
from scipy import sparse
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .evaluation import metrics as M
from .evaluation.evaluate import rows_to_frame as any_rows_to_frame
from .featurization import parse_molecule

PAIR_COLUMNS = ("smiles_a", "smiles_b")


def rows_to_frame(rows, columns: Sequence[str] = ("smiles_a", "smiles_b", "label")) -> pd.DataFrame:
    """DataFrame / `datasets.Dataset` / list of dicts -> DataFrame holding ``columns`` (a clear error if missing)."""
    frame = any_rows_to_frame(rows)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"rows lack column(s) {missing}; they have {list(frame.columns)}")
    return frame.loc[:, list(columns)]


def _pair_vectors(rows, molecule: Callable[..., np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each row's (A, B) vectors from ``molecule(smiles, row=, field=)``; a bad SMILES names its row and field."""
    frame = rows_to_frame(rows, PAIR_COLUMNS)
    for i, (a, b) in enumerate(zip(frame["smiles_a"], frame["smiles_b"], strict=True)):
        yield molecule(a, row=i, field="smiles_a"), molecule(b, row=i, field="smiles_b")


# --------------------------------------------------------------------------------------------------------------
# Regression: mean, ridge / random forest on RDKit descriptors of both molecules
# --------------------------------------------------------------------------------------------------------------


class MeanRegressor:
    """Predicts the train mean for every row: the floor any regression model must clearly beat."""

    def fit(self, train_rows) -> MeanRegressor:
        self.mean_ = float(rows_to_frame(train_rows)["label"].astype(float).mean())
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
        return np.stack([np.concatenate(pair) for pair in _pair_vectors(rows, self.molecule)])


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
        frame = rows_to_frame(train_rows)
        self.estimator.fit(self.featurizer.pairs(frame), frame["label"].astype(float).to_numpy())
        return self

    def predict(self, rows) -> np.ndarray:
        return self.estimator.predict(self.featurizer.pairs(rows))


# --------------------------------------------------------------------------------------------------------------
# Binary DDI: drug prior and Morgan-fingerprint logistic regression
# --------------------------------------------------------------------------------------------------------------


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
        frame = rows_to_frame(train_rows)
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


class MorganPairLogistic:
    """Logistic regression on order-free pair features of Morgan fingerprints (radius 2).

    A pair is ``[fp_a + fp_b, fp_a * fp_b]`` (bit sum and bit AND), so swapping the drugs gives identical
    features: DDI is symmetric and the model must not learn the column order. Sparse throughout.
    """

    def __init__(self, *, radius: int = 2, n_bits: int = 2048, C: float = 0.1, seed: int = 0) -> None:
        self.generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
        self.n_bits = n_bits
        self.estimator = LogisticRegression(C=C, max_iter=2000, solver="liblinear", random_state=seed)
        self._cache: dict[str, np.ndarray] = {}

    def molecule(self, smiles: str, *, row: int | None = None, field: str | None = None) -> np.ndarray:
        if smiles not in self._cache:
            bits = np.zeros(self.n_bits, dtype=np.float32)
            fingerprint = self.generator.GetFingerprint(parse_molecule(smiles, row=row, field=field))
            DataStructs.ConvertToNumpyArray(fingerprint, bits)
            self._cache[smiles] = bits
        return self._cache[smiles]

    def pairs(self, rows) -> sparse.csr_matrix:
        blocks = [
            sparse.csr_matrix(np.concatenate([fa + fb, fa * fb]))
            for fa, fb in _pair_vectors(rows, self.molecule)
        ]
        return sparse.vstack(blocks, format="csr")

    def fit(self, train_rows) -> MorganPairLogistic:
        frame = rows_to_frame(train_rows)
        labels = frame["label"].astype(int).to_numpy()
        if set(np.unique(labels)) != {0, 1}:
            raise ValueError(f"MorganPairLogistic needs labels 0 and 1 in train; got {sorted(set(labels))}")
        self.estimator.fit(self.pairs(frame), labels)
        return self

    def predict_proba(self, rows) -> np.ndarray:
        return self.estimator.predict_proba(self.pairs(rows))[:, 1]


# --------------------------------------------------------------------------------------------------------------
# chemprop v2 (optional extra, through its own CLI so we track its public interface, not its internals)
# --------------------------------------------------------------------------------------------------------------


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
        rows_to_frame(train_rows).to_csv(self._workdir / "train.csv", index=False)
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


# --------------------------------------------------------------------------------------------------------------
# Metrics and one-call runners used by `moltc quickstart` and benchmarks/quality.py
# --------------------------------------------------------------------------------------------------------------


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    """RMSE, MAE and R^2 with the evaluation module's definitions, so baselines and models share one table."""
    return {"rmse": M.rmse(y_true, y_pred), "mae": M.mae(y_true, y_pred), "r2": M.r2(y_true, y_pred)}


def binary_metrics(y_true, scores) -> dict[str, float]:
    y_true, scores = np.asarray(y_true, dtype=int), np.asarray(scores, dtype=float)
    return {
        "auroc": M.binary_auroc(y_true, scores),
        "accuracy": M.accuracy(y_true, (scores >= 0.5).astype(int)),
    }


@dataclass
class BaselineResult:
    """One row of a quality table: which model, on which task/split, its metrics and how long fit+predict took."""

    name: str
    metrics: dict[str, float]
    seconds: float
    predictions: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {"name": self.name, "metrics": self.metrics, "seconds": round(self.seconds, 3)}


REGRESSION_BASELINES: dict[str, Callable[[int], object]] = {
    "mean": lambda seed: MeanRegressor(),
    "ridge (RDKit descriptors)": lambda seed: DescriptorRegressor("ridge", seed=seed),
    "random forest (RDKit descriptors)": lambda seed: DescriptorRegressor("rf", seed=seed),
}
BINARY_BASELINES: dict[str, Callable[[int], object]] = {
    "drug prior (no chemistry)": lambda seed: DrugPrior(),
    "Morgan LR (pair fingerprints)": lambda seed: MorganPairLogistic(seed=seed),
}


def run_baselines(
    task: str,
    train_rows,
    test_rows,
    *,
    seed: int = 0,
    include: Sequence[str] | None = None,
    chemprop_epochs: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[BaselineResult]:
    """Fit and score every baseline for ``task`` ("regression"/"solvation" or "binary"/"ddi_binary").

    ``include`` restricts to some names; ``chemprop_epochs`` adds chemprop v2 when it is installed (skipped
    with a message otherwise). ``progress`` receives one line per baseline (e.g. a tqdm ``write``).
    """
    binary = task in ("binary", "ddi_binary")
    if not binary and task not in ("regression", "solvation"):
        raise ValueError(
            f"run_baselines: unsupported task {task!r} (regression/solvation or binary/ddi_binary)"
        )
    factories = dict(BINARY_BASELINES if binary else REGRESSION_BASELINES)
    if chemprop_epochs:
        if chemprop_available():
            kind = "classification" if binary else "regression"
            factories["chemprop v2 (D-MPNN)"] = lambda s: ChempropPair(kind, epochs=chemprop_epochs, seed=s)
        elif progress:
            progress("chemprop v2: skipped (not installed; `pip install 'chemprop>=2'` adds this row)")
    train, test = rows_to_frame(train_rows), rows_to_frame(test_rows)
    y_true = test["label"].astype(float).to_numpy()
    results = []
    for name, factory in factories.items():
        if include is not None and name not in include:
            continue
        start = time.perf_counter()
        model = factory(seed).fit(train)
        predictions = model.predict_proba(test) if binary else model.predict(test)
        seconds = time.perf_counter() - start
        metrics = binary_metrics(y_true, predictions) if binary else regression_metrics(y_true, predictions)
        results.append(BaselineResult(name, metrics, seconds, predictions))
        if progress:
            progress(f"{name}: {format_metrics(metrics)} ({seconds:.1f} s)")
    return results


def format_metrics(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:.3f}" for k, v in metrics.items() if isinstance(v, int | float))


__all__ = [
    "BINARY_BASELINES",
    "REGRESSION_BASELINES",
    "BaselineResult",
    "ChempropPair",
    "DescriptorFeaturizer",
    "DescriptorRegressor",
    "DrugPrior",
    "MeanRegressor",
    "MorganPairLogistic",
    "binary_metrics",
    "chemprop_available",
    "format_metrics",
    "regression_metrics",
    "rows_to_frame",
    "run_baselines",
]
