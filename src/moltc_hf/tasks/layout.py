"""Where each file of a MoT-instructions folder lives (a hub dataset repo), for the builder, the card and readers.

One module owns the layout so the writer (`builder`), the card's YAML ``configs`` (`card`) and the readers
(`tasks.read_classes`, training's ``load_split``) cannot disagree about paths.
"""

from __future__ import annotations

CARD_FILE = "README.md"
REJECTS_FILE = "rejects.parquet"
CLASSES_FILE = "classes.json"  # config -> class sentences (0-based ids) for classification configs
RAW_DIR_ENV = "MOLTC_RAW_DIR"  # the default folder of the public raw datasets


TASK_FILE = "task.json"  # per user config: its task definition and the file it was built from


def data_file(config: str, split: str) -> str:
    return f"data/{config}/{split}-00000-of-00001.parquet"


def task_file(config: str) -> str:
    """A user config's task definition + provenance, beside its parquet files (travels with the config)."""
    return f"data/{config}/{TASK_FILE}"


__all__ = ["CARD_FILE", "CLASSES_FILE", "RAW_DIR_ENV", "REJECTS_FILE", "TASK_FILE", "data_file", "task_file"]
