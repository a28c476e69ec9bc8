"""The reference table: fit every baseline of a task on one split and score it like the model is scored.

`moltc quickstart` and benchmarks/quality.py both put MolTC next to these rows, so the rows must come
from exactly the train/test split the model saw and carry the metric names the model's report uses:
regression rows are `moltc_hf.tasks.metrics.regression_metrics`, the same dict `evaluate_model`
reports, so a table can read any key from either.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..tasks.metrics import accuracy, binary_auroc, regression_metrics
from .chemprop import ChempropPair, chemprop_available
from .descriptors import DescriptorRegressor, MeanRegressor
from .fingerprints import MorganPairForest, MorganPairLogistic
from .frames import LABELLED_PAIR_COLUMNS, rows_to_frame
from .priors import DrugPrior

HEADLINE_METRICS = {"binary": ("auroc", "accuracy"), "regression": ("rmse", "mae", "r2")}


def binary_metrics(y_true, scores) -> dict[str, float]:
    """AUROC of the scores and accuracy at threshold 0.5, for models that output p(positive)."""
    y_true, scores = np.asarray(y_true, dtype=int), np.asarray(scores, dtype=float)
    return {
        "auroc": binary_auroc(y_true, scores),
        "accuracy": accuracy(y_true, (scores >= 0.5).astype(int)),
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
    "Morgan RF (pair fingerprints)": lambda seed: MorganPairForest(seed=seed),
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
    with a message otherwise). ``progress`` receives one line per baseline (e.g. a tqdm ``write``) with the
    headline metrics (`HEADLINE_METRICS`); the results carry the full metric dicts.
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
    train = rows_to_frame(train_rows, LABELLED_PAIR_COLUMNS)
    test = rows_to_frame(test_rows, LABELLED_PAIR_COLUMNS)
    y_true = test["label"].astype(float).to_numpy()
    headline = HEADLINE_METRICS["binary" if binary else "regression"]
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
            progress(f"{name}: {format_metrics(metrics, headline)} ({seconds:.1f} s)")
    return results


def format_metrics(metrics: Mapping[str, float], keys: Sequence[str] | None = None) -> str:
    """``"rmse=1.234, mae=..."`` for the numeric entries of ``metrics`` (only ``keys``, in order, if given)."""
    items = metrics.items() if keys is None else ((k, metrics[k]) for k in keys if k in metrics)
    return ", ".join(f"{k}={v:.3f}" for k, v in items if isinstance(v, int | float))


__all__ = [
    "BINARY_BASELINES",
    "HEADLINE_METRICS",
    "REGRESSION_BASELINES",
    "BaselineResult",
    "binary_metrics",
    "format_metrics",
    "run_baselines",
]
