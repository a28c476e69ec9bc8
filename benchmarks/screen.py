"""One-vs-many screening throughput: one query drug against every DrugBank drug, with and without the
molecule-feature cache, plus the candidate-scoring strategy (KV-cached candidates vs full sequences).

Each measurement runs in its own process so its peak memory (max RSS; CUDA peak when on GPU) is its own.
Rows:
  uncached      every pair re-encodes both molecules (what forward(graphs=...) does)
  cached, cold  fresh `MoleculeFeatureCache`: the query once, each library drug once
  cached, warm  a second query against the same library: only the new query is encoded
Shapes: ``tiny`` (the test config) and ``tiny+paper-graph`` (tiny LLM with the paper's GIN 5x300 and
Q-Former 768x12), which shows how the gain depends on how much of a pair's cost is the molecule path.

    python benchmarks/screen.py [--limit 1704] [--shapes tiny tiny+paper-graph] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw" / "DrugBank-DDI"
HUB_MODELS = Path(__file__).resolve().parents[1] / "hub_configs" / "models"
QUERIES = ("DB00945", "DB00682")  # aspirin, then warfarin for the warm-cache row


def model_spec(shape: str) -> Path:
    spec = json.loads((HUB_MODELS / "tiny.json").read_text())
    if shape == "tiny+paper-graph":
        paper = json.loads((HUB_MODELS / "galactica-1.3b.json").read_text())
        spec["graph_config"], spec["qformer_config"] = paper["graph_config"], paper["qformer_config"]
    elif shape != "tiny":
        raise ValueError(f"unknown shape {shape!r}")
    path = Path(tempfile.mkdtemp()) / f"{shape}.json"
    path.write_text(json.dumps(spec))
    return path


def library(limit: int | None) -> dict[str, str]:
    from moltc_hf.featurization import InvalidMoleculeError, parse_molecule

    frame = pd.read_csv(RAW / "ssi-ddi" / "drug_smiles.csv")
    drugs = {}
    for drug_id, smiles in zip(frame["drug_id"], frame["smiles"]):
        try:
            parse_molecule(smiles)
        except InvalidMoleculeError:
            continue
        drugs[drug_id] = smiles
    keep = list(drugs)[:limit] if limit else list(drugs)
    return {k: drugs[k] for k in dict.fromkeys([*QUERIES, *keep])}


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(args: argparse.Namespace) -> dict:
    from moltc_hf import build_model
    from moltc_hf.screening import MoleculeFeatureCache, iter_predictions

    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, processor = build_model(model_spec(args.shape), seed=0, device=device)
    model.eval()
    drugs = library(args.limit)
    rows = {q: [{"smiles_a": drugs[q], "smiles_b": s} for d, s in drugs.items() if d != q] for q in QUERIES}
    for smiles in drugs.values():  # featurize (RDKit) up front: this benchmark is about the model side
        processor.featurizer(smiles)

    def screen(query: str, cache) -> float:
        start = time.perf_counter()
        for _ in iter_predictions(
            model, processor, rows[query], "ddi_binary", batch_size=args.batch_size, cache=cache
        ):
            pass
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    screen(QUERIES[0], False) if args.variant == "warmup" else None
    cache = MoleculeFeatureCache(model, processor) if args.variant != "uncached" else False
    if args.variant == "cached-warm":
        screen(QUERIES[0], cache)
        before = cache.misses
        seconds, query = screen(QUERIES[1], cache), QUERIES[1]
        encoded = cache.misses - before
    else:
        seconds, query = screen(QUERIES[0], cache), QUERIES[0]
        encoded = cache.misses if cache else 2 * len(rows[query])
    return {
        "shape": args.shape,
        "variant": args.variant,
        "pairs": len(rows[query]),
        "seconds": seconds,
        "pairs_per_s": len(rows[query]) / seconds,
        "molecules_encoded": encoded,
        "peak_mb": peak_memory_mb(device),
        "device": device,
    }


def scoring_worker(args: argparse.Namespace) -> list[dict]:
    """Candidate scoring: KV-cached candidates vs every (pair, candidate) sequence in full."""
    from moltc_hf import build_model
    from moltc_hf.evaluation import score_candidates
    from moltc_hf.instructions.readers import drugbank_type_sentences
    from moltc_hf.instructions.templates import DDI_NEGATIVE, DDI_POSITIVE, DDI_QUESTION, pair_prompt
    from moltc_hf.screening import uncached_features

    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, processor = build_model(model_spec("tiny"), seed=0, device=device)
    model.eval()
    drugs = list(library(64).values())
    pairs = list(zip(drugs[:16], drugs[16:32]))
    prompts = [pair_prompt(a, b, DDI_QUESTION) for a, b in pairs]
    features = uncached_features(model, processor, pairs)
    types = drugbank_type_sentences(RAW.parent)
    results = []
    for name, candidates in (
        ("binary (2)", [DDI_NEGATIVE, DDI_POSITIVE]),
        ("drugbank (86)", [types[k] for k in range(86)]),
    ):
        for strategy in ("flat", "cache"):
            score_candidates(model, processor, prompts[:2], candidates, features[:4], strategy=strategy)
            start = time.perf_counter()
            score_candidates(model, processor, prompts, candidates, features, strategy=strategy)
            seconds = time.perf_counter() - start
            results.append({"candidates": name, "strategy": strategy, "pairs_per_s": len(pairs) / seconds})
    return results


def run_child(extra: list[str]) -> object:
    done = subprocess.run([sys.executable, __file__, *extra], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=None, help="library size (default: all DrugBank drugs)")
    parser.add_argument("--shapes", nargs="+", default=["tiny", "tiny+paper-graph"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--shape", default="tiny", help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="uncached", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "screen":
        print(json.dumps(worker(args)))
        return
    if args.worker == "scoring":
        print(json.dumps(scoring_worker(args)))
        return

    common = ["--threads", str(args.threads), "--batch-size", str(args.batch_size)]
    common += ["--limit", str(args.limit)] if args.limit else []
    rows = []
    for shape in args.shapes:
        for variant in ("uncached", "cached-cold", "cached-warm"):
            rows.append(run_child(["--worker", "screen", "--shape", shape, "--variant", variant, *common]))
            print(f"  measured {shape} / {variant}: {rows[-1]['pairs_per_s']:.1f} pairs/s", file=sys.stderr)
    print(
        f"\nOne-vs-many screen (ddi_binary, score mode), device {rows[0]['device']}, {args.threads} threads, "
        f"batch {args.batch_size}, {rows[0]['pairs']} pairs per query"
    )
    print(f"{'shape':<18}{'variant':<14}{'pairs/s':>10}{'x uncached':>12}{'mols encoded':>14}{'peak MB':>10}")
    for row in rows:
        base = next(r for r in rows if r["shape"] == row["shape"] and r["variant"] == "uncached")
        print(
            f"{row['shape']:<18}{row['variant']:<14}{row['pairs_per_s']:>10.1f}"
            f"{row['pairs_per_s'] / base['pairs_per_s']:>11.2f}x{row['molecules_encoded']:>14}{row['peak_mb']:>10.0f}"
        )

    scoring = run_child(["--worker", "scoring", *common])
    print("\nCandidate scoring (tiny, 16 pairs): KV-cached candidates vs full sequences")
    print(f"{'candidates':<16}{'strategy':<10}{'pairs/s':>10}{'x flat':>9}")
    for row in scoring:
        flat = next(r for r in scoring if r["candidates"] == row["candidates"] and r["strategy"] == "flat")
        print(
            f"{row['candidates']:<16}{row['strategy']:<10}{row['pairs_per_s']:>10.1f}{row['pairs_per_s'] / flat['pairs_per_s']:>8.2f}x"
        )


if __name__ == "__main__":
    main()
