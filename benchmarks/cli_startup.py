"""`moltc --help` wall time in a fresh process, against plain interpreter start-up measured in the same run.

Also every ``moltc <command> --help``, ``moltc --version`` and an argument error (``--limit 0``): all of them
are answered without importing torch (`moltc_cli.parse_without_the_package`); the issue-27 target is < 1 s.

Each command runs ``--repeats`` times in a new Python process (the first run of each is a warm-up that fills
the OS file cache and is not counted); the table prints the median wall time and its ratio to ``python -c
pass`` and to ``python -c "import torch"``. ``moltc --help`` runs the console script's entry point as
pyproject.toml declares it; ``python -m moltc_hf.cli --help`` is the package's own CLI module, which has to
import ``moltc_hf`` (and torch) first: what ``moltc --help`` cost before the entry point moved out.

    python benchmarks/cli_startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from moltc_cli import SUBCOMMANDS  # noqa: E402  (the command table; imports nothing heavy)


def console_entry() -> str:
    """``module:function`` of the ``moltc`` script in pyproject.toml (what ``pip install`` writes into bin/)."""
    found = re.search(r'^moltc\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    return found.group(1)  # (tomllib is Python 3.11+; the package supports 3.10)


def wall_seconds(command: list[str], repeats: int) -> list[float]:
    timings = []
    for index in range(repeats + 1):
        began = time.perf_counter()
        # an argument error exits 2 by design; anything else but 0 is a broken command
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if done.returncode not in (0, 2):
            raise RuntimeError(f"{command} exited {done.returncode}")
        if index:  # the first run only warms the file cache
            timings.append(time.perf_counter() - began)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    module, function = console_entry().split(":")
    script = f"import sys; from {module} import {function}; sys.exit({function}())"
    commands = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        'python -c "import torch" (baseline)': [sys.executable, "-c", "import torch"],
        f"moltc --help ({module}:{function})": [sys.executable, "-c", script, "--help"],
        "moltc --version": [sys.executable, "-c", script, "--version"],
        **{
            f"moltc {command} --help": [sys.executable, "-c", script, command, "--help"]
            for command in SUBCOMMANDS
        },
        "moltc predict --limit 0 (argument error)": [
            sys.executable,
            "-c",
            script,
            "predict",
            "--model",
            "m",
            "--input",
            "i.csv",
            "--output",
            "o.csv",
            "--limit",
            "0",
        ],  # fmt: skip
        "python -m moltc_hf.cli --help": [sys.executable, "-m", "moltc_hf.cli", "--help"],
    }
    medians = {name: statistics.median(wall_seconds(cmd, args.repeats)) for name, cmd in commands.items()}
    base, torch_import = list(medians.values())[:2]
    width = max(map(len, medians))
    print(f"fresh-process wall time, median of {args.repeats} (after one warm-up run each)\n")
    print(f"{'command':<{width}}  {'seconds':>8}  {'÷ python':>9}  {'÷ import torch':>14}")
    print("-" * (width + 37))
    for name, seconds in medians.items():
        print(f"{name:<{width}}  {seconds:>8.3f}  {seconds / base:>8.1f}x  {seconds / torch_import:>13.2f}x")


if __name__ == "__main__":
    main()
