"""Calibration fitted on the validation split: a temperature for the class probabilities, a threshold for binary.

Candidate scores are log-likelihoods of answer tokens; a softmax over them is a probability only up to a
temperature, and argmax is the right decision only when the classes' scores are on the same footing. Both
are fitted on validation rows and applied unchanged to the test rows, so the test metrics stay honest:

* temperature ``T``: minimises the validation negative log-likelihood of ``softmax(log p / T)`` (a 1-D search
  over log T); the test ECE is reported before and after.
* threshold (binary): the probability of class 1 above which a pair is called positive, chosen to maximise
  validation accuracy (and, separately, macro-F1); AUROC does not depend on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..tasks import metrics as M

_LOG_TEMPERATURES = np.linspace(np.log(0.05), np.log(20.0), 121)


def _softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(log_probabilities: np.ndarray, y_true: np.ndarray) -> float:
    """The temperature minimising validation NLL (grid over log T; flat optima keep the one nearest 1)."""
    log_probabilities = np.log(np.clip(np.asarray(log_probabilities, dtype=float), 1e-12, 1.0))
    y = np.asarray(y_true, dtype=int)
    losses = [
        -np.mean(np.log(np.clip(_softmax(log_probabilities, np.exp(t))[np.arange(len(y)), y], 1e-12, 1.0)))
        for t in _LOG_TEMPERATURES
    ]
    best = np.flatnonzero(np.isclose(losses, np.min(losses), rtol=1e-9, atol=1e-12))
    return float(np.exp(_LOG_TEMPERATURES[best[np.argmin(np.abs(_LOG_TEMPERATURES[best]))]]))


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Class probabilities rescaled by ``temperature`` (softmax of ``log p / T``)."""
    return _softmax(np.log(np.clip(np.asarray(probabilities, dtype=float), 1e-12, 1.0)), temperature)


def fit_threshold(positive_probability: np.ndarray, y_true: np.ndarray, metric: str = "accuracy") -> float:
    """The cut on p(class 1) that maximises ``metric`` (``accuracy`` or ``macro_f1``) on these rows."""
    score = {"accuracy": M.accuracy, "macro_f1": M.macro_f1}[metric]
    p, y = np.asarray(positive_probability, dtype=float), np.asarray(y_true, dtype=int)
    cuts = np.unique(np.concatenate([[0.5], p]))
    values = [score(y, (p >= cut).astype(int)) for cut in cuts]
    return float(cuts[int(np.argmax(values))])


@dataclass
class Calibration:
    """What was fitted on validation and what it does to the test rows."""

    num_validation: int
    temperature: float
    ece_before: float
    ece_after: float
    threshold_accuracy: float | None = None
    threshold_macro_f1: float | None = None
    accuracy_at_threshold: float | None = None
    macro_f1_at_threshold: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def calibrate(
    validation_probabilities: np.ndarray,
    validation_labels: np.ndarray,
    test_probabilities: np.ndarray,
    test_labels: np.ndarray,
) -> Calibration:
    """Fit temperature (+ thresholds for two classes) on validation; measure them on test."""
    temperature = fit_temperature(validation_probabilities, validation_labels)
    test_probabilities = np.asarray(test_probabilities, dtype=float)
    y = np.asarray(test_labels, dtype=int)

    def ece(probabilities: np.ndarray) -> float:
        return M.expected_calibration_error(probabilities.max(1), probabilities.argmax(1) == y)

    scaled = apply_temperature(test_probabilities, temperature)
    result = Calibration(len(validation_labels), temperature, ece(test_probabilities), ece(scaled))
    if test_probabilities.shape[1] == 2:
        positive = apply_temperature(validation_probabilities, temperature)[:, 1]
        result.threshold_accuracy = fit_threshold(positive, validation_labels, "accuracy")
        result.threshold_macro_f1 = fit_threshold(positive, validation_labels, "macro_f1")
        result.accuracy_at_threshold = M.accuracy(y, (scaled[:, 1] >= result.threshold_accuracy).astype(int))
        result.macro_f1_at_threshold = M.macro_f1(y, (scaled[:, 1] >= result.threshold_macro_f1).astype(int))
    return result


__all__ = ["Calibration", "apply_temperature", "calibrate", "fit_temperature", "fit_threshold"]
