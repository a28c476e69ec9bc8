"""Ablations that say *what* a trained MolTC learned from: train and test the same recipe with an input removed.

    full          prompts with SMILES text + graph tokens (the model as shipped)
    graph-zeroed  the molecule tokens (GIN + Q-Former output) replaced by zeros, in training and at test
    text-masked   the SMILES text removed from every prompt (``[START_I_SMILES][END_I_SMILES]<mol>``): graph only
    both          no SMILES text and zeroed graph tokens: only the question is left, so AUROC should be ~0.5
    shuffled      the train labels (and targets) permuted with the seed: what the recipe gets from no signal

Every variant trains for the same fixed number of steps from the same seed, so differences are the input's.
Used by `benchmarks/quality.py`; runnable alone on one config:

    python benchmarks/ablations.py --dataset runs/mot --config chchminer --steps 600 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from moltc_hf import build_model
from moltc_hf.evaluation.evaluate import evaluate_model
from moltc_hf.inference.predict import load_for_inference
from moltc_hf.instructions.loading import load_split
from moltc_hf.tasks.layout import data_file
from moltc_hf.tasks.registry import read_classes
from moltc_hf.tasks.templates import without_smiles_text
from moltc_hf.training import Recipe, load_recipe, train

VARIANTS = ("full", "graph-zeroed", "text-masked", "both", "shuffled")
SPLITS = ("train", "validation", "test")


def variant_dataset(dataset: Path, config: str, variant: str, seed: int, out: Path) -> Path:
    """The dataset folder a variant trains and tests on (a rewritten copy for text-masked / both / shuffled)."""
    if variant in ("full", "graph-zeroed"):
        return dataset
    for split in SPLITS:
        source = dataset / data_file(config, split)
        if not source.exists():
            continue
        frame = pd.read_parquet(source)
        if variant in ("text-masked", "both"):
            frame["prompt"] = frame["prompt"].map(without_smiles_text)
        if variant == "shuffled" and split == "train":
            # Every answer column moves with the label: the collator trains on `completion` when it exists.
            order = np.random.default_rng(seed).permutation(len(frame))
            for column in ("label", "target", "completion"):
                if column in frame:
                    frame[column] = frame[column].to_numpy()[order]
        target = out / data_file(config, split)
        target.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(target, index=False)
    classes = read_classes(dataset, config)
    if classes:
        (out / "classes.json").write_text(json.dumps({config: classes}))
    return out


def zero_molecule_tokens(model) -> None:
    """Replace the connector's output (the molecule tokens) by zeros: the LLM then sees no graph."""

    def hook(module, inputs, output):
        return torch.zeros_like(output) if torch.is_tensor(output) else output

    model.model.mol_connector.register_forward_hook(hook)


RECIPE = "tiny-finetune"


def finetune_recipe(
    config: str, steps: int, seed: int, overrides: dict | None = None, recipe: str = RECIPE
) -> Recipe:
    """The shipped ``recipe`` on ``config`` for exactly ``steps`` steps from ``seed`` (quiet, no checkpoints)."""
    recipe = load_recipe(recipe)
    overrides = dict(overrides or {})
    training = {
        **recipe.training,
        "max_steps": steps,
        "warmup_steps": max(1, steps // 20),
        "logging_steps": max(1, steps // 10),
        "save_steps": 10**9,
        "seed": seed,
        "data_seed": seed,
        "disable_tqdm": True,
        **overrides.pop("training", {}),
    }
    return dataclasses.replace(recipe, dataset_config=config, training=training, **overrides)


def run_variant(
    dataset: Path,
    config: str,
    variant: str,
    seed: int,
    steps: int,
    workdir: Path,
    *,
    test_rows=None,
    start_model: str | Path = "tiny",
    overrides: dict | None = None,
) -> dict:
    """Train one variant for ``steps`` and evaluate it on the test rows; returns the report (metrics, predictions)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")
    work = workdir / f"{config}-{variant}-seed{seed}"
    folder = variant_dataset(dataset, config, variant, seed, work / "data")
    if Path(str(start_model)).is_dir():
        model, processor = load_for_inference(start_model, device="cpu")
        model.train()
    else:
        model, processor = build_model(str(start_model), seed=seed)
    if variant in ("graph-zeroed", "both"):
        zero_molecule_tokens(model)
    started = time.perf_counter()
    result = train(
        finetune_recipe(config, steps, seed, overrides),
        dataset_dir=folder,
        output_dir=work / "train",
        model=(model, processor),
    )
    seconds = time.perf_counter() - started
    model, processor = load_for_inference(result.final_dir, device="cpu")
    if variant in ("graph-zeroed", "both"):
        zero_molecule_tokens(model)
    rows = load_split(folder, config, "test") if test_rows is None else _same_rows(test_rows, folder, config)
    report = evaluate_model(
        model,
        processor,
        rows,
        train_rows=load_split(folder, config, "train"),
        classes=read_classes(folder, config),
        progress=False,
    )
    # regression: the same model read without the value constraint (the readout's ablation)
    if "rmse" in report["metrics"]:
        free = evaluate_model(model, processor, rows, progress=False, constrain_value=False)
        report["free_readout"] = {k: v for k, v in free["metrics"].items() if isinstance(v, (int, float))}
        report["free_readout"]["max_abs_error"] = worst_answer(free["predictions"])[0]
    report["train_seconds"] = seconds
    report["steps"] = steps
    shutil.rmtree(work, ignore_errors=True)
    return report


def worst_answer(predictions) -> tuple[float | None, str | None]:
    """The largest absolute error of one run's regression predictions, and the answer text that made it."""
    errors = np.abs(predictions["value"].to_numpy(float) - predictions["y_true"].to_numpy(float))
    if not len(errors) or np.isnan(errors).all():
        return None, None
    worst = int(np.nanargmax(errors))
    return float(errors[worst]), str(predictions["answer"].iloc[worst])


def _same_rows(test_rows, folder: Path, config: str):
    """The variant's version (masked prompts) of the given test rows, matched by source row."""
    variant_rows = load_split(folder, config, "test").to_pandas().set_index("source_row")
    wanted = [row for row in test_rows["source_row"]]
    return variant_rows.loc[wanted].reset_index().to_dict("records")


def test_subsample(dataset: Path, config: str, max_test: int | None):
    """A seeded subsample of the test split (fixed seed 0: every variant and seed answers the same rows)."""
    rows = load_split(dataset, config, "test")
    if max_test is not None and len(rows) > max_test:
        rows = rows.shuffle(seed=0).select(range(max_test))
    return rows


def summarise(reports: Sequence[dict], keys: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Metric -> (mean, std) over seeds."""
    out = {}
    for key in keys:
        values = [r["metrics"].get(key, float("nan")) for r in reports]
        out[key] = (float(np.mean(values)), float(np.std(values)))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--start-model", default="tiny", help="a config name or a saved (pretrained) model")
    parser.add_argument(
        "--overrides", default="{}", help="JSON recipe overrides, e.g. '{\"decision_weight\": 10}'"
    )
    parser.add_argument("--workdir", type=Path, default=Path("runs/ablations"))
    parser.add_argument(
        "--max-test", type=int, default=1000, help="seeded test subsample (same rows everywhere)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    overrides = json.loads(args.overrides)
    test_rows = test_subsample(args.dataset, args.config, args.max_test)
    print(f"{'variant':<14}{'seed':>5}  metrics")
    for variant in args.variants:
        reports = []
        for seed in args.seeds:
            report = run_variant(
                args.dataset,
                args.config,
                variant,
                seed,
                args.steps,
                args.workdir,
                test_rows=test_rows,
                start_model=args.start_model,
                overrides=overrides,
            )
            reports.append(report)
            shown = {k: round(v, 4) for k, v in report["metrics"].items() if isinstance(v, float)}
            print(f"{variant:<14}{seed:>5}  {shown}  order={report.get('order_consistency')}", flush=True)
        keys = [k for k, v in reports[0]["metrics"].items() if isinstance(v, float)]
        summary = summarise(reports, keys)
        print(
            f"{variant:<14}{'mean':>5}  " + ", ".join(f"{k} {m:.3f}±{s:.3f}" for k, (m, s) in summary.items())
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
