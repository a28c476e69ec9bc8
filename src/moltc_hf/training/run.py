"""`train`: a recipe on a dataset folder -> checkpoints, ``final/`` (and ``adapter/``), ``train_result.json``."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from transformers import TrainerCallback

from ..atomic import write_folder_atomically, write_text_atomically
from ..corpus import find_moses_file
from ..instructions.builder import default_raw_dir
from ..modeling_moltc import MolTCForConditionalGeneration
from ..processing_moltc import MolTCProcessor
from ..rejects import write_rejects
from ..tasks.registry import read_classes
from .graph_pretrain import GraphPretrainingArguments, finished_graph_encoder, pretrain_graph_encoder
from .mixture import mix_datasets, split_configs
from .recipe import PAPER_TRAINING_DEFAULTS, Recipe, load_recipe
from .trainer import (
    build_trainer,
    drop_invalid_rows,
    load_model,
    load_split,
    merged_model,
    prepare_stage_model,
    save_final,
    trained_tasks,
)
from .truncation import drop_answerless_rows

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
    # joint training: config -> train rows, probability
    mixture: dict[str, dict] = field(default_factory=dict)

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
        config_name: dataset config for fine-tuning stages (default: the recipe's ``dataset_config``);
            ``"a,b,..."`` trains one model on a mixture of several configs (`moltc_hf.training.mixture`),
            with the validation loss reported per config (``eval_<config>_loss``).
        model: start from this instead of the recipe's ``model``: a saved MolTC folder / hub id / config name,
            or an in-memory ``(model, processor)``.
        max_steps: cap every stage at this many optimizer steps (smoke runs).
        resume: continue each stage from its last checkpoint in its output folder (step, optimizer, scheduler,
            RNG state); a pipeline skips stages whose ``final/`` already exists.
        callbacks: extra `transformers.TrainerCallback`s for every stage (progress, early stopping, ...).
    """
    recipe = load_recipe(recipe)
    if max_steps is not None:  # recorded in the recipe, so final/training_recipe.yaml says what ran
        recipe = _with_max_steps(recipe, max_steps)
    output_dir = Path(output_dir)
    if recipe.stage == "graph-pretrain":
        return _pretrain_graph_stage(recipe, output_dir, max_steps, resume)
    if recipe.stage == "chain":
        return _train_pipeline(
            recipe, dataset_dir, output_dir, config_name, model, max_steps, resume, callbacks
        )
    return _train_stage(recipe, dataset_dir, output_dir, config_name, model, max_steps, resume, callbacks)


def _with_max_steps(recipe: Recipe, max_steps: int) -> Recipe:
    return dataclasses.replace(
        recipe,
        training={**recipe.training, "max_steps": max_steps},
        stages=[_with_max_steps(stage, max_steps) for stage in recipe.stages],
    )


def _train_pipeline(
    recipe, dataset_dir, output_dir, config_name, model, max_steps, resume, callbacks
) -> TrainResult:
    results: list[TrainResult] = []
    current = model
    graph_encoder = None  # set by a graph-pretrain stage: the next stage builds its model on that GIN
    for index, stage in enumerate(recipe.stages):
        stage_dir = output_dir / "stages" / f"{index}-{stage.name}"
        if stage.stage == "graph-pretrain":
            results.append(_pretrain_graph_stage(stage, stage_dir, max_steps, resume))
            graph_encoder = results[-1].final_dir
            continue
        if graph_encoder is not None:
            stage = dataclasses.replace(stage, graph_encoder=str(graph_encoder))
            graph_encoder = None
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

    def copy_last_stage(folder: Path) -> None:
        shutil.copytree(results[-1].final_dir, folder)
        (folder / "training_recipe.yaml").write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))

    write_folder_atomically(final_dir, copy_last_stage)
    _write_pipeline_rejects(output_dir, [r.output_dir for r in results])
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


def _pretrain_graph_stage(
    recipe: Recipe, output_dir: Path, max_steps: int | None, resume: bool
) -> TrainResult:
    """A ``graph-pretrain`` stage: `pretrain_graph_encoder` on MOSES (``$MOLTC_RAW_DIR`` or the molsets wheel
    there), the GIN of ``recipe.model``'s shape; ``final/`` is the GIN folder the next stage starts from."""
    final = finished_graph_encoder(output_dir)
    if resume and final is not None and (output_dir / "train_result.json").is_file():
        logger.info("Graph pretraining already finished in %s; skipping.", output_dir)
        return _read_result(output_dir)
    settings = dict(recipe.graph_pretraining)
    if max_steps is not None:
        settings["max_steps"] = min(max_steps, settings.get("max_steps", max_steps))
    settings.setdefault("seed", int(recipe.training.get("seed", PAPER_TRAINING_DEFAULTS["seed"])))
    args = GraphPretrainingArguments.from_dict(settings)
    raw_dir = default_raw_dir()
    result = pretrain_graph_encoder(
        find_moses_file("train", raw_dir),
        output_dir,
        graph_config=recipe.model,
        args=args,
        heldout=find_moses_file("test", raw_dir),
        resume=resume,
        progress=lambda point: logger.info("graph pretraining: %s", point),
    )
    losses = [p["train_loss"] for p in result.curve if "train_loss" in p]
    train_result = TrainResult(
        output_dir=output_dir,
        final_dir=output_dir / "final",
        global_step=result.global_step,
        training_loss=losses[-1] if losses else None,
        log_history=[p | {"loss": p.get("train_loss")} for p in result.curve],
    )
    _write_result(train_result)
    return train_result


def _write_pipeline_rejects(output_dir: Path, stage_dirs: list[Path]) -> None:
    """``rejects.parquet`` of a pipeline: every stage's rejects in one file (empty when none), at the top."""
    import pyarrow as pa

    from ..rejects import REJECT_SCHEMA, read_rejects

    if int(os.environ.get("RANK", "0")) != 0:
        return
    tables = [read_rejects(d / "rejects.parquet") for d in stage_dirs if (d / "rejects.parquet").is_file()]
    table = pa.concat_tables(tables) if tables else REJECT_SCHEMA.empty_table()
    write_rejects(table, output_dir / "rejects.parquet", "train")


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
    start_model = None if isinstance(model, tuple) else str(model if model is not None else recipe.model)
    if isinstance(model, tuple):
        model, processor = model
    else:
        seed = int(recipe.training.get("seed", PAPER_TRAINING_DEFAULTS["seed"]))
        model, processor = load_model(
            model if model is not None else recipe.model, seed=seed, graph_encoder=recipe.graph_encoder
        )
    prepare_stage_model(model, recipe)

    configs = split_configs(config_name or recipe.dataset_config)
    wants_eval = recipe.training.get("eval_strategy", PAPER_TRAINING_DEFAULTS["eval_strategy"]) != "no"
    trains, evals, rejects, candidates = {}, {}, [], {}
    for config in configs:
        train_split = load_split(dataset_dir, config, "train")
        if train_split is None:
            raise ValueError(f"Dataset {dataset_dir} has no 'train' split in config {config!r}")
        trains[config], config_rejects = drop_invalid_rows(train_split, processor, "train")
        trains[config], cut = drop_answerless_rows(
            trains[config], processor, recipe.max_length, "train", graph_only=recipe.graph_only_prompts
        )
        config_rejects += cut
        if wants_eval and (validation := load_split(dataset_dir, config, "validation")) is not None:
            evals[config], eval_rejects = drop_invalid_rows(validation, processor, "validation")
            evals[config], cut = drop_answerless_rows(
                evals[config],
                processor,
                recipe.max_length,
                "validation",
                graph_only=recipe.graph_only_prompts,
            )
            config_rejects += eval_rejects + cut
        rejects += [entry | {"source": config} for entry in config_rejects]
        candidates.update(_shipped_candidates(dataset_dir, config, trains[config]))
    mixture: dict[str, dict] = {}
    if len(configs) == 1:
        train_dataset, eval_dataset = trains[configs[0]], evals.get(configs[0])
    else:  # joint training: one seeded, size-tempered mixture; validation loss per config (eval_<config>_loss)
        seed = int(recipe.training.get("seed", PAPER_TRAINING_DEFAULTS["seed"]))
        train_dataset, probabilities = mix_datasets(
            list(trains.values()),
            temperature=recipe.mixture_temperature,
            seed=seed,
            stopping_strategy=recipe.stopping_strategy,
        )
        mixture = {
            config: {"train_rows": len(trains[config]), "probability": p}
            for config, p in zip(configs, probabilities)
        }
        logger.info("Joint training mixture (%d rows per epoch): %s", len(train_dataset), mixture)
        eval_dataset = evals or None
    # Every rank finds the same rejects (under torchrun each runs this); one writes them. The file is written
    # even when empty: "no rejects file" would otherwise mean both "nothing skipped" and "not checked".
    if int(os.environ.get("RANK", "0")) == 0:
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
        candidates=candidates,
    )
    trainer.start_model = start_model
    checkpoint = newest_complete_checkpoint(output_dir) if resume and output_dir.is_dir() else None
    if resume and checkpoint is None:
        logger.warning(
            "--resume: no checkpoint in %s; starting stage %r from step 0.", output_dir, recipe.name
        )
    if checkpoint is not None:
        keep_original_schedule(trainer, checkpoint)
    if checkpoint is not None and _reached_max_steps(checkpoint, trainer.args.max_steps):
        output = _restore_finished(trainer, checkpoint)
    else:
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
            write_folder_atomically(adapter_dir, trainer.model.save_pretrained)
        tasks = trained_tasks(train_dataset)  # recorded in final/'s config: what the Space offers
        write_folder_atomically(
            final_dir,
            lambda d: save_final(
                merged_model(trainer), processor, d, recipe, tasks=tasks, candidates=candidates
            ),
        )

    result = TrainResult(
        output_dir=output_dir,
        final_dir=final_dir,
        global_step=output.global_step,
        training_loss=output.training_loss,
        log_history=list(trainer.state.log_history),
        adapter_dir=adapter_dir,
        num_rejects=len({(r["source"], r["split"], r["row"]) for r in rejects}),
        mixture=mixture,
    )
    if trainer.accelerator.is_main_process:
        _write_result(result)
    return result


def _reached_max_steps(checkpoint: str, max_steps: int) -> bool:
    """The checkpoint is the run's last step (killed after it, before ``final/`` was written)."""
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
    return max_steps > 0 and state.get("global_step", 0) >= max_steps


def keep_original_schedule(trainer, checkpoint: str) -> None:
    """Resume on the interrupted run's learning-rate schedule, whatever the new step cap.

    The Trainer rebuilds the scheduler from the *new* ``max_steps`` and then loads the old one's step count, so a
    changed cap jumped the learning rate (1e-4 at step 21, 5.9e-4 at step 22). A lower cap keeps the original
    schedule and stops early, as if the original run had been stopped there; a higher one is refused: the
    original schedule has already decayed towards its end, and continuing it past that end is not that run.
    """
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
    original, cap = int(state.get("max_steps", 0)), int(trainer.args.max_steps)
    if original <= 0 or cap <= 0 or cap == original:
        return
    if cap > original:
        raise ValueError(
            f"--resume: {checkpoint} is from a run of max_steps={original}, whose learning-rate schedule ends "
            f"there; max_steps={cap} cannot continue it. Resume with max_steps <= {original} (the original "
            "schedule, stopped early), or train a new run into another output folder."
        )
    trainer.schedule_steps = original
    logger.warning(
        "--resume: keeping the original run's %d-step learning-rate schedule; stopping at step %d.",
        original,
        cap,
    )


def _restore_finished(trainer, checkpoint: str):
    """Load the last checkpoint instead of training from it.

    ``Trainer.train`` resumed at ``global_step == max_steps`` still runs one more optimizer step (it checks the
    limit only after a step), so the rerun would end at step N+1 with other weights than the uninterrupted run.
    """
    from transformers import TrainerState
    from transformers.trainer_utils import TrainOutput

    trainer._load_from_checkpoint(checkpoint)
    trainer.state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    mean_loss = sum(losses) / len(losses) if losses else None
    logger.warning(
        "--resume: %s is the last step (%d); not training further.", checkpoint, trainer.state.global_step
    )
    return TrainOutput(trainer.state.global_step, mean_loss, {})


def checkpoint_problem(folder: Path) -> str | None:
    """Why a ``checkpoint-N`` folder cannot be resumed from, or ``None`` when it is complete.

    The Trainer writes ``trainer_state.json`` last, so a checkpoint interrupted by a kill or a full disk lacks
    it (or has it truncated); weights and optimizer files are checked too (safetensors header, zip archive).
    """
    import zipfile

    from safetensors import SafetensorError, safe_open

    state = folder / "trainer_state.json"
    if not state.is_file():
        return "no trainer_state.json"
    try:
        json.loads(state.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "trainer_state.json is truncated"
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        return "no weights"
    for path in weights:
        try:
            with safe_open(str(path), framework="pt") as handle:
                handle.keys()
        except (SafetensorError, OSError) as err:
            return f"{path.name} is unreadable ({err})"
    for path in folder.glob("*.pt"):
        if not zipfile.is_zipfile(path):
            return f"{path.name} is truncated"
    return None


def newest_complete_checkpoint(output_dir: Path) -> str | None:
    """The newest ``checkpoint-N`` that is complete; newer incomplete ones are reported and removed.

    ``get_last_checkpoint`` takes the highest N even when a kill left it empty, and the Trainer then stops
    with "Can't find a valid checkpoint"; this falls back to the last good one instead.
    """
    found = [p for p in output_dir.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    for folder in sorted(found, key=lambda p: int(p.name.split("-")[-1]), reverse=True):
        problem = checkpoint_problem(folder)
        if problem is None:
            return str(folder)
        logger.warning("--resume: skipping incomplete %s (%s); removing it.", folder, problem)
        shutil.rmtree(folder)
    return None


def _write_result(result: TrainResult) -> None:
    data = {
        "final_dir": str(result.final_dir),
        "adapter_dir": str(result.adapter_dir) if result.adapter_dir else None,
        "global_step": result.global_step,
        "training_loss": result.training_loss,
        "num_rejects": result.num_rejects,
        "mixture": result.mixture,
        "log_history": result.log_history,
    }
    path = result.output_dir / "train_result.json"  # a pipeline's --resume trusts it: never half written
    write_text_atomically(path, json.dumps(data, indent=2))


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
        mixture=data.get("mixture", {}),
    )


__all__ = [
    "TrainResult",
    "checkpoint_problem",
    "keep_original_schedule",
    "newest_complete_checkpoint",
    "train",
    "write_folder_atomically",
]
