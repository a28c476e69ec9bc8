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
