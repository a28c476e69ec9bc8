"""The shipped task recipe learns something a user can see: its DDI scores move with the pair.

A recipe whose model answers every pair with the same probability (the train label rate) looks fine in
its loss curve; this checks the readout a user gets from ``moltc train`` + ``moltc evaluate``. The learning
*level* (AUROC against the drug prior, with ablations) is measured in ``benchmarks/ablations.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import load_benchmark
from moltc_hf.cli import main
from moltc_hf.instructions import build_dataset


@pytest.mark.slow
@pytest.mark.parametrize("recipe, steps", [("tiny-finetune", 30), ("tiny-task", 60)])
def test_tiny_task_recipes_give_pair_dependent_ddi_scores(recipe, steps, raw_dir, tmp_path):
    dataset = tmp_path / "mot"
    build_dataset("chchminer", dataset, limit=300, seed=0, raw_dir=raw_dir, progress=False)
    code = main(
        ["train", "--recipe", recipe, "--dataset", str(dataset), "--config", "chchminer",
         "--output-dir", str(tmp_path / "run"), "--max-steps", str(steps)]
    )  # fmt: skip
    assert code == 0
    code = main(
        ["evaluate", "--model", str(tmp_path / "run" / "final"), "--dataset", str(dataset),
         "--config", "chchminer", "--out", str(tmp_path / "eval"), "--no-order-consistency"]
    )  # fmt: skip
    assert code == 0
    predictions = pd.read_parquet(tmp_path / "eval" / "predictions.parquet")
    positive = np.array([p[1] for p in predictions["class_probabilities"]])
    assert len(positive) > 20
    assert positive.std() > 1e-3, "every pair got the same score"
    assert 0.02 < positive.mean() < 0.98, "the model answers one class with certainty"
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())["metrics"]
    assert metrics["num_unparseable"] == 0


def test_shuffled_ablation_moves_every_answer_column_with_the_label(raw_dir, tmp_path):
    """The shuffled variant must train on permuted answers: the collator reads `completion` when a build has it."""
    ablations = load_benchmark("ablations")
    dataset = tmp_path / "mot"
    build_dataset("freesolv", dataset, limit=80, seed=0, raw_dir=raw_dir, progress=False)
    out = ablations.variant_dataset(dataset, "freesolv", "shuffled", 0, tmp_path / "shuffled")
    original = pd.read_parquet(dataset / "data" / "freesolv" / "train-00000-of-00001.parquet")
    shuffled = pd.read_parquet(out / "data" / "freesolv" / "train-00000-of-00001.parquet")
    assert "completion" in shuffled
    assert (shuffled["completion"] == shuffled["target"]).all()  # answers still match their (moved) labels
    assert (shuffled["completion"] != original["completion"]).mean() > 0.5
    assert sorted(shuffled["label"]) == sorted(original["label"])
    assert (shuffled["prompt"] == original["prompt"]).all()  # the inputs stay where they were
