"""Screening files of pairs: stream a CSV/parquet through the inference loop, shard it, merge it, keep every row.

The inference itself (batching, the molecule-feature cache, candidate scoring / generation) is
`moltc_hf.evaluation.inference.iter_predictions`, shared with ``moltc evaluate`` and the pipeline; this module
only reads the input file, writes predictions in chunks with the input's row ids and columns, and writes
the rows that could not be read (an invalid SMILES never stops a run) to ``<output>.rejects.parquet``.
With several processes (``torchrun`` or ``accelerate launch``), `screen_file` splits the input through
``PartialState().split_between_processes`` and the main process merges the shards in row order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .evaluation.inference import MoleculeFeatureCache, Prediction, iter_predictions
from .featurization import Reject
from .instructions.tasks import TaskSpec
from .processing_moltc import MOLECULE_FIELDS
from .rejects import read_rejects, write_rejects

ROW_ID = "row_id"


@dataclass
class ScreenReport:
    """Counts of a `screen_file` run (also printed by ``moltc predict``)."""

    num_rows: int = 0
    num_predicted: int = 0
    num_rejected: int = 0
    num_unparseable: int = 0
    molecules_encoded: int = 0
    output: str | None = None
    rejects: str | None = None


def read_pairs(path: str | Path) -> pd.DataFrame:
    """CSV or parquet with ``smiles_a`` and ``smiles_b`` (other columns are carried through)."""
    path = Path(path)
    frame = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
    missing = [c for c in MOLECULE_FIELDS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")
    return frame


PREDICTION_FIELDS = pa.schema(
    [
        ("task", pa.string()),
        ("answer", pa.string()),
        ("label", pa.int64()),
        ("label_name", pa.string()),
        ("value", pa.float64()),
        ("probability", pa.float64()),
        ("reasoning", pa.string()),
        ("class_probabilities", pa.list_(pa.float64())),
        ("error", pa.string()),
        ("value_source", pa.string()),
        ("outside_interval", pa.bool_()),
    ]
)


def output_schema(input_schema: pa.Schema) -> pa.Schema:
    """``row_id`` + the input's columns (renamed ``input_<name>`` when they clash) + the prediction fields."""
    fields = [pa.field(ROW_ID, pa.int64())]
    for f in input_schema:
        name = f"input_{f.name}" if f.name in PREDICTION_FIELDS.names or f.name == ROW_ID else f.name
        fields.append(pa.field(name, pa.null() if f.type == pa.null() else f.type).with_nullable(True))
    return pa.schema([*fields, *PREDICTION_FIELDS])


def predictions_table(
    results: Iterable[tuple[object, Mapping, Prediction]], schema: pa.Schema, input_columns: Sequence[str]
) -> pa.Table:
    """Batch results -> an Arrow table with ``schema`` (fixed, so every streamed chunk matches)."""
    columns: dict[str, list] = {name: [] for name in schema.names}
    renamed = dict(zip(input_columns, schema.names[1 : 1 + len(input_columns)]))
    for row_id, row, prediction in results:
        columns[ROW_ID].append(row_id)
        for name, out_name in renamed.items():
            value = row.get(name)
            columns[out_name].append(None if isinstance(value, float) and math.isnan(value) else value)
        for name, value in prediction.to_dict().items():
            columns[name].append(math.nan if name == "value" and value is None else value)
    return pa.table(columns, schema=schema)


def rejects_path_for(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(f"{output.stem}.rejects.parquet")


def screen_file(
    model,
    processor,
    input_path: str | Path,
    output_path: str | Path,
    task: TaskSpec | str,
    *,
    batch_size: int = 32,
    limit: int | None = None,
    progress: bool = True,
    cache: bool = True,
    write_every: int = 8192,
    **predict_kwargs,
) -> ScreenReport:
    """Predict every pair of a CSV/parquet file into a parquet file (+ ``<output>.rejects.parquet``).

    Output rows carry ``row_id`` (the 0-based row of the input file) and the input's columns, and are
    written in chunks of ``write_every`` rows as they come (memory stays flat on millions of pairs).
    Under ``accelerate launch`` each process screens its share into a part file; the main process then
    merges the parts in row order.
    """
    from accelerate import PartialState

    state = PartialState(cpu=next(model.parameters()).device.type == "cpu")  # CPU runs split with gloo
    frame = read_pairs(input_path)
    if limit is not None:
        frame = frame.iloc[:limit]
    frame = frame.reset_index(drop=True)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    schema = output_schema(pa.Schema.from_pandas(frame, preserve_index=False))
    multi = state.num_processes > 1
    part_path = (
        output_path.with_name(f"{output_path.stem}.part{state.process_index}.parquet")
        if multi
        else output_path
    )
    feature_cache = MoleculeFeatureCache(model, processor) if cache else False
    counts = {"predicted": 0, "unparseable": 0}
    rejects: list[Reject] = []
    with state.split_between_processes(list(range(len(frame)))) as shard:
        shard_frame = frame.iloc[list(shard)]
        pending: list = []
        with pq.ParquetWriter(part_path, schema) as writer:
            for batch_results, batch_rejects in iter_predictions(
                model,
                processor,
                shard_frame.to_dict("records"),
                task,
                batch_size=batch_size,
                cache=feature_cache,
                row_ids=shard_frame.index.tolist(),
                progress=f"screening [{state.process_index}]" if progress else None,
                **predict_kwargs,
            ):
                pending += batch_results
                rejects += batch_rejects
                counts["predicted"] += len(batch_results)
                counts["unparseable"] += sum(p.error is not None for _, _, p in batch_results)
                if len(pending) >= write_every:
                    writer.write_table(predictions_table(pending, schema, list(frame.columns)))
                    pending = []
            if pending:
                writer.write_table(predictions_table(pending, schema, list(frame.columns)))
    write_rejects(rejects, rejects_path_for(part_path), "predict")
    report = ScreenReport(
        num_rows=len(frame),
        num_predicted=counts["predicted"],
        num_rejected=len({r.row for r in rejects}),
        num_unparseable=counts["unparseable"],
        molecules_encoded=feature_cache.misses
        if isinstance(feature_cache, MoleculeFeatureCache)
        else 2 * counts["predicted"],
        output=str(output_path),
        rejects=str(rejects_path_for(output_path)),
    )
    if multi:
        report = _merge_parts(state, output_path, report)
    return report


def _merge_parts(state, output_path: Path, report: ScreenReport) -> ScreenReport:
    """Main process: concatenate the part files (and their rejects) in row order; other processes: nothing."""
    from accelerate.utils import gather_object

    encoded = sum(gather_object([report.molecules_encoded]))  # every process's encoder work, not just ours
    state.wait_for_everyone()
    if not state.is_main_process:
        return ScreenReport(num_rows=report.num_rows)
    parts = [output_path.with_name(f"{output_path.stem}.part{k}.parquet") for k in range(state.num_processes)]
    table = pa.concat_tables([pq.read_table(p) for p in parts]).sort_by(ROW_ID)
    rejects = pa.concat_tables([read_rejects(rejects_path_for(p)) for p in parts]).to_pylist()
    pq.write_table(table, output_path)
    write_rejects(sorted(rejects, key=lambda r: int(r["row"])), rejects_path_for(output_path), "predict")
    for part in parts:
        part.unlink()
        rejects_path_for(part).unlink()
    errors = pc.sum(pc.invert(pc.is_null(table["error"]))).as_py() or 0
    return ScreenReport(
        num_rows=report.num_rows,
        num_predicted=table.num_rows,
        num_rejected=len({r["row"] for r in rejects}),
        num_unparseable=errors,
        molecules_encoded=encoded,
        output=str(output_path),
        rejects=str(rejects_path_for(output_path)),
    )
