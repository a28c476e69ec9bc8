"""Self-supervised GIN pretraining on the MOSES corpus: streaming reads, exact resume, the folder that a model
builds on, the `moltc pretrain-graph` command, the `moses` dataset source and a recipe chain that uses both."""

from __future__ import annotations

import dataclasses
import gzip
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from moltc_hf import build_model
from moltc_hf.corpus import find_moses_file, iter_smiles, reservoir_sample, shuffled_stream
from moltc_hf.training import load_recipe, train
from moltc_hf.training.graph_pretrain import (
    GraphPretrainingArguments,
    GraphPretrainingModel,
    pretrain_graph_encoder,
)

SMALL = dict(batch_size=16, eval_every=2, eval_molecules=40, save_every=2)


@pytest.fixture(scope="module")
def moses_files(raw_dir) -> tuple:
    return find_moses_file("train", raw_dir), find_moses_file("test", raw_dir)


@pytest.fixture(scope="module")
def molsets_wheel(raw_dir, tmp_path_factory) -> Path:
    """A zip laid out like the molsets-0.3.1 wheel (the members a user's `pip download` brings), 300 molecules."""
    folder = tmp_path_factory.mktemp("wheel")
    wheel = folder / "molsets-0.3.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for split in ("train", "test"):
            lines = ["SMILES"] + [s for _, s in iter_smiles(find_moses_file(split, raw_dir), limit=300)]
            archive.writestr(f"moses/dataset/data/{split}.csv.gz", gzip.compress("\n".join(lines).encode()))
    return wheel


def test_corpus_is_found_in_the_raw_folder_and_in_the_wheel(raw_dir, molsets_wheel, monkeypatch):
    plain = find_moses_file("train", raw_dir)
    assert plain.member is None and plain.path.name == "train.csv.gz"
    first = [s for _, s in iter_smiles(plain, limit=3)]
    assert len(first) == 3 and all(s and s != "SMILES" for s in first)
    from_wheel = find_moses_file("train", molsets_wheel.parent)  # a folder holding the wheel
    assert from_wheel.member == "moses/dataset/data/train.csv.gz"
    assert [s for _, s in iter_smiles(from_wheel, limit=3)] == first
    monkeypatch.setenv("MOLTC_RAW_DIR", str(molsets_wheel))  # the wheel itself
    assert find_moses_file("test").member == "moses/dataset/data/test.csv.gz"
    monkeypatch.delenv("MOLTC_RAW_DIR")
    with pytest.raises(FileNotFoundError, match="pip download molsets==0.3.1"):
        find_moses_file("train", molsets_wheel.parent / "nowhere")


@pytest.mark.slow
def test_stream_and_sample_are_seeded(moses_files):
    corpus, _ = moses_files
    take = lambda seed: [next(s) for s in [shuffled_stream(corpus, seed=seed, limit=500)] for _ in range(600)]  # noqa: E731
    assert take(0) == take(0) and take(0) != take(1)
    epoch = take(0)
    assert sorted(epoch[:500]) == sorted(iter_smiles(corpus, limit=500))  # each epoch is the file, reordered
    assert reservoir_sample(corpus, 50, seed=0)[:5] == reservoir_sample(corpus, 50, seed=0)[:5]


def test_pretraining_learns_masked_atoms_and_resumes_exactly(moses_files, tmp_path):
    corpus, heldout = moses_files
    args = GraphPretrainingArguments(max_steps=30, corpus_limit=2000, learning_rate=3e-3, **SMALL)
    result = pretrain_graph_encoder(corpus, tmp_path / "full", args=args, heldout=heldout)
    curve = result.curve
    assert [p["step"] for p in curve] == list(range(2, 31, 2))
    # Masked-atom accuracy rises from chance-level guessing towards beyond always-carbon on held-out molecules.
    assert curve[-1]["heldout_accuracy"] > curve[0]["heldout_accuracy"]
    assert curve[-1]["heldout_accuracy"] > curve[-1]["heldout_carbon_rate"] - 0.05
    assert curve[-1]["train_loss"] < curve[0]["train_loss"]
    record = json.loads((tmp_path / "full" / "final" / "pretraining.json").read_text())
    assert record["steps"] == 30 and record["corpus"]["sha256"] and record["minutes_per_100k_molecules"] > 0

    # Interrupted at step 10 (the newest checkpoint is step 8, as a kill would leave it), then resumed: the same
    # weights as the uninterrupted run.
    class Killed(Exception):
        pass

    def kill_at_10(point):
        if point["step"] == 10:
            raise Killed

    with pytest.raises(Killed):
        pretrain_graph_encoder(corpus, tmp_path / "split", args=args, heldout=heldout, progress=kill_at_10)
    assert not (tmp_path / "split" / "final").exists()  # nothing that looks finished
    assert json.loads((tmp_path / "split" / "checkpoint" / "progress.json").read_text())["step"] == 8
    changed = GraphPretrainingArguments(**{**vars(args), "learning_rate": 1e-4})
    with pytest.raises(ValueError, match="learning_rate"):
        pretrain_graph_encoder(corpus, tmp_path / "split", args=changed, heldout=heldout, resume=True)
    pretrain_graph_encoder(corpus, tmp_path / "split", args=args, heldout=heldout, resume=True)
    one = load_file(tmp_path / "full" / "final" / "graph_encoder.safetensors")
    two = load_file(tmp_path / "split" / "final" / "graph_encoder.safetensors")
    assert one.keys() == two.keys()
    assert all(torch.equal(one[k], two[k]) for k in one)
    with pytest.raises(FileExistsError, match="--resume"):
        pretrain_graph_encoder(corpus, tmp_path / "full", args=args)


def test_model_builds_on_the_pretrained_gin(moses_files, tmp_path):
    corpus, _ = moses_files
    args = GraphPretrainingArguments(max_steps=2, corpus_limit=200, objectives=("attr_mask",), **SMALL)
    pretrain_graph_encoder(
        corpus, tmp_path / "gin", graph_config={"num_layers": 3, "hidden_size": 24}, args=args
    )
    weights = load_file(tmp_path / "gin" / "final" / "graph_encoder.safetensors")
    assert "gnns.0.mlp.0.weight" in weights and "x_embedding1.weight" in weights  # pretrain-gnns key names
    model, _ = build_model("tiny", graph_encoder=tmp_path / "gin")  # the run folder: final/ is found
    encoder = model.model.graph_encoder
    assert encoder.config.num_layers == 3 and encoder.config.hidden_size == 24  # its shape, not tiny's 2 x 32
    assert all(torch.equal(encoder.state_dict()[k], v) for k, v in weights.items())
    model.save_pretrained(tmp_path / "model")
    assert json.loads((tmp_path / "model" / "config.json").read_text())["graph_config"]["num_layers"] == 3
    with pytest.raises(FileNotFoundError, match="graph_encoder.safetensors"):
        build_model("tiny", graph_encoder=tmp_path)
    # GraphPretrainingModel's heads are not part of what a model loads.
    assert set(GraphPretrainingModel(encoder.config).state_dict()) - {f"encoder.{k}" for k in weights}


@pytest.mark.slow
def test_pretrain_graph_cli_and_moses_source(raw_dir, molsets_wheel, tmp_path):
    env = {"MOLTC_RAW_DIR": str(molsets_wheel.parent), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    moltc = [sys.executable, "-m", "moltc_cli"]
    run = lambda *a: subprocess.run([*moltc, *a], capture_output=True, text=True, env=env, cwd=tmp_path)  # noqa: E731
    out = run("pretrain-graph", "--out", "gin", "--max-steps", "4", "--batch-size", "8", "--eval-every", "2")
    assert out.returncode == 0, out.stderr
    assert "held-out masked-atom accuracy" in out.stdout and (tmp_path / "gin" / "final").is_dir()
    again = run("pretrain-graph", "--out", "gin", "--max-steps", "4")
    assert again.returncode == 2 and "--resume" in again.stderr
    built = run(
        "build-dataset", "--source", "moses", "--out", "mot", "--pretrain-pairs", "40", "--no-progress"
    )
    assert built.returncode == 0, built.stderr
    card = (tmp_path / "mot" / "README.md").read_text()
    assert "MOSES" in card and "MIT" in card and "--pretrain-pairs 40" in card
    import pandas as pd

    rows = pd.concat(pd.read_parquet(p) for p in (tmp_path / "mot" / "data" / "moses").glob("*.parquet"))
    assert len(rows) == 40 and (rows["smiles_a"] != rows["smiles_b"]).all()
    assert rows["source_row"].str.startswith("MOSES/train.csv.gz:").all()
    # each sampled molecule is in two pairs (once as A, once as B)
    assert sorted(rows["smiles_a"]) == sorted(rows["smiles_b"])


def test_chain_pretrains_the_gin_then_builds_the_next_stage_on_it(molsets_wheel, tmp_path, monkeypatch):
    from moltc_hf.instructions import build_dataset

    monkeypatch.setenv("MOLTC_RAW_DIR", str(molsets_wheel.parent))
    build_dataset(["moses"], tmp_path / "mot", pretrain_pairs=24, progress=False)
    chain = load_recipe("tiny-pretrained-pipeline")
    assert [s.stage for s in chain.stages] == ["graph-pretrain", "pretrain", "finetune"]
    regression_chain = load_recipe("tiny-pretrained-graph-pipeline")
    assert [s.graph_only_prompts for s in regression_chain.stages[1:]] == [True, True]
    assert [s.graph_only_prompts for s in chain.stages[1:]] == [True, False]  # DDI keeps the SMILES text
    recipe = {
        "name": "chain",
        "stage": "chain",
        "stages": [
            {
                "stage": "graph-pretrain",
                "model": "tiny",
                "graph_pretraining": {"batch_size": 8, "eval_molecules": 20},
            },
            {
                "stage": "pretrain",
                "model": "tiny",
                "dataset_config": "moses",
                "graph_only_prompts": True,
                "freeze_language_model": False,
                "training": {"per_device_train_batch_size": 4, "report_to": "none"},
            },
        ],
    }
    from moltc_hf.training import Recipe

    result = train(
        Recipe.from_dict(recipe), dataset_dir=tmp_path / "mot", output_dir=tmp_path / "run", max_steps=2
    )
    gin_dir, stage_dir = (s.output_dir for s in result.stages)
    assert result.stages[0].global_step == 2 and (gin_dir / "final" / "graph_encoder.safetensors").is_file()
    config = json.loads((tmp_path / "run" / "final" / "config.json").read_text())
    assert config["pretrained_graph_encoder"] == str(gin_dir / "final")
    processor_config = json.loads((tmp_path / "run" / "final" / "processor_config.json").read_text())
    assert processor_config["graph_only_prompts"] is True  # the last stage prompted graph-only: recorded
    with pytest.raises(ValueError, match="graph_pretraining"):
        Recipe.from_dict({"stage": "graph-pretrain", "graph_pretraining": {"objectives": ["nope"]}})


def test_freeze_graph_encoder_keeps_the_gin_fixed(tmp_path):
    from moltc_hf.instructions import build_dataset
    from moltc_hf.training import Recipe

    build_dataset("embedded", tmp_path / "mot", limit=40, pretrain_pairs=20, progress=False)
    model, processor = build_model("tiny", seed=0)
    before = {k: v.clone() for k, v in model.model.graph_encoder.state_dict().items()}
    connector = {
        k: v.clone() for k, v in model.model.mol_connector.state_dict().items() if k.endswith("weight")
    }
    recipe = dataclasses.replace(
        load_recipe("tiny-finetune"),
        freeze_graph_encoder=True,
        training={"max_steps": 3, "per_device_train_batch_size": 4, "report_to": "none", "save_steps": 100},
    )
    result = train(
        recipe, dataset_dir=tmp_path / "mot", output_dir=tmp_path / "run", model=(model, processor)
    )
    saved = load_file(result.final_dir / "model.safetensors")
    weights = [k for k in before if "running" not in k and "num_batches" not in k]
    assert all(torch.equal(saved[f"model.graph_encoder.{k}"], before[k]) for k in weights)
    changed = [k for k, v in connector.items() if not torch.equal(saved[f"model.mol_connector.{k}"], v)]
    assert changed  # the rest of the model trained
    with pytest.raises(ValueError, match="freeze_graph_encoder"):
        Recipe.from_dict({"stage": "finetune", "dataset_config": "x", "freeze_graph_encoder": "yes"})
