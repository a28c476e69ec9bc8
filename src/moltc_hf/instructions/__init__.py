"""MoT-instructions: readers for the public MRL datasets, the MolTC templates, splits and the dataset card."""

from .builder import BuildReport, MoleculeCache, build_dataset
from .overlap import pair_key, remove_overlapping_pairs
from .properties import describe_molecule
from .splits import cold_drug_split, random_split, scaffold_split
from .templates import (
    DDI_QUESTION,
    SOLVATION_QUESTION,
    binary_ddi_target,
    description_pair_target,
    molecule_slot,
    pair_prompt,
    pretrain_prompt,
    solvation_target,
    wavelength_target,
)

__all__ = [
    "DDI_QUESTION",
    "SOLVATION_QUESTION",
    "BuildReport",
    "MoleculeCache",
    "binary_ddi_target",
    "build_dataset",
    "cold_drug_split",
    "describe_molecule",
    "description_pair_target",
    "molecule_slot",
    "pair_key",
    "pair_prompt",
    "pretrain_prompt",
    "random_split",
    "remove_overlapping_pairs",
    "scaffold_split",
    "solvation_target",
    "wavelength_target",
]
