"""Hostile-input fuzzing of `moltc predict` and the pipeline, plus kill -9 / resume and input-size memory checks.

The long version of ``tests/integration/test_robustness.py``: every generated bad SMILES must end as a prediction or a
reject (predict) or as an `InvalidMoleculeError` / an answer (pipeline), never a hang or a traceback.

    python benchmarks/fuzz.py                       # >= 1,000 bad SMILES through predict (CSV + parquet) and the pipeline
    python benchmarks/fuzz.py --kills 5             # + kill -9 predict / build-dataset / train at random points, resume
    python benchmarks/fuzz.py --memory 10000 100000 # + peak RSS of predict on that many pairs

Prints one line per check and a JSON summary; exits 1 when any check fails.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw"
VALID = ["CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "OCCO", "CCN(CC)CC"]
ALPHABET = list("CNOSPFIBrcnos()[]=#@+-\\/%.:*0123456789Hl") + ["Cl", "Br", "[nH]", "[C@@H]", "%10", "%99"]


def predict_args(model, source, output) -> list[str]:
    """``moltc predict`` arguments for one input file."""
    return ["predict", "--model", str(model), "--input", str(source), "--output", str(output)]


def ring_explosions(rng: random.Random) -> list[str]:
    """Fused ring systems whose ring perception RDKit cannot finish (and their near misses)."""
    out = []
    for n in range(18, 64, 2):
        out.append("C12" + "C3C4" * n + "C1C2")
        out.append("[Si]12" + "[Si]3[Si]4" * n + "[Si]1[Si]2")
    for n in range(8, 40, 2):
        out.append("*123" + "*4*5*6" * n + "*1*2*3")
    for width in (3, 4, 5, 6):
        opens = "".join(f"%{10 + i}" for i in range(width))
        for n in (6, 10, 20):
            out.append(
                "*"
                + "".join(str(i + 1) for i in range(width))
                + ("*" + opens) * (2 * n)
                + "".join(f"*{i + 1}" for i in range(width))
            )
    for _ in range(40):
        n = rng.randint(20, 60)
        out.append("C12" + "".join(rng.choice(["C3C4", "C34", "C3", "C4"]) for _ in range(n)) + "C1C2")
    return out


def syntax_garbage(rng: random.Random, count: int) -> list[str]:
    out = []
    for _ in range(count):
        length = rng.choice([1, 2, 5, 20, 80, 300])
        out.append("".join(rng.choice(ALPHABET) for _ in range(length)))
    return out


def mutated_drugs(rng: random.Random, count: int) -> list[str]:
    drugs = VALID
    path = RAW / "DrugBank-DDI" / "ssi-ddi" / "drug_smiles.csv"
    if path.is_file():
        drugs = pd.read_csv(path)["smiles"].tolist()
    out = []
    for _ in range(count):
        s = rng.choice(drugs)
        kind = rng.randrange(6)
        if kind == 0:
            out.append(s[: rng.randint(1, max(1, len(s) - 1))])  # truncated
        elif kind == 1:
            i = rng.randrange(len(s))
            out.append(s[:i] + rng.choice(["(", ")", "[", "]", "1", "%", "=", "#"]) + s[i:])
        elif kind == 2:
            out.append(s.replace("C", "c", rng.randint(1, 5)))  # bad aromaticity
        elif kind == 3:
            out.append(".".join([s] * rng.randint(20, 60)))  # many fragments, large
        elif kind == 4:
            i = rng.randrange(len(s))
            out.append(s[:i] + rng.choice(["\x00", "\r", "\n", "\t", '"', ",", "é", "😀", "\\x00"]) + s[i:])
        else:
            out.append(s * rng.randint(5, 30))  # long
    return out


def fixed_cases() -> list[object]:
    return [
        "",
        " ",
        "\t",
        "nan",
        "None",
        "C" * 6000,
        "C" * 1200,
        "C(C)(C)(C)(C)C",
        "[C+++++++++]",
        "[999C]",
        "[Xx]",
        "c1cccc1",
        "C1CC",
        "C%99",
        "%",
        "((((C))))",
        "C" * 900,
        "[*]" * 50,
        "*" * 2000,
        "1234",
        "C=C=C=C=C" * 50,
        "[H][H]",
        "[2H]" * 30,
        "C1" * 200,
        "[Og]",
        "[U@OH30]",
        "C\\C=C/C" * 20,
        "C.C" * 500,
        "C1CCCCC1" * 300,
        "c1ccc2c(c1)c1ccccc1c1ccccc21" * 5,
        "CC" + "(C)" * 500,
        "[n]1cccc1",
        "C#C#C",
    ]


def bad_smiles(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = ring_explosions(rng) + fixed_cases()
    rest = max(0, count - len(out))
    out += syntax_garbage(rng, rest // 2) + mutated_drugs(rng, rest - rest // 2)
    return [str(s) for s in out]


def tiny_model_dir(root: Path) -> Path:
    from moltc_hf import build_model
    from moltc_hf.pipeline import set_task_defaults

    folder = root / "model"
    if not (folder / "config.json").is_file():
        model, processor = build_model("tiny", seed=0)
        set_task_defaults(
            model.config, task="ddi_binary", tasks=["ddi_binary"]
        )  # as `moltc train` records it
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
    return folder


def _timed_moltc(args: list[str], timeout: float) -> float:
    """Seconds one uninterrupted run takes: the window in which the kills below land."""
    start = time.perf_counter()
    moltc(args, timeout)
    return time.perf_counter() - start


def moltc(args: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("MOLTC_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "moltc_hf.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        **kwargs,
    )


def check_predict(model: Path, smiles: list[str], root: Path, suffix: str, timeout: float) -> dict:
    """Bad SMILES interleaved with valid ones through ``moltc predict``: rows in = predictions + rejects."""
    rng = random.Random(1)
    rows = []
    for s in smiles:
        rows.append((s, rng.choice(VALID)) if rng.random() < 0.5 else (rng.choice(VALID), s))
        if rng.random() < 0.3:
            rows.append((rng.choice(VALID), rng.choice(VALID)))
    frame = pd.DataFrame(rows, columns=["smiles_a", "smiles_b"]).assign(
        tag=[f"r{i}" for i in range(len(rows))]
    )
    source = root / f"bad.{suffix}"
    # every value quoted: pandas' default leaves a bare CR unquoted, a file `moltc predict` refuses (see below)
    frame.to_csv(source, index=False, quoting=csv.QUOTE_ALL) if suffix == "csv" else frame.to_parquet(source)
    output = root / f"bad-{suffix}.parquet"
    start = time.perf_counter()
    try:
        done = moltc(
            [
                *predict_args(model, source, str(output)),
                "--device",
                "cpu",
            ],
            timeout,
        )
    except subprocess.TimeoutExpired:
        return {"check": f"predict {suffix}", "ok": False, "hang": True, "rows": len(rows)}
    seconds = time.perf_counter() - start
    result = {"check": f"predict {suffix}", "rows_in": len(rows), "seconds": round(seconds, 1), "hang": False}
    result["traceback"] = "Traceback" in done.stderr
    if done.returncode != 0:
        return result | {"ok": False, "rc": done.returncode, "stderr": done.stderr[-1500:]}
    expected = len(rows)
    predictions = pd.read_parquet(output)
    rejects = pd.read_parquet(output.with_name(f"{output.stem}.rejects.parquet"))
    rejected = set(map(int, rejects["row"]))
    predicted = set(predictions["row_id"])
    result |= {"predictions": len(predictions), "rejected_rows": len(rejected), "expected_rows": expected}
    covered = predicted | rejected
    result["ok"] = (
        not result["traceback"]
        and not predicted & rejected
        and len(predictions) == len(predicted)
        and covered == set(range(expected))
        and expected == len(rows)
    )
    return result


def check_unquoted_cr(model: Path, root: Path) -> dict:
    """A CSV whose writer left a bare CR unquoted: refused with its line (rows would not be the file's rows)."""
    source = root / "bare-cr.csv"
    source.write_bytes(b"smiles_a,smiles_b\nCCO,CCN\nC\rC,O\nCC,N\n")
    done = moltc(
        ["predict", "--model", str(model), "--input", str(source), "--output", str(root / "cr.parquet")], 600
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("moltc ")]
    ok = done.returncode == 2 and "Traceback" not in done.stderr and len(lines) == 1 and "line 3" in lines[0]
    return {"check": "bare CR refused", "ok": ok, "message": lines[-1] if lines else done.stderr[-300:]}


def check_pipeline(model: Path, smiles: list[str], per_call_limit: float) -> dict:
    """Each bad SMILES through the transformers pipeline: an answer or `InvalidMoleculeError`, quickly."""
    from transformers import pipeline

    from moltc_hf.featurization import InvalidMoleculeError

    pipe = pipeline("molecule-pair-interaction", model=str(model), device="cpu", trust_remote_code=True)
    outcomes = {"answered": 0, "invalid": 0, "other_exception": 0}
    slowest, slowest_input, examples = 0.0, "", []
    for s in smiles:
        start = time.perf_counter()
        try:
            pipe({"smiles_a": s, "smiles_b": "CCO"}, task="ddi_binary")
            outcomes["answered"] += 1
        except InvalidMoleculeError:
            outcomes["invalid"] += 1
        except Exception as err:  # noqa: BLE001 - counting what escapes is the point
            outcomes["other_exception"] += 1
            examples.append(f"{type(err).__name__}: {str(err)[:120]} <- {s[:60]!r}")
        if time.perf_counter() - start > slowest:
            slowest, slowest_input = time.perf_counter() - start, s[:60]
    ok = outcomes["other_exception"] == 0 and slowest < per_call_limit
    return {
        "check": "pipeline",
        "ok": ok,
        "inputs": len(smiles),
        **outcomes,
        "slowest_s": round(slowest, 3),
        "slowest_input": slowest_input,
        "examples": examples[:5],
    }


def _kill_at_random(args: list[str], rng: random.Random, max_delay: float) -> int:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "moltc_hf.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(rng.uniform(0, max_delay))
    process.send_signal(signal.SIGKILL)
    return process.wait()


def check_kills(model: Path, root: Path, kills: int, seed: int):
    """kill -9 predict / build-dataset / train at random points; the rerun must match an uninterrupted run."""
    rng = random.Random(seed)
    pairs = pd.DataFrame([(a, b) for a in VALID for b in VALID] * 4, columns=["smiles_a", "smiles_b"])
    source = root / "pairs.parquet"
    pairs.to_parquet(source)
    base = ["predict", "--model", str(model), "--input", str(source), "--device", "cpu", "--part-size", "16"]
    reference = root / "predict-ref.parquet"
    start = time.perf_counter()
    moltc([*base, "--output", str(reference)], 900)
    duration = time.perf_counter() - start
    for k in range(kills):
        out = root / f"predict-{k}.parquet"
        _kill_at_random([*base, "--output", str(out)], rng, duration)
        done = moltc([*base, "--output", str(out), "--resume"], 900)
        same = done.returncode == 0 and pd.read_parquet(out).equals(pd.read_parquet(reference))
        yield {"check": f"kill predict #{k}", "ok": same}

    build = [
        "build-dataset",
        "--source",
        "embedded",
        "--limit",
        "200",
        "--pretrain-pairs",
        "200",
        "--no-progress",
    ]
    moltc([*build, "--out", str(root / "data-ref")], 900)
    duration = _timed_moltc([*build, "--out", str(root / "data-timing")], 900)
    for k in range(kills):
        out = root / f"data-{k}"
        _kill_at_random([*build, "--out", str(out)], rng, duration)
        partial = out.exists() and not (out / "README.md").is_file()
        moltc([*build, "--out", str(out)], 900)
        same = _tree(out) == _tree(root / "data-ref")
        yield {"check": f"kill build-dataset #{k}", "ok": same and not partial}

    train = ["train", "--recipe", "tiny-finetune", "--dataset", str(root / "data-ref"), "--max-steps", "12"]
    train_file = root / "tiny-finetune.yaml"
    from moltc_hf.training.recipe import RECIPES_DIR

    text = (RECIPES_DIR / "tiny-finetune.yaml").read_text().replace("save_steps: 20", "save_steps: 3")
    train_file.write_text(text)
    train[2] = str(train_file)
    moltc([*train, "--output-dir", str(root / "train-ref")], 1800)
    reference_result = json.loads((root / "train-ref" / "train_result.json").read_text())
    duration = _timed_moltc([*train, "--output-dir", str(root / "train-timing")], 1800)
    for k in range(kills):
        out = root / f"train-{k}"
        _kill_at_random([*train, "--output-dir", str(out)], rng, duration)
        done = moltc([*train, "--output-dir", str(out), "--resume"], 1800)
        ok = done.returncode == 0
        if ok:
            got = json.loads((out / "train_result.json").read_text())
            losses = [e["loss"] for e in got["log_history"] if "loss" in e]
            want = [e["loss"] for e in reference_result["log_history"] if "loss" in e]
            ok = got["global_step"] == reference_result["global_step"] and _close(losses[-1:], want[-1:])
        yield {"check": f"kill train #{k}", "ok": ok, "stderr": "" if ok else done.stderr[-800:]}


def _close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= 1e-4 * max(1.0, abs(y)) for x, y in zip(a, b))


def _tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def check_memory(model: Path, root: Path, sizes: list[int]) -> list[dict]:
    """Peak RSS of ``moltc predict`` (its own process) on inputs of different sizes: flat when streaming."""
    drugs = VALID
    path = RAW / "DrugBank-DDI" / "ssi-ddi" / "drug_smiles.csv"
    if path.is_file():
        drugs = pd.read_csv(path)["smiles"].tolist()[:300]
    rng = random.Random(0)
    results = []
    for size in sizes:
        frame = pd.DataFrame({"smiles_a": rng.choices(drugs, k=size), "smiles_b": rng.choices(drugs, k=size)})
        frame["note"] = [f"pair {i} " + "x" * 40 for i in range(size)]
        source = root / f"mem-{size}.csv"
        frame.to_csv(source, index=False)
        code = (
            "import resource, sys; from moltc_hf.cli import main; rc = main(sys.argv[1:]); "
            "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)"
        )
        args = [
            *predict_args(model, source, str(root / f"mem-{size}.parquet")),
        ]
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", code, *args, "--device", "cpu", "--batch-size", "64"],
            capture_output=True,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "2"},
            timeout=7200,
        )
        peak = [int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("MAXRSS")]
        results.append(
            {
                "check": f"memory {size} pairs",
                "ok": done.returncode == 0,
                "peak_rss_mb": round(peak[0] / 1024) if peak else None,
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
    peaks = [r["peak_rss_mb"] for r in results if r["peak_rss_mb"]]
    if len(peaks) > 1:
        results.append({"check": "memory flat", "ok": max(peaks) <= 1.10 * min(peaks), "peaks_mb": peaks})
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--count", type=int, default=1200, help="bad SMILES to generate (>= 1000 for the claim)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds a predict run may take before it is a hang"
    )
    parser.add_argument(
        "--per-call-limit", type=float, default=5.0, help="seconds one pipeline call may take"
    )
    parser.add_argument("--kills", type=int, default=0, help="kill -9 rounds per command (issue 16: 5)")
    parser.add_argument("--memory", type=int, nargs="*", default=[], help="input sizes for the memory check")
    parser.add_argument("--skip-fuzz", action="store_true", help="only the kill / memory checks")
    parser.add_argument("--work-dir", default=None, help="keep files here (default: a temporary folder)")
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.work_dir or scratch)
        root.mkdir(parents=True, exist_ok=True)
        model = tiny_model_dir(root)
        results = []
        if not args.skip_fuzz:
            smiles = bad_smiles(args.count, args.seed)
            print(
                f"{len(smiles)} bad SMILES ({len(ring_explosions(random.Random(args.seed)))} ring explosions)",
                flush=True,
            )
            for suffix in ("csv", "parquet"):
                results.append(check_predict(model, smiles, root, suffix, args.timeout))
                print(json.dumps(results[-1]), flush=True)
            results.append(check_unquoted_cr(model, root))
            print(json.dumps(results[-1]), flush=True)
            results.append(check_pipeline(model, smiles, args.per_call_limit))
            print(json.dumps(results[-1]), flush=True)
        if args.kills:
            for result in check_kills(model, root, args.kills, args.seed):
                results.append(result)
                print(json.dumps(result), flush=True)
        if args.memory:
            for result in check_memory(model, root, args.memory):
                results.append(result)
                print(json.dumps(result), flush=True)
    failed = [r["check"] for r in results if not r.get("ok")]
    print(json.dumps({"checks": len(results), "failed": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
