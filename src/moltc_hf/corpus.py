"""Unlabelled molecule corpora for pretraining, read as a stream: the MOSES sets (1.6 M drug-like ZINC molecules).

The graph encoder's self-supervised pretraining (`moltc_hf.training.graph_pretrain`) and the MOSES property
pretraining source (`moltc build-dataset --source moses`) both read SMILES one line at a time from the gzipped
files, so 1.6 M molecules never sit in memory as graphs (a seeded shuffle buffer gives a random order in bounded
memory). The files are found in, in order: the folder given (``--raw-dir``), ``$MOLTC_RAW_DIR``, each of them
holding ``MOSES/<file>`` or ``<file>`` or a ``molsets-*.whl``; a path to the wheel itself also works. The wheel
is how a user gets the corpus: ``pip download molsets==0.3.1 --no-deps`` (the files are zip members of it).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MOSES_FILES = {"train": "train.csv.gz", "test": "test.csv.gz", "test_scaffolds": "test_scaffolds.csv.gz"}
MOSES_WHEEL_MEMBER = "moses/dataset/data/{file}"
MOSES_LICENSE = "MIT (molsets 0.3.1, data included); molecules from ZINC Clean Leads"
MOSES_CITATION = "Polykovskiy et al., Front. Pharmacol. 11, 565644 (2020) (MOSES)"
MOSES_HOW_TO_GET = "pip download molsets==0.3.1 --no-deps  (then --raw-dir <folder holding the wheel>)"


@dataclass(frozen=True)
class CorpusFile:
    """One gzipped SMILES file: a plain path, or a member of a zip (the molsets wheel)."""

    path: Path
    member: str | None = None

    def open_bytes(self) -> io.BufferedIOBase:
        """The compressed bytes (the file, or the member read out of the zip)."""
        if self.member is None:
            return open(self.path, "rb")
        archive = zipfile.ZipFile(self.path)
        return archive.open(self.member)

    def open_text(self) -> io.TextIOBase:
        return io.TextIOWrapper(gzip.GzipFile(fileobj=self.open_bytes()), encoding="utf-8")

    def describe(self) -> str:
        return f"{self.path}" + (f"!{self.member}" if self.member else "")

    def sha256(self) -> str:
        """Of the compressed bytes (the figure SOURCES.md and the wheel's RECORD give for the MOSES files)."""
        digest = hashlib.sha256()
        with self.open_bytes() as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()


def find_moses_file(split: str = "train", raw_dir: str | os.PathLike | None = None) -> CorpusFile:
    """Where the MOSES ``split`` file is (see the module docstring for the search order)."""
    if split not in MOSES_FILES:
        raise ValueError(f"unknown MOSES split {split!r}; choose from {sorted(MOSES_FILES)}")
    name = MOSES_FILES[split]
    places = [Path(p) for p in (raw_dir, os.environ.get("MOLTC_RAW_DIR")) if p]
    for place in places:
        if place.is_file() and place.suffix == ".whl":
            return _wheel_member(place, name)
        for candidate in (place / "MOSES" / name, place / name):
            if candidate.is_file():
                return CorpusFile(candidate)
        wheels = sorted(place.glob("molsets-*.whl")) if place.is_dir() else []
        if wheels:
            return _wheel_member(wheels[-1], name)
    searched = ", ".join(str(p) for p in places) or "nothing (no --raw-dir, no $MOLTC_RAW_DIR)"
    raise FileNotFoundError(
        f"MOSES {name} not found; searched {searched} for MOSES/{name}, {name} or molsets-*.whl. "
        f"Get it with: {MOSES_HOW_TO_GET}"
    )


def _wheel_member(wheel: Path, name: str) -> CorpusFile:
    member = MOSES_WHEEL_MEMBER.format(file=name)
    with zipfile.ZipFile(wheel) as archive:
        if member not in archive.namelist():
            raise FileNotFoundError(f"{wheel} has no member {member} (is it the molsets 0.3.1 wheel?)")
    return CorpusFile(wheel, member)


def iter_smiles(corpus: CorpusFile, *, limit: int | None = None) -> Iterator[tuple[int, str]]:
    """``(line number, SMILES)`` in file order; the ``SMILES`` header line is skipped, blank lines too."""
    with corpus.open_text() as handle:
        count = 0
        for number, line in enumerate(handle, start=1):
            text = line.strip().split(",")[0]
            if not text or (number == 1 and text.upper() == "SMILES"):
                continue
            yield number, text
            count += 1
            if limit is not None and count >= limit:
                return


def shuffled_stream(
    corpus: CorpusFile, *, seed: int, buffer_size: int = 20_000, limit: int | None = None
) -> Iterator[tuple[int, str]]:
    """Endless ``(line, SMILES)`` stream: epoch after epoch of the file (or its first ``limit`` molecules), each
    in a seeded shuffle-buffer order. Same seed, same sequence: resuming replays it and skips what was used."""
    epoch = 0
    while True:
        rng = random.Random(f"{seed}:{epoch}")
        buffer: list[tuple[int, str]] = []
        for item in iter_smiles(corpus, limit=limit):
            if len(buffer) < buffer_size:
                buffer.append(item)
                continue
            index = rng.randrange(buffer_size)
            yield buffer[index]
            buffer[index] = item
        rng.shuffle(buffer)
        if not buffer:
            raise ValueError(f"{corpus.describe()}: no molecules")
        yield from buffer
        epoch += 1


def reservoir_sample(corpus: CorpusFile, n: int, *, seed: int) -> list[tuple[int, str]]:
    """A seeded uniform sample of ``n`` molecules of the whole file, in one pass and ``O(n)`` memory."""
    rng = random.Random(seed)
    sample: list[tuple[int, str]] = []
    for seen, item in enumerate(iter_smiles(corpus)):
        if seen < n:
            sample.append(item)
        else:
            index = rng.randrange(seen + 1)
            if index < n:
                sample[index] = item
    return sorted(sample)


__all__ = [
    "MOSES_CITATION",
    "MOSES_FILES",
    "MOSES_HOW_TO_GET",
    "MOSES_LICENSE",
    "CorpusFile",
    "find_moses_file",
    "iter_smiles",
    "reservoir_sample",
    "shuffled_stream",
]
