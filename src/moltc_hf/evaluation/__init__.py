"""Evaluation: read answers (parsing), score them (metrics), draw them (plots), run the model (scoring, inference).

The flow is one direction: `scoring` calls the model, `inference` turns its output into `Prediction`s,
`parsing` reads generated text, `metrics` compares with the truth, `evaluate` ties them to a dataset
split and `plots` draws the report. `moltc_hf.screening` and `moltc_hf.pipeline` reuse the same steps.
"""

from .evaluate import evaluate_model, format_report, task_metrics, write_report  # noqa: I001  (uses the above)
from .inference import MODES, Prediction, predict_batch
from .metrics import (
    accuracy,
    binary_auroc,
    classification_metrics,
    expected_calibration_error,
    macro_f1,
    mae,
    multiclass_auroc,
    r2,
    regression_metrics,
    rmse,
    spearman,
)
from .parsing import ParsedAnswer, parse_classification_answer, parse_regression_answer
from .scoring import generate_answers, score_candidates
from .tasks import TASKS, TaskSpec, candidates_from_rows, get_task

__all__ = [
    "MODES",
    "TASKS",
    "ParsedAnswer",
    "Prediction",
    "TaskSpec",
    "accuracy",
    "binary_auroc",
    "candidates_from_rows",
    "classification_metrics",
    "evaluate_model",
    "expected_calibration_error",
    "format_report",
    "generate_answers",
    "get_task",
    "macro_f1",
    "mae",
    "multiclass_auroc",
    "parse_classification_answer",
    "parse_regression_answer",
    "predict_batch",
    "r2",
    "regression_metrics",
    "rmse",
    "score_candidates",
    "spearman",
    "task_metrics",
    "write_report",
]
