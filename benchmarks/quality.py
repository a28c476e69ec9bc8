"""Quality: MolTC tiny vs the references that keep its numbers honest, on the same seeded splits.

    python benchmarks/quality.py                  # everything (MolTC rows train for --minutes each)
    python benchmarks/quality.py --skip-moltc     # baselines only (~1 min)
    python benchmarks/quality.py --quick          # smaller subsamples and 1-minute MolTC runs

Tasks (raw public files in ../shared/data/raw, turned into MoT-instructions by `build_dataset`):
  * FreeSolv (hydration free energy, 560 pairs, random split)            RMSE / MAE / R2
  * CompSol (solvent + solute solvation free energy, random split)       RMSE / MAE / R2
  * ChChMiner binary DDI (all train pairs, test subsampled) on the *source* split and on a *cold-drug* split   AUROC / accuracy

Rows: the mean predictor, ridge and random forest on RDKit descriptors of both molecules, chemprop v2 where
installed (skipped with a message otherwise), and for DDI the drug prior (each drug's positive rate in train,
no chemistry) and a Morgan-fingerprint logistic regression. The drug prior is the yardstick for DDI: on the
public sets it reaches AUROC ~0.99 on a random/source split, so a DDI model is only worth what it adds over it,
above all on cold drugs ("cold, both unseen" = the test pairs whose two drugs never occur in train).

MolTC rows fine-tune the tiny model from scratch (no pair pretraining) with the quickstart recipe, sized by
measured step time to ``--minutes`` per task, and evaluate with `moltc_hf.evaluation.evaluate_model`
(greedy decoding + regex-validated parsing for regression, candidate scoring for DDI).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from moltc_hf.baselines import BaselineResult, binary_metrics, chemprop_available, run_baselines  # noqa: E402
from moltc_hf.instructions import build_dataset  # noqa: E402
from moltc_hf.quickstart import (  # noqa: E402
    QuickstartOptions,
    plan_steps,
    quickstart_recipes,
    seconds_per_step,
)
from moltc_hf.training import load_split, train  # noqa: E402

RAW_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw"


@dataclasses.dataclass
class Row:
    task: str
    split: str
    model: str
    metrics: dict
    seconds: float
    n_train: int
    n_test: int


def build(out: Path, source: str, split: str, seed: int) -> Path:
    # No `limit`: every row of each raw file.
    folder = out / f"{source}-{split}"
    build_dataset([source], folder, split=split, seed=seed, raw_dir=RAW_DIR, progress=False)
    return folder


def rows_of(folder: Path, config: str, max_test: int | None, seed: int):
    """The whole train split (MolTC's cost is its step count, not the split size) and a seeded test subsample."""
    train_rows, test_rows = load_split(folder, config, "train"), load_split(folder, config, "test")
    if max_test is not None and len(test_rows) > max_test:
        test_rows = test_rows.shuffle(seed=seed).select(range(max_test))
    return train_rows, test_rows


def moltc_row(
    folder: Path, config: str, task: str, train_rows, test_rows, args, workdir: Path
) -> BaselineResult:
    """Fine-tune the tiny model on ``config`` for ``args.minutes`` (measured step time) and evaluate it."""
    from moltc_hf.evaluation import evaluate_model
    from moltc_hf.factory import build_model

    start = time.perf_counter()
    options = QuickstartOptions(
        out_dir=workdir, minutes=args.minutes, seed=args.seed, progress=False, pretrain_share=0.0
    )
    model, processor = build_model("tiny", seed=args.seed)
    step = seconds_per_step(model, processor, train_rows, options.batch_size, max_length=512)
    _, steps = plan_steps(60 * args.minutes, step, step, options, len(train_rows))
    _, recipe = quickstart_recipes(options, 1, steps)
    recipe = dataclasses.replace(recipe, dataset_config=config, untie_projectors=True, max_length=512)
    result = train(recipe, dataset_dir=folder, output_dir=workdir, model=(model, processor))
    from transformers import AutoModelForCausalLM, AutoProcessor

    model = AutoModelForCausalLM.from_pretrained(result.final_dir).eval()
    processor = AutoProcessor.from_pretrained(result.final_dir)
    report = evaluate_model(
        model, processor, test_rows, task, train_rows=train_rows, order_consistency=False, progress=False
    )
    metrics = report["metrics"]
    if task == "ddi_binary":
        metrics = {k: metrics[k] for k in ("auroc", "accuracy", "num_unparseable")}
    else:
        metrics = {k: metrics[k] for k in ("rmse", "mae", "r2", "num_unparseable")}
    return BaselineResult(f"MolTC tiny ({steps} steps, from scratch)", metrics, time.perf_counter() - start)


def both_unseen(train_rows, test_rows, result: BaselineResult) -> BaselineResult | None:
    """The same predictions restricted to test pairs whose two drugs never occur in train."""
    seen = set(train_rows["smiles_a"]) | set(train_rows["smiles_b"])
    mask = np.array(
        [a not in seen and b not in seen for a, b in zip(test_rows["smiles_a"], test_rows["smiles_b"])]
    )
    labels = np.asarray(test_rows["label"], dtype=int)[mask]
    if result.predictions is None or mask.sum() < 10 or len(set(labels)) < 2:
        return None
    metrics = binary_metrics(labels, result.predictions[mask]) | {"n": int(mask.sum())}
    return BaselineResult(result.name, metrics, result.seconds)


def run_task(
    rows: list[Row], label: str, split: str, folder: Path, config: str, task: str, args, out: Path
) -> None:
    train_rows, test_rows = rows_of(folder, config, args.max_test, args.seed)
    kind = "binary" if task == "ddi_binary" else "regression"
    log = lambda line: print(f"  [{label} / {split}] {line}", file=sys.stderr, flush=True)  # noqa: E731
    results = run_baselines(
        kind, train_rows, test_rows, seed=args.seed, chemprop_epochs=args.chemprop_epochs, progress=log
    )
    for r in results:
        rows.append(Row(label, split, r.name, r.metrics, r.seconds, len(train_rows), len(test_rows)))
    if kind == "binary" and split == "cold-drug":
        for r in results:
            restricted = both_unseen(train_rows, test_rows, r)
            if restricted is not None:
                rows.append(
                    Row(
                        label,
                        "cold, both unseen",
                        r.name,
                        restricted.metrics,
                        r.seconds,
                        len(train_rows),
                        int(restricted.metrics["n"]),
                    )
                )
    if not args.skip_moltc:
        result = moltc_row(
            folder, config, task, train_rows, test_rows, args, out / "moltc" / f"{config}-{split}"
        )
        log(f"{result.name}: {result.metrics} ({result.seconds:.0f} s)")
        rows.append(
            Row(label, split, result.name, result.metrics, result.seconds, len(train_rows), len(test_rows))
        )


def format_table(rows: list[Row], seed: int) -> str:
    header = f"{'task':<10} {'split':<18} {'model':<42} {'metric':<26} {'n train/test':>13} {'time (s)':>9}"
    lines = [f"seed {seed}", header, "-" * len(header)]
    for row in rows:
        keys = ("auroc", "accuracy") if "auroc" in row.metrics else ("rmse", "mae", "r2")
        text = " ".join(f"{k}={row.metrics[k]:.3f}" for k in keys if isinstance(row.metrics.get(k), float))
        if row.metrics.get("num_unparseable"):
            text += f" unparsed={row.metrics['num_unparseable']}"
        lines.append(
            f"{row.task:<10} {row.split:<18} {row.model:<42} {text:<26} "
            f"{f'{row.n_train}/{row.n_test}':>13} {row.seconds:>9.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/quality"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-moltc", action="store_true", help="baselines only")
    parser.add_argument("--quick", action="store_true", help="200 test rows per task, 1-minute MolTC runs")
    parser.add_argument(
        "--minutes", type=float, default=None, help="MolTC training minutes per task (default 4)"
    )
    parser.add_argument("--max-test", type=int, default=None, help="cap on test rows per task (default 500)")
    parser.add_argument("--chemprop-epochs", type=int, default=30, help="0 disables the chemprop row")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (tiny ops: 1 is fastest)")
    args = parser.parse_args(argv)
    args.minutes = args.minutes or (1.0 if args.quick else 4.0)
    args.max_test = args.max_test or (200 if args.quick else 500)
    torch.set_num_threads(args.threads)
    if not RAW_DIR.is_dir():
        print(f"raw data not found at {RAW_DIR}", file=sys.stderr)
        return 1
    if args.chemprop_epochs and not chemprop_available():
        print(
            "chemprop v2: not installed, rows skipped (`pip install 'chemprop>=2'` adds them)",
            file=sys.stderr,
        )

    return run_all(args)  # load_split reads the folder's parquet files: no stale `datasets` cache


def run_all(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    rows: list[Row] = []
    plan = [
        ("FreeSolv", "freesolv", "solvation", "random"),
        ("CompSol", "compsol", "solvation", "random"),
        ("ChChMiner", "chchminer", "ddi_binary", "source"),
        ("ChChMiner", "chchminer", "ddi_binary", "cold-drug"),
    ]
    for label, source, task, split in plan:
        print(f"{label} ({split} split) ...", file=sys.stderr, flush=True)
        folder = build(args.out / "data", source, split, args.seed)
        run_task(rows, label, split, folder, source, task, args, args.out)
    table = format_table(rows, args.seed)
    print(table)
    print(
        f"\ntotal {time.perf_counter() - started:.0f} s; device: {'cuda' if torch.cuda.is_available() else 'cpu'}, "
        f"{torch.get_num_threads()} torch threads"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.json").write_text(
        json.dumps([dataclasses.asdict(r) for r in rows], indent=2, default=str)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
