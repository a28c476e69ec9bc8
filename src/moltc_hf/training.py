"""Recipes -> TRL `SFTTrainer`: MolTC's two training stages (pair pretraining, then task fine-tuning).

A recipe (``hub_configs/recipes/*.yaml``) names a stage, a starting model, a dataset config and the
`SFTConfig` values; `train` turns it into one ``SFTTrainer`` run with `MolTCDataCollator` (loss on the
answer tokens only) and, for fine-tuning, the paper's LoRA on the language model. A ``pipeline`` recipe
chains stage recipes, each starting from the previous stage's merged model.

Stages (PAPER.md §6):

* ``pretrain``: random drug pairs, one shared (tied) projector, the language model frozen, GIN + query
  tokens + Q-Former + projector trained. No LoRA.
* ``finetune``: task data; ``untie_projectors: true`` gives molecule A and molecule B their own projector
  (copied from the pretrained one) *before* PEFT wraps the model; LoRA on the LLM's q/v projections,
  GIN and connector fully trained (`moltc_lora_config`).

Outputs of a stage in ``output_dir``: ``checkpoint-<step>/`` (Trainer checkpoints: safetensors weights or
the PEFT adapter, optimizer, scheduler, RNG state; what ``resume`` reads), ``final/`` (the model with LoRA
merged, ``AutoModel``-loadable, processor and recipe beside it: what everybody else loads), optionally
``adapter/`` (the PEFT adapter + trained GIN/connector, to apply on the stage's *starting* model after the
same untie step), ``rejects.parquet`` (rows skipped for bad SMILES) and ``train_result.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import yaml
from datasets import Dataset, load_dataset
from transformers import AutoModelForCausalLM, AutoProcessor, TrainerCallback
from transformers.trainer_utils import get_last_checkpoint
from trl import SFTConfig, SFTTrainer

from .collator import MolTCDataCollator
from .factory import HUB_CONFIGS_DIR, available_model_configs, build_model, configure_generation
from .lora import moltc_lora_config
from .modeling_moltc import MolTCForConditionalGeneration
from .processing_moltc import MOLECULE_FIELDS, MolTCProcessor

logger = logging.getLogger(__name__)

RECIPES_DIR = HUB_CONFIGS_DIR / "recipes"
STAGES = ("pretrain", "finetune", "pipeline")

# The paper's optimiser and schedule (LAVIS linear-warmup-cosine, AdamW 1e-4 -> 1e-5, wd 0.05) expressed with
# transformers' own scheduler. A recipe's ``training:`` block overrides any of these or sets any other SFTConfig field.
PAPER_TRAINING_DEFAULTS: dict[str, Any] = {
    "optim": "adamw_torch",
    "learning_rate": 1e-4,
    "weight_decay": 0.05,
    "lr_scheduler_type": "cosine_with_min_lr",
    "lr_scheduler_kwargs": {"min_lr": 1e-5},
    "warmup_steps": 0.05,
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 8,
    "num_train_epochs": 10,
    "logging_steps": 10,
    "save_strategy": "steps",
    "save_steps": 500,
    "save_total_limit": 2,
    "eval_strategy": "no",
    "report_to": "none",
    "seed": 0,
    "dataloader_num_workers": 0,
}


@dataclass
class Recipe:
    """One training stage (or a chain of them), as read from a recipe YAML file.

    Attributes:
        name: recipe name (the file stem by default).
        stage: ``pretrain``, ``finetune`` or ``pipeline``.
        model: where a run starts when `train` gets no ``model``: a `hub_configs/models` name (fresh build),
            a saved model folder or a hub id.
        dataset_config: the dataset folder's config (``pretrain``, ``freesolv``, ``drugbank``, ...).
        untie_projectors: at the start of this stage, give each molecule role its own projector.
        lora: LoRA settings passed to `moltc_lora_config` (``r``, ``lora_alpha``, ...); ``None`` for no LoRA.
        freeze_language_model: without LoRA, keep the LLM frozen (pair pretraining); ignored with LoRA.
        max_length: the collator's token limit (placeholders are never cut).
        bf16 / gradient_checkpointing: ``"auto"`` follows the device (on with CUDA, off on CPU).
        save_adapter: also write the PEFT adapter to ``output_dir/adapter``.
        training: `SFTConfig` fields over `PAPER_TRAINING_DEFAULTS`.
        stages: for ``pipeline``: stage recipes (file names relative to this file, or inline mappings).
    """

    name: str
    stage: str
    model: str = "tiny"
    dataset_config: str | None = None
    untie_projectors: bool = False
    lora: dict[str, Any] | None = None
    freeze_language_model: bool = True
    max_length: int | None = 512
    bf16: bool | str = "auto"
    gradient_checkpointing: bool | str = "auto"
    save_adapter: bool = False
    training: dict[str, Any] = field(default_factory=dict)
    stages: list[Recipe] = field(default_factory=list)
    source: str | None = None

    def __post_init__(self):
        if self.stage not in STAGES:
            raise ValueError(f"Recipe {self.name!r}: stage must be one of {STAGES}, got {self.stage!r}")
        if self.stage == "pipeline" and not self.stages:
            raise ValueError(f"Recipe {self.name!r}: a pipeline needs a non-empty `stages` list")
        if self.stage != "pipeline" and not self.dataset_config:
            raise ValueError(f"Recipe {self.name!r}: stage {self.stage!r} needs `dataset_config`")

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, base_dir: Path | None = None, name: str | None = None
    ) -> Recipe:
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"Recipe {data.get('name', name)!r}: unknown key(s) {unknown}; expected some of {sorted(known)}"
            )
        data.setdefault("name", name or "recipe")
        data["stages"] = [
            load_recipe(s if Path(s).is_absolute() or base_dir is None else base_dir / s)
            if isinstance(s, str)
            else cls.from_dict(s, base_dir=base_dir)
            for s in data.get("stages") or []
        ]
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["stages"] = [stage.to_dict() for stage in self.stages]
        out.pop("source")
        return out


@dataclass
class TrainResult:
    """What a run produced: where the model is, how far it got, and its logged metrics."""

    output_dir: Path
    final_dir: Path
    global_step: int
    training_loss: float | None
    log_history: list[dict[str, Any]]
    adapter_dir: Path | None = None
    num_rejects: int = 0
    stages: list[TrainResult] = field(default_factory=list)

    def losses(self) -> list[float]:
        """Per-logging-step training losses, in order."""
        return [entry["loss"] for entry in self.log_history if "loss" in entry]


def load_recipe(recipe: str | Path | Recipe) -> Recipe:
    """A `Recipe` from a YAML path or a name in ``hub_configs/recipes`` (``tiny-finetune``)."""
    if isinstance(recipe, Recipe):
        return recipe
    path = Path(recipe)
    if not path.is_file():
        candidate = RECIPES_DIR / f"{recipe}.yaml"
        if not candidate.is_file():
            names = sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))
            raise FileNotFoundError(f"No recipe {str(recipe)!r}: not a file and not one of {names}")
        path = candidate
    data = yaml.safe_load(path.read_text()) or {}
    loaded = Recipe.from_dict(data, base_dir=path.parent, name=path.stem)
    loaded.source = str(path)
    return loaded


# -- model --
def load_model(source: str | Path, seed: int = 0) -> tuple[MolTCForConditionalGeneration, MolTCProcessor]:
    """A model to train: a `hub_configs/models` name or JSON spec builds a fresh one (seeded); a saved folder or a
    hub id loads a trained one (``AutoModelForCausalLM`` / ``AutoProcessor``)."""
    path = Path(source)
    is_spec = path.suffix == ".json" and path.is_file()
    is_config_name = not path.exists() and str(source) in available_model_configs()
    if is_spec or is_config_name:
        return build_model(source, seed=seed)
    # fp32 master weights: bf16 is applied by autocast during training, not by the stored dtype.
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    processor = AutoProcessor.from_pretrained(source)
    return model, processor


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
    if recipe.lora is None and recipe.freeze_language_model:
        # The LM head is tied to the input embeddings, so it is frozen with them.
        model.model.language_model.requires_grad_(False)
        model.lm_head.requires_grad_(False)


# -- data --
def load_split(dataset_dir: str | Path, config_name: str, split: str) -> Dataset | None:
    """One split of a dataset folder's config, or None when the config has no such split."""
    splits = load_dataset(str(dataset_dir), config_name)
    return splits.get(split)


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
def device_settings(recipe: Recipe) -> dict[str, Any]:
    """bf16 and activation checkpointing from the device: TRL turns both on by default, even on CPU."""
    cuda = torch.cuda.is_available()
    bf16 = (cuda and torch.cuda.is_bf16_supported()) if recipe.bf16 == "auto" else bool(recipe.bf16)
    checkpointing = cuda if recipe.gradient_checkpointing == "auto" else bool(recipe.gradient_checkpointing)
    # Both names: transformers 5.x reads `activation_checkpointing`, `gradient_checkpointing` is its alias.
    return {
        "bf16": bf16,
        "fp16": False,
        "activation_checkpointing": checkpointing,
        "gradient_checkpointing": checkpointing,
    }


def build_sft_config(recipe: Recipe, output_dir: Path, max_steps: int | None = None) -> SFTConfig:
    values = {**PAPER_TRAINING_DEFAULTS, **recipe.training, **device_settings(recipe)}
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
) -> SFTTrainer:
    """The `SFTTrainer` of one stage (the model must already be through `prepare_stage_model`)."""
    args = build_sft_config(recipe, output_dir, max_steps)
    if eval_dataset is None and args.eval_strategy != "no":
        logger.warning("Recipe %r asks for evaluation but the dataset has no validation split.", recipe.name)
        args.eval_strategy = "no"
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=MolTCDataCollator(processor, max_length=recipe.max_length),
        processing_class=processor,
        peft_config=moltc_lora_config(**recipe.lora) if recipe.lora is not None else None,
        callbacks=callbacks,
    )


def merged_model(trainer: SFTTrainer) -> MolTCForConditionalGeneration:
    """The trained model as a plain MolTC model: LoRA merged, PEFT/accelerate/TRL forward patches removed."""
    model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    # TRL (fused LM head) and accelerate (autocast) replace `forward` on the instance; the class forward is the model.
    for attribute in ("forward", "_original_forward"):
        model.__dict__.pop(attribute, None)
    model.requires_grad_(True)
    # Trainer aligns the generation config's eos with the tokenizer's `</s>`; MolTC answers stop on "\n".
    configure_generation(model, trainer.processing_class)
    return model


# -- entry point --
def train(
    recipe: str | Path | Recipe,
    *,
    dataset_dir: str | Path,
    output_dir: str | Path,
    config_name: str | None = None,
    model: str | Path | tuple[MolTCForConditionalGeneration, MolTCProcessor] | None = None,
    max_steps: int | None = None,
    resume: bool = False,
    callbacks: list[TrainerCallback] | None = None,
) -> TrainResult:
    """Run a recipe on a dataset folder (`moltc build-dataset` layout) and save the model to ``output_dir/final``.

    Args:
        recipe: a `Recipe`, a YAML path or a recipe name in ``hub_configs/recipes``.
        dataset_dir: folder read with ``datasets.load_dataset(dataset_dir, config)``.
        config_name: dataset config for fine-tuning stages (default: the recipe's ``dataset_config``).
        model: start from this instead of the recipe's ``model``: a saved MolTC folder / hub id / config name,
            or an in-memory ``(model, processor)``.
        max_steps: cap every stage at this many optimizer steps (smoke runs).
        resume: continue each stage from its last checkpoint in its output folder (step, optimizer, scheduler,
            RNG state); a pipeline skips stages whose ``final/`` already exists.
        callbacks: extra `transformers.TrainerCallback`s for every stage (progress, early stopping, ...).
    """
    recipe = load_recipe(recipe)
    output_dir = Path(output_dir)
    if recipe.stage == "pipeline":
        return _train_pipeline(
            recipe, dataset_dir, output_dir, config_name, model, max_steps, resume, callbacks
        )
    return _train_stage(recipe, dataset_dir, output_dir, config_name, model, max_steps, resume, callbacks)


def _train_pipeline(
    recipe, dataset_dir, output_dir, config_name, model, max_steps, resume, callbacks
) -> TrainResult:
    results: list[TrainResult] = []
    current = model
    for index, stage in enumerate(recipe.stages):
        stage_dir = output_dir / "stages" / f"{index}-{stage.name}"
        if (
            resume
            and (stage_dir / "final" / "config.json").is_file()
            and (stage_dir / "train_result.json").is_file()
        ):
            logger.info("Stage %s already finished in %s; skipping.", stage.name, stage_dir)
            results.append(_read_result(stage_dir))
        else:
            stage_config = None if stage.stage == "pretrain" else config_name
            results.append(
                _train_stage(
                    stage, dataset_dir, stage_dir, stage_config, current, max_steps, resume, callbacks
                )
            )
        current = results[-1].final_dir
    final_dir = output_dir / "final"
    if final_dir.exists():
        shutil.rmtree(final_dir)
    shutil.copytree(results[-1].final_dir, final_dir)
    (final_dir / "training_recipe.yaml").write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    result = TrainResult(
        output_dir=output_dir,
        final_dir=final_dir,
        global_step=sum(r.global_step for r in results),
        training_loss=results[-1].training_loss,
        log_history=[entry | {"stage": r.output_dir.name} for r in results for entry in r.log_history],
        adapter_dir=results[-1].adapter_dir,
        num_rejects=sum(r.num_rejects for r in results),
        stages=results,
    )
    _write_result(result)
    return result


def _train_stage(
    recipe, dataset_dir, output_dir, config_name, model, max_steps, resume, callbacks
) -> TrainResult:
    output_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(model, tuple):
        model, processor = model
    else:
        seed = int(recipe.training.get("seed", PAPER_TRAINING_DEFAULTS["seed"]))
        model, processor = load_model(model if model is not None else recipe.model, seed=seed)
    prepare_stage_model(model, recipe)

    config_name = config_name or recipe.dataset_config
    train_dataset, rejects = drop_invalid_rows(
        load_split(dataset_dir, config_name, "train"), processor, "train"
    )
    eval_dataset = None
    if recipe.training.get("eval_strategy", PAPER_TRAINING_DEFAULTS["eval_strategy"]) != "no":
        eval_dataset = load_split(dataset_dir, config_name, "validation")
        if eval_dataset is not None:
            eval_dataset, eval_rejects = drop_invalid_rows(eval_dataset, processor, "validation")
            rejects += eval_rejects
    if rejects:
        pd.DataFrame(rejects).to_parquet(output_dir / "rejects.parquet", index=False)

    trainer = build_trainer(
        recipe,
        model,
        processor,
        train_dataset,
        output_dir,
        eval_dataset=eval_dataset,
        max_steps=max_steps,
        callbacks=callbacks,
    )
    checkpoint = get_last_checkpoint(str(output_dir)) if resume and output_dir.is_dir() else None
    if resume and checkpoint is None:
        logger.warning(
            "--resume: no checkpoint in %s; starting stage %r from step 0.", output_dir, recipe.name
        )
    output = trainer.train(resume_from_checkpoint=checkpoint)

    adapter_dir = output_dir / "adapter" if recipe.save_adapter and recipe.lora is not None else None
    final_dir = output_dir / "final"
    if trainer.accelerator.num_processes > 1:
        # Sharded (FSDP / ZeRO-3) parameters must be gathered on every rank before rank 0 can merge LoRA.
        trainer.accelerator.wait_for_everyone()
        state_dict = trainer.accelerator.get_state_dict(trainer.model)
        if trainer.accelerator.is_main_process:
            trainer.accelerator.unwrap_model(trainer.model).load_state_dict(state_dict, strict=False)
    if trainer.accelerator.is_main_process:
        if adapter_dir is not None:
            trainer.model.save_pretrained(adapter_dir)
        save_final(merged_model(trainer), processor, final_dir, recipe)

    result = TrainResult(
        output_dir=output_dir,
        final_dir=final_dir,
        global_step=output.global_step,
        training_loss=output.training_loss,
        log_history=list(trainer.state.log_history),
        adapter_dir=adapter_dir,
        num_rejects=len({(r["split"], r["row"]) for r in rejects}),
    )
    if trainer.accelerator.is_main_process:
        _write_result(result)
    return result


def save_final(
    model: MolTCForConditionalGeneration, processor: MolTCProcessor, final_dir: Path, recipe: Recipe
) -> None:
    """``final/``: safetensors weights + config + code (auto_map), processor, and the recipe that made it."""
    model.save_pretrained(final_dir)
    processor.save_pretrained(final_dir)
    (final_dir / "training_recipe.yaml").write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))


def _write_result(result: TrainResult) -> None:
    data = {
        "final_dir": str(result.final_dir),
        "adapter_dir": str(result.adapter_dir) if result.adapter_dir else None,
        "global_step": result.global_step,
        "training_loss": result.training_loss,
        "num_rejects": result.num_rejects,
        "log_history": result.log_history,
    }
    (result.output_dir / "train_result.json").write_text(json.dumps(data, indent=2))


def _read_result(output_dir: Path) -> TrainResult:
    data = json.loads((output_dir / "train_result.json").read_text())
    return TrainResult(
        output_dir=output_dir,
        final_dir=Path(data["final_dir"]),
        global_step=data["global_step"],
        training_loss=data["training_loss"],
        log_history=data["log_history"],
        adapter_dir=Path(data["adapter_dir"]) if data["adapter_dir"] else None,
        num_rejects=data["num_rejects"],
    )


__all__ = [
    "PAPER_TRAINING_DEFAULTS",
    "RECIPES_DIR",
    "Recipe",
    "TrainResult",
    "build_sft_config",
    "build_trainer",
    "device_settings",
    "load_model",
    "load_recipe",
    "merged_model",
    "prepare_stage_model",
    "train",
]
