"""A user's own pair file (CSV or parquet) -> normalised pair records, like the built-in `readers`.

``moltc build-dataset --data-path FILE --smiles-columns A B --target-column COL --task KIND`` reads only the
named columns, and every row it cannot use (an empty or non-numeric target, a label outside the classes) is
a reject with its ``<file>:<0-based data row>``; SMILES are validated later by the builder, as for every
source. The file's provenance (name, row count, SHA-256) is what the dataset card and ``task.json`` record.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from ..featurization import is_missing
from .readers import SourcePairs, _numeric, _pairs, _reject, _with_rows, spread_rows

PARQUET_SUFFIXES = (".parquet", ".pq")
_TRUE, _FALSE = {"true", "yes"}, {"false", "no"}


@dataclass
class UserFile:
    """What the card says about the file: where the rows came from, exactly."""

    name: str
    rows: int
    sha256: str
    format: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _text(value) -> str:
    if is_missing(value):
        return ""
    return str(value)


def read_table(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """The named columns of a CSV/parquet file as text (missing cells: ``""``); a missing column is named."""
    if not path.is_file():
        raise FileNotFoundError(f"--data-path {path}: no such file")
    columns = list(dict.fromkeys(columns))
    if path.suffix.lower() in PARQUET_SUFFIXES:
        header = pq.ParquetFile(path).schema_arrow.names
    else:
        header = pd.read_csv(path, nrows=0).columns.tolist()
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"{path.name}: column(s) {missing} not in the header {header}")
    if path.suffix.lower() in PARQUET_SUFFIXES:
        frame = pq.read_table(path, columns=columns).to_pandas()
        return pd.DataFrame({c: [_text(v) for v in frame[c]] for c in columns})
    return pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=False)[columns]


def _class_labels(
    frame: pd.DataFrame, column: str, kind: str, class_names: Sequence[str], source: str, rejects: list[dict]
) -> tuple[pd.DataFrame, list[str]]:
    """Class ids from a label column: class names (``--class-names`` order), ids ``0..K-1``, or true/false."""
    values = frame[column].str.strip()
    empty = values == ""
    _reject(rejects, source, frame.loc[empty, "source_row"], column, values[empty], "missing label")
    frame, values = frame.loc[~empty], values[~empty]
    if kind == "binary":
        values = values.map(lambda v: "1" if v.lower() in _TRUE else "0" if v.lower() in _FALSE else v)
    names = list(class_names)
    numeric = pd.to_numeric(values, errors="coerce")
    if not names:
        if kind == "binary":
            names = ["no", "yes"]
        elif numeric.notna().all() and (numeric == numeric.round()).all():
            names = [str(int(v)) for v in sorted(set(numeric))]
        else:
            names = sorted(set(values))
    ids: list[float] = []
    by_name = {name: i for i, name in enumerate(names)}
    for value, number in zip(values, numeric):
        if value in by_name:
            ids.append(float(by_name[value]))
        elif not math.isnan(number) and number == round(number) and 0 <= number < len(names):
            ids.append(float(number))
        else:
            ids.append(math.nan)
    ids_series = pd.Series(ids, index=frame.index)
    bad = ids_series.isna()
    _reject(
        rejects,
        source,
        frame.loc[bad, "source_row"],
        column,
        values[bad],
        f"label is not one of the class names {names} nor a class id 0..{len(names) - 1}",
    )
    frame = frame.loc[~bad].copy()
    frame["label"] = ids_series[~bad]
    return frame, names


def read_pair_file(
    path: str | Path,
    *,
    source: str,
    task: str,
    smiles_columns: Sequence[str],
    target_column: str,
    kind: str,
    class_names: Sequence[str] = (),
    limit: int | None = None,
) -> tuple[SourcePairs, UserFile, list[str]]:
    """Read a user's pair file as config ``source`` of task ``task`` (``kind``: regression/binary/multiclass).

    Returns the records (``smiles_a`` = first of ``smiles_columns``), the file's provenance and the class names
    (empty for regression). ``limit`` keeps that many rows spread over the file, as for the built-in sources.
    """
    path = Path(path)
    if len(smiles_columns) != 2:
        raise ValueError(
            f"--smiles-columns takes two column names (molecule A, molecule B), got {smiles_columns}"
        )
    a, b = smiles_columns
    table = read_table(path, [a, b, target_column])
    info = UserFile(
        path.name,
        len(table),
        sha256_of(path),
        "parquet" if path.suffix.lower() in PARQUET_SUFFIXES else "csv",
    )
    frame = _with_rows(spread_rows(table, limit), path.name)
    rejects: list[dict] = []
    names: list[str] = []
    if kind == "regression":
        frame = _numeric(frame, target_column, source, rejects)
    else:
        frame, names = _class_labels(frame, target_column, kind, class_names, source, rejects)
    return SourcePairs(_pairs(frame, a, b, task, None), rejects), info, names


__all__ = ["PARQUET_SUFFIXES", "UserFile", "read_pair_file", "read_table", "sha256_of"]
