"""Data-path throughput on real DrugBank pairs: featurizer cold/warm, pair batching, the SFT collator.

Baselines measured in the same run: the RDKit parse alone, and the original MolTC data path (one folder
per pair with a torch.save'd graph, read back with torch.load + PyG batching; tensors only, so the
read uses weights_only=True where the original unpickled whole PyG objects). Prints one table.

    python benchmarks/featurize.py [--pairs 5000] [--batch-size 32] [--original-pairs 500]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from rdkit import Chem
from torch_geometric.data import Batch, Data

from moltc_hf import MoleculeFeaturizer, MolTCDataCollator, build_model
from moltc_hf.featurization import mol_to_graph, parse_molecule
from moltc_hf.tasks.templates import DDI_QUESTION, pair_prompt

RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw" / "DrugBank-DDI"


def load_pairs(limit: int) -> list[tuple[str, str]]:
    smiles = pd.read_csv(RAW / "ssi-ddi" / "drug_smiles.csv").set_index("drug_id")["smiles"].to_dict()
    frame = pd.read_csv(RAW / "drugbank_train_fold0.reconstructed.csv", nrows=limit)
    return [(smiles[a], smiles[b]) for a, b in zip(frame["d1"], frame["d2"]) if a in smiles and b in smiles]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def batches(pairs, size):
    for start in range(0, len(pairs), size):
        yield pairs[start : start + size]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--original-pairs", type=int, default=500, help="pairs for the slow original-path baseline"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)

    pairs = load_pairs(args.pairs)
    unique = sorted({s for pair in pairs for s in pair})
    rows: list[tuple[str, int, float, str]] = []

    parse_time = timed(lambda: [Chem.MolFromSmiles(s) for s in unique])
    rows.append(("RDKit parse only (reference)", len(unique), len(unique) / parse_time, "mol/s"))

    featurizer = MoleculeFeaturizer()
    cold = timed(lambda: [featurizer(s) for s in unique])
    rows.append(("featurize unique molecules, cold", len(unique), len(unique) / cold, "mol/s"))
    warm = timed(lambda: [featurizer(s) for s in unique])
    rows.append(("featurize unique molecules, warm cache", len(unique), len(unique) / warm, "mol/s"))

    def uncached_pairs():
        for chunk in batches(pairs, args.batch_size):
            Batch.from_data_list([mol_to_graph(parse_molecule(s)) for pair in chunk for s in pair])

    no_cache = timed(uncached_pairs)
    rows.append(("pairs -> Batch, no cache (baseline)", len(pairs), len(pairs) / no_cache, "pairs/s"))

    def cached_pairs(feat: MoleculeFeaturizer):
        for chunk in batches(pairs, args.batch_size):
            Batch.from_data_list([feat(s) for pair in chunk for s in pair])

    fresh = MoleculeFeaturizer()
    cold_pairs = timed(lambda: cached_pairs(fresh))
    rows.append(("pairs -> Batch, cache cold", len(pairs), len(pairs) / cold_pairs, "pairs/s"))
    warm_pairs = timed(lambda: cached_pairs(fresh))
    rows.append(("pairs -> Batch, cache warm", len(pairs), len(pairs) / warm_pairs, "pairs/s"))

    _, processor = build_model("tiny")
    collator = MolTCDataCollator(processor)
    examples = [
        {
            "prompt": pair_prompt(a, b, DDI_QUESTION),
            "target": "#Drug1 may increase ... #Drug2.",
            "smiles_a": a,
            "smiles_b": b,
        }
        for a, b in pairs
    ]
    timed(lambda: [collator(chunk) for chunk in batches(examples, args.batch_size)])  # warm the caches
    collate = timed(lambda: [collator(chunk) for chunk in batches(examples, args.batch_size)])
    rows.append(
        ("SFT collator (tokenize + graphs + labels), warm", len(pairs), len(pairs) / collate, "pairs/s")
    )

    original = pairs[: args.original_pairs]
    folder = Path(tempfile.mkdtemp(prefix="moltc-original-"))
    try:

        def write_original():
            for index, (a, b) in enumerate(original):
                for name, smiles in (("graph1", a), ("graph2", b)):
                    (folder / name / str(index)).mkdir(parents=True)
                    graph = mol_to_graph(parse_molecule(smiles))
                    tensors = {key: graph[key] for key in ("x", "edge_index", "edge_attr")}
                    torch.save(tensors, folder / name / str(index) / "graph_data.pt")

        write = timed(write_original)
        rows.append(
            (
                "original MolTC: write folder per pair (baseline)",
                len(original),
                len(original) / write,
                "pairs/s",
            )
        )

        def read_original():
            for chunk in batches(list(range(len(original))), args.batch_size):
                graphs = [
                    Data(**torch.load(folder / name / str(i) / "graph_data.pt", weights_only=True))
                    for i in chunk
                    for name in ("graph1", "graph2")
                ]
                Batch.from_data_list(graphs)

        read = timed(read_original)
        rows.append(
            (
                "original MolTC: torch.load per pair + batch (baseline)",
                len(original),
                len(original) / read,
                "pairs/s",
            )
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    baseline = len(pairs) / no_cache
    print(
        f"\nDrugBank pairs: {len(pairs)}, unique drugs: {len(unique)}, batch size {args.batch_size}, 1 torch thread\n"
    )
    print(f"{'path':<58}{'items':>8}{'rate':>12}  unit     x no-cache")
    for name, count, rate, unit in rows:
        ratio = f"{rate / baseline:8.2f}x" if unit == "pairs/s" else ""
        print(f"{name:<58}{count:>8}{rate:>12,.0f}  {unit:<8}{ratio}")


if __name__ == "__main__":
    main()
