"""Reliability, round two (issue 28): one bad value never stops a batch, a refusal names its real cause, a
converted checkpoint is right without extra flags."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from moltc_hf.cli import main
from moltc_hf.featurization import InvalidMoleculeError, _parse_with_messages, parse_molecule

VALID_PAIRS = [("CCO", "c1ccccc1O"), ("CC(=O)O", "CCN"), ("CCCl", "OCCO"), ("c1ccncc1", "CC")]


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    monkeypatch.delenv("MOLTC_DEBUG", raising=False)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    from moltc_hf import build_model

    model, processor = build_model("tiny", seed=0)
    folder = tmp_path_factory.mktemp("model") / "tiny"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def _random_bytes_text(seed: int, length: int = 300) -> str:
    """What a corrupted source yields: random bytes decoded as UTF-8 with replacement characters."""
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(length)).decode("utf-8", "replace")


# -- 1. one value never aborts a run ----------------------------------------------------------------------


def test_rdkit_log_that_does_not_decode_is_not_an_exception():
    # Before: RDKit's captured log cut a multi-byte character and `log.messages` raised UnicodeDecodeError.
    mol, messages = _parse_with_messages("C(" + "é" * 300)
    assert mol is None and isinstance(messages, str)


@pytest.mark.parametrize("seed", range(6))
def test_random_bytes_are_an_invalid_molecule_with_a_reason(seed):
    with pytest.raises(InvalidMoleculeError) as info:
        parse_molecule(_random_bytes_text(seed), row=3, field="smiles_a")
    assert "non-ASCII character" in info.value.reason and "row 3" in str(info.value)


def test_predict_rejects_random_bytes_rows_and_predicts_the_rest(model_dir, tmp_path):
    rows = [*VALID_PAIRS[:2], (_random_bytes_text(1), "CCO"), ("CC", _random_bytes_text(2)), *VALID_PAIRS[2:]]
    source = tmp_path / "pairs.csv"
    pd.DataFrame(rows, columns=["smiles_a", "smiles_b"]).to_csv(source, index=False)
    output = tmp_path / "out.parquet"
    args = ["predict", "--model", str(model_dir), "--input", str(source), "--output", str(output)]
    assert main([*args, "--device", "cpu"]) == 0
    assert pd.read_parquet(output)["row_id"].tolist() == [0, 1, 4, 5]
    rejects = pd.read_parquet(tmp_path / "out.rejects.parquet")
    assert rejects["row"].tolist() == ["2", "3"] and rejects["field"].tolist() == ["smiles_a", "smiles_b"]
    assert all("non-ASCII character" in reason for reason in rejects["reason"])


def test_pipeline_raises_invalid_molecule_for_random_bytes(model_dir):
    from transformers import pipeline

    pipe = pipeline("molecule-pair-interaction", model=str(model_dir), trust_remote_code=True)
    with pytest.raises(InvalidMoleculeError, match=r"row 1, field 'smiles_b'"):
        pipe([("CCO", "O"), ("CC", _random_bytes_text(4))])


# -- 5. messages ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("smiles", "expected"),
    [
        ("*)2@]#/(:4c3r:/c-%c=O.NO)[[c]#%2oH:#322(1" * 12, "extra close parentheses while parsing"),
        ("nB*%O#(-%+-s4" * 30, "syntax error while parsing"),
        ("C1CC" + "C" * 700, "unclosed ring"),
    ],
)
def test_reject_reasons_are_one_short_line_without_the_smiles(smiles, expected):
    with pytest.raises(InvalidMoleculeError) as info:
        parse_molecule(smiles)
    reason = info.value.reason
    assert expected in reason and smiles[:20] not in reason
    assert len(reason) <= 200 and "\n" not in reason
