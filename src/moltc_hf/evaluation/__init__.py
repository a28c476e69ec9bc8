"""Evaluation: run the model (scoring, inference), read answers (parsing), score them (metrics), report them.

The flow is one direction: `scoring` calls the model, `inference` batches pairs through it (feature cache
included) and turns its output into `Prediction`s, `parsing` reads generated text, `metrics` compares with
the truth, `evaluate` ties them to a dataset split and `report` writes and draws it. Tasks come from
`moltc_hf.instructions.tasks`, reference models from `moltc_hf.baselines`. Exports are lazy
(`moltc_hf._lazy`), so the pipeline's use of `inference` does not load pandas reports or matplotlib.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "evaluate_model": "evaluate",
    "task_metrics": "evaluate",
    "format_report": "report",
    "write_report": "report",
    "MODES": "inference",
    "MoleculeFeatureCache": "inference",
    "Prediction": "inference",
    "iter_predictions": "inference",
    "predict_batch": "inference",
    **{
        name: "metrics"
        for name in (
            "accuracy",
            "binary_auroc",
            "classification_metrics",
            "expected_calibration_error",
            "macro_f1",
            "mae",
            "multiclass_auroc",
            "r2",
            "regression_metrics",
            "rmse",
            "spearman",
        )
    },
    "ParsedAnswer": "parsing",
    "parse_classification_answer": "parsing",
    "parse_regression_answer": "parsing",
    "generate_answers": "scoring",
    "score_candidates": "scoring",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
