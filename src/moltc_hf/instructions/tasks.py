"""The task registry: what each MoT-instructions task asks, how its target is written and how its answer is read.

One `TaskSpec` per task name is the single definition that the dataset builder (prompt + target), training,
evaluation (candidates, parsing, metrics kind), the baselines, the pipeline and the demo all read, so the
code that writes targets cannot drift from the code that reads answers. Adding a task kind means adding one
`TaskSpec` here, or calling `register_task` from user code.

Classification tasks are answered by choosing among *candidate sentences* (the exact strings the model was
trained to write); regression tasks by generating the interval-then-value sentence and parsing it. Class
sentences that are data rather than templates (the 86 DrugBank types) travel with the dataset
(``classes.json``, written by the builder) and are never read from raw files at evaluation time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import templates
from .layout import CLASSES_FILE
from .properties import describe_molecule

CLASSIFICATION = "classification"
REGRESSION = "regression"
GENERATION = "generation"
KINDS = (CLASSIFICATION, REGRESSION, GENERATION)
SEPARATOR = "</s>"  # ends each description in CoT targets; the answer follows the last one


def _no_answer(label: float | None, answer: str | None) -> str:
    return ""


def _given_answer(label: float | None, answer: str | None) -> str:
    """The reader's own sentence (DrugBank types): the class *is* its sentence."""
    return answer or ""


@dataclass(frozen=True)
class TaskSpec:
    """How to ask one task, write its target and read its answer.

    Attributes:
        name: the dataset's ``task`` value (``ddi_binary``, ``ddi_type``, ``solvation``, ...).
        kind: ``"classification"``, ``"regression"`` or ``"generation"`` (no metric, e.g. pretraining).
        question: the question that closes `templates.pair_prompt` for this task.
        candidates: class id -> answer sentence, when fixed by the templates (binary DDI).
        class_names: short class names for reports (default: the candidate sentences).
        symmetric: (A, B) and (B, A) mean the same pair, so the answers should agree.
        cot: whether targets put both molecules' property descriptions before the answer by default.
        roles: what molecule A and molecule B are (for reports, the demo and the projector roles).
        answer: ``(label, reader_answer) -> answer sentence``: the target's answer part.
        pretraining: prompts carry no question (`templates.pretrain_prompt`).
        title: what a page or a report calls the task (default: the name).
        unit: the unit of a regression target (reports, the demo).
    """

    name: str
    kind: str
    question: str
    candidates: tuple[str, ...] = field(default=())
    class_names: tuple[str, ...] = field(default=())
    symmetric: bool = False
    cot: bool = False
    roles: tuple[str, str] = ("molecule A", "molecule B")
    answer: Callable[[float | None, str | None], str] = field(default=_given_answer, compare=False)
    pretraining: bool = False
    title: str = ""
    unit: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Task {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def is_classification(self) -> bool:
        return self.kind == CLASSIFICATION

    def prompt(self, smiles_a: str, smiles_b: str) -> str:
        """The prompt of one pair (exact MolTC template, PAPER.md §3)."""
        if self.pretraining:
            return templates.pretrain_prompt(smiles_a, smiles_b)
        return templates.pair_prompt(smiles_a, smiles_b, self.question)

    def target(
        self,
        label: float | None,
        answer: str | None = None,
        *,
        descriptions: tuple[str, str] | None = None,
    ) -> str:
        """The target text: the answer sentence, after both molecules' descriptions when given (CoT)."""
        sentence = self.answer(label, answer)
        if descriptions is None:
            return sentence
        return templates.description_pair_target(descriptions[0], descriptions[1], sentence)


def _binary_ddi_answer(label: float | None, answer: str | None) -> str:
    return templates.binary_ddi_target(label == 1.0)


def _solvation_answer(label: float | None, answer: str | None) -> str:
    return templates.solvation_target(label)


def _wavelength_answer(quantity: str) -> Callable[[float | None, str | None], str]:
    def render(label: float | None, answer: str | None) -> str:
        return templates.wavelength_target(label, quantity)

    return render


TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec, *, overwrite: bool = False) -> TaskSpec:
    """Add a task kind to the registry (a user's own task, e.g. a new interaction table)."""
    if spec.name in TASKS and not overwrite and TASKS[spec.name] != spec:
        raise ValueError(f"Task {spec.name!r} is already registered; pass overwrite=True to replace it")
    TASKS[spec.name] = spec
    return spec


for _spec in (
    TaskSpec(
        "ddi_binary",
        CLASSIFICATION,
        templates.DDI_QUESTION,
        candidates=(templates.DDI_NEGATIVE, templates.DDI_POSITIVE),  # 0 = no interaction, 1 = interaction
        class_names=("no interaction", "interaction"),
        symmetric=True,
        roles=("drug 1", "drug 2"),
        answer=_binary_ddi_answer,
        title="Drug-drug interaction (yes / no)",
    ),
    # MolTC's DrugBank CoT: both descriptions, then the type sentence (the reader's own sentence).
    TaskSpec(
        "ddi_type",
        CLASSIFICATION,
        templates.DDI_QUESTION,
        cot=True,
        roles=("drug 1", "drug 2"),
        title="Drug-drug interaction type (DrugBank)",
    ),
    TaskSpec(
        "solvation",
        REGRESSION,
        templates.SOLVATION_QUESTION,
        roles=("solvent", "solute"),
        answer=_solvation_answer,
        title="Solvation free energy ΔG (kcal/mol)",
        unit="kcal/mol",
    ),
    *(
        TaskSpec(
            f"chromophore_{kind}",
            REGRESSION,
            question,
            roles=("chromophore", "solvent"),
            answer=_wavelength_answer(f"{kind.capitalize()} max"),
            title=f"Chromophore {kind} maximum (nm)",
            unit="nm",
        )
        for kind, question in (
            ("absorption", templates.ABSORPTION_QUESTION),
            ("emission", templates.EMISSION_QUESTION),
        )
    ),
    TaskSpec("pretrain", GENERATION, "", cot=True, answer=_no_answer, pretraining=True),
):
    register_task(_spec)


def get_task(name: str | TaskSpec) -> TaskSpec:
    if isinstance(name, TaskSpec):
        return name
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"Unknown task {name!r}; expected one of {sorted(TASKS)}") from None


# -- answers: reading back what `TaskSpec.target` wrote --
def answer_sentence(text: str) -> str:
    """The answer after the reasoning: the text after the last ``</s>`` (all of it without reasoning)."""
    return text.rsplit(SEPARATOR, 1)[-1].strip()


def split_reasoning(target: str, sentence: str) -> str | None:
    """The reasoning prefix of ``target`` when it ends with ``sentence`` (``""`` if none), else ``None``."""
    stripped = target.rstrip()
    if not stripped.endswith(sentence):
        return None
    return stripped[: len(stripped) - len(sentence)]


def describe_pair(smiles_a: str, smiles_b: str) -> str:
    """The description reasoning that CoT targets put before the answer (deterministic RDKit text)."""
    return templates.description_pair_target(describe_molecule(smiles_a), describe_molecule(smiles_b), "")


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


# -- candidates: the class sentences of a classification task --
def candidates_from_rows(rows: Iterable[Mapping], task: TaskSpec | str) -> list[str]:
    """Class id -> answer sentence, read from a dataset's ``target``/``label`` columns.

    For the fixed binary DDI sentences the templates are returned as they are. For DrugBank types the
    sentence of class k is the end of every target whose label is k (after any description prefix,
    which ends with ``"</s> "``); classes missing from ``rows`` raise, since a candidate list with holes
    would silently shift class ids.
    """
    task = get_task(task)
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
            f"(the dataset's {CLASSES_FILE}, or the train split) instead."
        )
    return [sentences[k] for k in range(len(sentences))]


def candidates_for(
    rows: Iterable[Mapping], task: TaskSpec | str, classes: Sequence[str] | None = None
) -> list[str]:
    """The class sentences of ``task`` for these rows.

    ``classes``: the full list shipped with the dataset (`read_classes`). It is used when it agrees with every
    row (a split rarely holds all 86 DrugBank types, and a list cut after the largest label seen would
    shrink the class space); otherwise the candidates are read from the rows (`candidates_from_rows`).
    """
    task = get_task(task)
    rows = list(rows)
    if task.candidates:
        return list(task.candidates)
    if classes and all(
        int(row["label"]) < len(classes) and answer_sentence(row["target"]) == classes[int(row["label"])]
        for row in rows
        if row["label"] is not None and not (isinstance(row["label"], float) and math.isnan(row["label"]))
    ):
        return list(classes)
    return candidates_from_rows(rows, task)


def read_classes(dataset_dir: str | Path, config: str) -> list[str] | None:
    """The class sentences a dataset folder ships for ``config`` (``classes.json``), or ``None``."""
    path = Path(dataset_dir) / CLASSES_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get(config)


__all__ = [
    "CLASSIFICATION",
    "GENERATION",
    "KINDS",
    "REGRESSION",
    "SEPARATOR",
    "TASKS",
    "TaskSpec",
    "answer_sentence",
    "candidates_for",
    "candidates_from_rows",
    "describe_pair",
    "get_task",
    "question_of",
    "read_classes",
    "register_task",
    "split_reasoning",
    "swapped_prompt",
]
