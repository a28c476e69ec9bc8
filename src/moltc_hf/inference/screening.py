"""Screening files of pairs: stream a CSV/parquet through the inference loop, shard it, merge it, keep every row.

The inference itself (batching, the molecule-feature cache, candidate scoring / generation) is
`moltc_hf.inference.predict.iter_predictions`, shared with ``moltc evaluate`` and the pipeline; this module
only reads the input file, writes predictions in chunks with the input's row ids and columns, and writes
the rows that could not be read (an invalid SMILES never stops a run) to ``<output>.rejects.parquet``.
With several processes (``torchrun`` or ``accelerate launch``), `screen_file` splits the input through
``PartialState().split_between_processes`` and the main process merges the shards in row order.
"""

from __future__ import annotations

import dataclasses
import json
import lzma
import math
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .._progress import progress_bar
from ..atomic import write_file_atomically, write_text_atomically
from ..featurization import Reject, is_missing
from ..processing_moltc import MOLECULE_FIELDS
from ..rejects import read_rejects, rejects_table, write_rejects
from ..tasks.registry import TaskSpec, get_task
from .predict import MoleculeFeatureCache, Prediction, iter_predictions, uses_symmetric_readout

ROW_ID = "row_id"
# Memory bounds of a screen, so its resident size is flat in the number of rows (benchmarks/predict_memory.py):
# encoded molecule features kept for repeats (bytes, on the model's device) and RDKit graphs (entries).
# An RDKit graph costs ~10 kB resident (a PyG `Data` of three small tensors): 16,384 of them grew a screen of
# distinct molecules by ~160 MB, 2,048 (more than a batch needs) keep it flat.
FEATURE_CACHE_BYTES = 32 * 2**20
GRAPH_CACHE_SIZE = 2048


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


class PairsFile:
    """A pairs file read in chunks: its Arrow schema and row count first, then frames of consecutive rows.

    Streaming keeps memory flat in the input size. A CSV is scanned once for its schema (column types unified
    over every chunk, so each chunk converts to the same output schema) and its record count, which is checked
    against Python's own CSV reader: if the two disagree (quoted CR / NUL bytes, stray quotes), row ids would
    not be the file's rows, so the file is refused with the reason.
    """

    def __init__(
        self, path: str | Path, chunk_rows: int = 65_536, smiles_columns: Sequence[str] = MOLECULE_FIELDS
    ):
        self.path = Path(path)
        self.chunk_rows = chunk_rows
        if len(smiles_columns) != 2:
            raise ValueError(f"smiles_columns: two column names (A, B), got {list(smiles_columns)}")
        # molecule A / B are read from these columns (``--smiles-columns solvent solute``); every frame
        # also carries them as ``smiles_a`` / ``smiles_b``, which the inference loop reads.
        self.smiles_columns = tuple(smiles_columns)
        self.is_parquet = self.path.suffix in (".parquet", ".pq")
        self.string_columns: list[str] = []
        if self.is_parquet:
            self.schema, self.num_rows = self._parquet_schema()
        else:
            self.schema, self.num_rows = self._csv_schema()
        missing = [c for c in self.smiles_columns if c not in self.schema.names]
        if missing:
            hint = "" if self.smiles_columns != MOLECULE_FIELDS else " (name yours with --smiles-columns A B)"
            raise ValueError(f"{self.path}: missing column(s) {missing}; found {self.schema.names}{hint}")
        for field, column in zip(MOLECULE_FIELDS, self.smiles_columns):
            if field != column and field in self.schema.names and field not in self.smiles_columns:
                raise ValueError(
                    f"{self.path}: the file has a column {field!r} but --smiles-columns reads molecule "
                    f"{'AB'[MOLECULE_FIELDS.index(field)]} from {column!r}; rename one of them"
                )

    def _as_pairs(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.smiles_columns == MOLECULE_FIELDS:
            return frame
        return frame.assign(**{f: frame[c] for f, c in zip(MOLECULE_FIELDS, self.smiles_columns)})

    def field_name(self, field: str | None) -> str | None:
        """The file's own column for a reject's ``smiles_a`` / ``smiles_b`` field."""
        return dict(zip(MOLECULE_FIELDS, self.smiles_columns)).get(field, field)

    def _parquet_schema(self) -> tuple[pa.Schema, int]:
        try:
            handle = pq.ParquetFile(self.path)
        except pa.ArrowException as err:
            raise ValueError(f"{self.path}: not a readable parquet file ({err})") from None
        schema = handle.schema_arrow
        return pa.schema([f for f in schema if f.name != "__index_level_0__"]), handle.metadata.num_rows

    def _csv_reader(self, **options):
        try:
            return pd.read_csv(self.path, chunksize=self.chunk_rows, **options)
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise ValueError(f"{self.path}: not a readable CSV file ({err})") from None

    def _csv_schema(self) -> tuple[pa.Schema, int]:
        schemas, num_rows = [], 0
        try:
            for chunk in self._csv_reader():
                schemas.append(pa.Schema.from_pandas(chunk, preserve_index=False))
                num_rows += len(chunk)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise ValueError(f"{self.path}: not a readable CSV file ({' '.join(str(err).split())})") from None
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            raise
        except (EOFError, OSError, ImportError, zlib.error, lzma.LZMAError, zipfile.BadZipFile) as err:
            # a truncated or mislabelled compressed file (.gz that is not gzip), or no zstandard for a .zst
            raise ValueError(
                f"{self.path}: cannot decompress it ({type(err).__name__}: {' '.join(str(err).split())})"
            ) from None
        self._check_record_count(num_rows)
        if not schemas:  # a header and no rows: the columns are there, their types unknown
            header = pd.read_csv(self.path, nrows=0)
            schemas = [pa.schema([(str(name), pa.string()) for name in header.columns])]
        fields = {}
        for schema in schemas:
            for f in schema:
                fields.setdefault(f.name, []).append(f.type)
        unified = []
        for name, types in fields.items():
            kind = _unify(types)
            if kind == pa.string() and any(t != pa.string() and t != pa.null() for t in types):
                self.string_columns.append(name)  # mixed (numbers in one chunk, text in another): keep text
            unified.append(pa.field(name, kind))
        return pa.schema(unified), num_rows

    def _check_record_count(self, num_rows: int) -> None:
        """pandas must see exactly the records of the file's lines, or row ids would drift from its rows.

        The file is re-read (decompressed as pandas does: ``.gz``, ``.bz2``, ``.zip``, ``.xz``, ``.zst``) with
        Python's csv module over lines split at LF only: a carriage return outside quotes (a bare CR that a
        careless writer left in a value, or an old-Mac line ending) is where readers disagree on row boundaries,
        so the file is refused with its line; CR and NUL inside quotes are plain data. The csv module's field
        size limit (128 kB) is lifted for the count: a huge value is its row's problem (a SMILES that long is
        that row's reject), not a reason to refuse the file.
        """
        import csv
        import io
        import sys

        from pandas.io.common import get_handle

        limit = csv.field_size_limit()
        csv.field_size_limit(sys.maxsize)
        try:
            with get_handle(self.path, "rb", compression="infer", is_text=False) as handles:
                text = io.TextIOWrapper(handles.handle, encoding="utf-8", errors="replace", newline="\n")
                reader = csv.reader(text)
                try:
                    records = sum(1 for record in reader if record) - 1  # minus the header
                except csv.Error as err:
                    cause = (
                        "a carriage return (CR) outside quotes"
                        if "new-line character" in str(err)
                        else "Python's csv reader fails"
                    )
                    raise ValueError(
                        f"{self.path}: line {reader.line_num}: {cause} ({err}); the file's rows cannot be counted "
                        f"reliably (pandas reads {num_rows}), so row ids could not be its rows and the file is "
                        "refused. Quote that value or convert the file to parquet."
                    ) from None
                finally:
                    text.detach()
        finally:
            csv.field_size_limit(limit)
        if records != num_rows:
            raise ValueError(
                f"{self.path}: pandas reads {num_rows} rows but the file holds {records} CSV records "
                "(quoted CR or NUL bytes, or unbalanced quotes?); the file's rows cannot be counted reliably, "
                "so it is refused to keep row ids the file's rows. Rewrite it with a standard CSV writer or "
                "convert it to parquet."
            )

    def frames(self) -> Iterator[pd.DataFrame]:
        """Consecutive frames of at most ``chunk_rows`` rows, indexed by their row in the file."""
        offset = 0
        if self.is_parquet:
            handle = pq.ParquetFile(self.path)
            columns = self.schema.names
            for batch in handle.iter_batches(batch_size=self.chunk_rows, columns=columns):
                frame = batch.to_pandas()
                frame.index = range(offset, offset + len(frame))
                offset += len(frame)
                yield self._as_pairs(frame)
            return
        dtype = dict.fromkeys(self.string_columns, str)
        for frame in self._csv_reader(dtype=dtype or None):
            frame.index = range(offset, offset + len(frame))
            offset += len(frame)
            yield self._as_pairs(frame)

    def rows(self, start: int, stop: int, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """Rows ``[start, stop)`` re-cut into frames of exactly ``chunk_rows`` rows (the last may be shorter)."""
        pending: list[pd.DataFrame] = []
        held = 0
        for frame in self.frames():
            first = frame.index[0] if len(frame) else 0
            if first + len(frame) <= start:
                continue
            if first >= stop:
                break
            frame = frame.iloc[max(0, start - first) : max(0, stop - first)]
            pending.append(frame)
            held += len(frame)
            while held >= chunk_rows:
                joined = pd.concat(pending)
                yield joined.iloc[:chunk_rows]
                pending, held = [joined.iloc[chunk_rows:]], held - chunk_rows
        if held:
            yield pd.concat(pending)


def _unify(types: list[pa.DataType]) -> pa.DataType:
    """One Arrow type for a CSV column whose chunks were inferred separately."""
    kinds = {pa.string() if pa.types.is_large_string(t) else t for t in types if t != pa.null()}
    if not kinds:
        return pa.null()
    if len(kinds) == 1:
        return kinds.pop()
    if all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in kinds):
        return pa.float64()
    return pa.string()


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
            columns[out_name].append(None if is_missing(value) else value)
        for name, value in prediction.to_dict().items():
            columns[name].append(math.nan if name == "value" and value is None else value)
    return pa.table(columns, schema=schema)


def rejects_path_for(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(f"{output.stem}.rejects.parquet")


def screen_file(
    model,
    processor,
    input_path: str | Path | PairsFile,
    output_path: str | Path,
    task: TaskSpec | str,
    *,
    batch_size: int = 32,
    limit: int | None = None,
    progress: bool = True,
    cache: bool = True,
    write_every: int = 8192,
    resume: bool = False,
    **predict_kwargs,
) -> ScreenReport:
    """Predict every pair of a CSV/parquet file into a parquet file (+ ``<output>.rejects.parquet``).

    Output rows carry ``row_id`` (the 0-based row of the input file) and the input's columns. The input is
    streamed (memory stays flat on millions of pairs) and every ``write_every`` rows become a *part* file in
    ``.<output name>.parts/``, written under a temporary name and renamed, so an interrupted run keeps every
    finished part: ``resume=True`` skips them and continues, without redoing or duplicating rows. The
    output and rejects files appear (by rename) only once every part is done; the parts are then removed.
    Under ``accelerate launch`` each process screens a contiguous share of the rows; the main process merges.
    """
    from accelerate import PartialState

    if batch_size < 1 or write_every < 1 or (limit is not None and limit < 1):
        raise ValueError(
            f"batch_size, write_every and limit must be >= 1 (got {batch_size}, {write_every}, {limit})"
        )
    output_format(output_path)  # an output suffix we cannot write is refused before any work
    pairs = input_path if isinstance(input_path, PairsFile) else PairsFile(input_path)
    input_path, output_path = pairs.path, Path(output_path)
    for written in (output_path, rejects_path_for(output_path)):
        if written.resolve() == input_path.resolve():
            raise ValueError(f"output {written} is the input file; refusing to overwrite it")
    state = PartialState(cpu=next(model.parameters()).device.type == "cpu")  # CPU runs split with gloo
    num_rows = pairs.num_rows if limit is None else min(limit, pairs.num_rows)
    schema = output_schema(pairs.schema)
    parts = PartsFolder(output_path, state.num_processes)
    stat = input_path.stat()  # a resumed run must read the same file, not one edited in between
    options = {
        "input": str(input_path.resolve()),
        "input_size": stat.st_size,
        "input_mtime_ns": stat.st_mtime_ns,
    }
    options |= {
        "model": str(getattr(model, "name_or_path", "")),
        "rows": num_rows,
        "write_every": write_every,
    }
    options |= {"task": task if isinstance(task, str) else task.name, "processes": state.num_processes}
    options |= {k: repr(v) for k, v in sorted(predict_kwargs.items())}
    if state.is_main_process:
        parts.prepare(options, resume)
    state.wait_for_everyone()
    start, stop = _share(num_rows, state.num_processes, state.process_index)
    feature_cache = MoleculeFeatureCache(model, processor, max_bytes=FEATURE_CACHE_BYTES) if cache else False
    encoded = 0
    spec = get_task(task) if isinstance(task, str) else task
    both_orders = uses_symmetric_readout(
        spec, predict_kwargs.get("mode", "score"), predict_kwargs.get("symmetric")
    )
    encodings_per_pair = 4 if both_orders else 2  # uncached: each order encodes both molecules
    bar = progress_bar(  # (off a terminal: a plain line a minute, not a redraw per chunk)
        total=stop - start, desc=f"screening [{state.process_index}]", disable=not progress, unit="pair"
    )
    with (
        bar,
        _keeps_parts_on_write_error(parts),
        _graph_cache_at_most(processor.featurizer, max(GRAPH_CACHE_SIZE, 4 * batch_size)),
    ):
        for index, frame in enumerate(pairs.rows(start, stop, write_every)):
            if parts.done(state.process_index, index):
                bar.update(len(frame))
                continue
            # (every row of the part ends in the predictions or the rejects; the bar moves per scored batch)
            results, rejects = [], []
            for batch_results, batch_rejects in iter_predictions(
                model,
                processor,
                frame.to_dict("records"),
                task,
                row_ids=frame.index.tolist(),
                batch_size=batch_size,
                cache=feature_cache,
                **predict_kwargs,
            ):
                results += batch_results
                rejects += batch_rejects
                bar.update(len(batch_results) + len({r.row for r in batch_rejects}))
            parts.write(
                state.process_index,
                index,
                predictions_table(results, schema, list(pairs.schema.names)),
                [dataclasses.replace(r, field=pairs.field_name(r.field)) for r in rejects],
            )
            if not isinstance(feature_cache, MoleculeFeatureCache):
                encoded += encodings_per_pair * len(results)
    if isinstance(feature_cache, MoleculeFeatureCache):
        encoded = feature_cache.misses
    with _keeps_parts_on_write_error(parts):
        return _finish(state, parts, schema, output_path, num_rows, encoded)


@contextmanager
def _keeps_parts_on_write_error(parts: PartsFolder):
    """A write error (full disk) says where the finished parts are kept: they are the run's resume state."""
    try:
        yield
    except OSError as err:
        text = " ".join(str(err).split())
        raise OSError(
            f"{text}; the finished parts are kept in {parts.folder} (the run's resume state, "
            f"{len(list(parts.folder.glob('part-*.predictions.parquet')))} part(s)): free disk space and rerun "
            "with --resume to continue, or delete that folder",
        ) from None


@contextmanager
def _graph_cache_at_most(featurizer, size: int):
    """The featurizer's graph cache bounded for a screen: its graphs are needed only until their batch is encoded
    (the feature cache keeps what repeats); at the training default (200,000 graphs) a screen of distinct
    molecules grew by ~20 MB per 1,000 rows. The caller's setting is restored afterwards."""
    previous = getattr(featurizer, "cache_size", None)
    if previous is None:
        yield
        return
    featurizer.cache_size = min(previous, size)
    try:
        yield
    finally:
        featurizer.cache_size = previous


def _share(num_rows: int, processes: int, index: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of process ``index``: contiguous, the first ones one longer (accelerate's split)."""
    base, extra = divmod(num_rows, processes)
    start = index * base + min(index, extra)
    return start, start + base + (index < extra)


class PartsFolder:
    """``.<output name>.parts/``: one predictions file + one rejects file per part, and the run's options.

    A part counts as done only when its predictions file exists; it is renamed into place after its rejects
    file, so a kill leaves at worst a stray temporary file, which `prepare` removes.
    """

    def __init__(self, output_path: Path, processes: int):
        self.output_path = output_path
        self.folder = output_path.with_name(f".{output_path.name}.parts")
        self.processes = processes

    def prepare(self, options: dict, resume: bool) -> None:
        import json
        import shutil

        manifest = self.folder / "options.json"
        if resume and manifest.is_file():
            previous = json.loads(manifest.read_text())
            if previous != options:
                changed = sorted(k for k in set(previous) | set(options) if previous.get(k) != options.get(k))
                raise ValueError(
                    f"--resume: the unfinished run in {self.folder} used other options ({changed}); "
                    "rerun without --resume to start over"
                )
            for stray in self.folder.glob(".*.partial"):
                stray.unlink()
            return
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        write_text_atomically(manifest, json.dumps(options, indent=1))

    def path(self, process: int, index: int, kind: str = "predictions") -> Path:
        return self.folder / f"part-{process:03d}-{index:06d}.{kind}.parquet"

    def done(self, process: int, index: int) -> bool:
        return self.path(process, index).is_file()

    def write(self, process: int, index: int, table: pa.Table, rejects: list[Reject]) -> None:
        write_rejects(rejects, self.path(process, index, "rejects"), "predict")
        write_file_atomically(self.path(process, index), lambda tmp: pq.write_table(table, tmp))

    def tables(self, kind: str = "predictions") -> Iterator[pa.Table]:
        """Every part's table, in row order (process, then part)."""
        for path in sorted(self.folder.glob(f"part-*.{kind}.parquet")):
            yield read_rejects(path) if kind == "rejects" else pq.read_table(path)


def _finish(state, parts: PartsFolder, schema: pa.Schema, output_path: Path, num_rows: int, encoded: int):
    """Main process: merge the parts in row order into the output and rejects files (each by rename)."""
    import shutil

    if state.num_processes > 1:
        from accelerate.utils import gather_object

        encoded = sum(gather_object([encoded]))  # every process's encoder work, not just ours
        state.wait_for_everyone()
        if not state.is_main_process:
            return ScreenReport(num_rows=num_rows)
    predicted = unparseable = 0
    reject_parts = list(parts.tables("rejects"))
    rejects = pa.concat_tables(reject_parts) if reject_parts else rejects_table([], "predict")

    def merge(partial: Path) -> None:  # half a merged output is not kept (the parts are)
        nonlocal predicted, unparseable
        with output_writer(partial, schema, output_format(output_path)) as writer:
            for table in parts.tables():
                writer.write_table(table)
                predicted += table.num_rows
                unparseable += pc.sum(pc.invert(pc.is_null(table["error"]))).as_py() or 0
        write_rejects(rejects, rejects_path_for(output_path), "predict")

    write_file_atomically(output_path, merge)
    shutil.rmtree(parts.folder)
    return ScreenReport(
        num_rows=num_rows,
        num_predicted=predicted,
        num_rejected=len(set(rejects["row"].to_pylist())),
        num_unparseable=unparseable,
        molecules_encoded=encoded,
        output=str(output_path),
        rejects=str(rejects_path_for(output_path)),
    )


# Output suffix -> format. The file's bytes follow its name: ``preds.csv`` opens with ``pandas.read_csv``
# (a Parquet file behind a ``.csv`` name fails there with a UnicodeDecodeError, far from its cause).
OUTPUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl"}


def output_format(path: str | Path) -> str:
    """``"parquet"``, ``"csv"`` or ``"jsonl"`` from the output's suffix; any other suffix is refused by name."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ValueError(
            f"output {path}: unknown suffix {suffix or '(none)'!r}; the format follows the suffix: "
            f"{', '.join(OUTPUT_FORMATS)}"
        )
    return OUTPUT_FORMATS[suffix]


class output_writer:
    """``write_table`` over streamed tables of one ``schema`` into a Parquet, CSV or JSON Lines file.

    CSV and JSON Lines are written by Arrow's own writers (CSV: one header, then every table's rows; JSON Lines:
    one object per row, nulls and NaN as ``null``), so memory stays one part at a time, as for Parquet.
    """

    def __init__(self, path: Path, schema: pa.Schema, fmt: str):
        self.path, self.schema, self.format = Path(path), schema, fmt
        self._writer = None
        self._file = None

    def __enter__(self):
        if self.format == "parquet":
            self._writer = pq.ParquetWriter(self.path, self.schema)
        elif self.format == "csv":
            import pyarrow.csv as pcsv

            self._writer = pcsv.CSVWriter(self.path, _csv_schema(self.schema))
        else:
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 (closed in __exit__)
        return self

    def write_table(self, table: pa.Table) -> None:
        if self._writer is not None:
            self._writer.write_table(_as_csv_table(table) if self.format == "csv" else table)
            return
        for row in table.to_pylist():
            clean = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
            self._file.write(json.dumps(clean, ensure_ascii=False, default=str) + "\n")

    def __exit__(self, *exc) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._file is not None:
            self._file.close()


def _nested(data_type: pa.DataType) -> bool:
    return pa.types.is_nested(data_type)


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    """CSV has no lists: a nested column (the class probabilities) is written as its JSON text."""
    return pa.schema([f.with_type(pa.string()) if _nested(f.type) else f for f in schema])


def _as_csv_table(table: pa.Table) -> pa.Table:
    for index, f in enumerate(table.schema):
        if _nested(f.type):
            text = [None if v is None else json.dumps(v) for v in table.column(index).to_pylist()]
            table = table.set_column(index, f.with_type(pa.string()), pa.array(text, pa.string()))
    return table
