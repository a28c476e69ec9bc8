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
from typing import Any

from ..featurization import is_missing
from . import templates
from .layout import CLASSES_FILE, task_file
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
        interval: the width of a regression target's interval chain of thought (0.5 kcal/mol for solvation;
            user tasks: from the training targets' spread, `interval_width`). ``None``: the task's own template.
        prior_reference: the no-chemistry reference `moltc evaluate` reports beside the model (``"drug_prior"``:
            each drug's train interaction rate; ``"drug_type_prior"``: each drug's most frequent type), or none.
        quantity: what a user task's answer sentence calls the target (``"The dG_exp of these two molecules
            ..."``); empty for the built-in tasks, whose sentences are the paper's.
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
    interval: float | None = None
    quantity: str = ""
    prior_reference: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Task {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def is_classification(self) -> bool:
        return self.kind == CLASSIFICATION

    def prompt(self, smiles_a: str, smiles_b: str) -> str:
        """The prompt of one pair (exact MolTC template, docs/method.md §3)."""
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


def _label(label: float | None) -> float:
    """A target's label, which every answer but a description needs."""
    if label is None:
        raise ValueError("this task's answer is written from its label, and the row has none")
    return label


def _binary_ddi_answer(label: float | None, answer: str | None) -> str:
    return templates.binary_ddi_target(label == 1.0)


def _solvation_answer(label: float | None, answer: str | None) -> str:
    return templates.solvation_target(_label(label))


def _wavelength_answer(quantity: str) -> Callable[[float | None, str | None], str]:
    def render(label: float | None, answer: str | None) -> str:
        return templates.wavelength_target(_label(label), quantity)

    return render


TASKS: dict[str, TaskSpec] = {}
BUILTIN_TASKS: frozenset[str] = frozenset()  # set below, after the built-in registrations


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
        prior_reference="drug_prior",
    ),
    # MolTC's DrugBank CoT: both descriptions, then the type sentence (the reader's own sentence).
    TaskSpec(
        "ddi_type",
        CLASSIFICATION,
        templates.DDI_QUESTION,
        cot=True,
        roles=("drug 1", "drug 2"),
        title="Drug-drug interaction type (DrugBank)",
        prior_reference="drug_type_prior",
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
BUILTIN_TASKS = frozenset(TASKS)


def get_task(name: str | TaskSpec) -> TaskSpec:
    if isinstance(name, TaskSpec):
        return name
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"Unknown task {name!r}; expected one of {sorted(TASKS)}") from None


# -- user tasks: one definition format, serialised with the data and with the model --
DEFINITION_FORMAT = 1
USER_KINDS = ("regression", "binary", "multiclass")  # what `moltc build-dataset --task` offers
INTERVAL_FRACTION = (
    1 / 8
)  # of the training targets' std: 0.5 kcal/mol for FreeSolv (std 3.9), 10 nm for Deep4Chem
_NICE_STEPS = (1.0, 2.0, 2.5, 5.0)


def interval_width(values: Iterable[float]) -> float:
    """The interval width of a user regression task: 1/8 of the training targets' standard deviation, rounded
    to the nearest 1, 2, 2.5 or 5 times a power of ten (on a log scale).

    Why the std: the interval sentence is a coarse first answer that the value then refines, so its width must
    scale with the spread of the targets. The paper's own widths are this rule on its data: FreeSolv ΔG has a
    std of 3.85 kcal/mol (-> 0.48 -> 0.5, the solvation template) and Deep4Chem absorption maxima one of
    ~70-80 nm (-> ~9 -> 10 nm, the chromophore template). A constant (targets all equal) gets width 1.
    """
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if len(finite) < 2:
        return 1.0
    mean = sum(finite) / len(finite)
    std = math.sqrt(sum((v - mean) ** 2 for v in finite) / (len(finite) - 1))
    if not std > 0:
        return 1.0
    raw = std * INTERVAL_FRACTION
    exponent = math.floor(math.log10(raw))
    options = [step * 10.0**e for e in (exponent - 1, exponent, exponent + 1) for step in _NICE_STEPS]
    best = min(options, key=lambda width: abs(math.log(width / raw)))
    return float(f"{best:.12g}")


def _number(value: float) -> str:
    """A bound as the interval sentence writes it (``-5.0``, ``2.5``): the float's repr without float noise."""
    return repr(float(f"{value:.10g}"))


@dataclass(frozen=True)
class _IntervalAnswer:
    """``The <quantity> of these two molecules is above lo and below lo+width, so the accurate value is v;``
    (the solvation / chromophore template with the task's own quantity and width)."""

    quantity: str
    width: float

    def __call__(self, label: float | None, answer: str | None) -> str:
        label = _label(label)
        low = math.floor(label / self.width) * self.width
        return (
            f"The {self.quantity} of these two molecules is above {_number(low)} and below "
            f"{_number(low + self.width)}, so the accurate value is {label:.2f};"
        )


@dataclass(frozen=True)
class _ClassSentence:
    """Class id -> its candidate sentence (a user classification task's fixed answers)."""

    candidates: tuple[str, ...]

    def __call__(self, label: float | None, answer: str | None) -> str:
        return self.candidates[int(_label(label))]


def class_sentence(quantity: str, class_name: str) -> str:
    """The answer sentence of one class of a user classification task."""
    return f"The {quantity} of these two molecules is {class_name}."


def user_task(
    name: str,
    kind: str,
    *,
    quantity: str,
    question: str | None = None,
    unit: str = "",
    interval: float | None = None,
    class_names: Sequence[str] = (),
    roles: Sequence[str] = ("molecule A", "molecule B"),
    symmetric: bool = False,
    title: str = "",
) -> TaskSpec:
    """The `TaskSpec` of a user's own task (``kind``: ``regression``, ``binary`` or ``multiclass``).

    Prompts use the MolTC pair template with ``question`` (default ``"What is the <quantity> of this pair of
    molecules?"``); a regression target is the interval-then-value sentence of width ``interval``, a class
    target ``"The <quantity> of these two molecules is <class name>."``, so the same parsers read them back.
    """
    if kind not in USER_KINDS:
        raise ValueError(f"Task {name!r}: kind must be one of {USER_KINDS}, got {kind!r}")
    if not name or name in BUILTIN_TASKS:
        raise ValueError(f"Task name {name!r} is empty or a built-in task; pass the built-in task instead")
    question = question or f"What is the {quantity} of this pair of molecules?"
    roles = tuple(roles)
    if len(roles) != 2:
        raise ValueError(f"Task {name!r}: roles must name two molecules, got {roles}")
    common: dict[str, Any] = dict(
        symmetric=bool(symmetric), roles=roles, title=title or name, unit=unit, quantity=quantity
    )
    if kind == "regression":
        if interval is None or not interval > 0 or not math.isfinite(interval):
            raise ValueError(f"Task {name!r}: a regression task needs an interval width > 0, got {interval}")
        return TaskSpec(
            name,
            REGRESSION,
            question,
            answer=_IntervalAnswer(quantity, float(interval)),
            interval=float(interval),
            **common,
        )
    names = tuple(str(c) for c in class_names) or (("no", "yes") if kind == "binary" else ())
    if kind == "binary" and len(names) != 2:
        raise ValueError(f"Task {name!r}: a binary task has two class names (0, 1), got {list(names)}")
    if len(names) < 2 or len(set(names)) != len(names):
        raise ValueError(f"Task {name!r}: needs at least two distinct class names, got {list(names)}")
    candidates = tuple(class_sentence(quantity, c) for c in names)
    return TaskSpec(
        name,
        CLASSIFICATION,
        question,
        candidates=candidates,
        class_names=names,
        answer=_ClassSentence(candidates),
        **common,
    )


def task_definition(task: TaskSpec | str) -> dict | None:
    """A user task as JSON-ready data (what `register_definition` rebuilds it from); ``None`` for built-ins.

    Stored next to a user config's parquet files (``data/<config>/task.json``) and in a trained model's config
    (``task_specific_params["molecule-pair-interaction"]["definitions"]``), so a fresh process that reads the
    data or loads the model knows the task again.
    """
    spec = get_task(task)
    if spec.name in BUILTIN_TASKS:
        return None
    kind = (
        "regression"
        if spec.kind == REGRESSION
        else ("binary" if len(spec.class_names) == 2 else "multiclass")
    )
    return {
        "format": DEFINITION_FORMAT,
        "name": spec.name,
        "kind": kind,
        "question": spec.question,
        "quantity": spec.quantity,
        "unit": spec.unit,
        "interval": spec.interval,
        "class_names": list(spec.class_names),
        "roles": list(spec.roles),
        "symmetric": spec.symmetric,
        "title": spec.title,
    }


def register_definition(definition: Mapping) -> TaskSpec:
    """Register the user task a `task_definition` describes (again: a same definition is a no-op; a different
    one under a registered name is refused, so a model and a dataset cannot silently disagree on a task)."""
    definition = dict(definition)
    if definition.get("format") != DEFINITION_FORMAT:
        raise ValueError(
            f"Task definition {definition.get('name')!r}: unknown format {definition.get('format')!r}"
        )
    spec = user_task(
        definition["name"],
        definition["kind"],
        quantity=definition["quantity"],
        question=definition["question"],
        unit=definition.get("unit", ""),
        interval=definition.get("interval"),
        class_names=definition.get("class_names", ()),
        roles=definition.get("roles", ("molecule A", "molecule B")),
        symmetric=definition.get("symmetric", False),
        title=definition.get("title", ""),
    )
    return register_task(spec)


def register_definitions(definitions: Mapping[str, Mapping] | Iterable[Mapping] | None) -> list[TaskSpec]:
    """`register_definition` for each (a mapping name -> definition, or a list)."""
    if not definitions:
        return []
    values = definitions.values() if isinstance(definitions, Mapping) else definitions
    return [register_definition(d) for d in values]


MODEL_TASKS_KEY = "molecule-pair-interaction"  # the pipeline task; its `task_specific_params` entry


def register_model_tasks(config) -> list[str]:
    """Register the user tasks a model was trained on: their definitions travel in its config
    (``task_specific_params["molecule-pair-interaction"]["definitions"]``, `pipeline.set_task_defaults`)."""
    entry = (getattr(config, "task_specific_params", None) or {}).get(MODEL_TASKS_KEY, {})
    return [spec.name for spec in register_definitions(entry.get("definitions"))]


def read_task_file(dataset_dir: str | Path, config: str) -> dict | None:
    """A user config's ``data/<config>/task.json`` (task definition + provenance), or ``None``."""
    path = Path(dataset_dir) / task_file(config)
    return json.loads(path.read_text()) if path.is_file() else None


def register_dataset_tasks(dataset_dir: str | Path, configs: str | Sequence[str] | None = None) -> list[str]:
    """Register the user tasks a dataset folder defines (all configs, or ``configs``); returns their names.

    `moltc_hf.instructions.load_split` does this itself; call it before ``load_dataset(folder, config)`` rows
    reach evaluation or training in a process that did not build the folder.
    """
    folder = Path(dataset_dir)
    if configs is None:
        names = sorted(p.parent.name for p in folder.glob(task_file("*")))
    else:
        names = [configs] if isinstance(configs, str) else list(configs)
    registered = []
    for config in names:
        stored = read_task_file(folder, config)
        if stored is not None and stored.get("task"):  # (a built-in task's rows need no definition)
            registered.append(register_definition(stored["task"]).name)
    return registered


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
    """The same prompt for (B, A), or ``None`` when ``prompt`` is not the standard pair prompt of (A, B).

    A pair prompt without SMILES text (graph-only prompts, the text-masked ablation) is the same for both
    orders: only the molecule graphs swap.
    """
    question = question_of(prompt)
    if question is None:
        return None
    if prompt == templates.pair_prompt("", "", question):
        return prompt
    if templates.pair_prompt(smiles_a, smiles_b, question) != prompt:
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
        if is_missing(label):
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
        if not is_missing(row["label"])
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
    "BUILTIN_TASKS",
    "CLASSIFICATION",
    "DEFINITION_FORMAT",
    "INTERVAL_FRACTION",
    "MODEL_TASKS_KEY",
    "register_model_tasks",
    "USER_KINDS",
    "class_sentence",
    "interval_width",
    "read_task_file",
    "register_dataset_tasks",
    "register_definition",
    "register_definitions",
    "task_definition",
    "user_task",
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
