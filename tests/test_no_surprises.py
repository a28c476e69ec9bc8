"""Issue 27: what a command is told is what it does, every saved folder works with ``pipeline()``, and every
number says where it came from. One test (or more) per numbered point, written the way a user makes the call."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

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
