"""Resident memory of ``moltc predict`` against the number of rows: flat when the input is streamed and the
caches are bounded (issue 28: 624 -> 797 MB between 11 s and 111 s of a 100k-row run).

Each size runs ``moltc predict`` (tiny model, CPU, ``--batch-size 64``) in its own process on a CSV of that
many pairs; the parent samples the child's RSS (``/proc/<pid>/status`` VmRSS) every ``--interval`` seconds.
Per size it prints the peak, the RSS at 25 / 50 / 75 / 100 % of the run's samples, the growth over the second
half of the run (RSS at the end / RSS at 50 %) and rows per second; at the end the ratio of each size's peak
to the smallest size's peak in the same run (flat: <= 1.10).

Molecules (``--library``):
  distinct   every row brings two molecules never seen before (a C/N/O chain per row number): the worst case
             for the caches, which must stop growing at their bounds
  drugbank   pairs drawn (seeded) from the DrugBank drugs of the shared raw data (~1,700): a realistic screen

    python benchmarks/predict_memory.py --sizes 10000 100000 1000000 [--library distinct drugbank]
    python benchmarks/predict_memory.py --sizes 2000 20000 --library distinct   # a few minutes on 2 loaded cores
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw"


def distinct_smiles(count: int, offset: int = 0) -> list[str]:
    """``count`` valid molecules, one per number: a carbon, the base-3 digits of i as a C/N/O chain, a carbon."""
    out = []
    for i in range(offset, offset + count):
        chain, n = "", i + 1
        while n:
            n, digit = divmod(n, 3)
            chain += "CNO"[digit]
        out.append("C" + chain + "C")
    return out


def write_pairs(path: Path, size: int, library: str) -> None:
    """A CSV of ``size`` pairs (+ a 50-character note column, carried to the output), written in chunks."""
    rng = random.Random(0)
    drugs = None
    if library == "drugbank":
        source = RAW / "DrugBank-DDI" / "ssi-ddi" / "drug_smiles.csv"
        drugs = pd.read_csv(source)["smiles"].dropna().tolist()
    chunk = 100_000
    for start in range(0, size, chunk):
        rows = min(chunk, size - start)
        if drugs is None:
            a, b = distinct_smiles(rows, 2 * start), distinct_smiles(rows, 2 * start + rows)
        else:
            a, b = rng.choices(drugs, k=rows), rng.choices(drugs, k=rows)
        frame = pd.DataFrame({"smiles_a": a, "smiles_b": b})
        frame["note"] = [f"pair {i} " + "x" * 40 for i in range(start, start + rows)]
        frame.to_csv(path, mode="w" if start == 0 else "a", header=start == 0, index=False)


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def run_predict(model: Path, source: Path, output: Path, interval: float, threads: int) -> dict:
    command = [sys.executable, "-m", "moltc_hf.cli", "predict", "--model", str(model), "--input", str(source)]
    command += ["--output", str(output), "--device", "cpu", "--batch-size", "64", "--task", "ddi_binary"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples = []
    while process.poll() is None:
        value = rss_kb(process.pid)
        if value:
            samples.append(value)
        time.sleep(interval)
    stderr = process.stderr.read()
    seconds = time.perf_counter() - start
    if process.returncode != 0 or not samples:
        raise SystemExit(f"predict failed (rc {process.returncode}):\n{stderr[-2000:]}")

    def at(fraction: float) -> int:
        return round(samples[min(len(samples) - 1, int(fraction * len(samples)))] / 1024)

    return {
        "peak_mb": round(max(samples) / 1024),
        "rss_25_mb": at(0.25),
        "rss_50_mb": at(0.5),
        "rss_75_mb": at(0.75),
        "rss_end_mb": at(1.0),
        "second_half_growth": round(samples[-1] / samples[len(samples) // 2], 3),
        "seconds": round(seconds, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--library", nargs="+", choices=("distinct", "drugbank"), default=["distinct"])
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between RSS samples")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the predict process")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()

    from moltc_hf import build_model

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model, processor = build_model("tiny", seed=0)
        model.save_pretrained(root / "tiny")
        processor.save_pretrained(root / "tiny")
        for library in args.library:
            peaks = {}
            for size in args.sizes:
                source = root / f"{library}-{size}.csv"
                write_pairs(source, size, library)
                result = run_predict(
                    root / "tiny", source, root / f"{library}-{size}.parquet", args.interval, args.threads
                )
                result |= {"library": library, "rows": size, "rows_per_s": round(size / result["seconds"])}
                peaks[size] = result["peak_mb"]
                result["peak_vs_smallest"] = round(result["peak_mb"] / peaks[min(peaks)], 3)
                rows.append(result)
                print(json.dumps(result), flush=True)
                source.unlink()
                (root / f"{library}-{size}.parquet").unlink()
                (root / f"{library}-{size}.rejects.parquet").unlink(missing_ok=True)
    columns = ["library", "rows", "peak_mb", "rss_25_mb", "rss_50_mb", "rss_75_mb", "rss_end_mb"]
    columns += ["second_half_growth", "peak_vs_smallest", "seconds", "rows_per_s"]
    print()
    print(pd.DataFrame(rows)[columns].to_string(index=False))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
