"""Screening: cached molecule features give the same answers as re-encoding, on real DrugBank pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from moltc_hf.featurization import canonical_smiles
from moltc_hf.inference.predict import MoleculeFeatureCache, iter_predictions, uncached_features
from moltc_hf.inference.screening import rejects_path_for


@pytest.fixture(scope="module")
def model_and_processor():
    from moltc_hf import build_model

    model, processor = build_model("tiny", seed=0)
    return model.eval(), processor


@pytest.fixture(scope="module")
def drugbank_pairs(raw_dir) -> pd.DataFrame:
    smiles = pd.read_csv(raw_dir / "DrugBank-DDI/ssi-ddi/drug_smiles.csv")
    smiles_of = dict(zip(smiles["drug_id"], smiles["smiles"]))
    pairs = pd.read_csv(raw_dir / "DrugBank-DDI/hdn-ddi/warm_start/fold0/test.csv", nrows=2000)
    pairs = pairs[pairs["d1"].isin(smiles_of) & pairs["d2"].isin(smiles_of)].sample(300, random_state=0)
    return pd.DataFrame(
        {"smiles_a": pairs["d1"].map(smiles_of).values, "smiles_b": pairs["d2"].map(smiles_of).values}
    )


def _probabilities(results) -> np.ndarray:
    return np.array([prediction.class_probabilities for _, _, prediction in results])


def test_cache_encodes_each_molecule_once_and_matches(model_and_processor):
    model, processor = model_and_processor
    cache = MoleculeFeatureCache(model, processor)
    pairs = [("CCO", "c1ccccc1O"), ("OCC", "O"), ("CCO", "O")]  # "OCC" is "CCO" spelled differently
    features = cache.features(pairs)
    assert len(cache) == 3 and cache.misses == 3 and cache.hits == 3  # tied projector: roles share entries
    torch.testing.assert_close(features, uncached_features(model, processor, pairs), rtol=1e-5, atol=1e-5)


def test_untied_cache_keys_by_role(model_and_processor):
    from moltc_hf import build_model

    model, processor = build_model("tiny", seed=0)
    model.untie_projectors()
    with torch.no_grad():
        model.model.mol_connector.projectors[1].language_projection.weight.mul_(2)
    cache = MoleculeFeatureCache(model.eval(), processor)
    pairs = [("CCO", "O"), ("O", "CCO")]
    features = cache.features(pairs)
    assert len(cache) == 4
    torch.testing.assert_close(features, uncached_features(model, processor, pairs), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_cached_and_uncached_screening_agree_on_real_pairs(model_and_processor, drugbank_pairs):
    model, processor = model_and_processor
    rows = drugbank_pairs.to_dict("records")
    cache = MoleculeFeatureCache(model, processor)
    cached = [
        r
        for batch, _ in iter_predictions(model, processor, rows, "ddi_binary", batch_size=50, cache=cache)
        for r in batch
    ]
    plain = [
        r
        for batch, _ in iter_predictions(model, processor, rows, "ddi_binary", batch_size=50, cache=False)
        for r in batch
    ]
    assert len(cached) == len(plain) == 300
    unique = {canonical_smiles(s) for s in [*drugbank_pairs["smiles_a"], *drugbank_pairs["smiles_b"]]}
    # once per molecule; ddi_binary answers both orders (symmetric readout), so 1,200 lookups in all
    assert cache.misses == len(unique) < 600 and cache.hits == 1200 - len(unique)
    np.testing.assert_allclose(_probabilities(cached), _probabilities(plain), atol=1e-4)
    assert [p.label for _, _, p in cached] == [p.label for _, _, p in plain]


def test_screen_file_keeps_row_ids_and_writes_rejects(model_and_processor, drugbank_pairs, tmp_path):
    from moltc_hf.cli import main

    model, processor = model_and_processor
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    frame = drugbank_pairs.head(40).copy()
    frame.index = range(100, 140)
    frame.loc[103, "smiles_a"] = "C1CC"
    frame.loc[110, "smiles_b"] = None
    frame["pair_name"] = [f"pair-{i}" for i in frame.index]
    source = tmp_path / "pairs.csv"
    frame.reset_index(drop=True).to_csv(source, index=False)
    output = tmp_path / "out" / "preds.parquet"
    args = ["predict", "--model", str(tmp_path / "model"), "--input", str(source), "--output", str(output)]
    assert main([*args, "--batch-size", "16", "--device", "cpu", "--task", "ddi_binary"]) == 0
    predictions = pd.read_parquet(output)
    rejects = pd.read_parquet(rejects_path_for(output))
    assert len(predictions) == 38 and sorted(map(int, rejects["row"])) == [3, 10]
    assert set(rejects["field"]) == {"smiles_a", "smiles_b"} and rejects["reason"].str.len().min() > 5
    assert predictions["row_id"].tolist() == [i for i in range(40) if i not in (3, 10)]
    assert (predictions["pair_name"] == [f"pair-{i + 100}" for i in predictions["row_id"]]).all()
    assert predictions["label_name"].isin(["interaction", "no interaction"]).all()
    assert predictions["probability"].between(0.5, 1).all()


def test_two_processes_split_the_input_and_merge_in_row_order(model_and_processor, drugbank_pairs, tmp_path):
    import os
    import shutil
    import subprocess

    torchrun, moltc = shutil.which("torchrun"), shutil.which("moltc")
    if torchrun is None or moltc is None:
        pytest.skip("torchrun / the moltc console script are not on PATH")
    model, processor = model_and_processor
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    frame = drugbank_pairs.head(30).reset_index(drop=True)
    frame.loc[17, "smiles_b"] = "C1CC"
    frame.to_parquet(tmp_path / "pairs.parquet")
    output = tmp_path / "preds.parquet"
    command = [torchrun, "--nproc_per_node", "2", moltc, "predict", "--model", str(tmp_path / "model")]
    command += [
        "--input",
        str(tmp_path / "pairs.parquet"),
        "--output",
        str(output),
        "--device",
        "cpu",
        "--batch-size",
        "8",
        "--task",
        "ddi_binary",  # a fresh model records no task (issue 27)
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "screening [1]" in done.stderr  # the second process screened its half
    predictions = pd.read_parquet(output)
    assert predictions["row_id"].tolist() == [i for i in range(30) if i != 17]
    assert pd.read_parquet(rejects_path_for(output))["row"].tolist() == ["17"]
    assert not list(tmp_path.glob("preds.part*"))  # parts merged and removed
    halves = (frame.iloc[:15], frame.drop(17).iloc[15:])  # each process encodes its half's molecules once
    encoded = sum(len({canonical_smiles(s) for s in [*h["smiles_a"], *h["smiles_b"]]}) for h in halves)
    assert f"{encoded} molecules encoded" in done.stdout  # summed over processes, not the main one's
