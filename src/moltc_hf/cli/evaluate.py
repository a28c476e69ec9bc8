"""``moltc evaluate --model DIR --dataset DIR --config NAME [--split test] --out DIR``: metrics.json + plots."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="saved model folder (or hub id)")
    parser.add_argument(
        "--dataset", required=True, help="MoT-instructions folder written by `moltc build-dataset`"
    )
    parser.add_argument(
        "--config", required=True, help="dataset config (source name), e.g. drugbank, freesolv"
    )
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument("--out", required=True, help="folder for metrics.json, predictions.parquet and plots")
    parser.add_argument(
        "--mode", choices=["score", "generate"], default="score", help="classification readout"
    )
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N rows")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--num-beams", type=int, default=1)
    parser.add_argument("--no-order-consistency", action="store_true", help="skip the (B, A) pass")
    parser.add_argument("--device", default=None, help="cpu / cuda (default: cuda when available)")


def run(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate_model, format_report, write_report
    from ..evaluation.inference import load_for_inference
    from ..instructions.loading import load_split
    from ..instructions.tasks import read_classes

    rows = load_split(args.dataset, args.config, args.split)
    if rows is None:
        print(f"moltc evaluate: config {args.config!r} of {args.dataset} has no split {args.split!r}")
        return 2
    train_rows = load_split(args.dataset, args.config, "train") if args.split != "train" else None
    model, processor = load_for_inference(args.model, device=args.device)
    report = evaluate_model(
        model,
        processor,
        rows,
        mode=args.mode,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        num_beams=args.num_beams,
        order_consistency=False if args.no_order_consistency else None,
        train_rows=train_rows,
        classes=read_classes(args.dataset, args.config),
        limit=args.limit,
    )
    paths = write_report(report, args.out)
    print(format_report(report))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
