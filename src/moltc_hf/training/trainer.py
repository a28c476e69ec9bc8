"""One stage's pieces: the model to train, its data, the `SFTConfig`/`SFTTrainer`, and the merged result.

Everything TRL-specific lives here: bf16 / activation checkpointing from the device (TRL defaults both on,
even on CPU), ``remove_unused_columns=False`` + ``skip_prepare_dataset`` so `MolTCDataCollator` sees the raw
rows, and the clean-up after training (LoRA merged, TRL's fused-head and accelerate's autocast ``forward``
patches removed, MolTC's answer-end stop token restored in the generation config).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from datasets import Dataset
from transformers import PrinterCallback, TrainerCallback
from trl import SFTConfig, SFTTrainer

from .._progress import is_terminal
from ..collator import IGNORE_INDEX, MolTCDataCollator
from ..factory import available_model_configs, build_model, configure_generation
from ..instructions.loading import load_split
from ..loader import load_trained_model
from ..lora import moltc_lora_config
from ..modeling_moltc import MolTCForConditionalGeneration
from ..processing_moltc import MOLECULE_FIELDS, MolTCProcessor
from ..tasks.registry import task_definition
from .recipe import PAPER_TRAINING_DEFAULTS, Recipe
from .speed import apply_training_levers, attention_context, full_precision

logger = logging.getLogger(__name__)


# -- model --
def load_model(
    source: str | Path, seed: int = 0, graph_encoder: str | Path | None = None
) -> tuple[MolTCForConditionalGeneration, MolTCProcessor]:
    """A model to train: a `hub_configs/models` name or JSON spec builds a fresh one (seeded; on the pretrained GIN
    ``graph_encoder`` when given); a saved folder or a hub id loads a trained one (``AutoModelForCausalLM`` /
    ``AutoProcessor``), whose GIN is already trained (``graph_encoder`` is then refused, not ignored)."""
    path = Path(source)
    is_spec = path.suffix == ".json" and path.is_file()
    is_config_name = not path.exists() and str(source) in available_model_configs()
    if is_spec or is_config_name:
        return build_model(source, seed=seed, graph_encoder=graph_encoder)
    if graph_encoder is not None:
        raise ValueError(
            f"graph_encoder {graph_encoder}: applies to a model built from a config name, not to the trained "
            f"model {source} (its GIN is already trained)"
        )
    # fp32 master weights: bf16 is applied by autocast during training, not by the stored dtype.
    return load_trained_model(source, dtype=torch.float32)


def prepare_stage_model(model: MolTCForConditionalGeneration, recipe: Recipe) -> None:
    """Apply the stage switch: untie projectors (before PEFT) and freeze the LLM for pretraining."""
    if recipe.untie_projectors:
        if model.config.projector_sharing == "tied":
            model.untie_projectors()
            logger.info(
                "Untied the projectors: molecule A and molecule B now have their own (copied) projector."
            )
        else:
            logger.info("Projectors already untied; nothing to do.")
    if recipe.freeze_graph_encoder:
        model.model.graph_encoder.requires_grad_(False)
    if recipe.lora is None and recipe.freeze_language_model:
        # The LM head is tied to the input embeddings, so it is frozen with them.
        model.model.language_model.requires_grad_(False)
        model.lm_head.requires_grad_(False)


# -- data --
def drop_invalid_rows(dataset: Dataset, processor: MolTCProcessor, split: str) -> tuple[Dataset, list[dict]]:
    """Featurize every molecule once up front: bad rows are skipped and returned as rejects, not a crash mid-run.

    This also warms the featurizer's cache, so the collator never runs RDKit twice for one SMILES.
    """
    rows = dataset["source_row"] if "source_row" in dataset.column_names else list(range(len(dataset)))
    bad: dict[int, list[dict]] = {}
    for column in MOLECULE_FIELDS:
        _, rejects = processor.featurizer.featurize_many(
            dataset[column], rows=list(range(len(dataset))), field=column
        )
        for reject in rejects:
            entry = reject.to_dict() | {"split": split, "row": rows[reject.row]}
            bad.setdefault(reject.row, []).append(entry)
    if not bad:
        return dataset, []
    logger.warning(
        "Skipping %d %s row(s) with invalid molecules (written to rejects.parquet).", len(bad), split
    )
    keep = [i for i in range(len(dataset)) if i not in bad]
    return dataset.select(keep), [entry for entries in bad.values() for entry in entries]


# -- trainer --
def device_settings(
    bf16: bool | str = "auto", gradient_checkpointing: bool | str = "auto", *, use_cpu: bool = False
) -> dict[str, Any]:
    """bf16 and activation checkpointing from the device (``"auto"``: on with CUDA), for `moltc train`'s recipes
    and `sft_config_for_moltc` alike: TRL turns both on by default, even on CPU, where bf16 raises."""
    cuda = torch.cuda.is_available() and not use_cpu
    bf16 = (cuda and torch.cuda.is_bf16_supported()) if bf16 == "auto" else bool(bf16)
    checkpointing = cuda if gradient_checkpointing == "auto" else bool(gradient_checkpointing)
    # Both names: transformers 5.x reads `activation_checkpointing`, `gradient_checkpointing` is its alias.
    return {
        "bf16": bf16,
        "fp16": False,
        "activation_checkpointing": checkpointing,
        "gradient_checkpointing": checkpointing,
        # Pinned host memory only speeds copies to a GPU; without one the DataLoader warns on every run.
        "dataloader_pin_memory": cuda,
    }


def dataloader_settings(training: dict[str, Any]) -> dict[str, Any]:
    """Collation in ``dataloader_num_workers`` worker processes (pinned memory follows the device:
    `device_settings`).

    Graphs come from the processor's featurizer cache, filled once per unique molecule before training
    (`drop_invalid_rows`) and inherited by the workers, so a worker only tokenizes and batches (no RDKit).
    Workers persist across epochs (``dataloader_persistent_workers``): started once per run, not per epoch.
    """
    workers = int(training.get("dataloader_num_workers", 0) or 0)
    settings: dict[str, Any] = {}
    if workers > 0:
        settings["dataloader_persistent_workers"] = True
        settings["dataloader_prefetch_factor"] = 2
    return settings


# What a plain `SFTTrainer` needs to train MolTC with `MolTCDataCollator`: the raw rows (SMILES, prompt,
# completion) reach the collator, which tokenizes, truncates and featurizes itself (TRL's VLM recipe).
REQUIRED_SFT_FLAGS: dict[str, Any] = {
    "remove_unused_columns": False,
    "dataset_kwargs": {"skip_prepare_dataset": True},
    "max_length": None,
}


def sft_config_for_moltc(output_dir: str | Path = "moltc-sft", **kwargs) -> SFTConfig:
    """An `SFTConfig` for a plain TRL ``SFTTrainer`` on MolTC: ``SFTConfig(**kwargs)`` plus what MolTC needs.

    TRL's defaults break a MolTC run in three ways: it drops the columns the collator reads
    (``remove_unused_columns``), tokenizes the dataset itself (``skip_prepare_dataset``; our rows hold SMILES
    and ``<mol>`` slots only the processor can expand) and turns on bf16 and activation checkpointing even on
    CPU, where bf16 raises. This sets the first two (a contradicting value is refused), and bf16, activation
    checkpointing and ``use_cpu`` from the device unless given::

        trainer = SFTTrainer(model, args=sft_config_for_moltc("out", max_steps=100),
                             train_dataset=load_dataset(folder, "freesolv")["train"],
                             data_collator=MolTCDataCollator(processor))
    """
    for name, value in REQUIRED_SFT_FLAGS.items():
        if name in kwargs and kwargs[name] != value:
            raise ValueError(f"sft_config_for_moltc: MolTC needs {name}={value!r} (got {kwargs[name]!r})")
    use_cpu = not torch.cuda.is_available() or bool(kwargs.get("use_cpu", False))
    device = {**device_settings(use_cpu=use_cpu), "use_cpu": use_cpu}
    # One switch, two names (transformers 5.x reads activation_checkpointing): a value given for either sets both.
    if "gradient_checkpointing" in kwargs:
        device["activation_checkpointing"] = kwargs["gradient_checkpointing"]
    if "activation_checkpointing" in kwargs:
        device["gradient_checkpointing"] = kwargs["activation_checkpointing"]
    return SFTConfig(**{**device, **kwargs, **REQUIRED_SFT_FLAGS, "output_dir": str(output_dir)})


class PlainProgressCallback(TrainerCallback):
    """One plain line per logging step (step/max, loss, learning rate, ..., steps/s, ETA) on stderr.

    What a log file gets instead of tqdm's bar, whose per-step carriage-return redraws pile up into one
    enormous line there (`build_trainer` swaps it in when stderr is not a terminal). Main process only.
    """

    def __init__(self, stream=None):
        self.stream = stream
        self._start: tuple[float, int] | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._start = (time.perf_counter(), state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        parts = [f"step {state.global_step}/{state.max_steps}"]
        for key, value in logs.items():
            if isinstance(value, float):
                parts.append(f"{key} {value:.4g}")
            elif isinstance(value, int) and not isinstance(value, bool):
                parts.append(f"{key} {value}")
        if self._start is not None:
            seconds = time.perf_counter() - self._start[0]
            steps = state.global_step - self._start[1]
            if seconds > 0 and steps > 0:
                rate = steps / seconds
                parts.append(f"{rate:.3g} steps/s")
                parts.append(f"eta {max(0, state.max_steps - state.global_step) / rate:.0f}s")
        print(" | ".join(parts), file=self.stream if self.stream is not None else sys.stderr, flush=True)


def build_sft_config(recipe: Recipe, output_dir: Path, max_steps: int | None = None) -> SFTConfig:
    merged = {**PAPER_TRAINING_DEFAULTS, **recipe.training}
    # The device decides bf16 / checkpointing only where the recipe (or the command line) did not.
    values = {
        **dataloader_settings(merged),
        **device_settings(recipe.bf16, recipe.gradient_checkpointing),
        **merged,
    }
    _align_given_precision(values, recipe.training)
    # tqdm's bar only on a terminal; a log file gets `PlainProgressCallback` lines (see `build_trainer`).
    values.setdefault("disable_tqdm", not is_terminal())
    if not torch.cuda.is_available():
        # Without `use_cpu` accelerate sees no device to distribute over: under `torchrun` every process would
        # run the whole recipe alone (`NOT_PARALLEL`). With it, WORLD_SIZE > 1 is gloo data parallelism: each
        # rank trains on its share of the batches, gradients are averaged, rank 0 writes the outputs.
        values.setdefault("use_cpu", True)
        if values["use_cpu"] and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            values.setdefault("ddp_backend", "gloo")  # (not MPI, even where torch has it)
    if max_steps is not None:
        values["max_steps"] = max_steps
    values.update(
        output_dir=str(output_dir),
        # The collator needs the raw columns and does the tokenization/truncation itself (TRL's VLM recipe).
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        max_length=None,
    )
    return SFTConfig(**values)


def _align_given_precision(values: dict[str, Any], given: dict[str, Any]) -> None:
    """A value given for one of two linked fields decides the other: checkpointing has two names (transformers
    5.x reads ``activation_checkpointing``), and ``fp16=True`` given turns the device's bf16 off."""
    if "gradient_checkpointing" in given and "activation_checkpointing" not in given:
        values["activation_checkpointing"] = values["gradient_checkpointing"]
    if "activation_checkpointing" in given and "gradient_checkpointing" not in given:
        values["gradient_checkpointing"] = values["activation_checkpointing"]
    if given.get("fp16") and "bf16" not in given:
        values["bf16"] = False


class MolTCSFTTrainer(SFTTrainer):
    """`SFTTrainer` that honours the collator's ``loss_weights`` (decision weighting); TRL's loss otherwise.

    With weights the loss is the weighted mean of the answer tokens' cross-entropies, computed from the
    model's own logits (TRL's fused-head path has no per-token weights).

    Trainer aligns the generation config's eos with the tokenizer's ``</s>`` when it starts; this trainer
    puts MolTC's answer-end stop back right after, so evaluation-time generation and every checkpoint stop
    where answers end (the model's `save_pretrained` does the same for a plain Trainer).
    """

    # A resumed run whose step cap is lower than the original run's keeps the original's learning-rate schedule
    # (set by `training.run`): the scheduler's total steps, not the cap, decide each step's learning rate.
    schedule_steps: int | None = None
    # The model the run started from (a folder, hub id or config name), for the run folder's README.
    start_model: str | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        model = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        if isinstance(self.processing_class, MolTCProcessor) and hasattr(model, "generation_config"):
            configure_generation(model, self.processing_class)

    def train(self, *args, **kwargs):
        """`Trainer.train`, with the generation config declaring ``</s>`` as a stop token while it runs.

        ``Trainer.train`` aligns the generation config's eos with the tokenizer's ``</s>`` (adding it beside the
        answer end) and warns "The tokenizer has new PAD/BOS/EOS tokens" on every stage. Declaring it up front is
        the same state without the warning; MolTC's answer-end-only stop is put back when training ends (and
        by the model's ``save_pretrained`` in every checkpoint).
        """
        model = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        generation = getattr(model, "generation_config", None)
        processor = self.processing_class
        if generation is None or not isinstance(processor, MolTCProcessor):
            return super().train(*args, **kwargs)
        stops = (
            generation.eos_token_id
            if isinstance(generation.eos_token_id, list)
            else [generation.eos_token_id]
        )
        eos = processor.tokenizer.eos_token_id
        generation.eos_token_id = [eos, *(t for t in stops if t is not None and t != eos)]
        try:
            return super().train(*args, **kwargs)
        finally:
            configure_generation(model, processor)

    # The SDPA kernels a step may use (`training.speed.sdpa_backends`; set by `build_trainer`; None: torch's choice).
    sdpa_backends: list[str] | None = None

    def training_step(self, *args, **kwargs):
        with attention_context(self.sdpa_backends):  # forward and backward
            return super().training_step(*args, **kwargs)

    def prediction_step(self, *args, **kwargs):
        with attention_context(self.sdpa_backends):
            return super().prediction_step(*args, **kwargs)

    def _save_checkpoint(self, model, trial):
        """The Trainer's checkpoint, or no folder at all: a write error (full disk) removes ``checkpoint-N``."""
        from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

        from .checkpoint_write import save_or_remove

        folder = Path(self._get_output_dir(trial=trial)) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        save_or_remove(lambda: super(MolTCSFTTrainer, self)._save_checkpoint(model, trial), folder)

    def create_model_card(self, *args, **kwargs):
        """TRL's draft card of the run folder, made true for MolTC: TRL writes "a fine-tuned version of [None]"
        (a MolTC run starts from a local folder or a config name, not a hub id) and a text-generation quick
        start for ``model="None"``; this names the starting model and shows the MolTC pipeline call instead."""
        super().create_model_card(*args, **kwargs)
        path = Path(self.args.output_dir) / "README.md"
        if not self.is_world_process_zero() or not path.is_file():
            return
        text = path.read_text(encoding="utf-8")
        start = self.start_model or getattr(self.model.config, "_name_or_path", "") or "a config"
        text = text.replace(
            "a fine-tuned version of [None](https://huggingface.co/None)",
            f"a MolTC model (graph encoder + Q-Former + causal LM) trained with moltc-hf from `{start}` "
            "(a local folder or config name, not a hub id)",
        )
        quick_start = text.find("## Quick start")
        procedure = text.find("## Training procedure")
        if 0 <= quick_start < procedure:
            final = Path(self.args.output_dir) / "final"
            usage = (
                "## Quick start\n\nThe merged model is written to `final/` when the run ends (checkpoints here "
                "hold the trainer state):\n\n```python\nfrom transformers import pipeline\n\n"
                f'pipe = pipeline(model="{final.as_posix()}", trust_remote_code=True)\n'
                'print(pipe({"smiles_a": "O", "smiles_b": "CCO"}))\n```\n\n'
            )
            text = text[:quick_start] + usage + text[procedure:]
        path.write_text(text, encoding="utf-8")

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        return super().create_scheduler(self.schedule_steps or num_training_steps, optimizer)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weights = inputs.pop("loss_weights", None)
        if weights is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        labels = inputs.pop("labels")
        outputs = model(**inputs, use_cache=False)
        targets = labels[:, 1:]
        token_weights = weights[:, 1:].to(outputs.logits.device) * (targets != IGNORE_INDEX)
        losses = torch.nn.functional.cross_entropy(
            outputs.logits[:, :-1].float().transpose(1, 2), targets.clamp(min=0), reduction="none"
        )
        loss = (losses * token_weights).sum() / token_weights.sum().clamp(min=1e-6)
        return (loss, outputs) if return_outputs else loss


def pack_length_for(model) -> str | None:
    """Padding-free layout per attention kernel: one sequence for flash attention (varlen, batch 1 only),
    bins of the longest row for sdpa / eager (their block mask is dense, quadratic in the sequence)."""
    implementation = getattr(model.config.get_text_config(), "_attn_implementation", None) or "sdpa"
    return None if "flash" in implementation else "longest"


def build_trainer(
    recipe: Recipe,
    model: MolTCForConditionalGeneration,
    processor: MolTCProcessor,
    train_dataset: Dataset,
    output_dir: Path,
    *,
    eval_dataset: Dataset | None = None,
    max_steps: int | None = None,
    callbacks: list[TrainerCallback] | None = None,
    candidates: dict[str, list[str]] | None = None,
) -> SFTTrainer:
    """The `SFTTrainer` of one stage (the model must already be through `prepare_stage_model`).

    ``candidates``: task -> class sentences the dataset ships (`read_classes`), for decision weighting.
    """
    args = build_sft_config(recipe, output_dir, max_steps)
    if eval_dataset is None and args.eval_strategy != "no":
        logger.warning("Recipe %r asks for evaluation but the dataset has no validation split.", recipe.name)
        args.eval_strategy = "no"
    # The processor saved with this stage's model records how it was prompted, so inference asks the same way.
    processor.graph_only_prompts = recipe.graph_only_prompts
    collator = MolTCDataCollator(
        processor,
        max_length=recipe.max_length,
        decision_weight=recipe.decision_weight,
        candidates=candidates or {},
        padding_free=recipe.padding_free,
        pack_length=pack_length_for(model),
        graph_only=recipe.graph_only_prompts,
        pad_to_multiple_of=recipe.pad_to_multiple_of,
    )
    peft_config = (
        moltc_lora_config(**{"train_graph_encoder": not recipe.freeze_graph_encoder, **recipe.lora})
        if recipe.lora is not None
        else None
    )
    # SFTTrainer's leading parameters: model, args, data_collator, train_dataset, eval_dataset, processing_class
    trainer = MolTCSFTTrainer(
        model,
        args,
        collator,
        train_dataset,
        eval_dataset,
        processor,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    if args.disable_tqdm and "disable_tqdm" not in recipe.training:
        # The bar is off because stderr is a log file: plain progress lines there, not Trainer's log dicts.
        trainer.remove_callback(PrinterCallback)
        trainer.add_callback(PlainProgressCallback())
    apply_training_levers(trainer, recipe, bf16=args.bf16)
    return trainer


def merged_model(trainer: SFTTrainer) -> MolTCForConditionalGeneration:
    """The trained model as a plain MolTC model: LoRA merged, PEFT/accelerate/TRL forward patches removed."""
    model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
    model = full_precision(model)  # frozen weights stored in bf16 for speed: final/ stays fp32
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    # TRL (fused LM head) and accelerate (autocast) replace `forward` on the instance; the class forward is the model.
    for attribute in ("forward", "_original_forward"):
        model.__dict__.pop(attribute, None)
    model.requires_grad_(True)
    # Trainer aligns the generation config's eos with the tokenizer's `</s>`; MolTC answers stop on "\n".
    configure_generation(model, trainer.processing_class)
    return model


def trained_tasks(dataset: Dataset) -> list[str]:
    """The question tasks in a training split (its ``task`` column; pair pretraining asks no question)."""
    if "task" not in dataset.column_names or not len(dataset):
        return []
    return sorted(task for task in dataset.unique("task") if task != "pretrain")


def save_final(
    model: MolTCForConditionalGeneration,
    processor: MolTCProcessor,
    final_dir: Path,
    recipe: Recipe,
    tasks: list[str] | None = None,
    candidates: dict[str, list[str]] | None = None,
) -> None:
    """``final/``: safetensors weights + config + code (auto_map), processor, and the recipe that made it.

    ``tasks`` (`trained_tasks` of the training split) are recorded in the config (`set_task_defaults`, added to
    any an earlier stage recorded), so `moltc predict`, the pipeline, the card and the Space answer only what
    the model was trained on; a model trained on one task gets it as the default task too. ``candidates``
    (task -> the class sentences the dataset ships, e.g. the 86 DrugBank types) are recorded for those tasks,
    so the model answers them without being handed the sentences again.
    """
    if tasks:
        from ..tasks.defaults import TASK_NAME, set_task_defaults, task_defaults

        definitions = {t: d for t in tasks if (d := task_definition(t)) is not None}
        known = {task: list(candidates[task]) for task in tasks if candidates and candidates.get(task)}
        set_task_defaults(model.config, tasks=tasks, candidates=known, definitions=definitions)
        if len(tasks) == 1:  # the default is the task this stage trained (not an earlier stage's)
            set_task_defaults(model.config, task=tasks[0])
        elif task_defaults(model.config).get("task") not in tasks:
            # Several tasks at once (joint training): no single default; the caller names the task.
            params = dict(model.config.task_specific_params or {})
            params.get(TASK_NAME, {}).pop("task", None)
            model.config.task_specific_params = params
    model.save_pretrained(final_dir)
    processor.save_pretrained(final_dir)
    (final_dir / "training_recipe.yaml").write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))


__all__ = [
    "REQUIRED_SFT_FLAGS",
    "build_sft_config",
    "sft_config_for_moltc",
    "MolTCSFTTrainer",
    "PlainProgressCallback",
    "build_trainer",
    "dataloader_settings",
    "pack_length_for",
    "device_settings",
    "drop_invalid_rows",
    "load_model",
    "load_split",
    "merged_model",
    "prepare_stage_model",
    "save_final",
    "trained_tasks",
]
