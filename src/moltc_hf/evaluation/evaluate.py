"""`evaluate_model`: a model on a dataset split -> metrics, predictions, order consistency, references, plots.

Every input row ends up somewhere: in the predictions (with its parsed label/value, or ``NaN`` and a
reason when the answer was unparseable) or in the rejects (invalid SMILES). Nothing is dropped silently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..baselines.frames import rows_to_frame
from ..baselines.priors import drug_prior_reference, drug_type_prior_reference
from ..featurization import Reject
from ..inference.predict import MoleculeFeatureCache, predict_frame, swapped_row
from ..tasks import metrics as M
from ..tasks.registry import (
    CLASSIFICATION,
    REGRESSION,
    TaskSpec,
    candidates_for,
    get_task,
    split_reasoning,
)
from .calibration import calibrate


def infer_task(frame: pd.DataFrame) -> str:
    tasks = sorted(set(frame["task"])) if "task" in frame.columns else []
    if len(tasks) != 1:
        raise ValueError(f"Pass `task=`: the rows hold tasks {tasks or 'none (no task column)'}.")
    return tasks[0]


def _answer_prefixes(frame: pd.DataFrame, candidates: Sequence[str]) -> list[str]:
    """The reasoning before the gold answer sentence of each row (``""`` without chain-of-thought)."""
    prefixes = []
    for index, (target, label) in enumerate(zip(frame["target"], frame["label"])):
        prefix = split_reasoning(str(target), candidates[int(label)])
        if prefix is None:
            raise ValueError(
                f"Row {index}: the target does not end with the sentence of class {int(label)} "
                f"({candidates[int(label)]!r}); the candidate list does not match this dataset."
            )
        prefixes.append(prefix)
    return prefixes


def _run(model, processor, frame: pd.DataFrame, task: TaskSpec, progress: bool, desc: str, **kwargs):
    """Answer a split's rows with their own (dataset) prompts."""
    progress_label = desc if progress else None
    return predict_frame(
        model, processor, frame, task, use_dataset_prompts=True, progress=progress_label, **kwargs
    )


def sample_rows(frame: pd.DataFrame, limit: int | None, seed: int = 0) -> pd.DataFrame:
    """At most ``limit`` rows: a seeded sample kept in file order, not the first rows.

    Split files are often sorted (by source, pair or label), and the first N rows of a sorted test split can
    hold one class only (AUROC undefined); the same seed gives the same rows on every run.
    """
    if limit is None or len(frame) <= limit:
        return frame
    return frame.sample(n=limit, random_state=seed).sort_index().reset_index(drop=True)


def evaluate_model(
    model,
    processor,
    rows,
    task: str | None = None,
    *,
    mode: str = "score",
    candidates: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    batch_size: int = 16,
    max_new_tokens: int | None = None,
    num_beams: int = 1,
    order_consistency: bool | None = None,
    train_rows=None,
    limit: int | None = None,
    cache: bool = True,
    progress: bool = True,
    reduction: str = "decision",
    calibration_rows=None,
    symmetric: bool | None = None,
    constrain_value: bool = True,
) -> dict:
    """Evaluate on MoT-instructions rows (``smiles_a``, ``smiles_b``, ``prompt``, ``target``, ``label``).

    Args:
        task: the task name; read from the rows' ``task`` column when omitted.
        mode: ``"score"`` (classification by candidate log-likelihood) or ``"generate"`` (parse the text).
            Regression always generates.
        candidates: class id -> answer sentence; read from the rows (plus ``train_rows``) when omitted.
        calibration_rows: the validation split: a temperature (and, for binary tasks, accuracy / macro-F1
            thresholds) fitted on it are applied to the test rows (`moltc_hf.evaluation.calibration`);
            reported under ``calibration``.
        reduction: which answer tokens a candidate's score sums: ``"decision"`` (the tokens that tell the
            classes apart; default), ``"sum"`` (whole answer, the original's readout) or ``"mean"``.
        classes: the full class list the dataset ships (`moltc_hf.tasks.registry.read_classes`): used as
            the candidates when it agrees with the rows, so a split that misses classes keeps the class space.
        order_consistency: also answer every pair as (B, A) and report agreement; default: symmetric tasks.
        symmetric: answer each pair in both orders and average the class probabilities (score mode); default:
            symmetric tasks (`moltc_hf.inference.predict.uses_symmetric_readout`). ``False`` measures the
            one-order model.
        constrain_value: regression values decoded inside the interval the answer gave
            (`moltc_hf.inference.constraints`); ``False``: read what greedy decoding wrote.
        limit: evaluate a seeded sample of this many rows (`sample_rows`).
        train_rows: the train split; used to complete the candidate list and to fit the drug-prior
            reference for binary DDI (`moltc_hf.baselines.DrugPrior`).

    Returns a dict: ``task``, ``mode``, ``num_rows``, ``num_rejected``, ``metrics``, ``order_consistency``,
    ``references``, ``candidates``, plus DataFrames ``predictions`` and ``rejects`` (see `write_report`).
    """
    frame = rows_to_frame(rows)
    frame = sample_rows(frame, limit)
    spec = get_task(task or infer_task(frame))
    train_frame = rows_to_frame(train_rows) if train_rows is not None else None
    unlabelled = frame["label"].isna() if "label" in frame else pd.Series(True, index=frame.index)
    label_rejects = [
        Reject(row=i, field="label", value="nan", reason="missing label") for i in frame.index[unlabelled]
    ]
    frame = frame[~unlabelled]  # keeps the original row ids in the index
    if mode == "score" and spec.kind != CLASSIFICATION:
        mode = "generate"
    if cache is True and len(frame):
        cache = MoleculeFeatureCache(model, processor)  # shared with the swapped pass
    kwargs = dict(mode=mode, batch_size=batch_size, max_new_tokens=max_new_tokens, num_beams=num_beams)
    kwargs.update(cache=cache, reduction=reduction, symmetric=symmetric, constrain_value=constrain_value)
    if spec.kind == CLASSIFICATION:
        if candidates is None:
            source = frame if train_frame is None else pd.concat([train_frame, frame], ignore_index=True)
            candidates = candidates_for(source.to_dict("records"), spec, classes)
        frame = frame.assign(answer_prefix=_answer_prefixes(frame, candidates))
        kwargs.update(
            candidates=list(candidates),
            class_names=class_names,
            cot=bool(frame["answer_prefix"].str.len().any()),
        )
    results, rejects = _run(model, processor, frame, spec, progress, f"evaluating {spec.name}", **kwargs)
    rejects = label_rejects + rejects

    predictions = _predictions_table(results)
    report = {
        "task": spec.name,
        "mode": mode,
        "num_rows": len(frame) + len(label_rejects),
        "num_rejected": len({r.row for r in rejects}),
        "metrics": task_metrics(spec, predictions, len(candidates or [])),
        "order_consistency": None,
        "references": {},
        "candidates": list(candidates or []),
        "predictions": predictions,
        "rejects": pd.DataFrame([r.to_dict() for r in rejects], columns=["row", "field", "value", "reason"]),
    }
    if order_consistency if order_consistency is not None else spec.symmetric:
        report["order_consistency"] = _order_consistency(
            model, processor, frame, spec, predictions, progress, kwargs
        )
    if calibration_rows is not None and spec.kind == CLASSIFICATION and len(predictions):
        report["calibration"] = _calibration(
            model, processor, calibration_rows, spec, candidates, predictions, kwargs
        )
    if spec.prior_reference:
        report["references"][spec.prior_reference] = PRIOR_REFERENCES[spec.prior_reference](
            train_frame, frame, len(candidates or [])
        )
    return report


# `TaskSpec.prior_reference` -> (train rows, test rows, number of classes) -> the reference's metrics.
PRIOR_REFERENCES = {
    "drug_prior": lambda train, test, num_classes: drug_prior_reference(train, test),
    "drug_type_prior": drug_type_prior_reference,
}


def _calibration(model, processor, rows, spec, candidates, predictions, kwargs) -> dict | None:
    """Fit the temperature / thresholds on ``rows`` (validation) and apply them to the test predictions."""
    frame = rows_to_frame(rows)
    frame = frame[frame["label"].notna()]
    if not len(frame):
        return None
    frame = frame.assign(answer_prefix=_answer_prefixes(frame, candidates))
    results, _ = _run(model, processor, frame, spec, False, "calibrating", **kwargs)
    validation = _predictions_table(results)
    num_classes = len(candidates)
    validation_probabilities = class_probabilities(validation, num_classes)
    test_probabilities = class_probabilities(predictions, num_classes)
    if validation_probabilities is None or test_probabilities is None:
        return None
    return calibrate(
        validation_probabilities,
        validation["y_true"].to_numpy(int),
        test_probabilities,
        predictions["y_true"].to_numpy(int),
    ).to_dict()


def _predictions_table(results) -> pd.DataFrame:
    records = []
    for row_id, row, prediction in results:
        record = {
            "row_id": row_id,
            "source_row": row.get("source_row"),
            "smiles_a": row["smiles_a"],
            "smiles_b": row["smiles_b"],
            "target": row.get("target"),
            "y_true": float(row["label"]) if row.get("label") is not None else math.nan,
        }
        record.update(prediction.to_dict())
        record["value"] = math.nan if record["value"] is None else record["value"]
        record["label"] = -1 if record["label"] is None else record["label"]
        records.append(record)
    columns = [
        "row_id",
        "source_row",
        "smiles_a",
        "smiles_b",
        "target",
        "y_true",
        "task",
        "answer",
        "label",
        "value",
    ]
    return pd.DataFrame.from_records(records, columns=None if records else columns)


def class_probabilities(predictions: pd.DataFrame, num_classes: int) -> np.ndarray | None:
    """Score mode: the softmax over candidates. Binary generate mode: p(1) from the answer's confidence."""
    column = predictions.get("class_probabilities")
    if column is not None and column.notna().all() and len(column):
        return np.stack(column.to_list())
    if num_classes == 2 and len(predictions):
        confidence = predictions["probability"].to_numpy(float)
        label = predictions["label"].to_numpy()
        p1 = np.where(label == 1, confidence, np.where(label == 0, 1 - confidence, 0.5))
        return np.stack([1 - p1, p1], axis=1)
    return None


def task_metrics(spec: TaskSpec, predictions: pd.DataFrame, num_classes: int = 0) -> dict:
    """The metric dict of one task from a predictions table (`evaluate_model`'s ``predictions``)."""
    if not len(predictions):
        return {"num_examples": 0}
    y_true = predictions["y_true"].to_numpy(float)
    if spec.kind == CLASSIFICATION:
        return M.classification_metrics(
            y_true.astype(int),
            predictions["label"].to_numpy(int),
            predictions["probability"].to_numpy(float),
            class_probabilities(predictions, num_classes),
        )
    if spec.kind == REGRESSION:
        result = M.regression_metrics(y_true, predictions["value"].to_numpy(float))
        result["num_outside_interval"] = int(predictions["outside_interval"].sum())
        result["num_value_from_interval"] = int((predictions["value_source"] == "interval").sum())
        return result
    return {"num_examples": len(predictions)}


def _order_consistency(model, processor, frame, spec, predictions, progress, kwargs) -> dict:
    """Answer every pair as (B, A) too: how often the answers agree, how far p drifts, and the metrics of
    the symmetric readout (both orders' probabilities averaged)."""
    prefixes = list(frame["answer_prefix"]) if "answer_prefix" in frame else [""] * len(frame)
    rebuilt = [
        swapped_row(a, b, prompt, prefix, spec, from_dataset=True)
        for a, b, prompt, prefix in zip(frame["smiles_a"], frame["smiles_b"], frame["prompt"], prefixes)
    ]
    swappable = np.array([r is not None for r in rebuilt], dtype=bool)
    if not swappable.any():
        return {"skipped": "no row's prompt (and reasoning) can be rebuilt for (B, A)"}
    swapped = frame[swappable].copy()
    swapped["prompt"] = [r[0] for r in rebuilt if r is not None]
    swapped["smiles_a"], swapped["smiles_b"] = frame["smiles_b"][swappable], frame["smiles_a"][swappable]
    if "answer_prefix" in swapped:
        swapped["answer_prefix"] = [r[1] for r in rebuilt if r is not None]
    results, _ = _run(model, processor, swapped, spec, progress, f"evaluating {spec.name} (B, A)", **kwargs)
    swapped_predictions = _predictions_table(results).set_index("row_id")
    joined = predictions.set_index("row_id").merge(  # (DataFrame.join's rsuffix is deprecated in pandas 3.1)
        swapped_predictions, left_index=True, right_index=True, how="inner", suffixes=("", "_swapped")
    )
    if spec.kind == REGRESSION:
        both = joined[["value", "value_swapped"]].dropna()
        return {
            "num_pairs": len(both),
            "mean_abs_difference": float((both["value"] - both["value_swapped"]).abs().mean()),
        }
    parsed = joined[(joined["label"] >= 0) & (joined["label_swapped"] >= 0)]
    result = {
        "num_pairs": len(parsed),
        "num_not_swappable": int((~swappable).sum()),
        "same_answer": float((parsed["label"] == parsed["label_swapped"]).mean())
        if len(parsed)
        else math.nan,
    }
    if "class_probabilities" in joined and joined["class_probabilities"].notna().all() and len(joined):
        first = np.stack(joined["class_probabilities"].to_list())
        second = np.stack(joined["class_probabilities_swapped"].to_list())
        result["mean_abs_probability_difference"] = float(np.abs(first - second).max(1).mean())
        # A symmetric readout: the mean of the (A, B) and (B, A) probabilities agrees with itself by
        # construction; its metrics say what answering both orders is worth.
        mean = (first + second) / 2
        result["symmetric_readout"] = M.classification_metrics(
            joined["y_true"].to_numpy(int), mean.argmax(1), mean.max(1), mean
        )
    return result


__all__ = [
    "class_probabilities",
    "evaluate_model",
    "infer_task",
    "task_metrics",
]
