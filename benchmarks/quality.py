"""Quality: MolTC tiny vs the references that keep its numbers honest, on the same seeded splits.

    python benchmarks/quality.py                  # everything (MolTC rows train for --minutes each)
    python benchmarks/quality.py --skip-moltc     # baselines only (~1 min)
    python benchmarks/quality.py --quick          # smaller subsamples and 1-minute MolTC runs

Tasks (raw public files in ../shared/data/raw, turned into MoT-instructions by `build_dataset`):
  * FreeSolv (hydration free energy, 560 pairs, random split)            RMSE / MAE / R2
  * CompSol (solvent + solute solvation free energy, random split)       RMSE / MAE / R2
  * CompSol on a cold-solute split (no test solute in train)             RMSE / MAE / R2
  * ChChMiner binary DDI (all train pairs, test subsampled) on the *source* split and on a *cold-drug* split   AUROC / accuracy
  * DeepDDI binary DDI on a cold-drug split (``--deepddi-limit`` rows per raw file), its both-unseen pairs    AUROC

Rows: the mean predictor, ridge and random forest on RDKit descriptors of both molecules, chemprop v2 where
installed (skipped with a message otherwise), and for DDI the drug prior (each drug's positive rate in train,
no chemistry) and a Morgan-fingerprint logistic regression. The drug prior is the yardstick for DDI: on the
public sets it reaches AUROC ~0.99 on a random/source split, so a DDI model is only worth what it adds over it,
above all on cold drugs ("cold, both unseen" = the test pairs whose two drugs never occur in train).

MolTC rows fine-tune the tiny model (from scratch, or from ``--start-model``, e.g. a stage-1 pretrained folder) with
the `tiny-finetune` recipe (``--overrides`` changes its keys) for a
*fixed* number of steps (``--steps``; never wall-clock, so rows do not move with machine load), once per seed
(``--seeds``, mean ± std) and per ablation (``--variants``, see `benchmarks/ablations.py`: graph zeroed,
SMILES text masked, both, labels shuffled), and evaluate with `moltc_hf.evaluation.evaluate_model`
(greedy decoding + regex-validated parsing for regression, decision-token candidate scoring for DDI).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
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
from moltc_hf.training import load_split  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablations import VARIANTS, run_variant, summarise, worst_answer  # noqa: E402

RAW_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw"
# name -> (label, source, task, split). CompSol's cold-drug split keys on the solute (its `split_on`): cold-solute.
PLAN = {
    "freesolv": ("FreeSolv", "freesolv", "solvation", "random"),
    "compsol": ("CompSol", "compsol", "solvation", "random"),
    "compsol-cold": ("CompSol", "compsol", "solvation", "cold-drug"),
    "chchminer-source": ("ChChMiner", "chchminer", "ddi_binary", "source"),
    "chchminer-cold": ("ChChMiner", "chchminer", "ddi_binary", "cold-drug"),
    "deepddi-cold": ("DeepDDI", "deepddi", "ddi_binary", "cold-drug"),
}


@dataclasses.dataclass
class Row:
    task: str
    split: str
    model: str
    metrics: dict
    seconds: float
    n_train: int
    n_test: int


def build(out: Path, source: str, split: str, seed: int, limit: int | None = None) -> Path:
    # No `limit` unless given: every row of each raw file.
    folder = out / f"{source}-{split}" if limit is None else out / f"{source}-{split}-{limit}"
    build_dataset([source], folder, split=split, seed=seed, raw_dir=RAW_DIR, progress=False, limit=limit)
    return folder


def rows_of(folder: Path, config: str, max_test: int | None, seed: int):
    """The whole train split (MolTC's cost is its step count, not the split size) and a seeded test subsample."""
    train_rows, test_rows = load_split(folder, config, "train"), load_split(folder, config, "test")
    if max_test is not None and len(test_rows) > max_test:
        test_rows = test_rows.shuffle(seed=seed).select(range(max_test))
    return train_rows, test_rows


def moltc_rows(folder: Path, config: str, task: str, train_rows, test_rows, args, workdir: Path) -> list:
    """MolTC tiny (`tiny-finetune` recipe) at a fixed step count, per ablation variant, mean ± std over the seeds.

    Returns ``(name, metrics, seconds, predictions-of-the-first-seed)`` per variant; metrics hold ``<key>`` (mean)
    and ``<key>_std``.
    """
    out = []
    keys = ("auroc", "accuracy") if task == "ddi_binary" else ("rmse", "mae", "r2")
    for (label, start_model), variant in itertools.product(start_models(args.start_model), args.variants):
        seeds = args.seeds if variant in args.seeded_variants or not args.seeded_variants else args.seeds[:1]
        reports = [
            run_variant(
                folder,
                config,
                variant,
                seed,
                args.steps,
                workdir / label,
                test_rows=test_rows,
                start_model=start_model,
                overrides=json.loads(args.overrides),
            )
            for seed in seeds
        ]
        summary = summarise(reports, keys)
        metrics = {k: m for k, (m, _) in summary.items()} | {f"{k}_std": sd for k, (_, sd) in summary.items()}
        metrics["num_unparseable"] = max(r["metrics"].get("num_unparseable", 0) for r in reports)
        # each seed's own numbers, so a mean ± std dominated by one run says which run
        metrics["per_seed"] = {k: [r["metrics"].get(k) for r in reports] for k in keys} | {
            "seeds": list(seeds)
        }
        if task != "ddi_binary":  # the largest miss of each seed and its answer (a garbled number shows here)
            misses = [worst_answer(r["predictions"]) for r in reports]
            metrics["per_seed"]["max_abs_error"] = [m[0] for m in misses]
            metrics["per_seed"]["worst_answer"] = [m[1] for m in misses]
            # the same models read without the value constraint (`benchmarks/value_readout.py`)
            free = [r.get("free_readout") or {} for r in reports]
            metrics["per_seed"]["rmse_free_readout"] = [f.get("rmse") for f in free]
            metrics["per_seed"]["max_abs_error_free_readout"] = [f.get("max_abs_error") for f in free]
        order = [
            r["order_consistency"]["same_answer"]
            for r in reports
            if (r.get("order_consistency") or {}).get("same_answer") is not None
        ]
        if order:
            metrics["order_same_answer"] = float(np.mean(order))
        scores = None
        if task == "ddi_binary":  # per seed, for the both-unseen subset (`both_unseen`)
            scores = np.stack(
                [np.array([p[1] for p in r["predictions"]["class_probabilities"]]) for r in reports]
            )
        origin = "" if label == "tiny" else f" from {label}"
        name = f"MolTC tiny {variant}{origin} ({args.steps} steps, {len(seeds)} seeds)"
        seconds = float(np.mean([r["train_seconds"] for r in reports]))
        out.append(BaselineResult(name, metrics, seconds, scores))
    return out


def start_models(entries: list[str]) -> list[tuple[str, str]]:
    """``--start-model`` entries as ``(label, model)``: ``LABEL=PATH`` or a bare config name / folder."""
    out = []
    for entry in entries:
        label, _, model = entry.rpartition("=")
        out.append((label or Path(model).name or model, model))
    return out


def both_unseen(train_rows, test_rows, result: BaselineResult) -> BaselineResult | None:
    """The same predictions restricted to test pairs whose two drugs never occur in train.

    ``result.predictions`` is one score per test row, or one row of scores per seed (MolTC): then the metrics
    are the seeds' mean, with ``<key>_std``.
    """
    seen = set(train_rows["smiles_a"]) | set(train_rows["smiles_b"])
    mask = np.array(
        [a not in seen and b not in seen for a, b in zip(test_rows["smiles_a"], test_rows["smiles_b"])]
    )
    labels = np.asarray(test_rows["label"], dtype=int)[mask]
    if result.predictions is None or mask.sum() < 10 or len(set(labels)) < 2:
        return None
    per_seed = np.atleast_2d(result.predictions)
    runs = [binary_metrics(labels, scores[mask]) for scores in per_seed]
    metrics = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
    if len(runs) > 1:
        metrics |= {f"{k}_std": float(np.std([r[k] for r in runs])) for k in runs[0]}
    return BaselineResult(result.name, metrics | {"n": int(mask.sum())}, result.seconds)


def run_task(
    rows: list[Row], label: str, split: str, folder: Path, config: str, task: str, args, out: Path
) -> None:
    train_rows, test_rows = rows_of(folder, config, args.max_test, args.seed)
    kind = "binary" if task == "ddi_binary" else "regression"
    log = lambda line: print(f"  [{label} / {split}] {line}", file=sys.stderr, flush=True)  # noqa: E731
    results = (
        []
        if args.skip_baselines
        else run_baselines(
            kind, train_rows, test_rows, seed=args.seed, chemprop_epochs=args.chemprop_epochs, progress=log
        )
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
        for result in moltc_rows(
            folder, config, task, train_rows, test_rows, args, out / "moltc" / f"{config}-{split}"
        ):
            log(f"{result.name}: {result.metrics} ({result.seconds:.0f} s)")
            rows.append(
                Row(
                    label, split, result.name, result.metrics, result.seconds, len(train_rows), len(test_rows)
                )
            )
            restricted = both_unseen(train_rows, test_rows, result) if split == "cold-drug" else None
            if restricted is not None:
                n = int(restricted.metrics["n"])
                rows.append(
                    Row(label, "cold, both unseen", result.name, restricted.metrics, 0.0, len(train_rows), n)
                )


def format_table(rows: list[Row], seed: int) -> str:
    header = f"{'task':<10} {'split':<18} {'model':<42} {'metric':<26} {'n train/test':>13} {'time (s)':>9}"
    lines = [f"seed {seed}", header, "-" * len(header)]
    for row in rows:
        keys = ("auroc", "accuracy") if "auroc" in row.metrics else ("rmse", "mae", "r2")
        text = " ".join(
            f"{k}={row.metrics[k]:.3f}"
            + (f"±{row.metrics[k + '_std']:.3f}" if f"{k}_std" in row.metrics else "")
            for k in keys
            if isinstance(row.metrics.get(k), float)
        )
        if row.metrics.get("num_unparseable"):
            text += f" unparsed={row.metrics['num_unparseable']}"
        per_seed = (row.metrics.get("per_seed") or {}).get(keys[0]) or []
        if len(per_seed) > 1:
            text += f" ({keys[0]} per seed " + " / ".join(f"{v:.3f}" for v in per_seed) + ")"
        free = [
            v for v in (row.metrics.get("per_seed") or {}).get("rmse_free_readout") or [] if v is not None
        ]
        if free:
            text += " [unconstrained readout: rmse per seed " + " / ".join(f"{v:.3f}" for v in free) + "]"
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
    parser.add_argument(
        "--skip-baselines", action="store_true", help="MolTC rows only (the references of another run)"
    )
    parser.add_argument("--quick", action="store_true", help="200 test rows per task, 300-step MolTC runs")
    parser.add_argument("--steps", type=int, default=None, help="MolTC training steps per run (default 600)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="MolTC seeds (mean ± std)")
    parser.add_argument(
        "--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS, help="MolTC ablations to run"
    )
    parser.add_argument("--max-test", type=int, default=None, help="cap on test rows per task (default 500)")
    parser.add_argument("--chemprop-epochs", type=int, default=30, help="0 disables the chemprop row")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (tiny ops: 1 is fastest)")
    parser.add_argument(
        "--tasks", nargs="+", default=list(PLAN), choices=list(PLAN), help="which rows of the plan to run"
    )
    parser.add_argument(
        "--start-model",
        nargs="+",
        default=["tiny"],
        help="model config names or saved (pretrained) models to fine-tune, each [LABEL=]PATH: one set of "
        "MolTC rows per start model, on the same test rows",
    )
    parser.add_argument(
        "--seeded-variants",
        nargs="*",
        default=[],
        help="run all --seeds only for these variants (the others: the first seed); default: every variant",
    )
    parser.add_argument("--overrides", default="{}", help="JSON recipe overrides of tiny-finetune")
    parser.add_argument("--deepddi-limit", type=int, default=20000, help="rows read per DeepDDI raw file")
    args = parser.parse_args(argv)
    args.steps = args.steps or (300 if args.quick else 600)
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
    for name in args.tasks:
        label, source, task, split = PLAN[name]
        print(f"{label} ({split} split) ...", file=sys.stderr, flush=True)
        limit = args.deepddi_limit if source == "deepddi" else None
        folder = build(args.out / "data", source, split, args.seed, limit)
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
