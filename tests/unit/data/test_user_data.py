"""Your own molecules: a user's pair file becomes a config (task registry, card, rejects), trains, evaluates and
predicts in processes that never saw the build; joint training over several configs of one folder."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import fresh_python
from moltc_hf import MolTCDataCollator
from moltc_hf.cli import main
from moltc_hf.instructions import build_dataset, build_pair_file
from moltc_hf.instructions.readers import _read_csv
from moltc_hf.rejects import read_rejects
from moltc_hf.tasks.registry import (
    TASKS,
    class_sentence,
    get_task,
    interval_width,
    register_dataset_tasks,
    register_definition,
    task_definition,
    user_task,
)
from moltc_hf.training import train
from moltc_hf.training.mixture import mix_datasets, mixture_probabilities

REPO = Path(__file__).resolve().parents[3]
RECIPES = REPO / "hub_configs" / "recipes"
SOLVENTS = ["O", "CCO", "CCCCCCCC", "ClC(Cl)Cl", "c1ccccc1"]
SOLUTES = ["CC(C)O", "c1ccccc1O", "CC(=O)C", "CCN", "OCCO", "CCCl", "CC(=O)OC", "c1ccncc1", "CCOCC"]


def _forget(*names: str) -> None:
    """What a fresh process knows: the built-in tasks only."""
    for name in names:
        TASKS.pop(name, None)


@pytest.fixture()
def solvation_csv(tmp_path) -> Path:
    """A chemist's file: own column names, 45 good rows and four bad ones (at data rows 45-48)."""
    rng = np.random.default_rng(0)
    rows = [
        {"solvent_smiles": s, "solute_smiles": u, "dG_exp": f"{rng.normal(-3, 2):.3f}"}
        for s in SOLVENTS
        for u in SOLUTES
    ]
    rows += [
        {"solvent_smiles": "O", "solute_smiles": "C1CC", "dG_exp": "-1.0"},  # invalid SMILES (ring)
        {"solvent_smiles": "", "solute_smiles": "CCO", "dG_exp": "-2.0"},  # empty cell
        {"solvent_smiles": "O", "solute_smiles": "CCCO", "dG_exp": "nan"},  # NaN target
        {"solvent_smiles": "O", "solute_smiles": "CCCCO", "dG_exp": ""},  # missing target
    ]
    path = tmp_path / "my_solvation.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture()
def ddi_parquet(tmp_path) -> Path:
    """A pharmacologist's table as parquet: a bool label, one bad label and one missing SMILES."""
    drugs = [
        "CCO",
        "CC(=O)Oc1ccccc1C(=O)O",
        "CN1CCC[C@H]1c1cccnc1",
        "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
        "c1ccccc1O",
    ]
    pairs = [(a, b) for i, a in enumerate(drugs) for b in drugs[i + 1 :]] * 3
    table = pa.table(
        {
            "drug_1": [a for a, _ in pairs] + [None, "CCO"],
            "drug_2": [b for _, b in pairs] + ["CCO", "CCN"],
            "interacts": pa.array([bool(i % 2) for i in range(len(pairs))] + [True, None], pa.bool_()),
        }
    )
    path = tmp_path / "my_ddi.parquet"
    pq.write_table(table, path)
    return path


def test_user_task_definition_round_trips_and_refuses_a_conflict():
    spec = user_task("kow", "regression", quantity="log Kow", unit="", interval=0.25)
    definition = task_definition(spec)
    assert json.loads(json.dumps(definition)) == definition
    _forget("kow")
    try:
        again = register_definition(definition)
        assert again == spec and again.target(1.3) == spec.target(1.3)
        assert register_definition(definition) is not None  # the same definition twice: a no-op
        with pytest.raises(ValueError, match="already registered"):
            register_definition(definition | {"interval": 0.5})
    finally:
        _forget("kow")
    assert task_definition("solvation") is None  # built-ins are known everywhere
    with pytest.raises(ValueError, match="built-in"):
        user_task("solvation", "regression", quantity="x", interval=1.0)


def test_interval_width_follows_the_spread_and_reproduces_the_paper_widths():
    rng = np.random.default_rng(0)
    assert interval_width(rng.normal(-4, 3.85, 5000)) == 0.5  # FreeSolv's std: the solvation template's 0.5
    assert interval_width(rng.normal(450, 75, 5000)) == 10.0  # Deep4Chem maxima: the chromophore 10 nm
    assert interval_width(rng.normal(0, 0.04, 5000)) == 0.005
    assert interval_width([2.0, 2.0]) == 1.0


@pytest.mark.slow
def test_user_csv_build_train_evaluate_predict(solvation_csv, tmp_path, capsys):
    out, run = tmp_path / "mot", tmp_path / "run"
    args = ["--data-path", str(solvation_csv), "--smiles-columns", "solvent_smiles", "solute_smiles"]
    args += ["--target-column", "dG_exp", "--task", "regression", "--name", "mysolv", "--unit", "kcal/mol"]
    assert main(["build-dataset", *args, "--out", str(out), "--no-progress"]) == 0
    # rejects: all four bad rows, named by file and data row and by the file's own column names
    rejects = read_rejects(out / "rejects.parquet").to_pandas().set_index("row")
    assert sorted(rejects.index) == [f"my_solvation.csv:{i}" for i in (45, 46, 47, 48)]
    assert rejects.loc["my_solvation.csv:45", "field"] == "solute_smiles"
    assert rejects.loc["my_solvation.csv:46", "field"] == "solvent_smiles"
    assert set(rejects.loc[["my_solvation.csv:47", "my_solvation.csv:48"], "field"]) == {"dG_exp"}
    assert set(rejects["source"]) == {"mysolv"}
    # the card names the user's file with its real provenance, not a built-in source
    card = (out / "README.md").read_text()
    digest = hashlib.sha256(solvation_csv.read_bytes()).hexdigest()
    assert "my_solvation.csv" in card and digest in card and "| 49 |" in card
    assert "`solvent_smiles` | `solute_smiles` | `dG_exp`" in card
    table = card.split("## Configs")[1].split("Licences")[0]
    assert "user file my_solvation.csv" in table and "I2Mol" not in table and "FreeSolv" not in table
    stored = json.loads((out / "data/mysolv/task.json").read_text())
    width = stored["task"]["interval"]
    train_rows = pd.read_parquet(out / "data/mysolv/train-00000-of-00001.parquet")
    assert width == interval_width(train_rows["label"]) and width != 0.5  # from the train targets' spread
    assert (
        len(train_rows)
        + sum(
            len(pd.read_parquet(out / f"data/mysolv/{s}-00000-of-00001.parquet"))
            for s in ("validation", "test")
        )
        == 45
    )

    _forget("mysolv")  # train, evaluate and predict as fresh processes would
    recipe = str(RECIPES / "tiny-task.yaml")
    train_args = ["train", "--recipe", recipe, "--dataset", str(out), "--config", "mysolv"]
    assert main([*train_args, "--output-dir", str(run), "--max-steps", "2", "--save_steps", "100"]) == 0
    config = json.loads((run / "final/config.json").read_text())
    entry = config["task_specific_params"]["molecule-pair-interaction"]
    assert entry["tasks"] == ["mysolv"] and entry["task"] == "mysolv"
    assert entry["definitions"]["mysolv"] == stored["task"]

    _forget("mysolv")
    evaluate = ["evaluate", "--model", str(run / "final"), "--dataset", str(out), "--config", "mysolv"]
    evaluate += ["--out", str(tmp_path / "eval"), "--limit", "3", "--max-new-tokens", "6"]
    assert main(evaluate) == 0
    metrics = json.loads((tmp_path / "eval/metrics.json").read_text())
    assert metrics["task"] == "mysolv" and metrics["num_rows"] == 3

    _forget("mysolv")
    predictions = tmp_path / "pred.parquet"
    predict = ["predict", "--model", str(run / "final"), "--input", str(solvation_csv)]
    predict += ["--output", str(predictions), "--smiles-columns", "solvent_smiles", "solute_smiles"]
    assert main([*predict, "--limit", "47", "--max-new-tokens", "6", "--batch-size", "16"]) == 0
    table = pd.read_parquet(predictions)
    assert set(table["task"]) == {"mysolv"} and len(table) == 45  # rows 45, 46 are invalid molecules
    assert list(table.columns[:4]) == ["row_id", "solvent_smiles", "solute_smiles", "dG_exp"]
    predict_rejects = read_rejects(tmp_path / "pred.rejects.parquet").to_pandas()
    assert sorted(predict_rejects["row"].astype(int)) == [45, 46]
    assert set(predict_rejects["field"]) == {"solute_smiles", "solvent_smiles"}
    assert "task mysolv: 47 rows, 45 predicted, 2 rejected" in capsys.readouterr().out


def _build_user_file(path, out, name, smiles_columns, target_column, task, **options):
    """`build_pair_file` the way the CLI calls it (quiet), for the tests that build more than one config."""
    return build_pair_file(
        path, out, name=name, smiles_columns=smiles_columns, target_column=target_column, task=task,
        progress=False, **options,
    )  # fmt: skip


@pytest.mark.slow
def test_binary_parquet_joins_an_existing_folder_and_predicts(ddi_parquet, solvation_csv, tmp_path):
    out = tmp_path / "mot"
    _build_user_file(
        solvation_csv, out, "mysolv", ("solvent_smiles", "solute_smiles"), "dG_exp", "regression"
    )
    report = _build_user_file(
        ddi_parquet, out, "myddi", ("drug_1", "drug_2"), "interacts", "binary",
        class_names=("no interaction", "interaction"),
    )  # fmt: skip
    assert report.sources["myddi"].rejected == 2 and report.sources["mysolv"].card_row is not None
    rejects = read_rejects(out / "rejects.parquet").to_pandas()
    assert sorted(rejects[rejects["source"] == "myddi"]["row"]) == ["my_ddi.parquet:30", "my_ddi.parquet:31"]
    assert len(rejects[rejects["source"] == "mysolv"]) == 4  # the earlier config's rejects are kept
    card = (out / "README.md").read_text()
    assert "my_ddi.parquet" in card and "my_solvation.csv" in card and "config_name: mysolv" in card
    spec = get_task("myddi")
    assert spec.symmetric and spec.candidates == tuple(
        class_sentence("interacts", c) for c in ("no interaction", "interaction")
    )
    frame = pd.concat(pd.read_parquet(p) for p in sorted((out / "data/myddi").glob("*.parquet")))
    assert (frame["smiles_a"] <= frame["smiles_b"]).all()  # symmetric: canonical pair order
    assert set(frame["label"]) == {0.0, 1.0}

    import datasets  # the folder is a hub dataset repo: both configs load, with the card's split sizes

    kept = datasets.load_dataset(str(out), "mysolv")
    assert sum(kept.num_rows.values()) == 45
    added = datasets.load_dataset(str(out), "myddi")
    assert added["train"].features["label"].names == ["no interaction", "interaction"]
    _forget("myddi", "mysolv")
    assert sorted(register_dataset_tasks(out)) == ["myddi", "mysolv"]
    _forget("myddi", "mysolv")
    recipe = str(RECIPES / "tiny-task.yaml")
    result = train(recipe, dataset_dir=out, output_dir=tmp_path / "run", config_name="myddi", max_steps=2)
    _forget("myddi", "mysolv")
    predictions = tmp_path / "pred.parquet"
    args = [
        "predict",
        "--model",
        str(result.final_dir),
        "--input",
        str(ddi_parquet),
        "--output",
        str(predictions),
    ]
    assert main([*args, "--smiles-columns", "drug_1", "drug_2"]) == 0
    table = pd.read_parquet(predictions)
    assert set(table["label_name"]) <= {"no interaction", "interaction"} and len(table) == 31
    assert table["class_probabilities"].map(len).eq(2).all()
    # a fresh process: the pipeline answers the user task from the definition in the model's config alone
    answer = fresh_python(FRESH, str(result.final_dir), cwd=tmp_path, timeout=120)
    assert answer["task"] == "myddi" and answer["label"] in ("no interaction", "interaction")


FRESH = """
import json, sys
from transformers import pipeline
import moltc_hf.pipeline
pipe = pipeline("molecule-pair-interaction", model=sys.argv[1], trust_remote_code=True)
print(json.dumps(pipe(("CCO", "c1ccccc1O"))))
"""


def test_same_rows_built_in_and_as_a_user_file_give_identical_instruction_rows(raw_dir, tmp_path):
    """FreeSolv and a ChChMiner slice, once from the built-in readers and once as renamed user files."""
    compared = ["task", "smiles_a", "smiles_b", "prompt", "target", "completion", "label", "split", "swapped"]
    cases = [
        ("freesolv", "solvation", {"FreeSolv/FreeSolv.csv": ["0", "1", "dGsolv_avg"]}),
        (
            "chchminer",
            "ddi_binary",
            {
                f"ChChMiner/ChChMiner_{f}.csv": ["smiles_1", "smiles_2", "label"]
                for f in ("train", "valid", "test")
            },
        ),
    ]
    for source, task, files in cases:
        builtin = tmp_path / f"builtin-{source}"
        build_dataset(source, builtin, limit=40, raw_dir=raw_dir, progress=False)
        raw = pd.concat([_read_csv(raw_dir / rel, columns, 40) for rel, columns in files.items()])
        raw.columns = ["first", "second", "value"]
        user_file = tmp_path / f"{source}-mine.csv"
        raw.to_csv(user_file, index=False)
        user = tmp_path / f"user-{source}"
        _build_user_file(user_file, user, f"my{source}", ("first", "second"), "value", task)
        for split in ("train", "validation", "test"):
            expected = pd.read_parquet(builtin / f"data/{source}/{split}-00000-of-00001.parquet")
            got = pd.read_parquet(user / f"data/my{source}/{split}-00000-of-00001.parquet")
            assert len(expected) > 0
            pd.testing.assert_frame_equal(got[compared], expected[compared])
            assert got["source_row"].str.startswith(f"{source}-mine.csv:").all()


def test_mixture_probabilities_are_size_tempered_and_seeded():
    assert mixture_probabilities([100, 100]) == [0.5, 0.5]
    assert np.allclose(mixture_probabilities([900, 100]), [0.9, 0.1])
    assert np.allclose(mixture_probabilities([900, 100], temperature=2.0), [0.75, 0.25])
    import datasets

    a = datasets.Dataset.from_dict({"x": list(range(90)), "label": [0.0] * 90})
    b = datasets.Dataset.from_dict({"x": list(range(100, 110)), "label": [1.0] * 10})
    mixed, probabilities = mix_datasets([a, b], temperature=2.0, seed=3)
    again, _ = mix_datasets([a, b], temperature=2.0, seed=3)
    assert mixed["x"] == again["x"] and np.allclose(probabilities, [0.75, 0.25])
    assert set(a["x"]) | set(b["x"]) <= set(mixed["x"])  # all_exhausted: every row at least once
    share = np.mean([x >= 100 for x in mixed["x"]])
    assert 0.15 < share < 0.4  # drawn ~25% from the small set, not its 10% size share


def test_collator_weights_each_task_by_its_own_candidates(tiny):
    """One joint batch: a binary DDI row and a 3-class user row each weight the tokens of their own classes."""
    _, processor = tiny
    spec = user_task("polymorph", "multiclass", quantity="form", class_names=("alpha", "beta", "gamma"))
    TASKS["polymorph"] = spec
    try:
        ddi = get_task("ddi_binary")
        rows = [
            {
                "task": "ddi_binary",
                "smiles_a": "CCO",
                "smiles_b": "CCN",
                "prompt": ddi.prompt("CCO", "CCN"),
                "target": ddi.target(1.0),
            },
            {
                "task": "polymorph",
                "smiles_a": "CCO",
                "smiles_b": "CCN",
                "prompt": spec.prompt("CCO", "CCN"),
                "target": spec.target(2.0),
            },
        ]
        batch = MolTCDataCollator(processor, decision_weight=10.0)(rows)
        for index, row in enumerate(rows):
            weights, labels = batch["loss_weights"][index], batch["labels"][index]
            decided = labels[weights == 10.0].tolist()
            candidates = get_task(row["task"]).candidates
            encoded = [processor.encode_text(c) for c in candidates]
            own = encoded[candidates.index(row["target"])]
            shared = next(i for i in range(len(own)) if any(e[i] != own[i] for e in encoded))
            assert decided and decided[0] == own[shared]
    finally:
        _forget("polymorph")


@pytest.mark.slow
def test_joint_run_trains_and_reports_a_ddi_and_a_solvation_task(ddi_parquet, tmp_path, capsys):
    out = tmp_path / "mot"
    assert (
        main(["build-dataset", "--source", "embedded", "--out", str(out), "--limit", "40", "--no-progress"])
        == 0
    )
    _build_user_file(ddi_parquet, out, "myddi", ("drug_1", "drug_2"), "interacts", "ddi_binary")
    _forget("myddi")
    run = tmp_path / "joint"
    train_args = ["train", "--recipe", str(RECIPES / "tiny-joint.yaml"), "--dataset", str(out)]
    train_args += ["--config", "myddi,freesolv", "--output-dir", str(run), "--max-steps", "3"]
    assert main([*train_args, "--eval_steps", "3", "--save_steps", "100"]) == 0
    result = json.loads((run / "train_result.json").read_text())
    assert set(result["mixture"]) == {"myddi", "freesolv"}
    assert math.isclose(sum(m["probability"] for m in result["mixture"].values()), 1.0)
    logged = {key for entry in result["log_history"] for key in entry}
    assert {"eval_myddi_loss", "eval_freesolv_loss"} <= logged  # validation per task
    config = json.loads((run / "final/config.json").read_text())
    assert config["task_specific_params"]["molecule-pair-interaction"]["tasks"] == ["ddi_binary", "solvation"]
    capsys.readouterr()
    evaluate = [
        "evaluate",
        "--model",
        str(run / "final"),
        "--dataset",
        str(out),
        "--config",
        "myddi,freesolv",
    ]
    assert main([*evaluate, "--out", str(tmp_path / "eval"), "--limit", "3", "--max-new-tokens", "6"]) == 0
    printed = capsys.readouterr().out
    assert "| myddi | ddi_binary |" in printed and "| freesolv | solvation |" in printed
    summary = json.loads((tmp_path / "eval/summary.json").read_text())
    assert summary["myddi"]["metrics"]["num_examples"] == 3 and "rmse" in summary["freesolv"]["metrics"]

    # joint pretrain (tied) -> untie -> joint fine-tune, over the same two configs
    pipeline = train(
        RECIPES / "tiny-joint-pipeline.yaml",
        dataset_dir=out,
        output_dir=tmp_path / "pipe",
        config_name="myddi,freesolv",
        max_steps=2,
    )
    assert [len(stage.mixture) for stage in pipeline.stages] == [2, 2]
    first = json.loads((pipeline.stages[0].final_dir / "config.json").read_text())
    last = json.loads((pipeline.final_dir / "config.json").read_text())
    assert first["projector_sharing"] == "tied" and last["projector_sharing"] == "untied"
