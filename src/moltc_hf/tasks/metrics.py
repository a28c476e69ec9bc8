"""Metrics on numpy arrays, written out so their edge cases are ours and tested against scikit-learn/scipy.

Conventions: a classification prediction of ``-1`` means "unparseable" and counts as wrong; regression
predictions that are ``NaN`` (unparseable) are left out of the error metrics and counted instead.
Metrics that are undefined on the given data (AUROC with one class, R^2 with constant targets) are ``NaN``
rather than an exception, so one degenerate split never kills a whole report.
"""

from __future__ import annotations

import math

import numpy as np

UNPARSEABLE = -1


def rankdata(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties averaged (``scipy.stats.rankdata(method="average")``)."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    average = (starts + ends + 1) / 2.0  # mean of the 1-based positions start+1 .. end
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


# -- classification --


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred)) if len(y_true) else math.nan


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted mean F1 over the labels present in ``y_true`` or ``y_pred`` (unparseable excluded)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = np.setdiff1d(np.union1d(y_true, y_pred), [UNPARSEABLE])
    if not len(labels):
        return math.nan
    scores = []
    for label in labels:
        true_positive = np.sum((y_pred == label) & (y_true == label))
        denominator = np.sum(y_pred == label) + np.sum(y_true == label)
        scores.append(2 * true_positive / denominator if denominator else 0.0)
    return float(np.mean(scores))


def binary_auroc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve = P(score of a random positive > a random negative), ties count half."""
    y_true = np.asarray(y_true).astype(bool)
    positives, negatives = int(y_true.sum()), int((~y_true).sum())
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = rankdata(np.asarray(scores, dtype=float))
    return float((ranks[y_true].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def multiclass_auroc(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """One-vs-rest AUROC averaged over the classes that have both positives and negatives in ``y_true``."""
    y_true = np.asarray(y_true)
    probabilities = np.asarray(probabilities, dtype=float)
    per_class = [binary_auroc(y_true == k, probabilities[:, k]) for k in range(probabilities.shape[1])]
    per_class = [a for a in per_class if not math.isnan(a)]
    return float(np.mean(per_class)) if per_class else math.nan


def roc_curve(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    y_true = np.asarray(y_true).astype(bool)
    order = np.argsort(-np.asarray(scores, dtype=float), kind="mergesort")
    sorted_scores, sorted_true = np.asarray(scores, dtype=float)[order], y_true[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(sorted_scores) - 1]
    true_positives = np.cumsum(sorted_true)[last_of_tie]
    false_positives = (last_of_tie + 1) - true_positives
    tpr = np.r_[0.0, true_positives / max(int(y_true.sum()), 1)]
    fpr = np.r_[0.0, false_positives / max(int((~y_true).sum()), 1)]
    return fpr, tpr


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, num_bins: int = 10) -> float:
    """ECE: the sample-weighted mean |accuracy - confidence| over equal-width confidence bins (0, 1]."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if not len(confidence):
        return math.nan
    bins = reliability_bins(confidence, correct, num_bins)
    return float(sum(count * abs(acc - conf) for acc, conf, count in bins) / len(confidence))


def reliability_bins(
    confidence: np.ndarray, correct: np.ndarray, num_bins: int = 10
) -> list[tuple[float, float, int]]:
    """``(accuracy, mean confidence, count)`` per non-empty bin; bin k holds (k/n, (k+1)/n] (0 goes to bin 0)."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    index = np.clip(np.ceil(confidence * num_bins).astype(int) - 1, 0, num_bins - 1)
    bins = []
    for k in range(num_bins):
        selected = index == k
        if selected.any():
            bins.append(
                (float(correct[selected].mean()), float(confidence[selected].mean()), int(selected.sum()))
            )
    return bins


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``[true, predicted]``; the extra last column counts unparseable predictions."""
    matrix = np.zeros((num_classes, num_classes + 1), dtype=np.int64)
    y_pred = np.where(np.asarray(y_pred) == UNPARSEABLE, num_classes, y_pred)
    np.add.at(matrix, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return matrix


# -- regression --


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = _finite_pairs(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred))) if len(y_true) else math.nan


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = _finite_pairs(y_true, y_pred)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2))) if len(y_true) else math.nan


def r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = _finite_pairs(y_true, y_pred)
    total = np.sum((y_true - y_true.mean()) ** 2) if len(y_true) else 0.0
    return float(1 - np.sum((y_true - y_pred) ** 2) / total) if total > 0 else math.nan


def spearman(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Pearson correlation of the (tie-averaged) ranks."""
    y_true, y_pred = _finite_pairs(y_true, y_pred)
    if len(y_true) < 2:
        return math.nan
    a, b = rankdata(y_true), rankdata(y_pred)
    a, b = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float(np.sum(a * a) * np.sum(b * b)))
    return float(np.sum(a * b) / denominator) if denominator > 0 else math.nan


def _finite_pairs(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    keep = np.isfinite(y_true) & np.isfinite(y_pred)
    return y_true[keep], y_pred[keep]


# -- per task --


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    confidence: np.ndarray,
    probabilities: np.ndarray | None = None,
) -> dict[str, float]:
    """Accuracy, macro-F1, AUROC (binary or one-vs-rest; needs ``probabilities [n, C]``), ECE, counts."""
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    metrics = {
        "num_examples": len(y_true),
        "num_unparseable": int(np.sum(y_pred == UNPARSEABLE)),
        "accuracy": accuracy(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred),
        "auroc": math.nan,
        "ece": expected_calibration_error(confidence, y_true == y_pred),
    }
    if probabilities is not None:
        probabilities = np.asarray(probabilities, dtype=float)
        metrics["auroc"] = (
            binary_auroc(y_true == 1, probabilities[:, 1])
            if probabilities.shape[1] == 2
            else multiclass_auroc(y_true, probabilities)
        )
    return metrics


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, R^2, Spearman on the parsed predictions; the unparseable ones are counted, not dropped."""
    y_pred = np.asarray(y_pred, dtype=float)
    unparseable = int(np.sum(~np.isfinite(y_pred)))
    return {
        "num_examples": len(y_pred),
        "num_unparseable": unparseable,
        "unparseable_rate": unparseable / len(y_pred) if len(y_pred) else math.nan,
        "mae": mae(y_true, y_pred),
        "rmse": rmse(y_true, y_pred),
        "r2": r2(y_true, y_pred),
        "spearman": spearman(y_true, y_pred),
    }


__all__ = [
    "UNPARSEABLE",
    "accuracy",
    "binary_auroc",
    "classification_metrics",
    "confusion_matrix",
    "expected_calibration_error",
    "macro_f1",
    "mae",
    "multiclass_auroc",
    "r2",
    "rankdata",
    "regression_metrics",
    "reliability_bins",
    "rmse",
    "roc_curve",
    "spearman",
]
