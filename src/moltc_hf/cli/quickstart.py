"""`moltc quickstart`: build data, pretrain, fine-tune and evaluate on the embedded default (thin over the library)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._checks import positive_float, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("runs/quickstart"), help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--pretrain-steps",
        type=positive_int,
        default=200,
        help="pair-pretraining steps (default: %(default)s)",
    )
    parser.add_argument(
        "--finetune-steps",
        type=positive_int,
        default=1500,
        help="FreeSolv fine-tuning steps (default: %(default)s)",
    )
    parser.add_argument(
        "--minutes",
        type=positive_float,
        default=None,
        help="optional wall-clock cap: fewer steps where the fixed counts would not fit (measured step time)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run (4 + 30 steps, 8 eval rows) for CI, under a minute",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the split, the model init and the trainer"
    )
    parser.add_argument(
        "--model", default="tiny", help="model config name or JSON path (default: %(default)s)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (tiny ops: 1 is fastest)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (log files)")


def run(args: argparse.Namespace) -> int:
    from ..quickstart import QuickstartOptions, run_quickstart

    options = QuickstartOptions(
        out_dir=args.out,
        minutes=args.minutes,
        pretrain_steps=args.pretrain_steps,
        finetune_steps=args.finetune_steps,
        smoke=args.smoke,
        seed=args.seed,
        model=args.model,
        progress=not args.no_progress,
        threads=args.threads,
    )
    run_quickstart(options)
    return 0
