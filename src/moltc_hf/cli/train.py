"""`moltc train`: run a training recipe (pretrain / finetune / pipeline) with TRL's SFTTrainer.

    moltc train --recipe hub_configs/recipes/tiny-finetune.yaml --dataset data/mot --output-dir runs/tiny
    moltc train --recipe galactica-1.3b-finetune --dataset data/mot --config drugbank --model runs/pre/final

Multi-GPU / multi-node: ``accelerate launch --config_file hub_configs/accelerate/<file>.yaml $(which moltc) train
...``. The final model (LoRA merged, ``AutoModel``-loadable, processor beside it) is written to
``<output-dir>/final``.
"""

from __future__ import annotations

import argparse

from ._checks import check_model_folder, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", required=True, help="recipe YAML path or name in hub_configs/recipes")
    parser.add_argument("--dataset", required=True, help="dataset folder written by `moltc build-dataset`")
    parser.add_argument(
        "--config", default=None, help="dataset config to fine-tune on (default: the recipe's)"
    )
    parser.add_argument("--output-dir", required=True, help="checkpoints, final/ model and train_result.json")
    parser.add_argument(
        "--model", default=None, help="start from this saved MolTC folder, hub id or model config name"
    )
    parser.add_argument(
        "--max-steps", type=positive_int, default=None, help="cap every stage at N optimizer steps"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from the last checkpoint in --output-dir"
    )


def run(args: argparse.Namespace) -> int:
    from moltc_hf.training import train

    recipe = checked_recipe(args.recipe, args.model)
    result = train(
        recipe,
        dataset_dir=args.dataset,
        output_dir=args.output_dir,
        config_name=args.config,
        model=args.model,
        max_steps=args.max_steps,
        resume=args.resume,
    )
    loss = f"{result.training_loss:.4f}" if result.training_loss is not None else "n/a"
    print(f"trained {result.global_step} steps (mean training loss {loss}); model: {result.final_dir}")
    if result.adapter_dir is not None:
        print(f"PEFT adapter (for the stage's starting model): {result.adapter_dir}")
    if result.num_rejects:
        print(
            f"skipped {result.num_rejects} row(s) with invalid molecules: {result.output_dir / 'rejects.parquet'}"
        )
    return 0


def checked_recipe(name: str, model: str | None):
    """The recipe, validated, and its starting model checked before any data or weights are loaded."""
    from pathlib import Path

    from moltc_hf.training.recipe import check_model_source, load_recipe

    recipe = load_recipe(name)
    first = recipe.stages[0] if recipe.stage == "pipeline" else recipe
    source, key = (model, "--model") if model is not None else (first.model, f"recipe {recipe.name!r}: model")
    check_model_source(source, key)
    if Path(source).is_dir():
        check_model_folder(source)
    return recipe
