"""One-vs-many screening throughput: one query drug against every DrugBank drug, with and without the
molecule-feature cache, plus the candidate-scoring strategy (KV-cached candidates vs full sequences).

Each model shape runs in its own process; its three variants are interleaved over ``--rounds`` (median),
so load from other processes on a shared machine hits them alike. Memory: the cache's own size, and the
peak (CUDA peak per variant on GPU; on CPU the process's max RSS, which only grows).
Rows:
  uncached      every pair re-encodes both molecules (what forward(graphs=...) does)
  cached, cold  fresh `MoleculeFeatureCache`: the query once, each library drug once
  cached, warm  a second query against the same library: only the new query is encoded
Shapes: ``tiny`` (the test config) and ``tiny+paper-graph`` (tiny LLM with the paper's GIN 5x300 and
Q-Former 768x12), which shows how the gain depends on how much of a pair's cost is the molecule path.

Shared prefix (``--prefix``): the LLM side of one query x ``--library`` DrugBank drugs (molecule features
precomputed by the cache, so only `score_candidates` is timed, batches of ``--batch-size`` pairs), at the
``tiny`` and ``galactica-125m`` shapes (``--prefix-shapes``), per query drug, interleaved rounds (median):
  today         ``--baseline-rev``'s `score_candidates` (e.g. the commit before shared prefixes), imported from
                that revision's source (``git archive``) into this process; omitted without the flag
  unshared      this tree, ``share_prefix=False`` (length-grouped batches, decision tokens only)
  shared        this tree's default: the query's prefix encoded once per group, its KV cache expanded
``max |diff|`` is the largest score difference from the ``unshared`` row; ``load`` the 1-minute load average
after the variant ran (the highest over rounds): the machine may be shared.

    python benchmarks/screen.py [--limit N] [--shapes tiny tiny+paper-graph] [--batch-size 64] [--rounds 2]
    python benchmarks/screen.py --prefix --library 2000 --baseline-rev 8e7c2df --threads 2 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
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
    """CUDA: peak allocated since the last reset (per variant). CPU: the process's max RSS so far."""
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(args: argparse.Namespace) -> list[dict]:
    """All three variants of one shape in one process, interleaved over ``--rounds`` (median pairs/s), so
    load from other processes hits them alike."""
    import statistics

    from moltc_hf import build_model
    from moltc_hf.inference.predict import MoleculeFeatureCache, iter_predictions

    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, processor = build_model(model_spec(args.shape), seed=0, device=device)
    model.eval()
    drugs = library(args.limit)
    rows = {q: [{"smiles_a": drugs[q], "smiles_b": s} for d, s in drugs.items() if d != q] for q in QUERIES}
    for smiles in drugs.values():  # featurize (RDKit) up front: this benchmark is about the model side
        processor.featurizer(smiles)

    def screen(query: str, cache) -> float:
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in iter_predictions(
            model, processor, rows[query], "ddi_binary", batch_size=args.batch_size, cache=cache
        ):
            pass
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    timings: dict[str, list[float]] = {"uncached": [], "cached-cold": [], "cached-warm": []}
    encoded, cache_mb, cuda_peak = {}, {}, {}
    for _ in range(args.rounds):
        timings["uncached"].append(screen(QUERIES[0], False))
        encoded["uncached"], cache_mb["uncached"] = 2 * len(rows[QUERIES[0]]), 0.0
        cuda_peak["uncached"] = peak_memory_mb(device)
        cache = MoleculeFeatureCache(model, processor)
        timings["cached-cold"].append(screen(QUERIES[0], cache))
        encoded["cached-cold"] = cache.misses
        cuda_peak["cached-cold"] = peak_memory_mb(device)
        before = cache.misses
        timings["cached-warm"].append(screen(QUERIES[1], cache))
        encoded["cached-warm"] = cache.misses - before
        cuda_peak["cached-warm"] = peak_memory_mb(device)
        cache_mb["cached-cold"] = cache_mb["cached-warm"] = (
            sum(t.numel() * t.element_size() for t in cache._features.values()) / 2**20
        )
    pairs = len(rows[QUERIES[0]])
    return [
        {
            "shape": args.shape,
            "variant": variant,
            "pairs": pairs,
            "pairs_per_s": pairs / statistics.median(seconds),
            "molecules_encoded": encoded[variant],
            "cache_mb": cache_mb[variant],
            "peak_mb": cuda_peak[variant],
            "device": device,
        }
        for variant, seconds in timings.items()
    ]


def scoring_worker(args: argparse.Namespace) -> list[dict]:
    """Candidate scoring: KV-cached candidates vs every (pair, candidate) sequence in full."""
    from moltc_hf import build_model
    from moltc_hf.evaluation import score_candidates
    from moltc_hf.inference.predict import uncached_features
    from moltc_hf.instructions.readers import drugbank_type_sentences
    from moltc_hf.tasks.templates import DDI_NEGATIVE, DDI_POSITIVE, DDI_QUESTION, pair_prompt

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


PREFIX_QUERIES = {"aspirin": "DB00945", "warfarin": "DB00682"}


def baseline_scoring(revision: str):
    """``score_candidates`` of ``revision``: its ``src/moltc_hf`` extracted as package ``moltc_hf_base``.

    The scoring module imports its package relatively, so the old code runs beside this tree's in one
    process, on the same model object, and the variants can be interleaved.
    """
    import importlib
    import io
    import tarfile

    root = Path(tempfile.mkdtemp(prefix="moltc_base_"))
    repo = Path(__file__).resolve().parents[1]
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", revision, "src/moltc_hf"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    (root / "src" / "moltc_hf").rename(root / "moltc_hf_base")
    sys.path.insert(0, str(root))
    return importlib.import_module("moltc_hf_base.evaluation.scoring").score_candidates


def prefix_worker(args: argparse.Namespace) -> list[dict]:
    import statistics

    from moltc_hf import build_model
    from moltc_hf.evaluation import score_candidates
    from moltc_hf.inference.predict import MoleculeFeatureCache
    from moltc_hf.tasks.registry import get_task

    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, processor = build_model(args.shape, seed=0, device=device)
    model.eval()
    task = get_task("ddi_binary")
    drugs = library(None)
    variants = {"unshared": lambda *a: score_candidates(*a, share_prefix=False), "shared": score_candidates}
    if args.baseline_rev:
        variants = {"today": baseline_scoring(args.baseline_rev), **variants}
    variants = {k: v for k, v in variants.items() if k in args.variants or k == "unshared"}
    cache = MoleculeFeatureCache(model, processor)
    out = []
    for name, query in PREFIX_QUERIES.items():
        if name not in args.queries:
            continue
        others = [s for d, s in drugs.items() if d not in PREFIX_QUERIES.values()][: args.library]
        pairs = [(drugs[query], smiles) for smiles in others]
        batches = []
        for start in range(0, len(pairs), args.batch_size):
            chunk = pairs[start : start + args.batch_size]
            batches.append(([task.prompt(a, b) for a, b in chunk], cache.features(chunk)))
        timings: dict[str, list[float]] = {v: [] for v in variants}
        scores: dict[str, torch.Tensor] = {}
        loads: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(args.rounds):
            for variant, score in variants.items():
                start = time.perf_counter()
                scores[variant] = torch.cat(
                    [
                        score(model, processor, prompts, task.candidates, features)
                        for prompts, features in batches
                    ]
                )
                if device == "cuda":
                    torch.cuda.synchronize()
                timings[variant].append(time.perf_counter() - start)
                loads[variant].append(os.getloadavg()[0])
                rate = len(pairs) / timings[variant][-1]
                print(f"{args.shape} {name} {variant}: {rate:.2f} pairs/s", file=sys.stderr, flush=True)
        for variant, seconds in timings.items():
            out.append(
                {
                    "shape": args.shape,
                    "query": name,
                    "variant": variant,
                    "pairs": len(pairs),
                    "pairs_per_s": len(pairs) / statistics.median(seconds),
                    "max_diff": float((scores[variant] - scores["unshared"]).abs().max()),
                    "load": max(loads[variant]),
                    "device": device,
                }
            )
    return out


def print_prefix_table(rows: list[dict], args: argparse.Namespace) -> None:
    print(
        f"\nOne query x {rows[0]['pairs']} library drugs (ddi_binary scores, LLM side only), device "
        f"{rows[0]['device']}, {args.threads} threads, batch {args.batch_size}, median of {args.rounds} round(s)"
    )
    print(
        f"{'shape':<16}{'query':<10}{'variant':<10}{'pairs/s':>9}{'x today':>9}{'x unshared':>12}{'max |diff|':>12}{'load':>6}"
    )
    for row in rows:
        same = [r for r in rows if r["shape"] == row["shape"] and r["query"] == row["query"]]
        base = {r["variant"]: r["pairs_per_s"] for r in same}
        today = f"{row['pairs_per_s'] / base['today']:>8.2f}x" if "today" in base else f"{'-':>9}"
        print(
            f"{row['shape']:<16}{row['query']:<10}{row['variant']:<10}{row['pairs_per_s']:>9.2f}{today}"
            f"{row['pairs_per_s'] / base['unshared']:>11.2f}x{row['max_diff']:>12.1e}{row['load']:>6.1f}"
        )


def run_child(extra: list[str]) -> object:
    # (the child's stderr passes through: its per-variant progress lines)
    done = subprocess.run([sys.executable, __file__, *extra], stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child {extra} failed with exit code {done.returncode}")
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
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per variant (median)")
    parser.add_argument("--prefix", action="store_true", help="the shared-prefix table (see above) instead")
    parser.add_argument("--library", type=int, default=2000, help="--prefix: library drugs per query")
    parser.add_argument("--prefix-shapes", nargs="+", default=["tiny", "galactica-125m"])
    parser.add_argument("--baseline-rev", default=None, help="--prefix: git revision timed as 'today'")
    parser.add_argument("--queries", nargs="+", default=list(PREFIX_QUERIES), choices=list(PREFIX_QUERIES))
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["today", "unshared", "shared"],
        help="--prefix: unshared always runs",
    )
    args = parser.parse_args()
    if args.worker == "prefix":
        print(json.dumps(prefix_worker(args)))
        return
    if args.prefix:
        common = [
            "--threads",
            str(args.threads),
            "--batch-size",
            str(args.batch_size),
            "--rounds",
            str(args.rounds),
        ]
        common += ["--library", str(args.library)] + (
            ["--baseline-rev", args.baseline_rev] if args.baseline_rev else []
        )
        common += ["--queries", *args.queries, "--variants", *args.variants]
        rows = []
        for shape in args.prefix_shapes:
            rows += run_child(["--worker", "prefix", "--shape", shape, *common])
            print(f"  measured {shape}", file=sys.stderr)
        print_prefix_table(rows, args)
        return
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
        rows += run_child(["--worker", "screen", "--shape", shape, "--rounds", str(args.rounds), *common])
        print(f"  measured {shape}", file=sys.stderr)
    print(
        f"\nOne-vs-many screen (ddi_binary, score mode), device {rows[0]['device']}, {args.threads} threads, "
        f"batch {args.batch_size}, {rows[0]['pairs']} pairs per query"
    )
    peak = "CUDA peak MB" if rows[0]["device"] == "cuda" else "max RSS MB"
    print(
        f"{'shape':<18}{'variant':<14}{'pairs/s':>10}{'x uncached':>12}{'mols encoded':>14}{'cache MB':>10}{peak:>14}"
    )
    for row in rows:
        base = next(r for r in rows if r["shape"] == row["shape"] and r["variant"] == "uncached")
        print(
            f"{row['shape']:<18}{row['variant']:<14}{row['pairs_per_s']:>10.1f}"
            f"{row['pairs_per_s'] / base['pairs_per_s']:>11.2f}x{row['molecules_encoded']:>14}{row['cache_mb']:>10.1f}"
            f"{row['peak_mb']:>14.0f}"
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
