"""Seeded train/validation/test splits over molecule pairs: random, cold-drug and scaffold.

All strategies return one split name per row and never split a *group* of rows: rows with the same pair key
(random), the same molecule (cold-drug) or the same Murcko scaffold (scaffold) always land together. Which
molecule of a pair the cold/scaffold split looks at is the ``on`` argument:

- ``on="both"`` (DDI): every molecule gets a group (train/validation/test) by a seeded draw, and a pair goes to
  the "coldest" group of its two molecules (test > validation > train). So no test-group molecule ever appears in
  train, and every test pair has at least one molecule that train never saw. The group fractions are chosen so
  the expected pair fractions match ``fractions`` (a pair stays in train only if both molecules are train).
- ``on="a"`` / ``on="b"``: the pair is keyed by one molecule only (the solute for solvation, the chromophore for
  optical properties), so that molecule never crosses splits; the other one (solvent) may.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from rdkit.Chem.Scaffolds import MurckoScaffold

from ..featurization import parse_molecule

SPLIT_NAMES = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
Side = Literal["a", "b", "both"]


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {tuple(fractions)}")
    return tuple(float(f) for f in fractions)  # type: ignore[return-value]


def _assign_groups(codes: np.ndarray, order: np.ndarray, fractions: tuple[float, float, float]) -> np.ndarray:
    """Walk groups in ``order``; a group goes to the split in which its first row falls by cumulative count."""
    sizes = np.bincount(codes, minlength=len(order))
    starts = np.cumsum(sizes[order]) - sizes[order]
    n = len(codes)
    group_split = np.empty(len(order), dtype=np.int8)
    group_split[order] = np.where(
        starts < fractions[0] * n, 0, np.where(starts < (fractions[0] + fractions[1]) * n, 1, 2)
    )
    return group_split[codes]


def _names(split_ids: np.ndarray) -> np.ndarray:
    return np.asarray(SPLIT_NAMES, dtype=object)[split_ids]


def random_split(
    groups: Sequence[Hashable] | int,
    *,
    seed: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> np.ndarray:
    """Seeded random split of groups (e.g. pair keys, so duplicate pairs never straddle splits).

    ``groups`` may be an int ``n`` for n independent rows. Returns an array of split names, one per row.
    """
    fractions = _check_fractions(fractions)
    keys = np.arange(groups) if isinstance(groups, int) else groups
    codes, uniques = pd.factorize(np.asarray(keys, dtype=object), sort=False)  # first-appearance order: fixed
    order = np.random.default_rng(seed).permutation(len(uniques))
    return _names(_assign_groups(codes, order, fractions))


def _balanced_group_split(keys: Sequence[Hashable], *, seed: int, fractions) -> np.ndarray:
    """chemprop-style balanced split: groups bigger than half a held-out split go to train first."""
    fractions = _check_fractions(fractions)
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object), sort=True)
    sizes = np.bincount(codes, minlength=len(uniques))
    rng = np.random.default_rng(seed)
    big = sizes > len(codes) * min(fractions[1], fractions[2]) / 2
    order = np.concatenate([rng.permutation(np.flatnonzero(big)), rng.permutation(np.flatnonzero(~big))])
    return _names(_assign_groups(codes, order, fractions))


def _cold_both(keys_a: Sequence[Hashable], keys_b: Sequence[Hashable], *, seed: int, fractions) -> np.ndarray:
    f_train, _, f_test = _check_fractions(fractions)
    p_test = 1.0 - math.sqrt(1.0 - f_test)
    p_valid = max(0.0, 1.0 - math.sqrt(f_train) - p_test)
    codes, uniques = pd.factorize(
        pd.concat([pd.Series(keys_a), pd.Series(keys_b)], ignore_index=True), sort=True
    )
    order = np.random.default_rng(seed).permutation(len(uniques))
    n_test, n_valid = round(p_test * len(uniques)), round(p_valid * len(uniques))
    molecule_split = np.zeros(len(uniques), dtype=np.int8)
    molecule_split[order[:n_test]] = 2
    molecule_split[order[n_test : n_test + n_valid]] = 1
    n = len(keys_a)
    return _names(np.maximum(molecule_split[codes[:n]], molecule_split[codes[n:]]))


def _keyed_split(keys_a, keys_b, *, on: Side, seed: int, fractions) -> np.ndarray:
    if on == "both":
        return _cold_both(keys_a, keys_b, seed=seed, fractions=fractions)
    if on not in ("a", "b"):
        raise ValueError(f"on must be 'a', 'b' or 'both', got {on!r}")
    return _balanced_group_split(keys_a if on == "a" else keys_b, seed=seed, fractions=fractions)


def cold_drug_split(
    smiles_a: Sequence[str],
    smiles_b: Sequence[str],
    *,
    seed: int,
    on: Side = "both",
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> np.ndarray:
    """Molecules of held-out pairs never seen in train (see the module docstring for ``on``).

    Pass canonical SMILES: two spellings of one molecule would otherwise count as two molecules.
    """
    return _keyed_split(list(smiles_a), list(smiles_b), on=on, seed=seed, fractions=fractions)


def murcko_scaffold(smiles: str) -> str:
    """Bemis-Murcko scaffold SMILES (without chirality); acyclic molecules share the empty scaffold ''."""
    return MurckoScaffold.MurckoScaffoldSmiles(mol=parse_molecule(smiles), includeChirality=False)


def scaffold_split(
    smiles_a: Sequence[str],
    smiles_b: Sequence[str],
    *,
    seed: int,
    on: Side = "b",
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> np.ndarray:
    """Like `cold_drug_split` but over Murcko scaffolds: no held-out scaffold (of the ``on`` molecule) in train."""
    cache: dict[str, str] = {}

    def scaffolds(column: Sequence[str]) -> list[str]:
        return [cache[s] if s in cache else cache.setdefault(s, murcko_scaffold(s)) for s in column]

    keys_a = scaffolds(smiles_a) if on in ("a", "both") else list(smiles_a)
    keys_b = scaffolds(smiles_b) if on in ("b", "both") else list(smiles_b)
    return _keyed_split(keys_a, keys_b, on=on, seed=seed, fractions=fractions)


__all__ = [
    "DEFAULT_FRACTIONS",
    "SPLIT_NAMES",
    "cold_drug_split",
    "murcko_scaffold",
    "random_split",
    "scaffold_split",
]
