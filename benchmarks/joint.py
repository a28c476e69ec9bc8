"""Joint training vs one model per task, at equal total steps, on the same splits and seeds.

    python benchmarks/joint.py --workdir runs/joint --steps 200 --seeds 0 1 2

Per seed: one tiny model per task (FreeSolv, CompSol, ChChMiner), ``--steps`` steps each, and one joint model
on the mixture of the three (`moltc_hf.training.mixture`, ``--temperature``) for ``3 x --steps`` steps, so the
two arms spend the same optimizer steps. All runs use the shipped ``tiny-finetune`` recipe settings (fully trained
random tiny LLM, untied projectors, decision weight 10), the same dataset build (``--limit`` rows per raw file,
random 80/10/10 split, seed 0) and the same seeded test subsample. The strongest simple reference per task
(`moltc_hf.baselines.references`: drug prior / Morgan LR, mean / descriptor ridge / RF) is fitted on the same
train split and scored on the same test rows. CPU only, one thread: numbers are for comparing the two arms.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ablations import finetune_recipe  # noqa: E402

from moltc_hf.baselines.references import run_baselines  # noqa: E402
from moltc_hf.evaluation.evaluate import evaluate_model  # noqa: E402
from moltc_hf.inference.predict import load_for_inference  # noqa: E402
from moltc_hf.instructions import build_dataset  # noqa: E402
from moltc_hf.instructions.loading import load_split  # noqa: E402
from moltc_hf.training import train  # noqa: E402

CONFIGS = ("freesolv", "compsol", "chchminer")
HEADLINE = {"freesolv": "rmse", "compsol": "rmse", "chchminer": "auroc"}


def test_rows(dataset: Path, config: str, max_test: int):
    rows = load_split(dataset, config, "test")
    return rows.shuffle(seed=0).select(range(min(max_test, len(rows))))


def evaluate(final_dir: Path, dataset: Path, config: str, rows) -> dict:
    model, processor = load_for_inference(final_dir, device="cpu")
    report = evaluate_model(
        model,
        processor,
        rows,
        train_rows=load_split(dataset, config, "train"),
        order_consistency=False,
        progress=False,
    )
    return {k: v for k, v in report["metrics"].items() if isinstance(v, (int, float))}


def run_arm(dataset: Path, configs, steps: int, seed: int, work: Path, temperature: float) -> Path:
    recipe = finetune_recipe(",".join(configs), steps, seed)
    recipe = dataclasses.replace(recipe, mixture_temperature=temperature)
    result = train(recipe, dataset_dir=dataset, output_dir=work)
    return result.final_dir


def references(dataset: Path, config: str, rows) -> dict:
    task = "binary" if config == "chchminer" else "regression"
    results = run_baselines(task, load_split(dataset, config, "train"), rows, seed=0)
    key = HEADLINE[config]
    better = max if key == "auroc" else min
    best = better(results, key=lambda r: r.metrics[key])
    return {"name": best.name, "metrics": best.metrics, "all": {r.name: r.metrics[key] for r in results}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs/joint"))
    parser.add_argument("--raw-dir", type=Path, default=Path("../shared/data/raw"))
    parser.add_argument("--limit", type=int, default=400, help="rows per raw file (ChChMiner has 3 files)")
    parser.add_argument("--steps", type=int, default=200, help="steps per single-task model (joint: 3x)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--temperature", type=float, default=2.0, help="mixture_temperature of the joint arm")
    parser.add_argument("--max-test", type=int, default=80, help="seeded test subsample per task")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    dataset = args.workdir / "data"
    build_dataset(",".join(CONFIGS), dataset, limit=args.limit, raw_dir=args.raw_dir, progress=False)
    rows = {config: test_rows(dataset, config, args.max_test) for config in CONFIGS}
    sizes = {config: len(load_split(dataset, config, "train")) for config in CONFIGS}
    print(f"train rows {sizes}; test rows { ({c: len(r) for c, r in rows.items()}) }", flush=True)
    results: dict[str, dict[str, list[dict]]] = {
        "single": {c: [] for c in CONFIGS},
        "joint": {c: [] for c in CONFIGS},
    }
    for seed in args.seeds:
        for config in CONFIGS:
            work = args.workdir / f"single-{config}-seed{seed}"
            final = run_arm(dataset, [config], args.steps, seed, work, args.temperature)
            results["single"][config].append(evaluate(final, dataset, config, rows[config]))
            shutil.rmtree(work, ignore_errors=True)
            print(f"seed {seed} single {config}: {results['single'][config][-1]}", flush=True)
        work = args.workdir / f"joint-seed{seed}"
        final = run_arm(dataset, CONFIGS, 3 * args.steps, seed, work, args.temperature)
        for config in CONFIGS:
            results["joint"][config].append(evaluate(final, dataset, config, rows[config]))
            print(f"seed {seed} joint {config}: {results['joint'][config][-1]}", flush=True)
        shutil.rmtree(work, ignore_errors=True)
    refs = {config: references(dataset, config, rows[config]) for config in CONFIGS}
    lines = [
        f"| task | metric | single-task ({args.steps} steps each) | joint ({3 * args.steps} steps) | "
        "best simple reference (same rows) |",
        "|---|---|---|---|---|",
    ]
    for config in CONFIGS:
        key = HEADLINE[config]
        cells = []
        for arm in ("single", "joint"):
            values = [m.get(key, float("nan")) for m in results[arm][config]]
            cell = f"{np.mean(values):.3f} ± {np.std(values):.3f}"
            if "unparseable_rate" in results[arm][config][0]:
                rate = np.mean([m["unparseable_rate"] for m in results[arm][config]])
                cell += f" ({rate:.0%} unparseable)"
            cells.append(cell)
        ref = refs[config]
        lines.append(
            f"| {config} | {key} | {cells[0]} | {cells[1]} | {ref['metrics'][key]:.3f} ({ref['name']}) |"
        )
    table = "\n".join(lines)
    print(table)
    print(
        f"seeds {args.seeds}, train rows {sizes}, T={args.temperature}, {time.perf_counter() - started:.0f} s"
    )
    out = args.workdir / "joint.json"
    out.write_text(
        json.dumps({"results": results, "references": refs, "sizes": sizes, "table": table}, indent=1)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
