"""``moltc evaluate --model DIR --dataset DIR --config NAME [--split test] --out DIR``: metrics.json + plots."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from ._checks import device_name, load_model, output_folder, positive_int


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
    parser.add_argument(
        "--scoring",
        choices=["decision", "sum", "mean"],
        default="decision",
        help="candidate scores sum the tokens that tell classes apart (default), the whole answer, or its mean",
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="fit a temperature and binary thresholds on the validation split, apply them to --split",
    )
    parser.add_argument("--limit", type=positive_int, default=None, help="evaluate only the first N rows")
    parser.add_argument("--batch-size", type=positive_int, default=16)
    parser.add_argument("--max-new-tokens", type=positive_int, default=None)
    parser.add_argument("--num-beams", type=positive_int, default=1)
    parser.add_argument("--no-order-consistency", action="store_true", help="skip the (B, A) pass")
    parser.add_argument(
        "--device", type=device_name, default=None, help="cpu / cuda / cuda:N (default: cuda when available)"
    )


def run(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate_model, format_report, write_report
    from ..instructions.loading import load_split
    from ..instructions.tasks import read_classes

    output_folder(args.out, args.dataset)
    where = f"split {args.split!r} of config {args.config!r} in {args.dataset}"
    rows = _read_split(load_split, args.dataset, args.config, args.split)
    if rows is None:
        raise ValueError(f"config {args.config!r} of {args.dataset} has no split {args.split!r}")
    frame, bad_labels = checked_labels(rows.to_pandas(), where)
    train_rows = (
        _read_split(load_split, args.dataset, args.config, "train") if args.split != "train" else None
    )
    model, processor = load_model(args.model, args.device)
    report = evaluate_model(
        model,
        processor,
        frame,
        mode=args.mode,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        num_beams=args.num_beams,
        order_consistency=False if args.no_order_consistency else None,
        train_rows=train_rows,
        classes=read_classes(args.dataset, args.config),
        reduction=args.scoring,
        calibration_rows=load_split(args.dataset, args.config, "validation") if args.calibrate else None,
        limit=args.limit,
    )
    explain_label_rejects(report, bad_labels)
    paths = write_report(report, args.out)
    print(format_report(report))
    print("wrote " + ", ".join(str(p) for p in paths))
    card_copy = copy_metrics_to_model(Path(args.out) / "metrics.json", args.model)
    if card_copy is not None:
        print(f"wrote {card_copy} (the model card `moltc push` builds reads it)")
    return 0


def copy_metrics_to_model(metrics: Path, model: str) -> Path | None:
    """``metrics.json`` beside a local model's weights, where `moltc_hf.hub.model_card` looks (atomically).

    A hub id (no local folder) is left alone; the last evaluation of a model is the one its card shows.
    """
    folder = Path(model)
    if not folder.is_dir() or not metrics.is_file():
        return None
    target = folder / "metrics.json"
    partial = folder / ".metrics.json.partial"
    shutil.copyfile(metrics, partial)
    os.replace(partial, target)
    return target


def _read_split(load_split, dataset: str, config: str, split: str):
    """`load_split`, with an unreadable parquet file (or dataset folder) named in one line."""
    from datasets.exceptions import DatasetGenerationError
    from pyarrow import ArrowException

    try:
        return load_split(dataset, config, split)
    except (ArrowException, DatasetGenerationError) as err:
        raise ValueError(f"{dataset}: cannot read split {split!r} of config {config!r}: {err}") from None


def checked_labels(frame, where: str):
    """The split as a frame whose ``label`` is numeric; rows with an unusable label get ``NaN`` instead.

    `evaluate_model` rejects ``NaN`` labels row by row ("missing label"); this returns ``{row: (value,
    reason)}`` for the labels that were present but unusable (text, inf) so the rejects say what they were,
    instead of an ``int('abc')`` traceback or an ``inf`` that turns every metric into ``NaN``. An empty split is
    refused: there is nothing to evaluate.
    """
    import numpy as np
    import pandas as pd

    if not len(frame):
        raise ValueError(f"{where}: the split has no rows")
    if "label" not in frame.columns:
        return frame, {}
    original = frame["label"]
    if pd.api.types.is_integer_dtype(original) or pd.api.types.is_bool_dtype(original):
        return frame, {}  # nothing to check; keep the integer dtype class ids rely on
    numeric = pd.to_numeric(original, errors="coerce").astype(float)
    bad: dict[int, tuple[str, str]] = {}
    for row in frame.index[original.notna() & numeric.isna()]:
        bad[int(row)] = (str(original[row]), f"label {original[row]!r} is not a number")
    for row in frame.index[np.isinf(numeric.to_numpy())]:
        bad[int(row)] = (str(original[row]), "label is not finite")
    numeric[np.isinf(numeric.to_numpy())] = np.nan
    return frame.assign(label=numeric), bad


def explain_label_rejects(report: dict, bad_labels: dict[int, tuple[str, str]]) -> None:
    """Replace evaluate's generic "missing label" reason by what the label really was (text, inf)."""
    rejects = report["rejects"]
    if not bad_labels or not len(rejects):
        return
    for index, row in rejects.iterrows():
        key = int(row["row"]) if str(row["row"]).lstrip("-").isdigit() else None
        if row["field"] == "label" and key in bad_labels:
            rejects.loc[index, ["value", "reason"]] = bad_labels[key]
