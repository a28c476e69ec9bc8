"""`moltc quickstart --smoke` end to end: the newcomer command builds, trains, evaluates and saves real outputs."""

from __future__ import annotations

import json

import pytest
import torch

from moltc_hf.hub import model_card
from moltc_hf.pipeline import task_defaults
from moltc_hf.quickstart import QuickstartOptions, plan_steps


@pytest.mark.slow
def test_quickstart_smoke_end_to_end(tmp_path, capsys):
    from datasets import load_dataset
    from transformers import AutoModel, AutoProcessor

    from moltc_hf.cli import main

    out = tmp_path / "qs"
    assert main(["quickstart", "--smoke", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "random forest (RDKit descriptors)" in printed and f"moltc demo --model {out / 'model'}" in printed

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["smoke"] and metrics["task"] == "solvation" and metrics["num_test"] == 8
    assert {b["name"] for b in metrics["baselines"]} >= {"mean", "ridge (RDKit descriptors)"}
    assert metrics["steps"] == {"pretrain": 4, "finetune": 30}  # the steps actually run
    assert "pretrain 4 + fine-tune 30 steps" in printed
    first, last = metrics["finetune_loss_first_last"]
    assert last < first  # a real optimisation happened, even in 30 steps
    assert (out / "parity.png").stat().st_size > 1000

    dataset = load_dataset(str(out / "mot-instructions"), "freesolv")
    assert set(dataset) == {"train", "validation", "test"} and dataset["train"][0]["task"] == "solvation"

    model = AutoModel.from_pretrained(out / "model")
    processor = AutoProcessor.from_pretrained(out / "model")
    assert model.config.projector_sharing == "untied"  # pretrained tied, fine-tuned untied
    # The model records what it was trained on (predict/pipeline/card/Space answer only that) ...
    assert task_defaults(model.config) == {"task": "solvation", "tasks": ["solvation"]}
    # ... and carries its evaluation, so `moltc push --dry-run` has a metrics table.
    assert json.loads((out / "model" / "metrics.json").read_text())["task"] == "solvation"
    assert "No `metrics.json` was found" not in model_card(out / "model", "someone/qs").content
    batch = processor(text=[dataset["test"][0]["prompt"]], molecules=[("O", dataset["test"][0]["smiles_b"])])
    with torch.no_grad():
        assert torch.isfinite(model(**batch).logits).all()


def test_plan_steps_are_the_fixed_counts_unless_the_cap_lowers_them():
    options = QuickstartOptions(minutes=5)
    assert (options.pretrain_steps, options.finetune_steps) == (200, 1500)
    # Enough time: exactly the fixed counts, so a run's numbers do not depend on the machine's speed.
    assert plan_steps(10_000, 0.2, 0.01, options, num_train=500) == (200, 1500)
    # Too little time: fewer steps, and fewer on a slower machine.
    fast = plan_steps(60, 0.2, 0.05, options, num_train=500)
    slow = plan_steps(60, 0.4, 0.10, options, num_train=500)
    assert fast[1] > slow[1] and fast[0] > slow[0] and fast[1] < 1500
    many = QuickstartOptions(finetune_steps=100_000)
    assert plan_steps(1e9, 0.2, 0.01, many, num_train=500)[1] == int(many.max_epochs * 500 / 16)
    with pytest.raises(ValueError, match="minutes"):
        QuickstartOptions(minutes=0)
    with pytest.raises(ValueError, match="finetune_steps"):
        QuickstartOptions(finetune_steps=0)
