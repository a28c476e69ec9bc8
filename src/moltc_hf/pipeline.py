"""``pipeline("molecule-pair-interaction", model=...)``: two SMILES in, an answer with its confidence out.

    >>> from transformers import pipeline
    >>> pipe = pipeline("molecule-pair-interaction", model="runs/quickstart/final", trust_remote_code=True)
    >>> pipe({"smiles_a": "O", "smiles_b": "CCO"}, task="solvation")
    {'task': 'solvation', 'answer': '...', 'label': None, 'value': -4.9, 'probability': 0.71, 'reasoning': '...', ...}

Inputs: one pair (``{"smiles_a": ..., "smiles_b": ...}`` or ``(smiles_a, smiles_b)``) or a list of pairs
(answered in batches of ``batch_size``). Options: ``task`` (``ddi_binary``, ``ddi_type``, ``solvation``,
``chromophore_absorption``, ``chromophore_emission``), ``mode`` (``score`` | ``generate``), ``candidates``
(the class sentences; needed for ``ddi_type`` unless the model config stores them, see
`set_task_defaults`), ``cot``, ``max_new_tokens``, ``num_beams``, ``symmetric`` (score mode on a symmetric
task such as ``ddi_binary``: the mean of the (A, B) and (B, A) probabilities, so both orders get one answer;
on by default, ``symmetric=False`` answers the given order only), ``constrain_value`` (regression: the value is
decoded as a well-formed number inside the interval the answer gave, `inference.constraints`; ``False`` reads what
greedy decoding wrote).

Output per pair: ``task``, ``answer`` (the answer text), ``label`` (class name or ``None``), ``value``
(float or ``None``), ``probability`` (confidence in [0, 1]: the class probability when scoring, the
geometric-mean token probability when generating), ``reasoning`` (the text before the final answer),
plus ``label_id`` and ``error`` (why an answer could not be read, else ``None``).

``import moltc_hf`` registers the task; a folder written by ``pipe.save_pretrained`` (or `add_pipeline_code`)
also carries the pipeline's code and ``custom_pipelines``, so it (or its hub copy) loads with
``trust_remote_code=True`` where moltc_hf is never imported. Inputs may also be a generator, a
`datasets.Dataset` or ``KeyPairDataset(ds, "smiles_a", "smiles_b")`` (answers then stream, one per row), and
``device=0``/``"cuda"`` on a machine without a GPU is an error. ``dtype`` (``torch_dtype``): ``"auto"``, the
default, runs bf16 on CUDA and fp32 on CPU (`inference_dtype`); a dtype given is used as is.

Molecule features are cached per pipeline instance (`MoleculeFeatureCache`), so asking about the same
drug again does not re-encode it. An invalid SMILES raises `InvalidMoleculeError` naming the input.
"""

from __future__ import annotations

import ast
import itertools
import json
import logging
import os
import sys
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoProcessor, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from .featurization import InvalidMoleculeError, is_missing
from .inference.predict import (
    MoleculeFeatureCache,
    inference_dtype,
    predict_batch,
    swapped_inputs,
    uses_symmetric_readout,
)
from .modeling_moltc import SAVE_HOOKS
from .processing_moltc import MOLECULE_FIELDS
from .tasks.defaults import TASK_NAME, set_task_defaults, task_defaults
from .tasks.registry import TaskSpec, describe_pair, get_task, register_model_tasks

_PACKAGE_NAME = "moltc_hf"  # (a plain string: the saved copy must not import the package)
FALLBACK_TASK = "ddi_binary"  # (no longer answered silently: a model that records no task needs task=...)

logger = logging.getLogger(__name__)


class UntrainedTaskError(ValueError):
    """A task the model records it was not trained on (`resolve_task`); the message names the tasks it knows."""


# Every saved folder carries this module's code, so ``pipeline(..., trust_remote_code=True)`` runs the folder's
# copy; in a process that imported moltc_hf that copy raises moltc_hf's own class, so
# ``except moltc_hf.pipeline.UntrainedTaskError`` catches the refusal whichever copy answered.
if __name__ != f"{_PACKAGE_NAME}.pipeline" and f"{_PACKAGE_NAME}.pipeline" in sys.modules:
    UntrainedTaskError = sys.modules[f"{_PACKAGE_NAME}.pipeline"].UntrainedTaskError  # noqa: F811


def resolve_task(
    config,
    task: str | None = None,
    *,
    allow_untrained_task: bool = False,
    warn: Callable[[str], None] | None = None,
) -> str:
    """The task to answer: ``task``, else the model's recorded default, checked against its trained tasks.

    A trained model records what it was trained on (`set_task_defaults`, written by ``moltc train`` and the
    quickstart); a task outside that list is an `UntrainedTaskError` naming them, because an untrained
    question still gets a fluent, confident and meaningless answer. ``allow_untrained_task=True`` asks anyway,
    with a warning. A model that records no task at all (a fresh `build_model`, a converted original
    checkpoint, a model trained with a plain ``Trainer``) answers only a ``task`` that is named, with a warning
    that says so; without one it is an `UntrainedTaskError` (it used to answer ``ddi_binary``: a DDI verdict
    for a solvent-solute pair). ``warn``: where warnings go (default: this module's logger).
    """
    warn = warn or logger.warning
    defaults = task_defaults(config)
    trained = list(defaults.get("tasks") or [])
    if task is None:
        task = defaults.get("task") or (trained[0] if len(trained) == 1 else None)
        if task is None and trained:
            raise UntrainedTaskError(
                f"the model was trained on several tasks ({', '.join(trained)}); say which one (task=...)"
            )
    if not trained:
        if task is None:
            raise UntrainedTaskError(
                "the model records no trained task (a fresh or converted model, or one trained with a plain "
                "Trainer, which does not record it): name the task it answers, task='solvation' / "
                "task='ddi_binary' / ... (moltc predict: --task). `moltc train` records it in config.json"
            )
        warn(
            f"the model records no trained task (a fresh or converted model?); answering {task!r} "
            "as asked, but its answers mean something only if it was trained on that task"
        )
        return task
    if task not in trained:
        message = f"the model was not trained on task {task!r}; it was trained on: {', '.join(trained)}"
        if not allow_untrained_task:
            raise UntrainedTaskError(
                f"{message}. Ask one of those, or pass allow_untrained_task=True (moltc predict: "
                "--allow-untrained-task) to ask anyway"
            )
        warn(f"{message}; answering anyway (allow_untrained_task): expect meaningless answers")
    return task


def task_candidates(config, spec: TaskSpec, candidates: Sequence[str] | None = None) -> list[str]:
    """The class sentences of a classification task: given, fixed by the task, or recorded in the model."""
    return list(
        candidates or spec.candidates or task_defaults(config).get("candidates", {}).get(spec.name, [])
    )


# -- remote code: the pipeline's source travels with the model --
# `pipeline(TASK_NAME, model=folder_or_hub_id, trust_remote_code=True)` in a process that never imports
# moltc_hf finds the task through ``config.json``'s ``custom_pipelines`` and loads `pipeline.py` from the folder.
# transformers copies a remote module's *flat* sibling files only (``from .x import``), while this module reads
# the task registry and the inference loop from sub-packages; so the saved code is this module's import
# closure inside moltc_hf, one file per module (``tasks/registry.py`` -> ``tasks_registry.py``) with
# the relative imports rewritten. It is generated from the installed source, so it cannot drift from it.
_PACKAGE = __name__.rsplit(".", 1)[0]
_PACKAGE_DIR = Path(__file__).resolve().parent
PIPELINE_MODULE = "pipeline"  # the saved file of this module (``custom_pipelines[...]["impl"]``)


def _module_file(module: str) -> Path | None:
    """The source file of a moltc_hf module (``None`` for a package or a name outside moltc_hf)."""
    parts = module.split(".")
    if parts[0] != _PACKAGE:
        return None
    path = _PACKAGE_DIR.joinpath(*parts[1:]).with_suffix(".py")
    return path if len(parts) > 1 and path.is_file() else None


def flat_module_name(module: str) -> str:
    """``moltc_hf.tasks.registry`` -> ``tasks_registry``: its file name in a saved model folder."""
    return "_".join(module.split(".")[1:])


def _relative_targets(module: str, node: ast.ImportFrom) -> list[tuple[str, ast.alias | None]]:
    """The moltc_hf modules one ``from .x import ...`` reads: ``[(module, None)]``, or for ``from . import a, b``
    one ``(submodule, alias)`` per name. A package target is refused: its lazy ``__init__`` does not flatten."""
    base = module.split(".")[: len(module.split(".")) - node.level]
    target = ".".join(base + ([node.module] if node.module else []))
    if node.module is not None:
        found = [(target, None)]
    else:
        found = [(f"{target}.{alias.name}", alias) for alias in node.names]
    for name, _ in found:
        if _module_file(name) is None:
            raise ValueError(
                f"{module} imports {name!r}, which is not a module file of {_PACKAGE}: the pipeline's remote code "
                "can only carry modules (import from the submodule, not from the package)."
            )
    return found


def _imports(module: str) -> list[tuple[ast.ImportFrom, list[tuple[str, ast.alias | None]]]]:
    """Every relative import statement of ``module`` (functions included) with the modules it reads."""
    tree = ast.parse(_module_file(module).read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == _PACKAGE for a in node.names):
            raise ValueError(f"{module} imports {_PACKAGE} absolutely; remote code needs relative imports.")
        if isinstance(node, ast.ImportFrom):
            if node.level:
                found.append((node, _relative_targets(module, node)))
            elif (node.module or "").split(".")[0] == _PACKAGE:
                raise ValueError(
                    f"{module} imports {node.module} absolutely; remote code needs relative imports."
                )
    return found


def pipeline_code_modules() -> list[str]:
    """This module and every moltc_hf module it imports, directly or not (what the saved code must hold)."""
    seen, todo = [], [__name__]
    while todo:
        module = todo.pop(0)
        if module in seen:
            continue
        seen.append(module)
        todo += [name for _, targets in _imports(module) for name, _ in targets]
    names = [flat_module_name(m) for m in seen]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ValueError(f"Modules {clashes} flatten to the same file name; rename one of them.")
    return seen


def _alias_text(alias: ast.alias) -> str:
    return alias.name + (f" as {alias.asname}" if alias.asname else "")


def _flat_statement(node: ast.ImportFrom, targets: list[tuple[str, ast.alias | None]]) -> list[str]:
    if node.module is not None:
        return [f"from .{flat_module_name(targets[0][0])} import {', '.join(map(_alias_text, node.names))}"]
    lines = []
    for name, alias in targets:
        flat, bound = flat_module_name(name), alias.asname or alias.name
        # The first line only lets transformers' loader (it reads ``from .x import`` lines) see the file.
        lines += [f"from .{flat} import __name__ as _{flat}_module_name", f"from . import {flat} as {bound}"]
    return lines


def flat_source(module: str) -> str:
    """``module``'s source with each relative import pointing at the flat file of the module it reads."""
    lines = _module_file(module).read_text().splitlines(keepends=True)
    for node, targets in sorted(_imports(module), key=lambda item: -item[0].lineno):
        if node.level == 1 and node.module == flat_module_name(targets[0][0]):
            continue  # already flat (the checkpoint files): keep the line as written
        indent = " " * node.col_offset
        new = [f"{indent}{line}\n" for line in _flat_statement(node, targets)]
        lines[node.lineno - 1 : node.end_lineno] = new
    return "".join(lines)


def pipeline_code_files() -> dict[str, str]:
    """File name -> source of the pipeline's saved code.

    From the installed package: the flattened import closure (`pipeline_code_modules`). From a copy that
    transformers loaded as remote code (already flat, e.g. a pipeline loaded by hub id and saved again): the
    copy's own files, found the way transformers finds them."""
    if _module_file(__name__) is not None:
        return {f"{flat_module_name(m)}.py": flat_source(m) for m in pipeline_code_modules()}
    from transformers.dynamic_module_utils import get_relative_import_files

    files = [Path(__file__), *map(Path, get_relative_import_files(__file__))]
    return {path.name: path.read_text() for path in files}


def custom_pipelines_entry() -> dict:
    """What ``config.json``'s ``custom_pipelines`` holds for this task (the format `Pipeline.save_pretrained` writes)."""
    return {
        TASK_NAME: {
            "impl": f"{PIPELINE_MODULE}.{MoleculePairInteractionPipeline.__name__}",
            "pt": [AutoModelForCausalLM.__name__],
            "type": "multimodal",
        }
    }


def add_pipeline_code(folder: str | os.PathLike) -> list[str]:
    """Make a saved model folder load as ``pipeline(TASK_NAME, model=folder, trust_remote_code=True)`` anywhere.

    Writes the flat pipeline code (`pipeline_code_modules`) beside the weights and ``custom_pipelines`` into
    its ``config.json``. Returns the file names written. Call it on a folder that `save_pretrained` wrote.
    """
    folder = Path(folder)
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{folder} has no config.json: save the model there first")
    written = []
    for name, source in pipeline_code_files().items():
        (folder / name).write_text(source)
        written.append(name)
    config = json.loads(config_file.read_text())
    config["custom_pipelines"] = {**config.get("custom_pipelines", {}), **custom_pipelines_entry()}
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return written


def _check_device(device) -> None:
    """transformers quietly maps ``device=0`` to the CPU on a machine without an accelerator; a GPU that was
    asked for and is not there is an error, not a slow run."""
    if device is None or isinstance(device, bool):
        return
    if isinstance(device, int):
        if device < 0 or torch.cuda.is_available() or torch.backends.mps.is_available():
            return
        raise ValueError(
            f"device={device} asks for an accelerator, but this machine has none (torch.cuda.is_available() is "
            "False); use device='cpu' or device=-1."
        )
    wanted = torch.device(device)
    if wanted.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = wanted.index or 0
        if index >= count:
            raise ValueError(
                f"device={device!r}: this machine has {count} CUDA device(s)"
                + ("" if count else " (torch.cuda.is_available() is False)")
                + "; use device='cpu'."
            )


def _is_stream(inputs) -> bool:
    """A generator, a `datasets.Dataset`, a torch ``Dataset`` such as `KeyPairDataset`: rows, not one pair."""
    if isinstance(inputs, (str, bytes, Mapping, tuple, list, _PairBatch)):
        return False
    return isinstance(inputs, (types.GeneratorType, Iterator, torch.utils.data.Dataset)) or any(
        hasattr(inputs, name) for name in ("column_names", "itertuples")
    )


def _rows(inputs) -> Iterable:
    """Rows of a stream; a pandas frame as dicts; a map-style dataset (``__len__`` + ``__getitem__``, no
    ``__iter__``) by index."""
    if hasattr(inputs, "itertuples"):  # iterating a DataFrame would give its column names
        return (row._asdict() for row in inputs.itertuples(index=False))
    if hasattr(inputs, "__iter__"):
        return inputs
    return (inputs[i] for i in range(len(inputs)))


class _PairBatch:
    """Several pairs travelling through the pipeline as *one* input (not a list, which the base class would
    split into items), so they share forward passes."""

    def __init__(self, pairs: list[tuple[str, str]], first_row: int):
        self.pairs = pairs
        self.first_row = first_row


def _as_pair(item, row: int | None = None) -> tuple[str, str]:
    if isinstance(item, Mapping) and "text" in item and "text_pair" in item and "smiles_a" not in item:
        return item["text"], item["text_pair"]  # a `KeyPairDataset(ds, "smiles_a", "smiles_b")` row
    if isinstance(item, Mapping):
        missing = [f for f in MOLECULE_FIELDS if f not in item]
        if missing:
            where = f"input {row}: " if row is not None else ""
            raise ValueError(f"{where}a pair dict needs keys {list(MOLECULE_FIELDS)}; missing {missing}")
        return item["smiles_a"], item["smiles_b"]
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item[0], item[1]
    where = f"input {row}: " if row is not None else ""
    raise ValueError(
        f"{where}expected a pair as {{'smiles_a': ..., 'smiles_b': ...}} or (smiles_a, smiles_b), got {item!r}"
    )


class MoleculePairInteractionPipeline(Pipeline):
    """Answer MolTC tasks for molecule pairs (see the module docstring for inputs, options and outputs)."""

    _load_processor = True
    _load_tokenizer = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False
    _pipeline_calls_generate = False

    def __init__(self, model, *args, processor=None, device=None, **kwargs):
        _check_device(device)
        self._warned: set[str] = set()  # before super().__init__, which sanitizes the construction options
        if processor is None:  # e.g. a model object given without its processor
            processor = AutoProcessor.from_pretrained(model.name_or_path)
        dtype = kwargs.get("dtype", kwargs.get("torch_dtype"))  # (`pipeline()` passes "auto" unless told)
        # ``MoleculePairInteractionPipeline(model=..., task="ddi_binary")``: `Pipeline` takes ``task`` as the
        # pipeline's own name; a MolTC task there is the default question of every call instead.
        default_task = kwargs.get("task")
        if default_task and default_task != TASK_NAME:
            kwargs["task"] = TASK_NAME
        else:
            default_task = None
        super().__init__(model, *args, processor=processor, device=device, **kwargs)
        wanted = inference_dtype(dtype, self.device)
        # "auto": a saved (fp32) model runs bf16 on CUDA; a model already in a half dtype is left as it is.
        if self.model.dtype != wanted and (dtype not in (None, "auto") or self.model.dtype == torch.float32):
            self.model.to(wanted)
        self.model.eval()
        if default_task is not None:
            resolved = self.resolve_task(default_task)
            self._preprocess_params["task"] = self._forward_params["task"] = resolved
        register_model_tasks(self.model.config)
        self.molecule_cache = MoleculeFeatureCache(self.model, self.processor)

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            logger.warning(message)

    def resolve_task(self, task: str | None = None, allow_untrained_task: bool = False) -> str:
        """`resolve_task` on this pipeline's model (each warning once per pipeline)."""
        return resolve_task(
            self.model.config, task, allow_untrained_task=allow_untrained_task, warn=self._warn_once
        )

    def _sanitize_parameters(
        self,
        task: str | None = None,
        mode: str | None = None,
        candidates: Sequence[str] | None = None,
        cot: bool | None = None,
        max_new_tokens: int | None = None,
        num_beams: int | None = None,
        allow_untrained_task: bool | None = None,
        symmetric: bool | None = None,
        constrain_value: bool | None = None,
        **kwargs,
    ):
        if kwargs:
            raise TypeError(f"Unknown option(s) for {TASK_NAME}: {sorted(kwargs)}")
        preprocess, forward = {}, {}
        if task is not None or allow_untrained_task is not None:
            # Checked here, once per call (and at construction): every batch then answers the same task.
            task = self.resolve_task(task, bool(allow_untrained_task))
            preprocess["task"] = forward["task"] = task
        if cot is not None:
            preprocess["cot"] = cot
        for name, value in (
            ("mode", mode),
            ("candidates", candidates),
            ("max_new_tokens", max_new_tokens),
            ("num_beams", num_beams),
            ("symmetric", symmetric),
            ("constrain_value", constrain_value),
        ):
            if value is not None:
                forward[name] = value
        return preprocess, forward, {}

    def __call__(self, inputs, batch_size: int = 8, **kwargs):
        """One pair -> one answer; a list -> a list; a generator or dataset -> an iterator (one answer a row).

        ``task`` defaults to the one the model records; a task it was not trained on is an `UntrainedTaskError`
        unless ``allow_untrained_task=True`` (`resolve_task`).
        """
        if kwargs.get("task") is None and "task" not in self._preprocess_params:
            kwargs["task"] = self.resolve_task(None, bool(kwargs.get("allow_untrained_task")))
        if isinstance(inputs, list):
            pairs = [_as_pair(item, row) for row, item in enumerate(inputs)]
            outputs = []
            for start in range(0, len(pairs), batch_size):
                outputs += super().__call__(_PairBatch(pairs[start : start + batch_size], start), **kwargs)
            return outputs
        if _is_stream(inputs):
            return self._stream(_rows(inputs), batch_size, kwargs)
        return super().__call__(inputs, **kwargs)

    def _stream(self, rows: Iterable, batch_size: int, kwargs: dict) -> Iterator[dict]:
        """Answers as the rows come, ``batch_size`` pairs a forward pass (a dataset is never loaded whole)."""
        rows, start = iter(rows), 0
        while batch := list(itertools.islice(rows, batch_size)):
            pairs = [_as_pair(item, start + offset) for offset, item in enumerate(batch)]
            yield from super().__call__(_PairBatch(pairs, start), **kwargs)
            start += len(batch)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> None:
        """Model, processor and this pipeline's code (`add_pipeline_code`), so the folder or its hub copy loads
        with ``pipeline(TASK_NAME, model=..., trust_remote_code=True)`` in a process without moltc_hf.

        (transformers' own version copies this file alone, whose sub-package imports then fail to resolve.)
        """
        if os.path.isfile(save_directory):
            raise ValueError(f"save_directory {save_directory} is a file; give a folder")
        self.model.save_pretrained(save_directory, **kwargs)
        self.processor.save_pretrained(save_directory)
        add_pipeline_code(save_directory)

    def _task(self, task: str | None) -> TaskSpec:
        return get_task(task or self.resolve_task(None))

    def preprocess(self, inputs, task: str | None = None, cot: bool | None = None) -> dict:
        spec = self._task(task)
        single = not isinstance(inputs, _PairBatch)
        pairs = [_as_pair(inputs)] if single else inputs.pairs
        first_row = None if single else inputs.first_row
        for offset, pair in enumerate(pairs):
            row = None if first_row is None else first_row + offset
            for field, smiles in zip(MOLECULE_FIELDS, pair):
                self.processor.featurizer(smiles, row=row, field=field)  # raises InvalidMoleculeError
        cot = spec.cot if cot is None else cot
        return {
            "single": single,
            "pairs": pairs,
            "prompts": [spec.prompt(a, b) for a, b in pairs],
            "prefixes": [describe_pair(a, b) for a, b in pairs] if cot and spec.is_classification else None,
        }

    def _forward(
        self,
        model_inputs: dict,
        task: str | None = None,
        mode: str = "score",
        candidates: Sequence[str] | None = None,
        max_new_tokens: int | None = None,
        num_beams: int = 1,
        symmetric: bool | None = None,
        constrain_value: bool = True,
    ) -> dict:
        spec = self._task(task)
        if spec.is_classification:
            candidates = task_candidates(self.model.config, spec, candidates)
            if not candidates:
                raise ValueError(
                    f"Task {spec.name!r} needs `candidates=[...]` (one answer sentence per class), or "
                    f"`set_task_defaults(model.config, candidates={{{spec.name!r}: [...]}})` before saving the model."
                )
        features = self.molecule_cache.features(model_inputs["pairs"])
        swapped = None
        if uses_symmetric_readout(spec, mode, symmetric):  # binary DDI: (A, B) and (B, A) get one answer
            swapped = swapped_inputs(
                model_inputs["pairs"],
                model_inputs["prompts"],
                model_inputs["prefixes"],
                spec,
                False,
                self.molecule_cache.features,
            )
        predictions = predict_batch(
            self.model,
            self.processor,
            spec,
            model_inputs["prompts"],
            features,
            mode=mode,
            candidates=candidates,
            prefixes=model_inputs["prefixes"],
            max_new_tokens=max_new_tokens,
            num_beams=num_beams,
            swapped=swapped,
            constrain_value=constrain_value,
        )
        return {"single": model_inputs["single"], "predictions": predictions}

    def postprocess(self, model_outputs: dict):
        outputs = []
        for prediction in model_outputs["predictions"]:
            value = prediction.value
            outputs.append(
                {
                    "task": prediction.task,
                    "answer": prediction.answer,
                    "label": prediction.label_name,
                    "value": None if is_missing(value) else value,
                    "probability": prediction.probability,
                    "reasoning": prediction.reasoning,
                    "label_id": prediction.label,
                    "error": prediction.error,
                    # where a regression value came from ("value", "interval" midpoint, None), and whether it
                    # contradicts the answer's own interval: the fields `moltc predict` / evaluate write too
                    "value_source": prediction.value_source,
                    "outside_interval": prediction.outside_interval,
                }
            )
        return outputs[0] if model_outputs["single"] else outputs


# Every `save_pretrained` of a MolTC model carries this pipeline's code and ``custom_pipelines`` (one task, so
# ``pipeline(model=folder, trust_remote_code=True)`` needs no task name and no hub lookup).
if add_pipeline_code not in SAVE_HOOKS:
    SAVE_HOOKS.append(add_pipeline_code)

PIPELINE_REGISTRY.register_pipeline(
    TASK_NAME,
    pipeline_class=MoleculePairInteractionPipeline,
    pt_model=AutoModelForCausalLM,
    type="multimodal",
)

__all__ = [
    "PIPELINE_MODULE",
    "TASK_NAME",
    "add_pipeline_code",
    "custom_pipelines_entry",
    "flat_module_name",
    "flat_source",
    "pipeline_code_files",
    "pipeline_code_modules",
    "register_model_tasks",
    "InvalidMoleculeError",
    "MoleculePairInteractionPipeline",
    "FALLBACK_TASK",
    "UntrainedTaskError",
    "resolve_task",
    "set_task_defaults",
    "task_candidates",
    "task_defaults",
]
