"""`moltc train` end to end on a dataset folder with one bad row: it trains, saves final/ and writes the reject."""

from __future__ import annotations

import pandas as pd
import pytest
from test_training import freesolv_rows, write_dataset_folder
from transformers import AutoModel

from moltc_hf.cli import main


@pytest.mark.slow
def test_cli_trains_from_a_saved_model_and_skips_bad_rows(raw_dir, tmp_path, tiny, capsys):
    model, processor = tiny
    model.save_pretrained(tmp_path / "start")
    processor.save_pretrained(tmp_path / "start")
    rows = freesolv_rows(raw_dir)[:24]
    rows[3] = rows[3] | {"smiles_b": "C1CC(", "source_row": 9999}
    dataset = write_dataset_folder(tmp_path / "mot", {"freesolv": {"train": rows}})
    code = main(
        ["train", "--recipe", "tiny-finetune", "--dataset", str(dataset), "--config", "freesolv",
         "--output-dir", str(tmp_path / "run"), "--model", str(tmp_path / "start"), "--max-steps", "2"]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "trained 2 steps" in out and "skipped 1 row" in out
    rejects = pd.read_parquet(tmp_path / "run" / "rejects.parquet")
    assert rejects[["row", "field", "split"]].values.tolist() == [["9999", "smiles_b", "train"]]
    final = AutoModel.from_pretrained(tmp_path / "run" / "final")
    assert final.config.projector_sharing == "untied"
