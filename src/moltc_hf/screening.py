"""Screening many pairs: stream rows in batches, encode each unique molecule once, keep every row accounted for.

The graph encoder + Q-Former turn a molecule into ``num_query_tokens`` soft tokens that do not depend on
its partner, so `MoleculeFeatureCache` keeps them per (canonical SMILES, role) -- per canonical SMILES
alone when the projector is tied -- and batches pass ``molecule_features=`` to the model instead of graphs.
A one-vs-many screen then encodes the query drug once and each library drug once; a second query against
the same library encodes one molecule.

Rows with an invalid SMILES never stop a run: they become `Reject` records (row id, field, value,
reason) and are written beside the output. Output rows keep the input's row ids. With several processes
(``torchrun`` or ``accelerate launch``), `screen_file` splits the input through ``PartialState().split_between_processes``
and the main process merges the shards in row order.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from tqdm.auto import tqdm

from .evaluation.inference import Prediction, predict_batch
from .evaluation.tasks import TaskSpec, describe_pair, get_task
from .featurization import InvalidMoleculeError, Reject, canonical_smiles
from .instructions.templates import pair_prompt
from .processing_moltc import MOLECULE_FIELDS

ROW_ID = "row_id"


class MoleculeFeatureCache:
    """LRU map (canonical SMILES, role) -> ``[num_query_tokens, hidden]`` molecule features on the model's device.

    ``features(pairs, rows)`` returns the stacked features of every molecule of ``pairs`` in row-major
    order, encoding only the molecules not seen before (in one batch). ``max_molecules`` bounds memory:
    a molecule costs ``num_query_tokens x hidden`` floats (64 KiB at 8 x 2048 fp32).
    """

    def __init__(self, model, processor, max_molecules: int = 100_000):
        self.model = model
        self.processor = processor
        self.max_molecules = max_molecules
        self.tied = len(model.model.mol_connector.projectors) == 1
        self._features: OrderedDict[tuple[str, int], torch.Tensor] = OrderedDict()
        self._canonical: dict[str, str] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._features)

    def key(self, smiles: str, role: int, *, row=None, field: str | None = None) -> tuple[str, int]:
        """Canonical key; raises `InvalidMoleculeError` (naming row and field) for a bad SMILES."""
        canonical = self._canonical.get(smiles)
        if canonical is None:
            canonical = canonical_smiles(
                smiles, keep_largest_fragment=self.processor.keep_largest_fragment, row=row, field=field
            )
            if len(self._canonical) > 4 * self.max_molecules:
                self._canonical.clear()
            self._canonical[smiles] = canonical
        return canonical, 0 if self.tied else role

    def features(self, pairs: Sequence[Sequence[str]], rows: Sequence | None = None) -> torch.Tensor:
        keys = [
            self.key(smiles, role, row=rows[i] if rows is not None else i, field=MOLECULE_FIELDS[role])
            for i, pair in enumerate(pairs)
            for role, smiles in enumerate(pair)
        ]
        missing = list(dict.fromkeys(k for k in keys if k not in self._features))
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            graphs = [self.processor.featurizer(smiles) for smiles, _ in missing]
            from torch_geometric.data import Batch

            roles = torch.tensor([role for _, role in missing], dtype=torch.long)
            with torch.inference_mode():
                encoded = self.model.get_molecule_features(Batch.from_data_list(graphs), roles)
            for key, value in zip(missing, encoded):
                self._features[key] = value
        stacked = torch.stack([self._features[k] for k in keys])
        for key in dict.fromkeys(keys):  # least recently used goes first; evict after this batch is served
            self._features.move_to_end(key)
        while len(self._features) > self.max_molecules:
            self._features.popitem(last=False)
        return stacked


def uncached_features(model, processor, pairs: Sequence[Sequence[str]], rows=None) -> torch.Tensor:
    """Every molecule encoded again for every pair: what the model's own forward does with ``graphs``."""
    graphs, mol_roles = processor.featurize_molecules(pairs, rows=rows)
    with torch.inference_mode():
        return model.get_molecule_features(graphs, mol_roles)


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


def _validate(rows: Sequence[Mapping], row_ids: Sequence, featurizer) -> tuple[list[int], list[Reject]]:
    """Indices of rows whose two SMILES featurize, and a `Reject` per bad field (featurizer caches graphs)."""
    keep, rejects = [], []
    for index, (row, row_id) in enumerate(zip(rows, row_ids)):
        ok = True
        for field_name in MOLECULE_FIELDS:
            try:
                featurizer(row.get(field_name), row=row_id, field=field_name)
            except InvalidMoleculeError as err:
                rejects.append(
                    Reject(row=row_id, field=field_name, value=str(row.get(field_name)), reason=err.reason)
                )
                ok = False
        if ok:
            keep.append(index)
    return keep, rejects


def iter_predictions(
    model,
    processor,
    rows: Iterable[Mapping],
    task: TaskSpec | str,
    *,
    batch_size: int = 32,
    mode: str = "score",
    candidates: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    cot: bool | None = None,
    use_dataset_prompts: bool = False,
    cache: MoleculeFeatureCache | bool = True,
    max_new_tokens: int | None = None,
    num_beams: int = 1,
    row_ids: Iterable | None = None,
    progress: str | None = None,
) -> Iterator[tuple[list[tuple[object, Mapping, Prediction]], list[Reject]]]:
    """Yield ``([(row_id, row, prediction), ...], rejects)`` per batch of ``rows``.

    Prompts are built from the task's question (`templates.pair_prompt`), or taken from each row's
    ``prompt`` with ``use_dataset_prompts=True`` (evaluation). With ``cot`` (default: the task's
    convention) candidates are scored after the pair's property descriptions, as CoT targets have them.
    ``progress``: the label of a progress bar over the rows (none when ``None``).
    """
    task = get_task(task) if isinstance(task, str) else task
    cot = task.cot if cot is None else cot
    candidates = list(candidates or task.candidates) or None
    if cache is True:
        cache = MoleculeFeatureCache(model, processor)
    model.eval()

    def predict(batch: list[Mapping], batch_ids: list) -> list[Prediction]:
        pairs = [(row["smiles_a"], row["smiles_b"]) for row in batch]
        if use_dataset_prompts:
            prompts = [row["prompt"] for row in batch]
        else:
            prompts = [pair_prompt(a, b, task.question) for a, b in pairs]
        prefixes = None
        if cot and task.is_classification:
            prefixes = [
                row["answer_prefix"] if "answer_prefix" in row else describe_pair(a, b)
                for row, (a, b) in zip(batch, pairs)
            ]
        if isinstance(cache, MoleculeFeatureCache):  # (an empty cache is falsy: it has a __len__)
            features = cache.features(pairs, batch_ids)
        else:
            features = uncached_features(model, processor, pairs, batch_ids)
        return predict_batch(
            model,
            processor,
            task,
            prompts,
            features,
            mode=mode,
            candidates=candidates,
            class_names=class_names,
            prefixes=prefixes,
            max_new_tokens=max_new_tokens,
            num_beams=num_beams,
        )

    total = len(rows) if isinstance(rows, Sized) else None
    rows = iter(rows)
    ids = iter(row_ids) if row_ids is not None else itertools.count()
    with tqdm(total=total, desc=progress, disable=progress is None, unit="pair") as bar:
        while batch := list(itertools.islice(rows, batch_size)):
            batch_ids = list(itertools.islice(ids, len(batch)))
            keep, rejects = _validate(batch, batch_ids, processor.featurizer)
            batch, batch_ids = [batch[i] for i in keep], [batch_ids[i] for i in keep]
            results = list(zip(batch_ids, batch, predict(batch, batch_ids))) if batch else []
            bar.update(len(results) + len({r.row for r in rejects}))
            yield results, rejects


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
REJECT_SCHEMA = pa.schema(
    [("row", pa.int64()), ("field", pa.string()), ("value", pa.string()), ("reason", pa.string())]
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
    reject_table = pa.Table.from_pylist([r.to_dict() for r in rejects], schema=REJECT_SCHEMA)
    rejects_path = rejects_path_for(part_path)
    pq.write_table(reject_table, rejects_path)
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
    rejects = pa.concat_tables([pq.read_table(rejects_path_for(p)) for p in parts]).sort_by("row")
    pq.write_table(table, output_path)
    pq.write_table(rejects, rejects_path_for(output_path))
    for part in parts:
        part.unlink()
        rejects_path_for(part).unlink()
    errors = pc.sum(pc.invert(pc.is_null(table["error"]))).as_py() or 0
    return ScreenReport(
        num_rows=report.num_rows,
        num_predicted=table.num_rows,
        num_rejected=len(set(rejects["row"].to_pylist())),
        num_unparseable=errors,
        molecules_encoded=encoded,
        output=str(output_path),
        rejects=str(rejects_path_for(output_path)),
    )


def load_for_inference(source: str | Path, device: str | None = None, dtype: torch.dtype | None = None):
    """A saved model folder (or hub id) + its processor, in eval mode on ``device`` (CUDA when available)."""
    from transformers import AutoModelForCausalLM, AutoProcessor

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype or torch.float32).to(device).eval()
    return model, AutoProcessor.from_pretrained(source)
