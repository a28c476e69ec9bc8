"""``pipeline("molecule-pair-interaction", model=...)``: two SMILES in, an answer with its confidence out.

    >>> import moltc_hf.pipeline  # registers the task with transformers
    >>> from transformers import pipeline
    >>> pipe = pipeline("molecule-pair-interaction", model="runs/quickstart/final", trust_remote_code=True)
    >>> pipe({"smiles_a": "O", "smiles_b": "CCO"}, task="solvation")
    {'task': 'solvation', 'answer': '...', 'label': None, 'value': -4.9, 'probability': 0.71, 'reasoning': '...', ...}

Inputs: one pair (``{"smiles_a": ..., "smiles_b": ...}`` or ``(smiles_a, smiles_b)``) or a list of pairs
(answered in batches of ``batch_size``). Options: ``task`` (``ddi_binary``, ``ddi_type``, ``solvation``,
``chromophore_absorption``, ``chromophore_emission``), ``mode`` (``score`` | ``generate``), ``candidates``
(the class sentences; needed for ``ddi_type`` unless the model config stores them, see
`set_task_defaults`), ``cot``, ``max_new_tokens``, ``num_beams``.

Output per pair: ``task``, ``answer`` (the answer text), ``label`` (class name or ``None``), ``value``
(float or ``None``), ``probability`` (confidence in [0, 1]: the class probability when scoring, the
geometric-mean token probability when generating), ``reasoning`` (the text before the final answer),
plus ``label_id`` and ``error`` (why an answer could not be read, else ``None``).

Molecule features are cached per pipeline instance (`MoleculeFeatureCache`), so asking about the same
drug again does not re-encode it. An invalid SMILES raises `InvalidMoleculeError` naming the input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from transformers import AutoModelForCausalLM, AutoProcessor, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from .evaluation.inference import MoleculeFeatureCache, predict_batch
from .featurization import InvalidMoleculeError
from .instructions.tasks import TaskSpec, describe_pair, get_task
from .processing_moltc import MOLECULE_FIELDS

TASK_NAME = "molecule-pair-interaction"


def set_task_defaults(
    config, *, task: str | None = None, candidates: Mapping[str, Sequence[str]] | None = None
) -> None:
    """Record the default task and class sentences in ``config.task_specific_params`` (saved with the model)."""
    params = dict(getattr(config, "task_specific_params", None) or {})
    entry = dict(params.get(TASK_NAME, {}))
    if task is not None:
        entry["task"] = task
    if candidates:
        entry["candidates"] = {**entry.get("candidates", {}), **{k: list(v) for k, v in candidates.items()}}
    params[TASK_NAME] = entry
    config.task_specific_params = params


def task_defaults(config) -> dict:
    """What `set_task_defaults` recorded: ``{"task": ..., "candidates": {task: [...]}}`` (either may be absent)."""
    return dict((getattr(config, "task_specific_params", None) or {}).get(TASK_NAME, {}))


class _PairBatch:
    """Several pairs travelling through the pipeline as *one* input (not a list, which the base class would
    split into items), so they share forward passes."""

    def __init__(self, pairs: list[tuple[str, str]], first_row: int):
        self.pairs = pairs
        self.first_row = first_row


def _as_pair(item, row: int | None = None) -> tuple[str, str]:
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

    def __init__(self, model, *args, processor=None, **kwargs):
        if processor is None:  # e.g. a model object given without its processor
            processor = AutoProcessor.from_pretrained(model.name_or_path)
        super().__init__(model, *args, processor=processor, **kwargs)
        self.model.eval()
        self.molecule_cache = MoleculeFeatureCache(self.model, self.processor)

    def _sanitize_parameters(
        self,
        task: str | None = None,
        mode: str | None = None,
        candidates: Sequence[str] | None = None,
        cot: bool | None = None,
        max_new_tokens: int | None = None,
        num_beams: int | None = None,
        **kwargs,
    ):
        if kwargs:
            raise TypeError(f"Unknown option(s) for {TASK_NAME}: {sorted(kwargs)}")
        preprocess, forward = {}, {}
        if task is not None:
            preprocess["task"] = forward["task"] = task
        if cot is not None:
            preprocess["cot"] = cot
        for name, value in (
            ("mode", mode),
            ("candidates", candidates),
            ("max_new_tokens", max_new_tokens),
            ("num_beams", num_beams),
        ):
            if value is not None:
                forward[name] = value
        return preprocess, forward, {}

    def __call__(self, inputs, batch_size: int = 8, **kwargs):
        if isinstance(inputs, list):
            pairs = [_as_pair(item, row) for row, item in enumerate(inputs)]
            outputs = []
            for start in range(0, len(pairs), batch_size):
                outputs += super().__call__(_PairBatch(pairs[start : start + batch_size], start), **kwargs)
            return outputs
        return super().__call__(inputs, **kwargs)

    def _task(self, task: str | None) -> TaskSpec:
        return get_task(task or task_defaults(self.model.config).get("task", "ddi_binary"))

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
    ) -> dict:
        spec = self._task(task)
        if spec.is_classification:
            candidates = list(
                candidates
                or spec.candidates
                or task_defaults(self.model.config).get("candidates", {}).get(spec.name, [])
            )
            if not candidates:
                raise ValueError(
                    f"Task {spec.name!r} needs `candidates=[...]` (one answer sentence per class), or "
                    f"`set_task_defaults(model.config, candidates={{{spec.name!r}: [...]}})` before saving the model."
                )
        features = self.molecule_cache.features(model_inputs["pairs"])
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
                    "value": None if value is None or math.isnan(value) else value,
                    "probability": prediction.probability,
                    "reasoning": prediction.reasoning,
                    "label_id": prediction.label,
                    "error": prediction.error,
                }
            )
        return outputs[0] if model_outputs["single"] else outputs


PIPELINE_REGISTRY.register_pipeline(
    TASK_NAME,
    pipeline_class=MoleculePairInteractionPipeline,
    pt_model=AutoModelForCausalLM,
    type="multimodal",
)

__all__ = [
    "TASK_NAME",
    "InvalidMoleculeError",
    "MoleculePairInteractionPipeline",
    "set_task_defaults",
    "task_defaults",
]
