"""`moltc quickstart`: build data, pretrain, fine-tune and evaluate on the embedded default (thin over the library)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("runs/quickstart"), help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=8.0,
        help="wall-clock budget; steps are sized from measured step time",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny run (few steps, few eval rows) for CI, < 2 min"
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
        smoke=args.smoke,
        seed=args.seed,
        model=args.model,
        progress=not args.no_progress,
        threads=args.threads,
    )
    run_quickstart(options)
    return 0
