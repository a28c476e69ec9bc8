"""SMILES -> graph with the original MolTC scheme, validation errors, caches, and a fuzz of bad inputs."""

from __future__ import annotations

import math
import random

import pytest

from moltc_hf.featurization import (
    InvalidMoleculeError,
    MoleculeFeaturizer,
    canonical_smiles,
    mol_to_graph,
    parse_molecule,
)


def _graph(smiles: str, **kwargs):
    return mol_to_graph(parse_molecule(smiles, **kwargs))


def test_ethanol_features_by_hand():
    graph = _graph("CCO")
    # atomic number - 1: C=5, C=5, O=7; no chirality
    assert graph.x.tolist() == [[5, 0], [5, 0], [7, 0]]
    # two single bonds, each stored in both directions, no direction
    assert graph.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
    assert graph.edge_attr.tolist() == [[0, 0]] * 4


def test_aspirin_features_by_hand():
    graph = _graph("CC(=O)Oc1ccccc1C(=O)O")
    atoms = [row[0] + 1 for row in graph.x.tolist()]
    assert atoms == [6, 6, 8, 8, 6, 6, 6, 6, 6, 6, 6, 8, 8]  # 9 carbons, 4 oxygens, H implicit
    assert graph.num_nodes == 13 and graph.edge_index.shape == (2, 26)
    bond_types = sorted(graph.edge_attr[::2, 0].tolist())
    # 6 aromatic, 2 C=O double, 5 single (C-C, C-O, O-c, c-C, C-O)
    assert bond_types == [0] * 5 + [1] * 2 + [3] * 6
    # the ester carbonyl: bond 1 (C1=O2) is double, in both directions
    assert graph.edge_attr[2].tolist() == [1, 0] and graph.edge_attr[3].tolist() == [1, 0]


def test_chiral_drug_and_stereo_bond_directions():
    # L-alanine: the alpha carbon is CCW as written ([C@@H] with H implicit -> RDKit tag CCW/CW)
    graph = _graph("C[C@@H](N)C(=O)O")
    chirality = graph.x[:, 1].tolist()
    assert chirality[1] in (1, 2) and chirality.count(0) == 5
    mirror = _graph("C[C@H](N)C(=O)O")
    assert {chirality[1], mirror.x[1, 1].item()} == {1, 2}, "enantiomers get opposite tags"
    # trans-2-butene: the single bonds next to the double bond carry ENDUPRIGHT/ENDDOWNRIGHT
    directions = set(_graph("C/C=C/C").edge_attr[:, 1].tolist())
    assert directions & {1, 2}


def test_salt_keeps_all_fragments_or_the_largest():
    whole = _graph("CC(=O)[O-].[Na+]")
    assert whole.num_nodes == 5 and 10 in whole.x[:, 0].tolist()  # Na = 11 -> index 10
    largest = _graph("CC(=O)[O-].[Na+]", keep_largest_fragment=True)
    assert largest.num_nodes == 4 and 10 not in largest.x[:, 0].tolist()


def test_unknown_values_fall_back_inside_the_original_tables():
    dummy = _graph("*CC")
    assert dummy.x[0, 0].item() == 118  # dummy atom -> the unknown row of the 120-row table
    dative = _graph("[NH3]->[Cu+2]")
    assert dative.edge_attr[:, 0].tolist() == [0, 0]  # dative bond -> single-bond index, no crash
    assert int(dative.x[:, 1].max()) < 3 and int(dative.edge_attr[:, 1].max()) < 3


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "missing value"),
        (float("nan"), "missing value"),
        ("", "empty SMILES"),
        ("   ", "empty SMILES"),
        ("C1CC", "could not parse"),
        ("C(C", "could not parse"),
        ("[Xx]", "could not parse"),
        ("C" * 6000, "longer than"),
        (42, "expected a SMILES string"),
    ],
)
def test_invalid_inputs_raise_precise_errors(value, reason):
    with pytest.raises(InvalidMoleculeError, match=reason) as info:
        parse_molecule(value, row=7, field="smiles_b")
    assert "row 7" in str(info.value) and "smiles_b" in str(info.value)


def test_too_many_atoms_is_rejected():
    with pytest.raises(InvalidMoleculeError, match="exceeds max_atoms"):
        parse_molecule("C" * 1500)


def _bad_inputs(count: int, seed: int = 0) -> list[object]:
    rng = random.Random(seed)
    alphabet = "CNOSPFIBrcl()[]=#@+-1234567890%/\\.*$!?"
    bad: list[object] = [None, math.nan, "", " ", "\n", "C" * 10_001, "c1ccccc1" * 1300, 3.14, b"CCO"]
    while len(bad) < count:
        kind = rng.randrange(4)
        if kind == 0:  # random strings
            candidate = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
        elif kind == 1:  # unbalanced rings
            candidate = "C1" + "C" * rng.randint(1, 20)
        elif kind == 2:  # unbalanced branches
            candidate = "C(" * rng.randint(1, 5) + "C"
        else:  # impossible valence
            candidate = "C(" + "C)(".join("C" for _ in range(rng.randint(5, 8))) + ")C"
        try:
            parse_molecule(candidate)
        except InvalidMoleculeError:
            bad.append(candidate)
    return bad


def test_fuzz_thousand_bad_inputs_are_rejected_and_good_ones_survive():
    bad = _bad_inputs(1000)
    good = ["CCO", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "O"]
    mixed = bad[:500] + good + bad[500:]
    featurizer = MoleculeFeaturizer()
    graphs, rejects = featurizer.featurize_many(mixed, field="smiles_a")
    assert len(rejects) == len(bad) >= 1000
    assert all(r.reason and r.field == "smiles_a" for r in rejects)
    survivors = [g for g in graphs if g is not None]
    assert len(survivors) == len(good)
    assert [rejects[i].row for i in range(3)] == [0, 1, 2]
    assert graphs[500].num_nodes == 3  # CCO, in place


def test_cache_parses_each_molecule_once_and_merges_spellings():
    featurizer = MoleculeFeaturizer()
    first = featurizer("OCC")
    assert featurizer("OCC") is first
    assert featurizer("C(O)C") is first, "same canonical molecule, same cached graph"
    assert len(featurizer) == 1
    assert canonical_smiles("OCC") == canonical_smiles("C(O)C") == "CCO"
