"""The one rejects schema: every row a job skipped, with where it came from and why.

Every batch job (``build-dataset``, ``train``, ``evaluate``, ``predict``) skips bad input instead of stopping,
and writes what it skipped with `write_rejects`, so one reader handles every rejects file:

| column | meaning |
|---|---|
| ``row`` | the row as the job's input names it: ``0``-based row id of a pairs file, ``file.csv:line`` of a raw source |
| ``field`` | the column that was bad (``smiles_a``, ``label``, ...) |
| ``value`` | the offending value, as text |
| ``reason`` | why it was skipped |
| ``stage`` | the job that skipped it: ``build-dataset``, ``train``, ``evaluate``, ``predict`` |
| ``source`` | the dataset config / source the row belongs to (empty when the job reads one file) |
| ``split`` | the split the row belongs to (empty when not applicable) |

``row`` is text because raw sources name rows by file and line; `Reject.row` stays an int in memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .atomic import write_file_atomically
from .featurization import Reject

STAGES = ("build-dataset", "train", "evaluate", "predict")
REJECT_COLUMNS = ("row", "field", "value", "reason", "stage", "source", "split")
REJECT_SCHEMA = pa.schema([(name, pa.string()) for name in REJECT_COLUMNS])


def _text(value) -> str:
    return "" if value is None else str(value)


def rejects_table(rejects: Iterable[Reject | Mapping], stage: str, **context: str) -> pa.Table:
    """`Reject` records (or dicts with their fields) -> a table in `REJECT_SCHEMA`.

    ``context`` fills ``source`` / ``split`` for every row that does not carry its own.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
    columns: dict[str, list[str]] = {name: [] for name in REJECT_COLUMNS}
    for reject in rejects:
        entry = reject.to_dict() if isinstance(reject, Reject) else dict(reject)
        entry.setdefault("stage", stage)
        for name in REJECT_COLUMNS:
            columns[name].append(_text(entry.get(name, context.get(name))))
    return pa.table(columns, schema=REJECT_SCHEMA)


def write_rejects(
    rejects: Iterable[Reject | Mapping] | pa.Table, path: str | os.PathLike, stage: str, **context: str
) -> Path:
    """Write a rejects file (parquet, `REJECT_SCHEMA`), through a temporary name so it is never half written."""
    table = rejects if isinstance(rejects, pa.Table) else rejects_table(rejects, stage, **context)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_file_atomically(
        path, lambda tmp: pq.write_table(table.replace_schema_metadata(None), tmp, compression="zstd")
    )


def read_rejects(path: str | os.PathLike) -> pa.Table:
    """A rejects file, checked against `REJECT_SCHEMA`."""
    table = pq.read_table(path)
    if table.schema.names != list(REJECT_COLUMNS):
        raise ValueError(
            f"{path}: not a rejects file (columns {table.schema.names}, expected {REJECT_COLUMNS})"
        )
    return table


__all__ = ["REJECT_COLUMNS", "REJECT_SCHEMA", "STAGES", "read_rejects", "rejects_table", "write_rejects"]
