"""One stage's pieces: the model to train, its data, the `SFTConfig`/`SFTTrainer`, and the merged result.

Everything TRL-specific lives here: bf16 / activation checkpointing from the device (TRL defaults both on,
even on CPU), ``remove_unused_columns=False`` + ``skip_prepare_dataset`` so `MolTCDataCollator` sees the raw
rows, and the clean-up after training (LoRA merged, TRL's fused-head and accelerate's autocast ``forward``
patches removed, MolTC's answer-end stop token restored in the generation config).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import yaml
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoProcessor, TrainerCallback
from trl import SFTConfig, SFTTrainer

from ..collator import IGNORE_INDEX, MolTCDataCollator
from ..factory import available_model_configs, build_model, configure_generation
from ..instructions.loading import load_split
from ..lora import moltc_lora_config
from ..modeling_moltc import MolTCForConditionalGeneration
from ..processing_moltc import MOLECULE_FIELDS, MolTCProcessor
from .recipe import PAPER_TRAINING_DEFAULTS, Recipe

logger = logging.getLogger(__name__)


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


class MolTCSFTTrainer(SFTTrainer):
    """`SFTTrainer` that honours the collator's ``loss_weights`` (decision weighting); TRL's loss otherwise.

    With weights the loss is the weighted mean of the answer tokens' cross-entropies, computed from the
    model's own logits (TRL's fused-head path has no per-token weights).
    """

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
    collator = MolTCDataCollator(
        processor,
        max_length=recipe.max_length,
        decision_weight=recipe.decision_weight,
        candidates=candidates or {},
    )
    return MolTCSFTTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=collator,
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


def save_final(
    model: MolTCForConditionalGeneration, processor: MolTCProcessor, final_dir: Path, recipe: Recipe
) -> None:
    """``final/``: safetensors weights + config + code (auto_map), processor, and the recipe that made it."""
    model.save_pretrained(final_dir)
    processor.save_pretrained(final_dir)
    (final_dir / "training_recipe.yaml").write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))


__all__ = [
    "build_sft_config",
    "MolTCSFTTrainer",
    "build_trainer",
    "device_settings",
    "drop_invalid_rows",
    "load_model",
    "load_split",
    "merged_model",
    "prepare_stage_model",
    "save_final",
]
