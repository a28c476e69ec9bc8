"""RDKit property descriptions: the text a molecule "explains itself" with in MoT-instructions.

MolTC's coarse chain of thought lists each molecule's key properties before the answer (docs/method.md §4). Its own
description files (DrugBank/PubChem text) were never released, so we compute the same kind of facts with RDKit
and render them into one fixed sentence. Fixed format + rounded floats -> the same molecule always gets the same
bytes, so datasets built on different machines are identical and a model can learn the layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rdkit import Chem
from rdkit.Chem import Crippen, Descriptors, Lipinski, rdMolDescriptors

from ..featurization import parse_molecule

DESCRIPTION_TEMPLATE = (
    "Molecular weight {weight:.2f}, logP {logp:.2f}, TPSA {tpsa:.2f}, {donors} H-bond donors, "
    "{acceptors} H-bond acceptors, {rotatable} rotatable bonds, {rings} rings ({aromatic_rings} aromatic), "
    "formal charge {charge:d}, {lipinski_violations} Lipinski violations."
)


@dataclass(frozen=True)
class MoleculeProperties:
    weight: float  # average molecular weight, g/mol (Descriptors.MolWt)
    logp: float  # Wildman-Crippen logP
    tpsa: float  # topological polar surface area, A^2
    donors: int  # Lipinski H-bond donors (NH + OH count)
    acceptors: int  # Lipinski H-bond acceptors (N + O count)
    rotatable: int
    rings: int
    aromatic_rings: int
    charge: int  # net formal charge
    lipinski_violations: int  # weight > 500, logP > 5, donors > 5, acceptors > 10

    def describe(self) -> str:
        return DESCRIPTION_TEMPLATE.format(**self.__dict__)


def molecule_properties(mol: Chem.Mol) -> MoleculeProperties:
    weight = Descriptors.MolWt(mol)  # type: ignore[attr-defined]  # RDKit registers descriptors at import
    logp = Crippen.MolLogP(mol)  # type: ignore[attr-defined]  # RDKit registers descriptors at import
    donors = Lipinski.NumHDonors(mol)  # type: ignore[attr-defined]  # RDKit registers descriptors at import
    acceptors = Lipinski.NumHAcceptors(mol)  # type: ignore[attr-defined]  # RDKit registers descriptors at import
    violations = int(weight > 500) + int(logp > 5) + int(donors > 5) + int(acceptors > 10)
    return MoleculeProperties(
        weight=round(weight, 2),
        logp=round(logp, 2),
        tpsa=round(rdMolDescriptors.CalcTPSA(mol), 2),
        donors=donors,
        acceptors=acceptors,
        rotatable=rdMolDescriptors.CalcNumRotatableBonds(mol),
        rings=rdMolDescriptors.CalcNumRings(mol),
        aromatic_rings=rdMolDescriptors.CalcNumAromaticRings(mol),
        charge=Chem.GetFormalCharge(mol),
        lipinski_violations=violations,
    )


@lru_cache(maxsize=65_536)
def describe_molecule(smiles: str) -> str:
    """One fixed sentence of RDKit properties. Raises `InvalidMoleculeError` for a bad SMILES.

    Cached: a drug appears in thousands of pairs, and the description is a pure function of the SMILES.
    """
    return molecule_properties(parse_molecule(smiles)).describe()


__all__ = ["DESCRIPTION_TEMPLATE", "MoleculeProperties", "describe_molecule", "molecule_properties"]
