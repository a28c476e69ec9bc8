"""Baselines on small real slices: FreeSolv regression and the ChChMiner drug-prior shortcut."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from moltc_hf.baselines import (
    DescriptorRegressor,
    DrugPrior,
    MeanRegressor,
    MorganPairLogistic,
    binary_metrics,
    run_baselines,
)
from moltc_hf.featurization import InvalidMoleculeError
from moltc_hf.instructions.splits import cold_drug_split, random_split
from moltc_hf.tasks.metrics import regression_metrics


@pytest.fixture(scope="module")
def freesolv(raw_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.read_csv(raw_dir / "FreeSolv" / "FreeSolv.csv")
    frame = frame.rename(columns={"0": "smiles_a", "1": "smiles_b", "dGsolv_avg": "label"})
    split = random_split(len(frame), seed=0)
    return frame[split == "train"], frame[split == "test"]


@pytest.fixture(scope="module")
def chchminer(raw_dir) -> pd.DataFrame:
    frame = pd.read_csv(raw_dir / "ChChMiner" / "ChChMiner_train.csv")
    frame = frame.rename(columns={"smiles_1": "smiles_a", "smiles_2": "smiles_b"})
    return frame.sample(4000, random_state=0).reset_index(drop=True)


@pytest.mark.slow
def test_descriptor_models_beat_the_mean_on_freesolv(freesolv):
    train, test = freesolv
    results = {r.name: r.metrics["rmse"] for r in run_baselines("regression", train, test, seed=0)}
    mean_rmse = results["mean"]
    assert mean_rmse > 2.5  # FreeSolv spans ~ -25..+4 kcal/mol
    assert results["ridge (RDKit descriptors)"] < 0.7 * mean_rmse
    assert results["random forest (RDKit descriptors)"] < 0.5 * mean_rmse


@pytest.mark.slow
def test_regressors_accept_datasets_and_dict_rows(freesolv):
    from datasets import Dataset

    train, test = freesolv
    as_dicts = test.head(5)[["smiles_a", "smiles_b", "label"]].to_dict("records")
    mean = MeanRegressor().fit(Dataset.from_pandas(train[["smiles_a", "smiles_b", "label"]]))
    assert np.allclose(mean.predict(as_dicts), train["label"].mean())
    ridge = DescriptorRegressor("ridge").fit(train)
    assert ridge.predict(as_dicts).shape == (5,)


def test_drug_prior_is_high_on_random_split_and_blind_to_unseen_drugs(chchminer):
    random_ = random_split(len(chchminer), seed=0)
    cold = cold_drug_split(chchminer["smiles_a"], chchminer["smiles_b"], seed=0)

    train, test = chchminer[random_ == "train"], chchminer[random_ == "test"]
    random_auroc = binary_metrics(test["label"], DrugPrior().fit(train).predict_proba(test))["auroc"]
    assert random_auroc > 0.9  # no chemistry at all, yet "state of the art"

    train, test = chchminer[cold == "train"], chchminer[cold == "test"]
    prior = DrugPrior().fit(train)
    cold_auroc = binary_metrics(test["label"], prior.predict_proba(test))["auroc"]
    assert cold_auroc < random_auroc - 0.03
    seen = set(train["smiles_a"]) | set(train["smiles_b"])
    unseen = test[~test["smiles_a"].isin(seen) & ~test["smiles_b"].isin(seen)]
    assert len(unseen) > 10 and unseen["label"].nunique() == 2
    scores = prior.predict_proba(unseen)
    assert np.allclose(scores, prior.global_rate_)  # fallback: the train positive rate
    assert binary_metrics(unseen["label"], scores)["auroc"] == pytest.approx(0.5)


def test_drug_prior_smoothing_and_label_check():
    rows = [
        {"smiles_a": "CCO", "smiles_b": "CCN", "label": 1.0},
        {"smiles_a": "CCO", "smiles_b": "c1ccccc1", "label": 1.0},
        {"smiles_a": "CCC", "smiles_b": "c1ccccc1", "label": 0.0},
    ]
    prior = DrugPrior(smoothing=1.0).fit(rows)
    assert prior.global_rate_ == pytest.approx(2 / 3)
    assert prior.drug_rate("CCO") == pytest.approx((2 + 2 / 3) / 3)  # shrunk toward p0, not 1.0
    assert prior.drug_rate("CCCl") == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="binary"):
        DrugPrior().fit([{"smiles_a": "C", "smiles_b": "O", "label": 2.0}])
    with pytest.raises(KeyError, match="label"):
        DrugPrior().fit([{"smiles_a": "C", "smiles_b": "O"}])


def test_morgan_pair_features_are_order_free_and_learn(chchminer):
    model = MorganPairLogistic(n_bits=512)
    swapped = chchminer.head(20).rename(columns={"smiles_a": "smiles_b", "smiles_b": "smiles_a"})
    assert (model.pairs(chchminer.head(20)) != model.pairs(swapped)).nnz == 0
    split = random_split(len(chchminer), seed=0)
    model.fit(chchminer[split == "train"])
    test = chchminer[split == "test"]
    assert binary_metrics(test["label"], model.predict_proba(test))["auroc"] > 0.8


def test_bad_smiles_names_the_row_and_field():
    rows = [
        {"smiles_a": "O", "smiles_b": "CCO", "label": 0.0},
        {"smiles_a": "O", "smiles_b": "C1CC", "label": 1.0},
    ]
    with pytest.raises(InvalidMoleculeError, match=r"row 1, field 'smiles_b'"):
        DescriptorRegressor("ridge").fit(rows)


def test_regression_metrics_match_definitions():
    metrics = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    assert metrics["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert metrics["mae"] == pytest.approx(2 / 3)
