"""Issue 27: what a command is told is what it does, every saved folder works with ``pipeline()``, and every
number says where it came from. One test (or more) per numbered point, written the way a user makes the call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from moltc_hf.cli import main

PAIRS = [("CCO", "c1ccccc1O"), ("CC(=O)O", "CCN"), ("CCCl", "OCCO")]


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    monkeypatch.delenv("MOLTC_DEBUG", raising=False)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A folder written by plain ``model.save_pretrained`` + ``processor.save_pretrained``."""
    from moltc_hf import build_model

    model, processor = build_model("tiny", seed=0)
    folder = tmp_path_factory.mktemp("model") / "tiny"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture()
def pairs_csv(tmp_path) -> Path:
    path = tmp_path / "pairs.csv"
    pd.DataFrame(PAIRS, columns=["smiles_a", "smiles_b"]).to_csv(path, index=False)
    return path


def _fresh_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """``code`` in a new interpreter, offline, started outside the repository (no ``moltc_hf`` on its path
    unless installed), the way a user's own script runs."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


# -- 1. the output format follows the suffix --------------------------------------------------------------


def test_predict_output_format_follows_the_suffix(model_dir, pairs_csv, tmp_path):
    base = ["predict", "--model", str(model_dir), "--input", str(pairs_csv), "--device", "cpu"]
    base += ["--task", "ddi_binary", "--allow-untrained-task"]
    assert main([*base, "--output", str(tmp_path / "preds.csv")]) == 0
    frame = pd.read_csv(tmp_path / "preds.csv")
    assert frame["row_id"].tolist() == [0, 1, 2]
    assert frame["smiles_a"].tolist() == [a for a, _ in PAIRS]
    assert {"label", "probability", "value_source", "outside_interval"} <= set(frame.columns)
    assert main([*base, "--output", str(tmp_path / "preds.jsonl")]) == 0
    lines = pd.read_json(tmp_path / "preds.jsonl", lines=True)
    assert lines["row_id"].tolist() == [0, 1, 2]
    assert lines["label"].tolist() == frame["label"].tolist()
    assert main([*base, "--output", str(tmp_path / "preds.parquet")]) == 0
    assert pd.read_parquet(tmp_path / "preds.parquet")["label"].tolist() == frame["label"].tolist()


def test_predict_refuses_an_output_suffix_it_cannot_write(pairs_csv, tmp_path, capsys):
    args = ["predict", "--model", "nosuch", "--input", str(pairs_csv), "--output", str(tmp_path / "p.xlsx")]
    assert main(args) == 2  # refused before the (missing) model is looked for
    err = capsys.readouterr().err
    assert "unknown suffix '.xlsx'" in err and ".csv" in err and ".jsonl" in err
    assert not (tmp_path / "p.xlsx").exists()


# -- 2. training overrides are applied, and what is saved is what ran --------------------------------------


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    from moltc_hf.instructions import build_dataset

    out = tmp_path_factory.mktemp("data") / "mot"
    build_dataset("embedded", out, limit=30, pretrain_pairs=10, progress=False)
    return out


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--bf16", "true"], {"bf16": True, "fp16": False}),
        (["--bf16", "false"], {"bf16": False}),
        (["--num_train_epochs", "1"], {"num_train_epochs": 1.0, "max_steps": -1}),
        (["--max_steps", "7", "--num_train_epochs", "1"], {"max_steps": 7}),
        (
            ["--gradient_checkpointing", "true"],
            {"gradient_checkpointing": True, "activation_checkpointing": True},
        ),
        (["--learning_rate", "3e-4"], {"learning_rate": 3e-4}),
    ],
)
def test_each_kind_of_override_reaches_the_trainer_arguments(options, expected, tmp_path):
    """``moltc train ... <options>`` builds its SFTConfig from the recipe with the options laid over it: each
    value given is the value the Trainer gets (the device and the recipe's ``max_steps`` no longer win)."""
    from moltc_hf.cli._overrides import parse_overrides, with_training_overrides
    from moltc_hf.training.recipe import load_recipe
    from moltc_hf.training.trainer import build_sft_config

    recipe = with_training_overrides(load_recipe("tiny-finetune"), parse_overrides(options))
    args = build_sft_config(recipe, tmp_path)
    assert {name: getattr(args, name) for name in expected} == expected


def test_train_cli_applies_overrides_and_saves_what_ran(dataset_dir, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--recipe", "tiny-finetune", "--dataset", str(dataset_dir), "--config", "freesolv"]
    args += ["--output-dir", str(run), "--max-steps", "3", "--bf16", "false", "--save_strategy", "no"]
    args += ["--per_device_train_batch_size", "4"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "recipe overrides from the command line:" in out and "max_steps=3" in out and "bf16=False" in out
    assert json.loads((run / "train_result.json").read_text())["global_step"] == 3
    saved = yaml.safe_load((run / "final" / "training_recipe.yaml").read_text())
    assert saved["training"]["max_steps"] == 3  # not the recipe's 600
    assert saved["bf16"] is False and saved["training"]["bf16"] is False
    assert saved["training"]["per_device_train_batch_size"] == 4


def test_train_cli_num_train_epochs_wins_over_the_recipe_max_steps(dataset_dir, tmp_path, capsys):
    from datasets import load_dataset

    rows = len(load_dataset(str(dataset_dir), "freesolv", split="train"))
    run = tmp_path / "run"
    args = ["train", "--recipe", "tiny-finetune", "--dataset", str(dataset_dir), "--config", "freesolv"]
    args += ["--output-dir", str(run), "--num_train_epochs", "1", "--per_device_train_batch_size", "8"]
    args += ["--save_strategy", "no"]
    assert main(args) == 0
    assert "max_steps='none (the epochs decide)'" in capsys.readouterr().out
    assert json.loads((run / "train_result.json").read_text())["global_step"] == -(-rows // 8)  # one epoch
    saved = yaml.safe_load((run / "final" / "training_recipe.yaml").read_text())
    assert saved["training"]["num_train_epochs"] == 1 and saved["training"]["max_steps"] == -1
