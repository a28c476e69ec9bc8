"""Regression readout, measured: the same trained models read with and without the value constraint.

    python benchmarks/value_readout.py --dataset runs/data/freesolv-random --config freesolv \
        --models runs/readout/seed0/final runs/readout/seed2/final

For each model folder, `moltc_hf.evaluation.evaluate_model` answers the test split twice, greedy decoding either way:
``free`` (the value as written) and ``constrained`` (`moltc_hf.inference.constraints.ValueConstraint`: a well-formed
``{v:.2f}`` inside the interval the answer gave before it). Printed per model: RMSE, MAE, unparsed answers, answers
whose value lies outside their own interval, the largest miss and its answer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from moltc_hf.evaluation import evaluate_model  # noqa: E402
from moltc_hf.inference.predict import load_for_inference  # noqa: E402
from moltc_hf.training import load_split  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablations import worst_answer  # noqa: E402


def readout(model, processor, rows, constrain: bool) -> dict:
    report = evaluate_model(model, processor, rows, progress=False, constrain_value=constrain)
    max_abs_error, answer = worst_answer(report["predictions"])
    metrics = report["metrics"]
    return {
        "rmse": metrics["rmse"],
        "mae": metrics["mae"],
        "num_unparseable": metrics.get("num_unparseable", 0),
        "num_outside_interval": metrics.get("num_outside_interval", 0),
        "max_abs_error": max_abs_error,
        "worst_answer": answer,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--models", type=Path, nargs="+", required=True)
    parser.add_argument("--out", type=Path, default=None, help="JSON of every number printed")
    args = parser.parse_args()
    rows = load_split(args.dataset, args.config, "test")
    results = {}
    for folder in args.models:
        model, processor = load_for_inference(folder, device="cpu")
        results[str(folder)] = {
            name: readout(model, processor, rows, constrain)
            for name, constrain in (("free", False), ("constrained", True))
        }
        for name, entry in results[str(folder)].items():
            print(
                f"{folder}  {name:12s} rmse={entry['rmse']:.3f} mae={entry['mae']:.3f} "
                f"unparsed={entry['num_unparseable']} outside_interval={entry['num_outside_interval']} "
                f"max_error={entry['max_abs_error']:.2f}  worst: {entry['worst_answer']!r}"
            )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
