"""Shared fixtures. Tests are offline by construction and use real components at tiny sizes."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)  # two xdist workers on two cores: one thread each avoids stalls

REPO_ROOT = Path(__file__).resolve().parents[1]
RAW_DATA = (REPO_ROOT.parent / "shared" / "data" / "raw").resolve()


@pytest.fixture(scope="session")
def raw_dir() -> Path:
    if not RAW_DATA.is_dir():
        pytest.skip(f"shared raw data not found at {RAW_DATA}")
    return RAW_DATA


@pytest.fixture()
def tiny():
    """A fresh tiny model + processor (seeded, so identical across tests)."""
    from moltc_hf import build_model

    return build_model("tiny", seed=0)


@pytest.fixture()
def no_moltc_debug(monkeypatch):
    """CLI tests read the one-line error; ``MOLTC_DEBUG`` in the environment would turn it into a traceback."""
    monkeypatch.delenv("MOLTC_DEBUG", raising=False)


def save_tiny_model(folder: Path, task: str | None = "ddi_binary") -> Path:
    """A fresh tiny model saved with plain ``save_pretrained`` (``task``: recorded as `moltc train` records it;
    ``None``: a folder that records no task, as a plain Trainer or a conversion leaves it)."""
    from moltc_hf import build_model
    from moltc_hf.pipeline import set_task_defaults

    model, processor = build_model("tiny", seed=0)
    if task is not None:
        set_task_defaults(model.config, task=task, tasks=[task])
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def fresh_python(code: str, *args: str, cwd: Path, timeout: int = 300, **env: str) -> dict | list:
    """``python -c code *args`` in a new interpreter, offline and single-threaded (``env``: more variables),
    the way a user's own script runs; asserts it succeeded and returns the JSON of its last output line."""
    import json
    import os
    import subprocess
    import sys

    environment = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def load_benchmark(name: str):
    """A script of ``benchmarks/`` as a module (they are scripts, not a package): tests check what they reuse."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def solvation_rows(pairs) -> list[dict]:
    """Training rows of (solvent, solute, ΔG) triples, written with the exact MolTC templates."""
    from moltc_hf.tasks.templates import SOLVATION_QUESTION, pair_prompt, solvation_target

    return [
        {
            "prompt": pair_prompt(a, b, SOLVATION_QUESTION),
            "target": solvation_target(v),
            "smiles_a": a,
            "smiles_b": b,
        }
        for a, b, v in pairs
    ]


def tiny_lora_recipe(name: str, max_steps: int, training: dict | None = None, **recipe_keys):
    """A short LoRA fine-tuning `Recipe` (untied projectors, no checkpoints, log every step) for training-path
    tests; ``recipe_keys`` and ``training`` add to it or override it."""
    from moltc_hf.training import Recipe

    return Recipe.from_dict(
        {
            "name": name,
            "stage": "finetune",
            "dataset_config": "x",
            "lora": {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0},
            "untie_projectors": True,
            **recipe_keys,
            "training": {
                **(training or {}),
                "per_device_train_batch_size": 4,
                "max_steps": max_steps,
                "logging_steps": 1,
                "save_strategy": "no",
                "disable_tqdm": True,
                "learning_rate": 1e-3,
                "warmup_steps": 0,
            },
        }
    )
