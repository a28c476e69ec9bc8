"""Checks shared by the subcommands: option values at parse time, input/output paths and model folders.

Each check raises (``argparse.ArgumentTypeError`` for option types, ``ValueError`` otherwise) with a message
that names the option, path or file, so `moltc_hf.cli.main` prints one line instead of a traceback, and so
that a bad value is refused *before* any work: ``--limit 0`` used to write an empty file and exit 0, and
``--output`` equal to ``--input`` overwrote the input with parquet bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

DEVICE_PATTERN = re.compile(r"^(cpu|mps|(cuda|xpu)(:\d+)?)$")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLE_WEIGHT_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")


def positive_int(text: str) -> int:
    """argparse ``type`` for counts (``--limit``, ``--batch-size``, ``--num-beams``): an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse ``type`` for durations (``--minutes``): a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def device_name(text: str) -> str:
    """argparse ``type`` for ``--device``: ``cpu``, ``cuda``, ``cuda:N``, ``mps``, ``xpu[:N]``."""
    if not DEVICE_PATTERN.match(text):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; use cpu, cuda, cuda:N or mps")
    return text


def add_inference_arguments(parser) -> None:
    """``--dtype`` and ``--no-constrain-value`` of the inference commands (`inference.predict.inference_dtype`,
    `inference.constraints`)."""
    parser.add_argument(
        "--dtype",
        choices=["auto", "bfloat16", "float16", "float32"],
        default="auto",
        help="weights' dtype (default auto: bfloat16 on CUDA, float32 on CPU)",
    )
    parser.add_argument(
        "--no-constrain-value",
        action="store_true",
        help="regression: read the value greedy decoding wrote (default: decoded inside the answer's own interval)",
    )


def check_device(device: str | None) -> None:
    """A CUDA device must exist here (torch would otherwise fail deep inside ``.to``)."""
    if device is None or not device.startswith("cuda"):
        return
    import torch

    index = int(device.split(":")[1]) if ":" in device else 0
    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        raise ValueError(f"--device {device}: no such CUDA device here ({torch.cuda.device_count()} visible)")


def input_file(path: str | os.PathLike, option: str = "--input") -> Path:
    """An existing regular file (a folder or a missing path is named, not a pandas traceback)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path}: is a directory, expected a CSV or parquet file")
    if not path.is_file():
        raise FileNotFoundError(f"{option} {path}: no such file")
    return path


def output_file(path: str | os.PathLike, *inputs: str | os.PathLike, option: str = "--output") -> Path:
    """A writable file path: not a folder, not under a file, and not one of the ``inputs`` (data loss)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path}: is a directory, expected a file path")
    return _writable(path, inputs, option, "is the input file")


def output_folder(path: str | os.PathLike, *inputs: str | os.PathLike, option: str = "--out") -> Path:
    """A folder path that is not a file, not under a file and not one of the ``inputs``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path}: is a file, expected a folder")
    return _writable(path, inputs, option, "is also an input")


def _writable(path: Path, inputs, option: str, clash: str) -> Path:
    """``path`` unless a parent is a file or it is one of the ``inputs`` (then a one-line error)."""
    for parent in path.absolute().parents:
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"{option} {path}: {parent} is a file, not a folder")
    for other in inputs:
        if _same_path(path, other):
            raise ValueError(f"{option} {path}: {clash}; refusing to overwrite it")
    return path


def _same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    a, b = Path(a), Path(b)
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_model_folder(source: str | os.PathLike) -> None:
    """A local model folder must hold a readable ``config.json`` and safetensors weights.

    Hub ids (no such local path) are left to ``from_pretrained``. Pickle-only folders are refused: loading
    ``pytorch_model.bin`` would execute code from the file.
    """
    folder = Path(source)
    if not folder.exists():
        if str(source).startswith((".", "/", "~")) or str(source).count("/") > 1:
            raise FileNotFoundError(f"--model {source}: no such folder")
        return  # a hub id
    if not folder.is_dir():
        raise ValueError(f"--model {folder}: is a file, expected a saved model folder")
    config = folder / "config.json"
    if not config.is_file():
        raise ValueError(f"--model {folder}: not a model folder (no config.json)")
    try:
        json.loads(config.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"--model {folder}: config.json is not valid JSON ({err})") from None
    if (folder / "tokenizer_config.json").is_file() and not (folder / "tokenizer.json").is_file():
        # transformers would say "install sentencepiece or tiktoken", which is not the problem
        raise ValueError(f"--model {folder}: tokenizer.json is missing (the processor's tokenizer)")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        pickled = [name for name in PICKLE_WEIGHT_FILES if (folder / name).is_file()]
        if pickled:
            raise ValueError(
                f"--model {folder}: only pickle weights ({pickled[0]}); refusing to unpickle them. "
                "Convert them to model.safetensors first."
            )
        raise ValueError(f"--model {folder}: no weights (expected {WEIGHT_FILES[0]})")


def load_model(source: str | os.PathLike, device: str | None, dtype: str | None = None):
    """`load_for_inference` with a broken folder (config, weights, processor) reported as one line."""
    from safetensors import SafetensorError

    from ..inference.predict import load_for_inference

    check_device(device)
    check_model_folder(source)
    try:
        return load_for_inference(source, device=device, dtype=dtype)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError, SafetensorError) as err:
        if os.environ.get("MOLTC_DEBUG"):
            raise
        message = " ".join(str(err).split())[:400]
        raise ValueError(
            f"--model {source}: cannot load this model ({type(err).__name__}: {message})"
        ) from err
