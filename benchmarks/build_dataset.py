"""Rows/s of `build_dataset` on full DrugBank (191,808 triples) and CombiSolv-QM 100w (190,000 pairs).

    python benchmarks/build_dataset.py [--raw-dir DIR] [--sources drugbank,combisolv-qm]

For each source: a cold build (empty molecule cache: every unique SMILES is canonicalised and described once), a
warm build (molecules cached, as when several configs/seeds are built in one process), and a baseline measured in
the same run: canonicalising + describing both molecules per *row* with no cache (on a slice, extrapolated as a
rate). Peak memory is the process's max RSS (cumulative over the sources), next to the RSS after imports.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import torch

from moltc_hf.cli.build_dataset import default_raw_dir
from moltc_hf.featurization import canonical_smiles, parse_molecule
from moltc_hf.instructions.builder import MoleculeCache, build_dataset, read_source
from moltc_hf.tasks import templates
from moltc_hf.tasks.properties import describe_molecule, molecule_properties

torch.set_num_threads(1)


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def per_row_baseline(source: str, raw_dir: Path, rows: int) -> float:
    """No cache: each row parses, canonicalises and describes both molecules (the obvious loop)."""
    frame = read_source(source, raw_dir, limit=rows, embedded=False, seed=0, pretrain_pairs=0).frame.head(
        rows
    )
    start = time.perf_counter()
    for a, b in zip(frame["smiles_a"], frame["smiles_b"]):
        a, b = canonical_smiles(a), canonical_smiles(b)
        d_a = molecule_properties(parse_molecule(a)).describe()
        d_b = molecule_properties(parse_molecule(b)).describe()
        templates.pair_prompt(a, b, templates.DDI_QUESTION)
        templates.description_pair_target(d_a, d_b)
    return len(frame) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", type=Path, default=default_raw_dir())
    parser.add_argument("--sources", default="drugbank,combisolv-qm")
    parser.add_argument("--baseline-rows", type=int, default=2000)
    args = parser.parse_args()
    print(f"max RSS after imports: {max_rss_mib():,.0f} MiB (torch, RDKit, pandas, pyarrow)")
    print(
        f"{'source':<14}{'rows':>9}{'molecules':>11}{'cold rows/s':>13}{'warm rows/s':>13}"
        f"{'baseline rows/s':>17}{'warm/baseline':>15}{'max RSS MiB':>13}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for source in args.sources.split(","):
            describe_molecule.cache_clear()
            cache = MoleculeCache()
            cold = build_dataset(
                source, Path(tmp) / "cold", raw_dir=args.raw_dir, cache=cache, progress=False
            )
            warm = build_dataset(
                source, Path(tmp) / "warm", raw_dir=args.raw_dir, cache=cache, progress=False
            )
            baseline = per_row_baseline(source, args.raw_dir, args.baseline_rows)
            rows, stats = cold.rows, cold.sources[source]
            print(
                f"{source:<14}{rows:>9}{stats.molecules:>11}{rows / cold.seconds:>13,.0f}"
                f"{rows / warm.seconds:>13,.0f}{baseline:>17,.0f}{rows / warm.seconds / baseline:>14.1f}x"
                f"{max_rss_mib():>13,.0f}"
            )


if __name__ == "__main__":
    main()
