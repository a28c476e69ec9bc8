"""PNG plots for an evaluation report: ROC, reliability diagram, confusion matrix, parity.

Figures are built with ``matplotlib.figure.Figure`` and the Agg canvas directly (no ``pyplot``), so
plotting never needs a display, never touches global backend state and never leaks figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..tasks import metrics as M


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return path


def roc_plot(y_true: np.ndarray, probabilities: np.ndarray, path: str | Path, title: str = "ROC") -> Path:
    """Binary: one curve on p(class 1). Multi-class: the micro-averaged one-vs-rest curve."""
    y_true = np.asarray(y_true, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.shape[1] == 2:
        labels, scores, name = y_true == 1, probabilities[:, 1], "p(interaction)"
    else:
        one_hot = np.eye(probabilities.shape[1], dtype=bool)[y_true]
        labels, scores, name = one_hot.ravel(), probabilities.ravel(), "micro-average one-vs-rest"
    fpr, tpr = M.roc_curve(labels, scores)
    figure = Figure(figsize=(4.5, 4.5))
    axes = figure.add_subplot()
    axes.plot(fpr, tpr, label=f"{name} (AUROC {M.binary_auroc(labels, scores):.3f})")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1))
    axes.legend(loc="lower right", fontsize=8)
    return _save(figure, path)


def reliability_plot(
    confidence: np.ndarray,
    correct: np.ndarray,
    path: str | Path,
    num_bins: int = 10,
    title: str = "Reliability",
) -> Path:
    """Accuracy vs confidence per bin (bar width = bin), with the ECE in the title."""
    bins = M.reliability_bins(confidence, correct, num_bins)
    figure = Figure(figsize=(4.5, 4.5))
    axes = figure.add_subplot()
    if bins:
        accuracies, confidences, counts = map(np.asarray, zip(*bins))
        axes.bar(confidences, accuracies, width=1 / num_bins, alpha=0.7, edgecolor="black", label="accuracy")
        for x, y, n in zip(confidences, accuracies, counts):
            axes.annotate(str(n), (x, y), ha="center", va="bottom", fontsize=6)
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8, label="perfect calibration")
    ece = M.expected_calibration_error(confidence, correct, num_bins)
    axes.set(
        xlabel="confidence", ylabel="accuracy", title=f"{title} (ECE {ece:.3f})", xlim=(0, 1), ylim=(0, 1)
    )
    axes.legend(loc="upper left", fontsize=8)
    return _save(figure, path)


def confusion_plot(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    num_classes: int,
    path: str | Path,
    title: str = "Confusion matrix",
) -> Path:
    """Row-normalised confusion matrix; the last column is "unparseable"."""
    matrix = M.confusion_matrix(y_true, y_pred, num_classes).astype(float)
    rows = matrix.sum(1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    size = min(12.0, 3.0 + 0.1 * num_classes)
    figure = Figure(figsize=(size + 1, size))
    axes = figure.add_subplot()
    image = axes.imshow(normalised, cmap="Blues", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    figure.colorbar(image, ax=axes, fraction=0.046, label="fraction of the true class")
    axes.set(xlabel="predicted class (last column: unparseable)", ylabel="true class", title=title)
    if num_classes <= 12:
        for (i, j), count in np.ndenumerate(matrix):
            axes.text(j, i, int(count), ha="center", va="center", fontsize=7)
    return _save(figure, path)


def parity_plot(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    path: str | Path,
    title: str = "Parity",
    unit: str = "",
    quantity: str = "value",
) -> Path:
    """Predicted vs true with the y = x line; unparseable predictions are counted in the legend.

    The axes name the ``quantity`` and its ``unit`` (a task's ``title`` and ``unit``), e.g. "true hydration free
    energy (kcal/mol)": "true" / "predicted" alone said neither what nor in which unit.
    """
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    keep = np.isfinite(y_true) & np.isfinite(y_pred)
    figure = Figure(figsize=(4.5, 4.5))
    axes = figure.add_subplot()
    axes.scatter(y_true[keep], y_pred[keep], s=8, alpha=0.6, label=f"parsed (n={int(keep.sum())})")
    finite = np.r_[y_true[keep], y_pred[keep]]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    axes.plot([low, high], [low, high], linestyle="--", color="grey", linewidth=0.8)
    suffix = f" ({unit})" if unit else ""
    axes.set(
        xlabel=f"true {quantity}{suffix}",
        ylabel=f"predicted {quantity}{suffix}",
        title=f"{title}: RMSE {M.rmse(y_true, y_pred):.3f}, unparseable {int((~np.isfinite(y_pred)).sum())}",
    )
    axes.legend(loc="upper left", fontsize=8)
    return _save(figure, path)


__all__ = ["confusion_plot", "parity_plot", "reliability_plot", "roc_plot"]
