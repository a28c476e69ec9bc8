"""`moltc train` recipe overrides from the command line: ``--learning_rate 1e-4 --per_device_train_batch_size 8``.

Any `SFTConfig` field, spelled as `transformers.HfArgumentParser` spells it (``--name value``, ``--name=value``,
``--name-with-dashes``, ``--flag`` / ``--no_flag`` for booleans), is laid over the recipe's ``training:``
block -- of every stage, for a pipeline recipe -- after the recipe's own values, so a sweep or a smoke run needs
no copied YAML. The parser is TRL's and transformers' own, built only when there is something to parse (it
imports TRL). Options that are not `SFTConfig` fields are refused by name, never ignored. Fields that
`moltc train` owns are refused with the option to use instead: the output folder, and the hub push (which
uploads the merged ``final/``, not Trainer's checkpoints or a PEFT adapter).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

# SFTConfig fields with a `moltc train` option of their own (or set by it): use that option instead.
OWN_OPTIONS = {
    "output_dir": "--output-dir",
    "push_to_hub": "--push-to-hub",
    "hub_model_id": "--hub-model-id",
    "resume_from_checkpoint": "--resume",
}


def keep_unknown_options(parser: argparse.ArgumentParser, dest: str = "training_overrides") -> None:
    """Make ``parser.parse_args`` keep the options it does not know in ``args.<dest>`` (for `parse_overrides`)
    instead of failing on them: they are checked against `SFTConfig` when the command runs."""
    parse_known_args = parser.parse_known_args

    def parse_args(args=None, namespace=None):
        namespace, rest = parse_known_args(args, namespace)
        setattr(namespace, dest, rest)
        return namespace

    parser.parse_args = parse_args


def parse_overrides(tokens: list[str]) -> dict[str, Any]:
    """``["--learning_rate", "1e-4", ...]`` -> ``{"learning_rate": 1e-4, ...}``: only the fields given, typed.

    Raises ValueError naming every option that is not an `SFTConfig` field (or a stray value).
    """
    if not tokens:
        return {}
    from transformers import HfArgumentParser
    from trl import SFTConfig

    # HfArgumentParser rewrites the dataclass's own field types (``dict | str`` -> ``str``); recipe validation
    # reads those types, so they are put back once the parser exists.
    types = {f.name: f.type for f in dataclasses.fields(SFTConfig)}
    try:
        parser = HfArgumentParser(SFTConfig)
    finally:
        for f in dataclasses.fields(SFTConfig):
            f.type = types[f.name]

    def refuse(message: str):  # argparse would print SFTConfig's whole usage and exit; one line instead
        raise ValueError(f"recipe override: {message}")

    parser.error = refuse
    namespace, unknown = parser.parse_known_args(tokens)
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown}: not `moltc train` options nor SFTConfig fields "
            "(a recipe override is --<SFTConfig field> VALUE, e.g. --learning_rate 1e-4)"
        )
    given: list[str] = []
    for token in tokens:
        if token.startswith("--"):
            action = parser._option_string_actions.get(token.split("=", 1)[0])
            if action is not None and action.dest not in given:
                given.append(action.dest)
    owned = [f"--{name} (use {OWN_OPTIONS[name]})" for name in given if name in OWN_OPTIONS]
    if owned:
        raise ValueError(f"option(s) {owned} belong to `moltc train` itself")
    fields = {f.name for f in dataclasses.fields(SFTConfig) if f.init}
    return {name: getattr(namespace, name) for name in given if name in fields}


# Command-line fields that are also recipe keys of their own (`Recipe.bf16`, `Recipe.gradient_checkpointing`,
# which `device_settings` resolves from the device): the command-line value is written to that key as well, so
# the device never overrules it and ``final/training_recipe.yaml`` records what ran.
RECIPE_KEYS = {
    "bf16": "bf16",
    "gradient_checkpointing": "gradient_checkpointing",
    "activation_checkpointing": "gradient_checkpointing",
}


def with_training_overrides(recipe, overrides: dict[str, Any]):
    """The recipe with ``overrides`` over its ``training:`` block (and every stage's), validated like YAML keys.

    What the user passes wins over everything the recipe would otherwise decide: ``--bf16`` /
    ``--gradient_checkpointing`` replace the recipe's device-dependent ``auto``, and ``--num_train_epochs N``
    without ``--max_steps`` drops the recipe's ``max_steps`` (which the Trainer would otherwise obey instead,
    silently: 600 steps for "1 epoch").
    """
    if not overrides:
        return recipe
    from moltc_hf.training.recipe import validate_training

    validate_training(dict(overrides), f"Recipe {recipe.name!r}", "command line: ")
    overrides = dict(overrides)
    if "num_train_epochs" in overrides and "max_steps" not in overrides:
        overrides["max_steps"] = -1  # transformers' "no step cap": the epochs decide
    own = {RECIPE_KEYS[name]: value for name, value in overrides.items() if name in RECIPE_KEYS}
    return dataclasses.replace(
        recipe,
        **own,
        training={**recipe.training, **overrides},
        stages=[with_training_overrides(stage, overrides) for stage in recipe.stages],
    )


def describe_overrides(overrides: dict[str, Any]) -> str:
    """One line saying what the command line changed (printed before training starts)."""
    return "recipe overrides from the command line: " + ", ".join(f"{k}={v!r}" for k, v in overrides.items())


__all__ = [
    "OWN_OPTIONS",
    "RECIPE_KEYS",
    "describe_overrides",
    "keep_unknown_options",
    "parse_overrides",
    "with_training_overrides",
]
