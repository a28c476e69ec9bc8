"""``moltc evaluate --model DIR --dataset DIR --config NAME [--split test] --out DIR``: metrics.json + plots.

``--config a,b,c`` (a jointly trained model) evaluates each config into ``--out/<config>/`` and prints one table
of every task (also ``--out/summary.json``).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ..atomic import write_file_atomically
from ._checks import add_inference_arguments, device_name, load_model, output_folder, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="saved model folder (or hub id)")
    parser.add_argument(
        "--dataset", required=True, help="MoT-instructions folder written by `moltc build-dataset`"
    )
    parser.add_argument(
        "--config",
        required=True,
        help="dataset config (source name), e.g. drugbank, freesolv; a,b,c: each, one table (joint models)",
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
    parser.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        help="evaluate a seeded sample of N rows (the same every run)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--batch-size", type=positive_int, default=16)
    parser.add_argument("--max-new-tokens", type=positive_int, default=None)
    parser.add_argument("--num-beams", type=positive_int, default=1)
    parser.add_argument("--no-order-consistency", action="store_true", help="skip the (B, A) pass")
    parser.add_argument(
        "--one-order",
        action="store_true",
        help="symmetric tasks: answer (A, B) only (default: the mean of both orders' probabilities)",
    )
    parser.add_argument(
        "--device", type=device_name, default=None, help="cpu / cuda / cuda:N (default: cuda when available)"
    )
    add_inference_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ..evaluation import format_joint_table, format_report, joint_summary

    output_folder(args.out, args.dataset)
    configs = list(dict.fromkeys(c.strip() for c in args.config.split(",") if c.strip()))
    if not configs:
        raise ValueError(f"--config {args.config!r}: no config name")
    loaded = [_split_rows(args, config) for config in configs]  # every config checked before the model loads
    model, processor = load_model(args.model, args.device, args.dtype)
    reports = {}
    for config, (frame, bad_labels, train_rows) in zip(configs, loaded):
        out = Path(args.out) / config if len(configs) > 1 else Path(args.out)
        reports[config] = _evaluate(args, config, frame, bad_labels, train_rows, model, processor, out)
        if len(configs) == 1:
            print(format_report(reports[config]))
            card_copy = copy_metrics_to_model(out / "metrics.json", args.model)
            if card_copy is not None:
                print(f"wrote {card_copy} (the model card `moltc push` builds reads it)")
    if len(configs) > 1:
        summary = Path(args.out) / "summary.json"
        summary.write_text(json.dumps(joint_summary(reports), indent=2, allow_nan=False) + "\n")
        print(format_joint_table(reports))
        print(f"wrote {summary} and one folder per config")
    return 0


def _split_rows(args, config: str):
    from ..instructions.loading import load_split

    where = f"split {args.split!r} of config {config!r} in {args.dataset}"
    rows = _read_split(load_split, args.dataset, config, args.split)
    if rows is None:
        raise ValueError(f"config {config!r} of {args.dataset} has no split {args.split!r}")
    frame, bad_labels = checked_labels(rows.to_pandas(), where)
    train_rows = _read_split(load_split, args.dataset, config, "train") if args.split != "train" else None
    return frame, bad_labels, train_rows


def _evaluate(args, config, frame, bad_labels, train_rows, model, processor, out) -> dict:
    from ..evaluation import evaluate_model, write_report
    from ..instructions.loading import load_split
    from ..tasks.registry import read_classes

    report = evaluate_model(
        model,
        processor,
        frame,
        mode=args.mode,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        num_beams=args.num_beams,
        constrain_value=not args.no_constrain_value,
        order_consistency=False if args.no_order_consistency else None,
        symmetric=False if getattr(args, "one_order", False) else None,
        train_rows=train_rows,
        classes=read_classes(args.dataset, config),
        reduction=args.scoring,
        calibration_rows=load_split(args.dataset, config, "validation") if args.calibrate else None,
        limit=args.limit,
        progress=not getattr(args, "no_progress", False),
    )
    explain_label_rejects(report, bad_labels)
    paths = write_report(report, out)
    print("wrote " + ", ".join(str(p) for p in paths))
    return report


def copy_metrics_to_model(metrics: Path, model: str) -> Path | None:
    """``metrics.json`` beside a local model's weights, where `moltc_hf.hub.model_card` looks (atomically).

    A hub id (no local folder) is left alone; the last evaluation of a model is the one its card shows.
    """
    folder = Path(model)
    if not folder.is_dir() or not metrics.is_file():
        return None
    return write_file_atomically(folder / "metrics.json", lambda tmp: shutil.copyfile(metrics, tmp))


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
