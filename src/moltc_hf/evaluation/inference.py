"""One batch of pairs -> one `Prediction` per pair, for any task: the step shared by evaluate, predict and the pipeline.

Classification answers come from candidate scoring (``mode="score"``: class probabilities from a softmax
over the candidates' log-likelihoods; the confidence is the chosen class's probability) or from free
generation (``mode="generate"``: the answer sentence is parsed; the confidence is the geometric mean of
the generated tokens' probabilities). Regression and free-text tasks always generate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from .parsing import parse_classification_answer, parse_regression_answer
from .scoring import generate_answers, score_candidates
from .tasks import CLASSIFICATION, REGRESSION, TaskSpec

MODES = ("score", "generate")


@dataclass
class Prediction:
    """The model's answer to one pair. ``label``/``value`` are ``None`` when not applicable or unparseable."""

    task: str
    answer: str
    label: int | None = None
    label_name: str | None = None
    value: float | None = None
    probability: float = math.nan
    reasoning: str = ""
    class_probabilities: list[float] | None = None
    error: str | None = None
    value_source: str | None = None
    outside_interval: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def default_max_new_tokens(task: TaskSpec, cot: bool) -> int:
    """Room for the answer: template sentences are < 40 tokens; description reasoning needs far more."""
    return 256 if cot else 64


def predict_batch(
    model,
    processor,
    task: TaskSpec,
    prompts: Sequence[str],
    molecule_features: torch.Tensor,
    *,
    mode: str = "score",
    candidates: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    prefixes: Sequence[str] | None = None,
    max_new_tokens: int | None = None,
    num_beams: int = 1,
    strategy: str = "cache",
) -> list[Prediction]:
    """Answer ``prompts`` (one per pair, molecules given as ``molecule_features`` in pair order)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if task.kind == CLASSIFICATION and not candidates:
        raise ValueError(f"Task {task.name!r} needs the candidate answer sentences (one per class).")
    names = list(class_names or task.class_names or candidates or [])
    if task.kind == CLASSIFICATION and mode == "score":
        log_likelihood = score_candidates(
            model, processor, prompts, candidates, molecule_features, prefixes=prefixes, strategy=strategy
        )
        probabilities = torch.softmax(log_likelihood, dim=-1)
        predictions = []
        for index, row in enumerate(probabilities.tolist()):
            label = max(range(len(row)), key=row.__getitem__)
            prefix = prefixes[index] if prefixes else ""
            predictions.append(
                Prediction(
                    task=task.name,
                    answer=prefix + candidates[label],
                    label=label,
                    label_name=names[label],
                    probability=row[label],
                    reasoning=prefix.strip(),
                    class_probabilities=row,
                )
            )
        return predictions

    cot = bool(prefixes and any(prefixes))
    texts, confidences = generate_answers(
        model,
        processor,
        prompts,
        molecule_features,
        max_new_tokens=max_new_tokens or default_max_new_tokens(task, cot),
        num_beams=num_beams,
    )
    predictions = []
    for text, confidence in zip(texts, confidences):
        prediction = Prediction(task=task.name, answer=text, probability=confidence)
        if task.kind == REGRESSION:
            parsed = parse_regression_answer(text)
            prediction.value = parsed.value if parsed.parsed else math.nan
            prediction.value_source, prediction.outside_interval = (
                parsed.value_source,
                parsed.outside_interval,
            )
        elif task.kind == CLASSIFICATION:
            parsed = parse_classification_answer(text, candidates)
            prediction.label = parsed.label
            prediction.label_name = names[parsed.label] if parsed.label is not None else None
        else:
            predictions.append(prediction)
            continue
        prediction.reasoning, prediction.error = parsed.reasoning, parsed.error
        predictions.append(prediction)
    return predictions


__all__ = ["MODES", "Prediction", "default_max_new_tokens", "predict_batch"]
