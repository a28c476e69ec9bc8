"""What a newcomer trips on (issue 18): models answer only the tasks they were trained on, the Space offers
only examples the loaded model answers, the card finds the metrics, reject reasons say what RDKit found,
and a resumed run keeps its original learning-rate schedule."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

import moltc_hf.pipeline  # noqa: F401  (registers the task)
from moltc_hf import build_model
from moltc_hf.cli import main
from moltc_hf.pipeline import UntrainedTaskError, resolve_task, set_task_defaults, task_defaults

TYPE_SENTENCES = ["#Drug1 raises the level of #Drug2.", "#Drug1 lowers the level of #Drug2."]


def _save(folder, **defaults):
    model, processor = build_model("tiny", seed=0)
    if defaults:
        set_task_defaults(model.config, **defaults)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def solvation_model(tmp_path_factory):
    """A model that records it was trained on solvation only (what the quickstart saves)."""
    return _save(tmp_path_factory.mktemp("solvation"), tasks=["solvation"], task="solvation")


@pytest.fixture(scope="module")
def fresh_model(tmp_path_factory):
    """A model that records no trained task (a fresh `build_model`, a converted original checkpoint)."""
    return _save(tmp_path_factory.mktemp("fresh"))


@pytest.fixture(scope="module")
def type_model(tmp_path_factory):
    """A model trained on DrugBank types, with the class sentences recorded beside the task."""
    return _save(
        tmp_path_factory.mktemp("types"), tasks=["ddi_type"], candidates={"ddi_type": TYPE_SENTENCES}
    )


def _pipe(folder):
    from transformers import pipeline

    return pipeline("molecule-pair-interaction", model=str(folder), trust_remote_code=True)


# -- 1. a model answers only what it was trained on --
def test_resolve_task_uses_the_recorded_task_and_refuses_others(solvation_model, fresh_model, caplog):
    from transformers import AutoConfig

    trained = AutoConfig.from_pretrained(solvation_model)
    assert resolve_task(trained) == "solvation"
    with pytest.raises(UntrainedTaskError, match=r"not trained on task 'ddi_binary'.*trained on: solvation"):
        resolve_task(trained, "ddi_binary")
    warnings = []
    assert (
        resolve_task(trained, "ddi_binary", allow_untrained_task=True, warn=warnings.append) == "ddi_binary"
    )
    assert "not trained on task 'ddi_binary'" in warnings[0]

    fresh = AutoConfig.from_pretrained(fresh_model)
    # issue 27: no silent ddi_binary fallback; a model that records no task answers only a named task
    with pytest.raises(UntrainedTaskError, match="records no trained task.*task="):
        resolve_task(fresh)
    warnings = []
    assert resolve_task(fresh, "ddi_binary", warn=warnings.append) == "ddi_binary"
    assert "records no trained task" in warnings[0]
    several = AutoConfig.from_pretrained(fresh_model)
    set_task_defaults(several, tasks=["ddi_binary", "solvation"])
    with pytest.raises(UntrainedTaskError, match="several tasks"):
        resolve_task(several)
    assert resolve_task(several, "solvation") == "solvation"


def test_pipeline_answers_the_trained_task_and_refuses_others(solvation_model, fresh_model, caplog):
    pipe = _pipe(solvation_model)
    answer = pipe({"smiles_a": "O", "smiles_b": "CCO"})
    assert answer["task"] == "solvation" and answer["label"] is None  # not "interaction" at probability 1.0
    with pytest.raises(UntrainedTaskError, match="trained on: solvation"):
        pipe({"smiles_a": "O", "smiles_b": "CCO"}, task="ddi_binary")
    with caplog.at_level(logging.WARNING, logger="moltc_hf.pipeline"):
        forced = pipe([("O", "CCO"), ("CCO", "CCN")], task="ddi_binary", allow_untrained_task=True)
    assert [a["task"] for a in forced] == ["ddi_binary"] * 2
    assert sum("not trained on task 'ddi_binary'" in r.message for r in caplog.records) == 1  # once

    caplog.clear()
    fresh = _pipe(fresh_model)
    with pytest.raises(UntrainedTaskError, match="records no trained task"):
        fresh(("CCO", "CCN"))  # issue 27: not a DDI answer for whatever pair it is given
    with caplog.at_level(logging.WARNING):
        assert fresh(("CCO", "CCN"), task="ddi_binary")["task"] == "ddi_binary"
    assert any("records no trained task" in r.message for r in caplog.records)


def test_predict_cli_uses_the_recorded_task_and_refuses_others(solvation_model, tmp_path, capsys):
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"smiles_a": ["O", "O"], "smiles_b": ["CCO", "c1ccccc1"]}).to_csv(pairs, index=False)
    base = ["predict", "--model", str(solvation_model), "--input", str(pairs), "--device", "cpu"]
    assert main([*base, "--output", str(tmp_path / "a.parquet"), "--max-new-tokens", "8"]) == 0
    assert capsys.readouterr().out.startswith("task solvation: 2 rows")

    assert main([*base, "--output", str(tmp_path / "b.parquet"), "--task", "ddi_binary"]) == 2
    error = capsys.readouterr().err
    assert "not trained on task 'ddi_binary'" in error and "trained on: solvation" in error
    assert "--allow-untrained-task" in error and not (tmp_path / "b.parquet").exists()

    out = tmp_path / "c.parquet"
    assert main([*base, "--output", str(out), "--task", "ddi_binary", "--allow-untrained-task"]) == 0
    assert set(pd.read_parquet(out)["task"]) == {"ddi_binary"}


def test_save_final_records_tasks_and_candidates(tmp_path):
    from moltc_hf.training import load_recipe
    from moltc_hf.training.trainer import save_final

    model, processor = build_model("tiny", seed=0)
    recipe = load_recipe("tiny-finetune")
    save_final(
        model, processor, tmp_path / "a", recipe, tasks=["ddi_type"], candidates={"ddi_type": TYPE_SENTENCES}
    )
    assert task_defaults(model.config) == {
        "task": "ddi_type",
        "tasks": ["ddi_type"],
        "candidates": {"ddi_type": TYPE_SENTENCES},
    }
    # A later stage on another task: both recorded, the default is the newest stage's task (not a stale one).
    save_final(model, processor, tmp_path / "b", recipe, tasks=["solvation"])
    recorded = task_defaults(model.config)
    assert recorded["task"] == "solvation" and recorded["tasks"] == ["ddi_type", "solvation"]


def test_card_usage_calls_the_trained_task(solvation_model, fresh_model):
    from moltc_hf.hub import model_card

    card = str(model_card(solvation_model, "someone/moltc-solv"))
    assert 'task="solvation"' in card and 'task="ddi_binary"' not in card
    assert "Trained on: `solvation`" in card
    fresh = str(model_card(fresh_model, "someone/moltc-fresh"))
    assert "records no trained task" in fresh


# -- 3. the Space offers only what the loaded model answers --
def test_space_offers_only_examples_the_model_answers(solvation_model, fresh_model, type_model):
    from moltc_hf import demo

    fresh = demo.task_availability(str(fresh_model))
    assert fresh["ddi_binary"] is None and fresh["solvation"] is None
    assert "class sentences" in fresh["ddi_type"]  # no 86 sentences recorded: not offered
    fresh_examples = demo.offered_examples(fresh)
    assert fresh_examples and all(example[2] != demo.TASKS[1].label for example in fresh_examples)

    solvation = demo.task_availability(str(solvation_model))
    assert [name for name, why in solvation.items() if why is None] == ["solvation"]
    assert {example[2] for example in demo.offered_examples(solvation)} == {demo.TASKS[2].label}

    # Every example offered for a model is answered by it (the 86-type one included, when it is offered).
    types = demo.task_availability(str(type_model))
    predictor = demo.Predictor(str(type_model))
    examples = demo.offered_examples(types)
    assert [example[0] for example in examples] == ["CN1C=NC2=C1C(=O)N(C(=O)N2C)C"]  # caffeine + dopamine
    for smiles_a, smiles_b, label in examples:
        status, answer, *_ = demo.predict(predictor, smiles_a, smiles_b, label)
        assert status.startswith("Answered by") and answer, status


def test_space_messages_are_escaped_once():
    from moltc_hf.demo import _markdown_text

    text = "Task 'ddi_type' needs `candidates={'ddi_type': [...]}` for <mol> & co"
    shown = _markdown_text(text)
    assert "&#x27;" not in shown and "`candidates={'ddi_type': [...]}`" in shown
    assert "&lt;mol&gt; &amp; co" in shown


# -- 5. the card finds the metrics an evaluation wrote --
def test_evaluate_leaves_metrics_where_the_card_finds_them(solvation_model, tmp_path, capsys):
    from moltc_hf.hub import model_card
    from moltc_hf.instructions import build_dataset

    data = tmp_path / "mot"
    build_dataset("embedded", data, seed=0, pretrain_pairs=8, progress=False)
    args = ["evaluate", "--model", str(solvation_model), "--dataset", str(data), "--config", "freesolv"]
    assert main([*args, "--out", str(tmp_path / "eval"), "--limit", "2", "--max-new-tokens", "8"]) == 0
    assert "the model card" in capsys.readouterr().out
    copied = json.loads((solvation_model / "metrics.json").read_text())
    assert copied == json.loads((tmp_path / "eval" / "metrics.json").read_text())
    card = str(model_card(solvation_model, "someone/moltc-solv"))
    assert "No `metrics.json` was found" not in card and "| solvation | num_examples | 2 |" in card


# -- 8. reject reasons say what RDKit found --
def test_reject_reasons_carry_rdkit_message(tmp_path):
    from moltc_hf import MoleculeFeaturizer, parse_molecule
    from moltc_hf.featurization import InvalidMoleculeError

    with pytest.raises(InvalidMoleculeError, match="unclosed ring") as ring:
        parse_molecule("C1CC", row=4, field="smiles_a")
    assert "row 4" in str(ring.value) and "smiles_a" in str(ring.value)
    with pytest.raises(
        InvalidMoleculeError, match=r"Explicit valence for atom # 0 C, 5, is greater than permitted"
    ):
        parse_molecule("C(C)(C)(C)(C)C")
    with pytest.raises(InvalidMoleculeError, match=r"syntax error.*position 5"):
        parse_molecule("C1CC(")

    _, rejects = MoleculeFeaturizer().featurize_many(["CCO", "C1CC", "C(C)(C)(C)(C)C"], field="smiles_b")
    reasons = {r.value: r.reason for r in rejects}
    assert "unclosed ring" in reasons["C1CC"] and "valence" in reasons["C(C)(C)(C)(C)C"]
    assert reasons["C1CC"] != reasons["C(C)(C)(C)(C)C"]


# -- 10. resume with another step cap keeps the original schedule --
class _LearningRates:
    def __init__(self):
        from transformers import TrainerCallback

        rates = self.rates = {}

        class Record(TrainerCallback):
            def on_step_begin(self, args, state, control, lr_scheduler=None, **kwargs):
                rates[state.global_step + 1] = lr_scheduler.get_last_lr()[0]  # the lr the next step uses

        self.callback = Record()


class _StopAt:
    def __new__(cls, step):
        from transformers import TrainerCallback

        class Stop(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step >= step:
                    control.should_training_stop = True

        return Stop()


@pytest.mark.slow
def test_resume_with_a_lower_cap_keeps_the_schedule_and_refuses_a_higher_one(tmp_path):
    import dataclasses

    from moltc_hf.instructions import build_dataset
    from moltc_hf.training import load_recipe, train

    data = tmp_path / "mot"
    build_dataset("embedded", data, seed=0, limit=64, pretrain_pairs=8, progress=False)
    recipe = load_recipe("tiny-finetune")
    quiet = {"save_steps": 4, "logging_steps": 1, "disable_tqdm": True, "report_to": [], "warmup_steps": 2}
    recipe = dataclasses.replace(
        recipe, training=recipe.training | quiet | {"per_device_train_batch_size": 4}
    )

    full = _LearningRates()
    train(recipe, dataset_dir=data, output_dir=tmp_path / "full", max_steps=10, callbacks=[full.callback])
    train(recipe, dataset_dir=data, output_dir=tmp_path / "run", max_steps=10, callbacks=[_StopAt(4)])
    assert (tmp_path / "run" / "checkpoint-4").is_dir()

    with pytest.raises(ValueError, match=r"max_steps=10.*max_steps=12 cannot continue it"):
        train(recipe, dataset_dir=data, output_dir=tmp_path / "run", max_steps=12, resume=True)
    resumed = _LearningRates()
    result = train(
        recipe,
        dataset_dir=data,
        output_dir=tmp_path / "run",
        max_steps=7,
        resume=True,
        callbacks=[resumed.callback],
    )
    assert result.global_step == 7 and sorted(resumed.rates) == [5, 6, 7]
    for step, rate in resumed.rates.items():  # the uninterrupted run's learning rate at every resumed step
        assert rate == pytest.approx(full.rates[step], rel=1e-9), step
    assert resumed.rates[5] < full.rates[3]  # decaying cosine, not restarted


# -- 9. the parity plot says what and in which unit --
def test_parity_axes_name_the_quantity_and_unit(tmp_path, monkeypatch):
    import numpy as np
    from matplotlib.figure import Figure

    from moltc_hf.evaluation import plots
    from moltc_hf.evaluation.report import quantity_of
    from moltc_hf.tasks.registry import get_task

    spec = get_task("solvation")
    labels = {}
    original = Figure.add_subplot

    def spy(self, *args, **kwargs):
        axes = original(self, *args, **kwargs)
        labels["axes"] = axes
        return axes

    monkeypatch.setattr(Figure, "add_subplot", spy)
    plots.parity_plot(
        np.array([-1.0, -5.0]),
        np.array([-1.5, np.nan]),
        tmp_path / "p.png",
        unit=spec.unit,
        quantity=quantity_of(spec),
    )
    axes = labels["axes"]
    assert axes.get_xlabel() == "true solvation free energy ΔG (kcal/mol)"
    assert axes.get_ylabel() == "predicted solvation free energy ΔG (kcal/mol)"


# -- 7. a training run always leaves a rejects file, a pipeline one at its top --
@pytest.mark.slow
def test_training_writes_a_rejects_file_even_when_empty(tmp_path):
    import dataclasses

    from moltc_hf.instructions import build_dataset
    from moltc_hf.rejects import REJECT_COLUMNS, read_rejects
    from moltc_hf.training import load_recipe, train

    data = tmp_path / "mot"
    build_dataset("embedded", data, seed=0, limit=32, pretrain_pairs=16, progress=False)
    recipe = load_recipe("tiny-pipeline")
    quiet = {"save_strategy": "no", "disable_tqdm": True, "report_to": []}
    recipe = dataclasses.replace(
        recipe, stages=[dataclasses.replace(s, training=s.training | quiet) for s in recipe.stages]
    )
    result = train(recipe, dataset_dir=data, output_dir=tmp_path / "run", config_name="freesolv", max_steps=1)
    assert result.num_rejects == 0
    for folder in (tmp_path / "run", *(stage.output_dir for stage in result.stages)):
        table = read_rejects(folder / "rejects.parquet")  # present, in the one schema, and empty
        assert table.num_rows == 0 and table.schema.names == list(REJECT_COLUMNS)
    stages = tmp_path / "run" / "stages"  # the README's layout
    assert (stages / "0-tiny-property-pretrain" / "final").is_dir() and (
        stages / "1-tiny-finetune" / "final"
    ).is_dir()
