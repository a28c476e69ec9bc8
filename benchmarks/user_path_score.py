"""Score `moltc predict`'s answers on a labelled test file beside the references fitted on the same train file.

    python benchmarks/user_path_score.py --train DeepDDI_train.csv --test DeepDDI_test.csv \
        --predictions runs/user-deepddi/predictions.parquet --out runs/user-deepddi/score.json

The MolTC score of a pair is its probability of class 1 (``class_probabilities[1]``); rows `moltc predict` rejected
are counted and left out of every row of the table alike (the references score exactly the rows MolTC answered).
References: the per-drug prior (each drug's positive rate in train, no chemistry) and a Morgan-fingerprint logistic
regression; the "both drugs unseen" subset is the test pairs whose two drugs never occur in train.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from moltc_hf.baselines import binary_metrics
from moltc_hf.baselines.fingerprints import MorganPairLogistic
from moltc_hf.baselines.priors import DrugPrior


def pair_frame(path: Path, columns: list[str]) -> pd.DataFrame:
    frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    return frame.rename(columns={columns[0]: "smiles_a", columns[1]: "smiles_b"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--smiles-columns", nargs=2, default=["smiles_1", "smiles_2"])
    parser.add_argument("--target-column", default="label")
    parser.add_argument("--lr-train-rows", type=int, default=50_000, help="seeded train sample for the LR")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    train = pair_frame(args.train, args.smiles_columns).rename(columns={args.target_column: "label"})
    test = pair_frame(args.test, args.smiles_columns).rename(columns={args.target_column: "label"})
    predictions = pd.read_parquet(args.predictions)
    answered = predictions.dropna(subset=["class_probabilities"])
    rows = test.iloc[answered["row_id"].to_numpy()].reset_index(drop=True)
    labels = rows["label"].to_numpy(float).astype(int)
    scores = {"MolTC (moltc predict)": np.array([p[1] for p in answered["class_probabilities"]])}

    started = time.perf_counter()
    scores["per-drug prior"] = DrugPrior().fit(train).predict_proba(rows)
    lr_train = train.sample(n=min(args.lr_train_rows, len(train)), random_state=0)
    scores[f"Morgan LR ({len(lr_train):,} train rows)"] = (
        MorganPairLogistic().fit(lr_train).predict_proba(rows)
    )
    seen = set(train["smiles_a"]) | set(train["smiles_b"])
    unseen = ~rows["smiles_a"].isin(seen).to_numpy() & ~rows["smiles_b"].isin(seen).to_numpy()
    one_unseen = (~rows["smiles_a"].isin(seen).to_numpy()) ^ (~rows["smiles_b"].isin(seen).to_numpy())

    report = {
        "train_file": str(args.train),
        "test_file": str(args.test),
        "test_rows": len(test),
        "answered_rows": len(rows),
        "rejected_rows": len(test) - len(rows),
        "both_unseen_rows": int(unseen.sum()),
        "one_unseen_rows": int(one_unseen.sum()),
        "reference_seconds": round(time.perf_counter() - started, 1),
        "rows": {},
    }
    for name, score in scores.items():
        entry = {"all": binary_metrics(labels, score)}
        for subset, mask in (("one drug unseen", one_unseen), ("both drugs unseen", unseen)):
            if mask.sum() and len(set(labels[mask])) == 2:
                entry[subset] = binary_metrics(labels[mask], score[mask])
        report["rows"][name] = entry
        print(f"{name:40s} " + "  ".join(f"{k}: auroc={v['auroc']:.3f}" for k, v in entry.items()))
    args.out.write_text(json.dumps(report, indent=2))
    print(f"answered {len(rows):,} of {len(test):,} test rows; wrote {args.out}")


if __name__ == "__main__":
    main()
