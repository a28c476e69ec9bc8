"""What each MoT-instructions task asks and how its answer is read: one `TaskSpec` per task name.

Classification tasks are answered by choosing among *candidate sentences* (the exact strings the model was
trained to write); regression tasks by generating the interval-then-value sentence and parsing it.
The 86 DrugBank type sentences are data, not code: they come from the dataset (`candidates_from_rows`)
or from the caller.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..instructions import templates

CLASSIFICATION = "classification"
REGRESSION = "regression"
GENERATION = "generation"


@dataclass(frozen=True)
class TaskSpec:
    """How to ask one task and read its answer.

    Attributes:
        name: the dataset's ``task`` value (``ddi_binary``, ``ddi_type``, ``solvation``, ...).
        kind: ``"classification"``, ``"regression"`` or ``"generation"`` (no metric, e.g. pretraining).
        question: the question that closes `templates.pair_prompt` for this task.
        candidates: class id -> answer sentence, when fixed by the templates (binary DDI).
        class_names: short class names for reports (default: the candidate sentences).
        symmetric: (A, B) and (B, A) mean the same pair, so the answers should agree.
        cot: whether targets put both molecules' property descriptions before the answer by default.
    """

    name: str
    kind: str
    question: str
    candidates: tuple[str, ...] = field(default=())
    class_names: tuple[str, ...] = field(default=())
    symmetric: bool = False
    cot: bool = False

    @property
    def is_classification(self) -> bool:
        return self.kind == CLASSIFICATION


TASKS: dict[str, TaskSpec] = {
    "ddi_binary": TaskSpec(
        "ddi_binary",
        CLASSIFICATION,
        templates.DDI_QUESTION,
        candidates=(
            templates.DDI_NEGATIVE,
            templates.DDI_POSITIVE,
        ),  # label 0 = no interaction, 1 = interaction
        class_names=("no interaction", "interaction"),
        symmetric=True,
    ),
    "ddi_type": TaskSpec("ddi_type", CLASSIFICATION, templates.DDI_QUESTION, cot=True),
    "solvation": TaskSpec("solvation", REGRESSION, templates.SOLVATION_QUESTION),
    "chromophore_absorption": TaskSpec("chromophore_absorption", REGRESSION, templates.ABSORPTION_QUESTION),
    "chromophore_emission": TaskSpec("chromophore_emission", REGRESSION, templates.EMISSION_QUESTION),
    "pretrain": TaskSpec("pretrain", GENERATION, ""),
}


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"Unknown task {name!r}; expected one of {sorted(TASKS)}") from None


def candidates_from_rows(rows: Iterable[Mapping], task: TaskSpec | str) -> list[str]:
    """Class id -> answer sentence, read from a dataset's ``target``/``label`` columns.

    For the fixed binary DDI sentences the templates are returned as they are. For DrugBank types the
    sentence of class k is the end of every target whose label is k (after any description prefix,
    which ends with ``"</s> "``); classes missing from ``rows`` raise, since a candidate list with holes
    would silently shift class ids.
    """
    task = get_task(task) if isinstance(task, str) else task
    if task.candidates:
        return list(task.candidates)
    sentences: dict[int, str] = {}
    for row in rows:
        label = row["label"]
        if label is None or (isinstance(label, float) and math.isnan(label)):
            continue
        sentence = answer_sentence(row["target"])
        known = sentences.setdefault(int(label), sentence)
        if known != sentence:
            raise ValueError(f"Class {int(label)} has two answer sentences: {known!r} and {sentence!r}")
    if not sentences:
        raise ValueError(f"No labelled rows to read {task.name} candidates from.")
    missing = sorted(set(range(max(sentences) + 1)) - set(sentences))
    if missing:
        raise ValueError(
            f"Classes {missing} have no row to read their sentence from; pass the full candidate list "
            "(e.g. from the train split) instead."
        )
    return [sentences[k] for k in range(len(sentences))]


def drugbank_candidates(raw_dir=None) -> list[str]:
    """The 86 DrugBank type sentences (0-based class order) from the raw data, for splits that miss classes."""
    from ..instructions.builder import default_raw_dir
    from ..instructions.readers import drugbank_type_sentences

    raw_dir = raw_dir or default_raw_dir()
    if raw_dir is None:
        raise FileNotFoundError(
            "No raw data folder to read the DrugBank type sentences from (set MOLTC_RAW_DIR)."
        )
    sentences = drugbank_type_sentences(raw_dir)
    return [sentences[k] for k in range(len(sentences))]


def candidates_for(rows: Iterable[Mapping], task: TaskSpec | str, raw_dir=None) -> list[str]:
    """The class sentences of ``task`` for these rows.

    DrugBank types: the full 86-sentence list from the raw data when it agrees with every row (a split
    rarely holds all 86 classes, and a list cut after the largest label seen would shrink the class
    space); otherwise `candidates_from_rows`.
    """
    task = get_task(task) if isinstance(task, str) else task
    rows = list(rows)
    if task.name == "ddi_type":
        try:
            candidates = drugbank_candidates(raw_dir)
        except FileNotFoundError:
            candidates = None
        if candidates is not None and all(
            int(row["label"]) < len(candidates)
            and answer_sentence(row["target"]) == candidates[int(row["label"])]
            for row in rows
        ):
            return candidates
    return candidates_from_rows(rows, task)


SEPARATOR = "</s>"


def answer_sentence(text: str) -> str:
    """The answer after the reasoning: the text after the last ``</s>`` (all of it without reasoning)."""
    return text.rsplit(SEPARATOR, 1)[-1].strip()


def split_reasoning(target: str, sentence: str) -> str | None:
    """The reasoning prefix of ``target`` when it ends with ``sentence`` (``""`` if none), else ``None``."""
    stripped = target.rstrip()
    if not stripped.endswith(sentence):
        return None
    return stripped[: len(stripped) - len(sentence)]


def question_of(prompt: str) -> str | None:
    """The question closing a `templates.pair_prompt` prompt (used to rebuild it for swapped pairs)."""
    marker = f" {SEPARATOR} . "
    return prompt.rsplit(marker, 1)[1] if marker in prompt else None


def swapped_prompt(prompt: str, smiles_a: str, smiles_b: str) -> str | None:
    """The same prompt for (B, A), or ``None`` when ``prompt`` is not the standard pair prompt of (A, B)."""
    question = question_of(prompt)
    if question is None or templates.pair_prompt(smiles_a, smiles_b, question) != prompt:
        return None
    return templates.pair_prompt(smiles_b, smiles_a, question)


def describe_pair(smiles_a: str, smiles_b: str) -> str:
    """The description reasoning that CoT targets put before the answer (deterministic RDKit text)."""
    from ..instructions.properties import describe_molecule  # built by the instructions package

    return templates.description_pair_target(describe_molecule(smiles_a), describe_molecule(smiles_b), "")


__all__ = [
    "CLASSIFICATION",
    "GENERATION",
    "REGRESSION",
    "TASKS",
    "TaskSpec",
    "answer_sentence",
    "candidates_for",
    "candidates_from_rows",
    "drugbank_candidates",
    "describe_pair",
    "get_task",
    "question_of",
    "split_reasoning",
    "swapped_prompt",
]
