"""The task registry: one definition per task, read by the builder (targets) and by evaluation (answers)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from moltc_hf.inference.parsing import parse_classification_answer, parse_regression_answer
from moltc_hf.inference.predict import iter_predictions
from moltc_hf.instructions import build_dataset
from moltc_hf.instructions.builder import build_source
from moltc_hf.instructions.readers import SourcePairs, drugbank_type_sentences
from moltc_hf.tasks import templates
from moltc_hf.tasks.registry import (
    CLASSIFICATION,
    REGRESSION,
    TASKS,
    TaskSpec,
    candidates_for,
    get_task,
    read_classes,
    register_task,
)


def test_every_builtin_target_is_read_back_by_its_own_task():
    """What the builder writes for a label is what evaluation parses back to that label."""
    for label in (0.0, 1.0):
        spec = get_task("ddi_binary")
        target = spec.target(label)
        assert parse_classification_answer(target, spec.candidates).label == int(label)
    for name in ("solvation", "chromophore_absorption", "chromophore_emission"):
        spec = get_task(name)
        for value in (-4.78, 0.0, 512.25):
            parsed = parse_regression_answer(spec.target(value))
            assert parsed.parsed and math.isclose(parsed.value, value, abs_tol=0.005), (name, value)
            assert not parsed.outside_interval
    assert get_task("pretrain").prompt("CCO", "O") == templates.pretrain_prompt("CCO", "O")
    assert get_task("solvation").prompt("O", "CCO") == templates.pair_prompt(
        "O", "CCO", templates.SOLVATION_QUESTION
    )


def test_unknown_task_and_bad_kind_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown task 'ddi'.*ddi_binary"):
        get_task("ddi")
    with pytest.raises(ValueError, match="kind must be one of"):
        TaskSpec("x", "ranking", "?")
    with pytest.raises(ValueError, match="already registered"):
        register_task(TaskSpec("solvation", REGRESSION, "another question?"))


def test_a_new_task_kind_is_one_registration(tiny, tmp_path):
    """A user's task (here: a made-up 'co-crystal forms' yes/no) is defined once, then built and evaluated."""
    question = "Do these two molecules form a co-crystal?"
    yes, no = "#Mol1 and #Mol2 form a co-crystal.", "#Mol1 and #Mol2 do not form a co-crystal."
    spec = register_task(
        TaskSpec(
            "cocrystal",
            CLASSIFICATION,
            question,
            candidates=(no, yes),
            class_names=("no", "yes"),
            symmetric=True,
            roles=("coformer 1", "coformer 2"),
            answer=lambda label, answer: yes if label == 1.0 else no,
        ),
        overwrite=True,
    )
    try:
        frame = pd.DataFrame(
            {
                "task": ["cocrystal"] * 4,
                "smiles_a": ["CCO", "c1ccccc1O", "CC(=O)O", "CN"],
                "smiles_b": ["O", "CCN", "c1ccncc1", "CCCl"],
                "label": [1.0, 0.0, 1.0, 0.0],
                "source_row": [f"mine.csv:{i}" for i in range(4)],
                "source_split": ["train", "train", "test", "test"],
            }
        )
        table, _ = build_source("chchminer", SourcePairs(frame), split="source")
        rows = table.to_pylist()
        assert {row["prompt"].rsplit(". ", 1)[-1] for row in rows} == {question}
        assert [row["target"] for row in rows] == [spec.target(row["label"]) for row in rows]
        model, processor = tiny
        results = [r for batch, _ in iter_predictions(model, processor, rows, "cocrystal") for r in batch]
        assert len(results) == 4
        assert all(p.label_name in ("no", "yes") and len(p.class_probabilities) == 2 for _, _, p in results)
    finally:
        TASKS.pop("cocrystal", None)


def test_drugbank_classes_ship_with_the_dataset(raw_dir, tmp_path):
    """The 86 type sentences are written beside the card, so evaluation never needs the raw files."""
    out = tmp_path / "mot"
    build_dataset("drugbank", out, limit=30, raw_dir=raw_dir, progress=False)
    sentences = drugbank_type_sentences(raw_dir)
    shipped = read_classes(out, "drugbank")
    assert shipped == [sentences[k] for k in range(86)]
    assert json.loads((out / "classes.json").read_text()) == {"drugbank": shipped}
    rows = pd.read_parquet(out / "data/drugbank/test-00000-of-00001.parquet").to_dict("records")
    assert len({row["label"] for row in rows}) < 86  # a small split misses classes ...
    assert candidates_for(rows, "ddi_type", classes=shipped) == shipped  # ... but keeps the 86-class space
    assert read_classes(out, "freesolv") is None
