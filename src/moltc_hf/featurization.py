# Checkpoint file: save_pretrained copies it beside the weights (auto_map), so it may import only the other
# checkpoint files (configuration_moltc, modeling_moltc, processing_moltc, featurization), relatively.
# They own the special-token strings (configuration_moltc.MOL_TOKEN, ...); the rest of moltc_hf imports them.
"""SMILES -> PyG graph with the original MolTC (pretrain-gnns) atom/bond scheme, plus validation and caching.

Atom features (2 integer columns, embeddings summed in the GIN):
    0. atomic number - 1 (H=0, C=5, N=6, O=7, ...); atoms outside 1..118 (e.g. the dummy ``*``) -> 118.
    1. chirality tag: 0 unspecified, 1 CW, 2 CCW. ``CHI_OTHER`` and the newer tags fall back to 0
       (the original indexed a 3-row table with 3 and crashed; docs/method.md §8.18).
Bond features (2 integer columns; every bond stored in both directions):
    0. bond type: 0 single, 1 double, 2 triple, 3 aromatic; anything else (dative, ...) falls back to 0.
    1. direction: 0 none, 1 end-up-right, 2 end-down-right; others fall back to 0.
Hydrogens stay implicit and charges are not features, exactly as RDKit parses them in the original.

Validation happens here, at the boundary: anything that is not a parseable, non-empty, reasonably sized
molecule raises `InvalidMoleculeError` naming the input (and the row when called from batch code).
Batch helpers never raise for bad molecules; they return ``(graphs, rejects)`` so callers can count
and write the rejects.
"""

from __future__ import annotations

import math
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast

import torch
from rdkit import Chem, RDLogger, rdBase


@contextmanager
def torch_geometric_quietly():
    """Around ``import torch_geometric...``: it scripts a few pooling helpers with `torch.jit.script`, which
    torch >= 2.10 reports as deprecated at import, in every process (nothing here uses them). Only that one
    warning, only during the import (both checkpoint files that import torch_geometric use this)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"`torch\.jit\.script` is deprecated", category=DeprecationWarning
        )
        yield


with torch_geometric_quietly():
    from torch_geometric.data import Data

UNKNOWN_ATOM_INDEX = 118
CHIRALITY_INDEX = {
    Chem.rdchem.ChiralType.CHI_UNSPECIFIED: 0,
    Chem.rdchem.ChiralType.CHI_TETRAHEDRAL_CW: 1,
    Chem.rdchem.ChiralType.CHI_TETRAHEDRAL_CCW: 2,
}
BOND_TYPE_INDEX = {
    Chem.rdchem.BondType.SINGLE: 0,
    Chem.rdchem.BondType.DOUBLE: 1,
    Chem.rdchem.BondType.TRIPLE: 2,
    Chem.rdchem.BondType.AROMATIC: 3,
}
BOND_DIRECTION_INDEX = {
    Chem.rdchem.BondDir.NONE: 0,
    Chem.rdchem.BondDir.ENDUPRIGHT: 1,
    Chem.rdchem.BondDir.ENDDOWNRIGHT: 2,
}

DEFAULT_MAX_ATOMS = 1000
DEFAULT_MAX_SMILES_LENGTH = 5000
# RDKit's sanitization (symmetrized SSSR, aromaticity) is exponential in the number of independent rings of one
# fused ring system: "C12" + "C3C4"*n + "C1C2" takes 3 ms at 20 rings, 0.4 s at 32 and minutes (> 2.5 GB) at
# 42; "*123" + "*4*5*6"*n + "*1*2*3" takes 0.09 s at 24 rings and 0.5 s at 27. Every DrugBank drug has at most
# 12 (vitamin B12; the two oligonucleotides have 46 rings in total but <= 3 per system), so a system with more
# than 20 independent rings is refused before sanitization (worst case measured at 20: 12 ms). Fullerenes
# (C60: 31) are refused too.
DEFAULT_MAX_RING_SYSTEM = 20


class InvalidMoleculeError(ValueError):
    """A SMILES that cannot become a molecule graph. ``str(err)`` names the input, the reason and the row."""

    def __init__(self, smiles: object, reason: str, row: int | str | None = None, field: str | None = None):
        self.smiles = smiles
        self.reason = reason
        self.row = row
        self.field = field
        where = ""
        if row is not None:
            where += f"row {row}"
        if field is not None:
            where += f"{', ' if where else ''}field {field!r}"
        shown = smiles if not isinstance(smiles, str) or len(smiles) <= 80 else smiles[:77] + "..."
        super().__init__(f"Invalid molecule {shown!r}{f' ({where})' if where else ''}: {reason}")


@dataclass(frozen=True)
class Reject:
    """One input that was skipped, with enough context to write a rejects file."""

    row: int | str | None
    field: str | None
    value: str
    reason: str

    def to_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "value": self.value, "reason": self.reason}


@contextmanager
def _rdkit_quiet():
    """RDKit prints parse errors to stderr; we raise our own precise errors instead."""
    RDLogger.DisableLog("rdApp.*")
    try:
        yield
    finally:
        RDLogger.EnableLog("rdApp.*")


def is_missing(value: object) -> bool:
    """A cell with no value: ``None`` or a float NaN (what pandas and Arrow give an empty cell). The one test for
    it, used wherever a SMILES, a label or a carried column may be empty."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def parse_molecule(
    smiles: object,
    *,
    keep_largest_fragment: bool = False,
    max_atoms: int = DEFAULT_MAX_ATOMS,
    row: int | str | None = None,
    field: str | None = None,
) -> Chem.Mol:
    """Parse and validate one SMILES. Raises `InvalidMoleculeError` with a precise reason."""
    if is_missing(smiles):
        raise InvalidMoleculeError(smiles, "missing value (None/NaN)", row, field)
    if not isinstance(smiles, str):
        raise InvalidMoleculeError(
            smiles, f"expected a SMILES string, got {type(smiles).__name__}", row, field
        )
    text = smiles.strip()
    if not text:
        raise InvalidMoleculeError(smiles, "empty SMILES", row, field)
    if len(text) > DEFAULT_MAX_SMILES_LENGTH:
        raise InvalidMoleculeError(
            smiles, f"SMILES longer than {DEFAULT_MAX_SMILES_LENGTH} characters ({len(text)})", row, field
        )
    if not text.isascii():
        # SMILES are ASCII; RDKit would echo the bytes into its error log (which then may not even decode).
        position, char = next((i, c) for i, c in enumerate(text) if not c.isascii())
        raise InvalidMoleculeError(
            smiles, f"non-ASCII character {char!r} at position {position} (SMILES are ASCII)", row, field
        )
    try:
        with _rdkit_quiet():
            _check_ring_systems(text, smiles, row, field)
            mol, messages = _parse_with_messages(text)
    except InvalidMoleculeError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure inside RDKit on one value is that value's reject
        raise InvalidMoleculeError(
            smiles, f"RDKit failed on it ({type(err).__name__}: {_one_line(str(err))})", row, field
        ) from None
    if mol is None:
        raise InvalidMoleculeError(smiles, f"RDKit could not parse it: {rdkit_reason(messages)}", row, field)
    if mol.GetNumAtoms() == 0:
        raise InvalidMoleculeError(smiles, "molecule has no atoms", row, field)
    if keep_largest_fragment and len(Chem.GetMolFrags(mol)) > 1:
        fragments = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=True)
        mol = max(fragments, key=lambda frag: frag.GetNumHeavyAtoms())
    if mol.GetNumAtoms() > max_atoms:
        raise InvalidMoleculeError(
            smiles, f"{mol.GetNumAtoms()} atoms exceeds max_atoms={max_atoms}", row, field
        )
    return mol


_LOG_STAMP = re.compile(r"^\[\d\d:\d\d:\d\d\] ")
_POSITION = re.compile(r"check for mistakes around position (\d+)")


def _parse_with_messages(text: str) -> tuple[Chem.Mol | None, str]:
    """``Chem.MolFromSmiles`` and what RDKit's error log said meanwhile (its own reason for a failure)."""
    capture = getattr(rdBase, "CaptureErrorLog", None)
    if capture is None:  # RDKit before CaptureErrorLog: no message, the generic reason
        return Chem.MolFromSmiles(text), ""
    with capture() as log:
        mol = Chem.MolFromSmiles(text)
    try:
        messages = log.messages
    except UnicodeDecodeError:  # the log echoes the input and may cut a multi-byte character: no reason
        messages = ""
    return mol, messages


_MAX_REASON = 160


def _one_line(text: str, limit: int = _MAX_REASON) -> str:
    """One line of at most ``limit`` characters: reasons go into one-line errors and rejects files."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def rdkit_reason(messages: str) -> str:
    """RDKit's parse-error log as one short reason: ``unclosed ring``, ``Explicit valence for atom # 1 C, 5,
    is greater than permitted``, ``syntax error (check around position 5)``, ...

    The log of a syntax error is five lines: the error, "check for mistakes around position N:", the input
    echoed, a caret line and "Failed parsing SMILES ..."; only the first and the position say something.
    """
    lines = [_LOG_STAMP.sub("", line).strip() for line in messages.splitlines()]
    lines = [line.removeprefix("SMILES Parse Error: ") for line in lines if line.strip()]
    if not lines:
        return "syntax, valence or ring closure"
    # RDKit echoes the input after "while parsing:" / "for input:" (hundreds of characters): the row's value
    # is already in the rejects file, so the reason keeps only what went wrong.
    reason = lines[0]
    if " while parsing: " in reason:
        reason = reason[: reason.index(" while parsing: ")] + " while parsing"
    elif reason.startswith(("unclosed", "syntax")):
        reason = re.sub(r"( for input: '.*'|: .*)$", "", reason)
    position = _POSITION.search(messages)
    reason = f"{reason} (check around position {position.group(1)})" if position else reason
    return _one_line(reason)


def largest_ring_system(mol: Chem.Mol) -> int:
    """Independent rings (bonds - atoms + 1) of the largest fused ring system, from a cheap ring search.

    ``FastFindRings`` marks ring bonds in linear time without the SSSR; ring atoms joined by ring bonds are
    one system (spiro joints merge systems, which only overestimates).
    """
    Chem.FastFindRings(mol)
    parent = list(range(mol.GetNumAtoms()))

    def root(atom: int) -> int:
        while parent[atom] != atom:
            parent[atom] = parent[parent[atom]]
            atom = parent[atom]
        return atom

    ring_bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds() if b.IsInRing()]
    for begin, end in ring_bonds:
        parent[root(begin)] = root(end)
    bonds: dict[int, int] = {}
    atoms: dict[int, int] = {}
    for begin, _ in ring_bonds:
        bonds[root(begin)] = bonds.get(root(begin), 0) + 1
    for atom in {a for bond in ring_bonds for a in bond}:
        atoms[root(atom)] = atoms.get(root(atom), 0) + 1
    return max((bonds[r] - atoms[r] + 1 for r in bonds), default=0)


def _check_ring_systems(text: str, smiles: object, row, field) -> None:
    """Refuse a ring system RDKit could not sanitize in bounded time (see `DEFAULT_MAX_RING_SYSTEM`)."""
    raw = Chem.MolFromSmiles(text, sanitize=False)
    if raw is None:
        return  # a syntax error: the sanitizing parse reports it
    total = raw.GetNumBonds() - raw.GetNumAtoms() + len(Chem.GetMolFrags(raw))
    if total <= DEFAULT_MAX_RING_SYSTEM:
        return  # no ring system can have more independent rings than the whole molecule (the usual case)
    rings = largest_ring_system(raw)
    if rings > DEFAULT_MAX_RING_SYSTEM:
        raise InvalidMoleculeError(
            smiles,
            f"a fused ring system with {rings} independent rings exceeds the limit of {DEFAULT_MAX_RING_SYSTEM} "
            "(RDKit's ring perception is exponential in it)",
            row,
            field,
        )


def canonical_smiles(smiles: str, **parse_kwargs) -> str:
    """RDKit canonical SMILES (isomeric), the cache key and the canonical pair-order key."""
    return Chem.MolToSmiles(parse_molecule(smiles, **parse_kwargs))


def mol_to_graph(mol: Chem.Mol) -> Data:
    """RDKit molecule -> `Data(x=[N, 2], edge_index=[2, 2B], edge_attr=[2B, 2])`, all int64."""
    atom_features = [
        (
            atom.GetAtomicNum() - 1 if 1 <= atom.GetAtomicNum() <= 118 else UNKNOWN_ATOM_INDEX,
            CHIRALITY_INDEX.get(atom.GetChiralTag(), 0),
        )
        for atom in mol.GetAtoms()
    ]
    x = torch.tensor(atom_features, dtype=torch.long).view(-1, 2)
    edges: list[tuple[int, int]] = []
    edge_features: list[tuple[int, int]] = []
    for bond in mol.GetBonds():
        begin, end = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        feature = (BOND_TYPE_INDEX.get(bond.GetBondType(), 0), BOND_DIRECTION_INDEX.get(bond.GetBondDir(), 0))
        edges += [(begin, end), (end, begin)]
        edge_features += [feature, feature]
    edge_index = torch.tensor(edges, dtype=torch.long).view(-1, 2).t().contiguous()
    edge_attr = torch.tensor(edge_features, dtype=torch.long).view(-1, 2)
    return Data(x=x, edge_index=edge_index, edge_attr=edge_attr, num_nodes=x.size(0))


class MoleculeFeaturizer:
    """Callable SMILES -> `Data` with an LRU cache keyed by the input string and by canonical SMILES.

    A drug that appears in 10,000 pairs is parsed once: the raw-string key avoids even the RDKit parse on
    repeats, and the canonical key merges different spellings of the same molecule.
    """

    def __init__(
        self,
        *,
        keep_largest_fragment: bool = False,
        max_atoms: int = DEFAULT_MAX_ATOMS,
        cache_size: int = 200_000,
    ):
        self.keep_largest_fragment = keep_largest_fragment
        self.max_atoms = max_atoms
        self.cache_size = cache_size
        self._by_input: OrderedDict[str, str] = OrderedDict()
        self._graphs: OrderedDict[str, Data] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._graphs)

    def __getstate__(self) -> dict:
        # DataLoader workers started by "spawn"/"forkserver" receive the collator (and this cache) pickled;
        # the lock is per process.
        state = self.__dict__.copy()
        state.pop("_lock")
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __call__(self, smiles: object, *, row: int | str | None = None, field: str | None = None) -> Data:
        if isinstance(smiles, str) and (key := self._by_input.get(smiles)) is not None:
            graph = self._graphs.get(key)
            if graph is not None:
                return graph
        mol = parse_molecule(
            smiles,
            keep_largest_fragment=self.keep_largest_fragment,
            max_atoms=self.max_atoms,
            row=row,
            field=field,
        )
        key = Chem.MolToSmiles(mol)
        graph = self._graphs.get(key)
        if graph is None:
            graph = mol_to_graph(mol)
        self._remember(cast(str, smiles), key, graph)  # parse_molecule refused anything but a str
        return graph

    def _remember(self, smiles: str, key: str, graph: Data) -> None:
        with self._lock:
            self._by_input[smiles] = key
            self._graphs[key] = graph
            self._graphs.move_to_end(key)
            while len(self._graphs) > self.cache_size:
                self._graphs.popitem(last=False)
            while len(self._by_input) > 2 * self.cache_size:
                self._by_input.popitem(last=False)

    def featurize_many(
        self,
        smiles: Iterable[object],
        rows: Sequence[int | str] | None = None,
        field: str | None = None,
    ) -> tuple[list[Data | None], list[Reject]]:
        """Featurize a column. Bad entries become ``None`` in the output and a `Reject`, never an exception."""
        graphs: list[Data | None] = []
        rejects: list[Reject] = []
        for position, value in enumerate(smiles):
            row = rows[position] if rows is not None else position
            try:
                graphs.append(self(value, row=row, field=field))
            except InvalidMoleculeError as err:
                graphs.append(None)
                rejects.append(Reject(row=row, field=field, value=str(value), reason=err.reason))
        return graphs, rejects


__all__ = [
    "InvalidMoleculeError",
    "MoleculeFeaturizer",
    "Reject",
    "canonical_smiles",
    "largest_ring_system",
    "mol_to_graph",
    "parse_molecule",
]
