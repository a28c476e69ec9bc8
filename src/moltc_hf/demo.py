"""MolTC demo (Gradio): two molecules in, the model's answer, its reasoning, a confidence and depictions out.

The page lives in the package, not beside the Space, so every way of running it serves the same code from
an installed moltc-hf: ``moltc demo`` (from a checkout or any wheel) and the Hugging Face Space, whose
``app.py`` only calls `launch` from the wheel it installs. The model is ``$MOLTC_MODEL`` (a hub id or a
folder); without it, the one ``moltc quickstart`` saves (``runs/quickstart/model``). Predictions go through
the ``"molecule-pair-interaction"`` pipeline; every failure (bad SMILES, no model, a model error) becomes a
readable message in the page, never a traceback. Programs get one named API endpoint, ``/predict``
(`api_predict`: typed, labelled outputs, confidence as a number, `gr.Error` for bad input). The page offers only
the tasks the model records it was trained on (`task_availability`). Importing this module imports gradio (the ``demo`` extra),
which is why ``moltc_hf/__init__.py`` never imports it.
"""

from __future__ import annotations

import os

# Offline and private by default: no analytics, no update check, no hub calls unless a hub id is asked for.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_TELEMETRY_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import html  # noqa: E402
import io  # noqa: E402
import threading  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402
from PIL import Image  # noqa: E402
from rdkit.Chem.Draw import rdMolDraw2D  # noqa: E402
from transformers import AutoConfig, pipeline  # noqa: E402

from .featurization import InvalidMoleculeError, parse_molecule  # noqa: E402
from .hub import package_source_dir  # noqa: E402
from .pipeline import TASK_NAME, task_candidates, task_defaults  # noqa: E402
from .tasks.properties import describe_molecule  # noqa: E402
from .tasks.registry import get_task  # noqa: E402

QUICKSTART_MODEL = Path("runs") / "quickstart" / "model"


@dataclass(frozen=True)
class DemoTask:
    name: str  # the dataset/pipeline task name
    label: str  # what the page shows
    roles: tuple[str, str]  # what molecule A and molecule B are in this task (MolTC order)


DEMO_TASKS = ("ddi_binary", "ddi_type", "solvation")  # the questions the page offers, from the task registry
TASKS = [DemoTask(spec.name, spec.title, spec.roles) for spec in map(get_task, DEMO_TASKS)]
TASK_BY_LABEL = {task.label: task for task in TASKS}
ROLE_COLOURS = ((0.55, 0.75, 1.0), (1.0, 0.72, 0.45))  # molecule A: blue, molecule B: orange

EXAMPLES = [
    [
        "CC(=O)OC1=CC=CC=C1C(=O)O",
        "CC1=C(C2=CC=CC=C2OC1=O)C(CC(=O)C)C3=CC=CC=C3",
        TASKS[0].label,
    ],  # aspirin, warfarin
    ["CC(C)CC1=CC=C(C=C1)C(C)C(=O)O", "CC(=O)NC1=CC=C(O)C=C1", TASKS[0].label],  # ibuprofen, paracetamol
    ["CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "C1=CC(=C(C=C1CCN)O)O", TASKS[1].label],  # caffeine, dopamine
    ["O", "CCO", TASKS[2].label],  # water (solvent), ethanol (solute)
    ["CCCCCCCCO", "c1ccccc1", TASKS[2].label],  # octanol (solvent), benzene (solute)
    ["O", "Oc1ccccc1", TASKS[2].label],  # water (solvent), phenol (solute)
]


def default_model() -> str | None:
    """``$MOLTC_MODEL``, else the quickstart model if it exists: under the working directory, then under the
    checkout moltc-hf was installed from (an editable install, as its install metadata records it)."""
    if os.environ.get("MOLTC_MODEL"):
        return os.environ["MOLTC_MODEL"]
    for root in (Path.cwd(), package_source_dir()):
        if root is not None and (root / QUICKSTART_MODEL / "config.json").is_file():
            return str(root / QUICKSTART_MODEL)
    return None


NO_MODEL_MESSAGE = (
    "**No model found.** Set `MOLTC_MODEL` to a hub id or a saved model folder, or train the small default "
    f"model with `moltc quickstart` (it saves `{QUICKSTART_MODEL.as_posix()}`), then restart the demo."
)


class Predictor:
    """Loads the pipeline once, on first use (so the page comes up before the model is read)."""

    def __init__(self, model: str | None, dtype: str = "auto"):
        self.model, self.dtype = model, dtype
        self._pipeline = None
        self._lock = threading.Lock()

    def pipeline(self):
        with self._lock:
            if self._pipeline is None:
                # `import moltc_hf` (this module's package) registered the pipeline task and the Auto classes.
                self._pipeline = pipeline(
                    TASK_NAME, model=self.model, trust_remote_code=True, dtype=self.dtype
                )
            return self._pipeline

    def __call__(self, smiles_a: str, smiles_b: str, task: str) -> dict:
        result = self.pipeline()({"smiles_a": smiles_a, "smiles_b": smiles_b}, task=task)
        return result[0] if isinstance(result, list) else result


def task_availability(model: str | None) -> dict[str, str | None]:
    """Demo task name -> ``None`` when the model answers it, else why not.

    Read from the tasks the model recorded at training time (`moltc_hf.pipeline.set_task_defaults`, ``tasks``)
    and the class sentences it records (``candidates``): a classification task whose sentences neither the task
    nor the model holds (DrugBank's 86 types) cannot be answered, so it is not offered. A model that records no
    trained task (a fresh or converted one) is offered every task it can answer."""
    if not model:
        return dict.fromkeys(DEMO_TASKS)
    try:
        config = AutoConfig.from_pretrained(model, trust_remote_code=True)
    except (OSError, ValueError):  # unreachable hub id, not a model folder: the page says so when asked
        return dict.fromkeys(DEMO_TASKS)
    trained = task_defaults(config).get("tasks")
    availability: dict[str, str | None] = {}
    for name in DEMO_TASKS:
        spec = get_task(name)
        if trained and name not in trained:
            availability[name] = f"not trained on it (this model was trained on: {', '.join(trained)})"
        elif spec.is_classification and not task_candidates(config, spec):
            availability[name] = "the model records no class sentences for it"
        else:
            availability[name] = None
    return availability


def offered_examples(availability: dict[str, str | None]) -> list[list[str]]:
    """The `EXAMPLES` whose task the model answers (an example it would refuse is not offered)."""
    offered = {task.label for task in TASKS if not availability.get(task.name)}
    return [example for example in EXAMPLES if example[2] in offered]


def _task(task: str) -> DemoTask:
    """A demo task by name or page label; a `gr.Error` naming the choices otherwise."""
    for candidate in TASKS:
        if task in (candidate.name, candidate.label):
            return candidate
    raise gr.Error(f"Unknown task {task!r}; choose one of {[t.name for t in TASKS]}")


def _smiles_problems(task: DemoTask, smiles_a: str, smiles_b: str) -> list[str]:
    """One line per molecule that does not parse, naming its role in ``task`` (empty when both parse)."""
    problems = []
    for which, smiles in (("A", smiles_a), ("B", smiles_b)):
        try:
            parse_molecule(smiles, field=f"molecule {which}")
        except InvalidMoleculeError as error:
            problems.append(
                f"Molecule {which} ({task.roles['AB'.index(which)]}): {error.reason}. Got {smiles!r}."
            )
    return problems


def _check_smiles(task: DemoTask, smiles_a: str, smiles_b: str) -> None:
    problems = _smiles_problems(task, smiles_a, smiles_b)
    if problems:
        raise gr.Error("Invalid SMILES. " + " ".join(problems), title="Invalid SMILES")


# `/predict`'s outputs, in order: name -> (component, what it holds). The last two say where a value came from,
# as in the pipeline and `moltc predict`.
API_OUTPUTS = {
    "task": (gr.Textbox, ""),
    "answer": (gr.Textbox, ""),
    "label": (gr.Textbox, "class name; empty for regression"),
    "value": (gr.Number, "regression value; empty for classification"),
    "confidence": (gr.Number, "0-1"),
    "reasoning": (gr.Textbox, ""),
    "value_source": (gr.Textbox, "value / interval midpoint; empty for classification"),
    "outside_interval": (gr.Checkbox, "the value contradicts the answer's own interval"),
}


def api_predict(
    predictor: Predictor | None, availability: dict[str, str | None], smiles_a: str, smiles_b: str, task: str
) -> tuple:
    """The ``/predict`` API endpoint: (task, answer, label, value, confidence, reasoning, value_source,
    outside_interval), typed.

    ``value`` is the regression value (``None`` for classification), ``confidence`` a number in [0, 1];
    ``value_source`` says where the value came from (``"value"``, ``"interval"`` midpoint) and
    ``outside_interval`` that it contradicts the answer's own interval (the pipeline's fields).
    Bad input (invalid SMILES, an unknown task, a task the model was not trained on) raises `gr.Error`, which
    gradio_client reports as an error, not as an answer."""
    spec = _task((task or "").strip())
    smiles_a, smiles_b = (smiles_a or "").strip(), (smiles_b or "").strip()
    _check_smiles(spec, smiles_a, smiles_b)
    if availability.get(spec.name):
        raise gr.Error(f"Task {spec.name!r} is not offered: {availability[spec.name]}")
    if predictor is None or predictor.model is None:
        raise gr.Error(NO_MODEL_MESSAGE.replace("**", ""))
    try:
        result = predictor(smiles_a, smiles_b, spec.name)
    except Exception as error:  # the model's own refusal (e.g. no class sentences), as an API error
        raise gr.Error(f"The model could not answer: {error}") from error
    probability = result.get("probability")
    confidence = None if probability is None or probability != probability else float(probability)
    return (
        spec.name,
        str(result.get("answer", "")).strip(),
        result.get("label"),
        result.get("value"),
        confidence,
        str(result.get("reasoning") or "").strip(),
        result.get("value_source"),
        bool(result.get("outside_interval")),
    )


def depict(
    smiles: str, caption: str, colour: tuple[float, float, float], size: tuple[int, int] = (360, 260)
) -> Image.Image:
    """RDKit depiction with every atom and bond tinted in the molecule's role colour and a caption."""
    mol = parse_molecule(smiles)
    drawer = rdMolDraw2D.MolDraw2DCairo(*size)
    drawer.drawOptions().legendFontSize = 18
    atoms = list(range(mol.GetNumAtoms()))
    bonds = list(range(mol.GetNumBonds()))
    rdMolDraw2D.PrepareAndDrawMolecule(
        drawer,
        mol,
        legend=caption,
        highlightAtoms=atoms,
        highlightAtomColors=dict.fromkeys(atoms, colour),
        highlightBonds=bonds,
        highlightBondColors=dict.fromkeys(bonds, colour),
    )
    drawer.FinishDrawing()
    return Image.open(io.BytesIO(drawer.GetDrawingText())).convert("RGB")


def _format_confidence(probability, result: dict | None = None) -> str:
    if probability is None or probability != probability:  # NaN
        return "n/a"
    text = f"{100 * float(probability):.1f}%"
    caveat = _value_caveat(result or {})
    return f"{text} (token probability; {caveat})" if caveat else text


def _value_caveat(result: dict) -> str | None:
    """Why a shown regression value is not the model's clean answer (the pipeline's provenance fields)."""
    if result.get("error"):
        return f"unreadable answer: {result['error']}"
    if result.get("outside_interval"):
        return "the value contradicts the answer's own interval: not reliable"
    if result.get("value_source") == "interval":
        return "no value in the answer: midpoint of its interval"
    return None


def _answer_text(result: dict) -> str:
    if result.get("value") is not None and result.get("value") == result.get("value"):
        unit = get_task(result["task"]).unit if result.get("task") else ""
        value = f"{result['value']:.2f} {unit}".rstrip()
        caveat = _value_caveat(result)
        flag = f"   [{caveat}]" if caveat else ""
        return f"{value}   ({result.get('answer', '').strip()}){flag}"
    if result.get("error"):
        return f"(unreadable answer: {result['error']})   {str(result.get('answer', '')).strip()}"
    if result.get("label") is not None:
        return f"{result['label']}   ({result.get('answer', '').strip()})"
    return str(result.get("answer", "")).strip() or "(empty answer)"


def _markdown_text(text: str) -> str:
    """``text`` shown literally in a `gr.Markdown`: HTML's ``&<>`` escaped once, outside code spans only.

    The page's Markdown renderer escapes a code span's content itself, so an entity put there (``html.escape``
    turned the quotes of ``candidates={'ddi_type': ...}`` into ``&#x27;``) showed literally; outside code spans
    entities render, and quotes need no escaping at all.
    """
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: no code spans, all of it is text
        return html.escape(text, quote=False)
    return "`".join(part if index % 2 else html.escape(part, quote=False) for index, part in enumerate(parts))


def predict(predictor: Predictor | None, smiles_a: str, smiles_b: str, task_label: str):
    """Page callback -> (status markdown, answer, reasoning, confidence, depiction A, depiction B)."""
    task = TASK_BY_LABEL.get(task_label, TASKS[0])
    smiles_a, smiles_b = (smiles_a or "").strip(), (smiles_b or "").strip()
    problems = _smiles_problems(task, smiles_a, smiles_b)
    if problems:
        message = "**Invalid SMILES.** " + " ".join(_markdown_text(p) for p in problems)
        return message, "", "", "", None, None

    images = [
        depict(smiles, f"Molecule {which}: {role}", colour)
        for smiles, which, role, colour in zip((smiles_a, smiles_b), "AB", task.roles, ROLE_COLOURS)
    ]
    properties = "\n".join(
        f"Molecule {which} ({role}): {describe_molecule(smiles)}"
        for smiles, which, role in zip((smiles_a, smiles_b), "AB", task.roles)
    )
    if predictor is None or predictor.model is None:
        return NO_MODEL_MESSAGE, "", properties, "", *images
    try:
        result = predictor(smiles_a, smiles_b, task.name)
    except Exception as error:  # shown in the page: a demo must never show a traceback
        return f"**The model could not answer:** {_markdown_text(str(error))}", "", properties, "", *images
    reasoning = str(result.get("reasoning") or "").strip()
    reasoning = f"Model reasoning: {reasoning}\n\n{properties}" if reasoning else properties
    status = f"Answered by `{predictor.model}`, task: {task.name}."
    confidence = _format_confidence(result.get("probability"), result)
    return status, _answer_text(result), reasoning, confidence, *images


def build_demo(model: str | None = None, dtype: str = "auto") -> gr.Blocks:
    """The page. ``model``: hub id or folder (default: `default_model`); ``dtype``: the pipeline's (bf16 on CUDA)."""
    model = model or default_model()
    predictor = Predictor(model, dtype) if model else None
    availability = task_availability(model)
    offered = [t for t in TASKS if not availability.get(t.name)] or TASKS
    with gr.Blocks(title="MolTC: molecular relational learning") as demo:
        gr.Markdown(
            "# MolTC: ask a language model about a pair of molecules\n"
            "Enter two SMILES, choose a question and press **Predict**. For solvation, molecule A is the "
            "**solvent** (blue) and molecule B the **solute** (orange)."
        )
        gr.Markdown(f"Model: `{model}`" if model else NO_MODEL_MESSAGE, elem_id="model-info")
        with gr.Row():
            smiles_a = gr.Textbox(label="Molecule A (SMILES): drug 1 / solvent", elem_id="smiles-a")
            smiles_b = gr.Textbox(label="Molecule B (SMILES): drug 2 / solute", elem_id="smiles-b")
        task = gr.Radio([t.label for t in offered], value=offered[0].label, label="Question", elem_id="task")
        unavailable = [f"~~{t.label}~~: {availability[t.name]}" for t in TASKS if availability.get(t.name)]
        gr.Markdown(
            "Not offered for this model: " + "; ".join(unavailable),
            visible=bool(unavailable),
            elem_id="unavailable-tasks",
        )
        button = gr.Button("Predict", variant="primary", elem_id="predict")
        status = gr.Markdown(elem_id="status")
        with gr.Row():
            answer = gr.Textbox(label="Answer", interactive=False, elem_id="answer")
            confidence = gr.Textbox(label="Confidence", interactive=False, elem_id="confidence")
        reasoning = gr.Textbox(
            label="Reasoning (molecule properties)", lines=4, interactive=False, elem_id="reasoning"
        )
        with gr.Row():
            image_a = gr.Image(
                label="Molecule A", type="pil", format="png", interactive=False, elem_id="depiction-a"
            )
            image_b = gr.Image(
                label="Molecule B", type="pil", format="png", interactive=False, elem_id="depiction-b"
            )
        examples = offered_examples(availability)
        if examples:  # only questions this model answers
            gr.Examples(
                examples,
                inputs=[smiles_a, smiles_b, task],
                label="Examples: drug pairs and solvent/solute pairs",
            )
        button.click(
            lambda a, b, t: predict(predictor, a, b, t),
            inputs=[smiles_a, smiles_b, task],
            outputs=[status, answer, reasoning, confidence, image_a, image_b],
            api_visibility="private",  # the page's own event; programs use `/predict`
        )
        _api_endpoint(predictor, availability, default_task(model, availability))
    return demo


def default_task(model: str | None, availability: dict[str, str | None]) -> str:
    """The API's default task: the one the model records as its default, else the first task it answers (so
    ``Client(url).predict("O", "CCO", api_name="/predict")`` asks a solvation model about solvation)."""
    recorded = None
    if model:
        try:
            recorded = task_defaults(AutoConfig.from_pretrained(model, trust_remote_code=True)).get("task")
        except (OSError, ValueError):
            recorded = None
    if recorded in availability and not availability[recorded]:
        return recorded
    return next((name for name in DEMO_TASKS if not availability.get(name)), DEMO_TASKS[0])


def _api_endpoint(
    predictor: Predictor | None, availability: dict[str, str | None], task_default: str = DEMO_TASKS[0]
) -> None:
    """``/predict`` for gradio_client and the "Use via API" page: named (``smiles_a``, ``smiles_b``, ``task``),
    labelled and typed inputs/outputs, built from hidden components (the page's event returns display strings
    and images instead). ``task`` defaults to a task the model answers (`default_task`)."""
    with gr.Column(visible=False):
        inputs = [
            gr.Textbox(label="smiles_a (molecule A: drug 1 / solvent)"),
            gr.Textbox(label="smiles_b (molecule B: drug 2 / solute)"),
            gr.Textbox(label=f"task (one of {', '.join(t.name for t in TASKS)})", value=task_default),
        ]
        outputs = [
            component(label=f"{name} ({what})" if what else name)
            for name, (component, what) in API_OUTPUTS.items()
        ]
        run = gr.Button("predict (API)")

    # gradio names the endpoint's parameters after this function's: smiles_a, smiles_b, task
    def predict_api(smiles_a: str, smiles_b: str, task: str = task_default):
        return api_predict(predictor, availability, smiles_a, smiles_b, task)

    run.click(
        predict_api,
        inputs=inputs,
        outputs=outputs,
        api_name="predict",
    )


def launch(
    model: str | None = None, host: str = "127.0.0.1", port: int | None = None, dtype: str = "auto", **kwargs
) -> gr.Blocks:
    """Start the server (blocking unless ``prevent_thread_lock=True``) and return the page.

    System fonts instead of the default Google font, so the page loads without reaching the internet.
    """
    theme = gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
    )
    demo = build_demo(model, dtype)
    # "Use via API" stays in the footer: the page's one endpoint is documented there for programs.
    kwargs.setdefault("footer_links", ["api"])
    demo.launch(server_name=host, server_port=port, theme=theme, **kwargs)
    return demo


__all__ = [
    "API_OUTPUTS",
    "EXAMPLES",
    "NO_MODEL_MESSAGE",
    "TASKS",
    "DemoTask",
    "Predictor",
    "api_predict",
    "build_demo",
    "default_model",
    "default_task",
    "depict",
    "launch",
    "offered_examples",
    "predict",
    "task_availability",
]
