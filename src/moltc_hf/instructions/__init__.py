"""MoT-instructions: readers for the public MRL datasets, the MolTC templates, splits and the dataset card."""

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
    "binary_ddi_target",
    "description_pair_target",
    "molecule_slot",
    "pair_prompt",
    "pretrain_prompt",
    "solvation_target",
    "wavelength_target",
]
