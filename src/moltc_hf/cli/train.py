"""`moltc train`: run a training recipe (pretrain / finetune / pipeline) with TRL's SFTTrainer.

    moltc train --recipe hub_configs/recipes/tiny-finetune.yaml --dataset data/mot --output-dir runs/tiny
    moltc train --recipe galactica-1.3b-finetune --dataset data/mot --config drugbank --model runs/pre/final
    moltc train --recipe tiny-joint --dataset data/mot --config chchminer,freesolv,compsol --output-dir runs/joint
    moltc train --recipe tiny-finetune ... --learning_rate 1e-4 --per_device_train_batch_size 8 \
        --push-to-hub --hub-model-id me/moltc-tiny     # any SFTConfig field over the recipe; upload final/

Recipe overrides are `SFTConfig` fields in `transformers.HfArgumentParser` spelling (`moltc_hf.cli._overrides`);
an option that is neither ours nor a field is refused by name. Two CPU processes: ``torchrun --nproc_per_node 2
-m moltc_hf.cli train ...`` (gloo data parallelism; rank 0 writes ``final/`` and pushes it).

Multi-GPU / multi-node: ``accelerate launch --config_file hub_configs/accelerate/<file>.yaml $(which moltc) train
...``. The final model (LoRA merged, ``AutoModel``-loadable, processor beside it) is written to
``<output-dir>/final``.
"""

from __future__ import annotations

import argparse
import os

from ._checks import check_model_folder, positive_int
from ._overrides import describe_overrides, keep_unknown_options, parse_overrides, with_training_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", required=True, help="recipe YAML path or name in hub_configs/recipes")
    parser.add_argument("--dataset", required=True, help="dataset folder written by `moltc build-dataset`")
    parser.add_argument(
        "--config",
        default=None,
        help="dataset config to fine-tune on (default: the recipe's); a,b,c trains one model on a mixture "
        "of several configs (recipe keys mixture_temperature, stopping_strategy)",
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
    parser.add_argument(
        "--push-to-hub",
        "--push_to_hub",
        action="store_true",
        help="upload <output-dir>/final (the merged model) with `moltc_hf.hub.push_folder` when training ends",
    )
    parser.add_argument(
        "--hub-model-id", "--hub_model_id", default=None, help="user-or-org/name to push final/ to"
    )
    parser.add_argument("--hub-private", action="store_true", help="create the hub repository as private")
    parser.add_argument(
        "--hub-dry-run", action="store_true", help="with --push-to-hub: list what would be pushed; no network"
    )
    parser.epilog = (
        "Any SFTConfig field overrides the recipe's `training:` block (every stage of a pipeline), "
        "HfArgumentParser style: --learning_rate 1e-4 --per_device_train_batch_size 8 --bf16 false."
    )
    # Those overrides are not declared here (parsing them imports TRL): `run` checks them against SFTConfig.
    keep_unknown_options(parser)


def run(args: argparse.Namespace) -> int:
    from moltc_hf.training import train

    recipe = checked_recipe(args.recipe, args.model)
    overrides = parse_overrides(getattr(args, "training_overrides", []))
    recipe = with_training_overrides(recipe, overrides)
    if overrides or args.max_steps is not None:
        shown = {**overrides, **({"max_steps": args.max_steps} if args.max_steps is not None else {})}
        if "num_train_epochs" in overrides and "max_steps" not in shown:
            shown["max_steps"] = "none (the epochs decide)"
        print(describe_overrides(shown))
    if args.push_to_hub and not args.hub_model_id:
        raise ValueError("--push-to-hub needs --hub-model-id user-or-org/name")
    if args.hub_model_id and not args.push_to_hub:
        raise ValueError("--hub-model-id is where --push-to-hub uploads; pass --push-to-hub too")
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
            f"skipped {result.num_rejects} row(s) (invalid molecules, answers cut away by max_length): "
            f"{result.output_dir / 'rejects.parquet'}"
        )
    # One upload, by the rank that wrote final/ (under torchrun every rank runs this command).
    if args.push_to_hub and int(os.environ.get("RANK", "0")) == 0:
        push_final(result.final_dir, args.hub_model_id, private=args.hub_private, dry_run=args.hub_dry_run)
    return 0


def push_final(final_dir, repo_id: str, *, private: bool, dry_run: bool) -> None:
    """Upload ``final/`` (card, pipeline code and all) as `moltc push` would, and say what went where."""
    from moltc_hf.hub import push_folder

    pushed = push_folder(final_dir, repo_id, private=private, dry_run=dry_run)
    action = "would upload" if pushed.dry_run else "uploaded"
    print(f"{action} {len(pushed.files)} files of {final_dir} to {pushed.repo_id}: {', '.join(pushed.files)}")
    if pushed.url:
        print(f"pushed: {pushed.url}")


def checked_recipe(name: str, model: str | None):
    """The recipe, validated, and its starting model checked before any data or weights are loaded."""
    from pathlib import Path

    from moltc_hf.training.recipe import check_model_source, load_recipe

    recipe = load_recipe(name)
    first = recipe.stages[0] if recipe.stage == "chain" else recipe
    source, key = (model, "--model") if model is not None else (first.model, f"recipe {recipe.name!r}: model")
    check_model_source(source, key)
    if Path(source).is_dir():
        check_model_folder(source)
    return recipe
