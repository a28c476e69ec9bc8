"""Evaluation: run the model (scoring, inference), read answers (parsing), score them (metrics), report them.

The flow is one direction: `scoring` calls the model, `inference` batches pairs through it (feature cache
included) and turns its output into `Prediction`s, `parsing` reads generated text, `metrics` compares with
the truth, `evaluate` ties them to a dataset split and `report` writes and draws it. Tasks come from
`moltc_hf.tasks.registry`, reference models from `moltc_hf.baselines`. Exports are lazy
(`moltc_hf._lazy`), so the pipeline's use of `inference` does not load pandas reports or matplotlib.
"""

from .._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "evaluate": ("evaluate_model", "task_metrics"),
        "report": ("format_joint_table", "format_report", "joint_summary", "write_report"),
        "moltc_hf.inference.predict": (
            "MODES",
            "MoleculeFeatureCache",
            "Prediction",
            "iter_predictions",
            "predict_batch",
        ),
        "moltc_hf.tasks.metrics": (
            "accuracy binary_auroc classification_metrics expected_calibration_error macro_f1 mae "
            "multiclass_auroc r2 regression_metrics rmse spearman"
        ),
        "moltc_hf.inference.parsing": (
            "ParsedAnswer",
            "parse_classification_answer",
            "parse_regression_answer",
        ),
        "moltc_hf.inference.scoring": ("generate_answers", "score_candidates"),
    },
    moved_modules={
        "inference": "moltc_hf.inference.predict",
        "metrics": "moltc_hf.tasks.metrics",
        "parsing": "moltc_hf.inference.parsing",
        "scoring": "moltc_hf.inference.scoring",
    },
)
