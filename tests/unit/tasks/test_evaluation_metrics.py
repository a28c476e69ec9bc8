"""Metric functions against scikit-learn / scipy on the same arrays, and the plots they feed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from moltc_hf.evaluation import plots
from moltc_hf.tasks import metrics as M


@pytest.fixture()
def rng():
    return np.random.default_rng(0)


def test_rankdata_matches_scipy_with_ties(rng):
    values = rng.integers(0, 7, size=200).astype(float)
    np.testing.assert_allclose(M.rankdata(values), stats.rankdata(values))


def test_classification_metrics_match_sklearn(rng):
    y_true = rng.integers(0, 5, size=300)
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, 5, size=300))
    assert M.accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert M.macro_f1(y_true, y_pred) == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"))
    np.testing.assert_array_equal(
        M.confusion_matrix(y_true, y_pred, 5)[:, :5], skm.confusion_matrix(y_true, y_pred, labels=range(5))
    )


def test_unparseable_counts_as_wrong_but_not_as_a_class():
    y_true = np.array([0, 1, 1, 0, 1])
    y_pred = np.array([0, 1, M.UNPARSEABLE, 0, 0])
    assert M.accuracy(y_true, y_pred) == pytest.approx(0.6)
    # macro-F1 over the real classes only; the unparseable row is a false negative of class 1
    expected = skm.f1_score(y_true, np.array([0, 1, 2, 0, 0]), labels=[0, 1], average="macro")
    assert M.macro_f1(y_true, y_pred) == pytest.approx(expected)
    assert M.confusion_matrix(y_true, y_pred, 2)[1, 2] == 1


def test_binary_auroc_and_roc_curve_match_sklearn(rng):
    y_true = rng.integers(0, 2, size=400)
    scores = np.round(rng.random(400) + 0.3 * y_true, 2)  # rounding makes ties
    assert M.binary_auroc(y_true, scores) == pytest.approx(skm.roc_auc_score(y_true, scores))
    fpr, tpr = M.roc_curve(y_true, scores)
    sk_fpr, sk_tpr, _ = skm.roc_curve(y_true, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    assert math.isnan(M.binary_auroc(np.ones(5), rng.random(5)))  # one class: undefined, not an exception


def test_multiclass_auroc_matches_sklearn_ovr(rng):
    y_true = np.r_[np.arange(6), rng.integers(0, 6, size=294)]
    logits = rng.normal(size=(300, 6)) + 1.5 * np.eye(6)[y_true]
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = skm.roc_auc_score(y_true, probabilities, multi_class="ovr", average="macro")
    assert M.multiclass_auroc(y_true, probabilities) == pytest.approx(expected)


def test_regression_metrics_match_sklearn_and_scipy(rng):
    y_true = rng.normal(size=150)
    y_pred = y_true + rng.normal(scale=0.5, size=150)
    y_pred[::10] = np.round(y_pred[::10])  # some ties for Spearman
    assert M.mae(y_true, y_pred) == pytest.approx(skm.mean_absolute_error(y_true, y_pred))
    assert M.rmse(y_true, y_pred) == pytest.approx(math.sqrt(skm.mean_squared_error(y_true, y_pred)))
    assert M.r2(y_true, y_pred) == pytest.approx(skm.r2_score(y_true, y_pred))
    assert M.spearman(y_true, y_pred) == pytest.approx(stats.spearmanr(y_true, y_pred).statistic)


def test_regression_metrics_count_unparseable_instead_of_dropping(rng):
    y_true = rng.normal(size=20)
    y_pred = y_true + 0.1
    y_pred[[3, 7]] = np.nan
    result = M.regression_metrics(y_true, y_pred)
    keep = np.isfinite(y_pred)
    assert result["num_examples"] == 20 and result["num_unparseable"] == 2
    assert result["unparseable_rate"] == pytest.approx(0.1)
    assert result["mae"] == pytest.approx(skm.mean_absolute_error(y_true[keep], y_pred[keep]))


def test_expected_calibration_error_on_known_bins():
    # bin (0.7, 0.8]: confidence 0.75, 3 of 4 right -> gap 0; bin (0.9, 1.0]: confidence 1.0, 1 of 2 right -> 0.5
    confidence = np.array([0.75, 0.75, 0.75, 0.75, 1.0, 1.0])
    correct = np.array([1, 1, 1, 0, 1, 0])
    assert M.expected_calibration_error(confidence, correct) == pytest.approx(2 / 6 * 0.5)
    bins = M.reliability_bins(confidence, correct)
    assert [(acc, count) for acc, _, count in bins] == [(0.75, 4), (0.5, 2)]


def test_plots_write_pngs(tmp_path, rng):
    y_true = rng.integers(0, 3, size=60)
    probabilities = rng.dirichlet(np.ones(3), size=60)
    y_pred = probabilities.argmax(1)
    written = [
        plots.roc_plot(y_true, probabilities, tmp_path / "roc.png"),
        plots.roc_plot(
            (y_true == 1).astype(int), np.c_[1 - probabilities[:, 1], probabilities[:, 1]], tmp_path / "b.png"
        ),
        plots.reliability_plot(probabilities.max(1), y_true == y_pred, tmp_path / "rel.png"),
        plots.confusion_plot(y_true, y_pred, 3, tmp_path / "cm.png"),
        plots.parity_plot(rng.normal(size=30), np.r_[rng.normal(size=29), np.nan], tmp_path / "parity.png"),
    ]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000
