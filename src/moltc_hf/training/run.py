"""`train`: a recipe on a dataset folder -> checkpoints, ``final/`` (and ``adapter/``), ``train_result.json``."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from transformers import TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from ..instructions.tasks import read_classes
from ..modeling_moltc import MolTCForConditionalGeneration
from ..processing_moltc import MolTCProcessor
from ..rejects import write_rejects
from .recipe import PAPER_TRAINING_DEFAULTS, Recipe, load_recipe
from .trainer import (
    build_trainer,
    drop_invalid_rows,
    load_model,
    load_split,
    merged_model,
    prepare_stage_model,
    save_final,
)

logger = logging.getLogger(__name__)


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


def _shipped_candidates(dataset_dir, config_name: str, dataset) -> dict[str, list[str]]:
    """task -> the class sentences the dataset folder ships for this config (DrugBank types), if any."""
    classes = read_classes(dataset_dir, config_name) if Path(dataset_dir).is_dir() else None
    if not classes or "task" not in dataset.column_names or not len(dataset):
        return {}
    return {task: classes for task in set(dataset.unique("task"))}


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
    train_split = load_split(dataset_dir, config_name, "train")
    if train_split is None:
        raise ValueError(f"Dataset {dataset_dir} has no 'train' split in config {config_name!r}")
    train_dataset, rejects = drop_invalid_rows(train_split, processor, "train")
    eval_dataset = None
    if recipe.training.get("eval_strategy", PAPER_TRAINING_DEFAULTS["eval_strategy"]) != "no":
        eval_dataset = load_split(dataset_dir, config_name, "validation")
        if eval_dataset is not None:
            eval_dataset, eval_rejects = drop_invalid_rows(eval_dataset, processor, "validation")
            rejects += eval_rejects
    if rejects:
        write_rejects(rejects, output_dir / "rejects.parquet", "train")

    trainer = build_trainer(
        recipe,
        model,
        processor,
        train_dataset,
        output_dir,
        eval_dataset=eval_dataset,
        max_steps=max_steps,
        callbacks=callbacks,
        candidates=_shipped_candidates(dataset_dir, config_name, train_dataset),
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


__all__ = ["TrainResult", "train"]
