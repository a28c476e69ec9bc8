"""Read one split of a MoT-instructions folder (or hub dataset) as a `datasets.Dataset`.

A folder that `build_dataset` wrote is read straight from its parquet files (`layout.data_file`), so what
is trained and evaluated is always what is on disk now: `datasets` keys the cache of a local folder by the
folder's *name* and its card, so two builds into folders of the same name (a smoke run and a full run, two
seeds) would otherwise serve the first build's rows to the second. Anything else (a hub id, a folder in
another layout) goes through ``load_dataset``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
from datasets import Dataset, load_dataset
from datasets.table import InMemoryTable

from ..tasks.layout import data_file
from ..tasks.registry import register_dataset_tasks


def load_split(dataset_dir: str | os.PathLike, config_name: str, split: str) -> Dataset | None:
    """One split of a dataset folder's config, or ``None`` when the config has no such split.

    A user config's task (``data/<config>/task.json``) is registered first, so its rows train and evaluate
    through the same `TaskSpec` in a process that did not build the folder.
    """
    folder = Path(dataset_dir)
    if folder.is_dir():
        register_dataset_tasks(folder, config_name)
    path = folder / data_file(config_name, split)
    if path.is_file():
        return Dataset(InMemoryTable(pq.read_table(path)))
    if path.parent.is_dir():  # our layout, and this config has no such split
        return None
    configs = local_configs(folder)
    if configs:  # our layout without this config: name the ones there (not `datasets`' BuilderConfig error)
        raise ValueError(
            f"dataset {folder} has no config {config_name!r}; its configs: {', '.join(configs)} "
            "(choose one with --config NAME, or config_name=...)"
        )
    return load_dataset(str(dataset_dir), config_name).get(split)


def local_configs(folder: str | os.PathLike) -> list[str]:
    """The configs of a `moltc build-dataset` folder (``data/<config>/*.parquet``); empty for anything else."""
    data = Path(folder) / "data"
    if not data.is_dir():
        return []
    return sorted(p.name for p in data.iterdir() if p.is_dir() and any(p.glob("*.parquet")))


__all__ = ["load_split", "local_configs"]
