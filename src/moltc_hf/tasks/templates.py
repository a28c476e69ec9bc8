"""The exact MolTC prompt and answer strings (docs/method.md §3-4), in one place.

Every prompt holds one ``<mol>`` per molecule, right after its ``[END_I_SMILES]``; the processor expands
each into ``num_query_tokens`` placeholder tokens. SMILES *text* is cut at 128 characters while the graph
always uses the whole molecule.
"""

from __future__ import annotations

import math

from ..configuration_moltc import END_SMILES, MOL_TOKEN, START_SMILES  # the checkpoint code owns the tags
from ..processing_moltc import SMILES_TEXT_LIMIT, without_smiles_text  # noqa: F401 (re-exported)

# Questions per task family, verbatim from the released code (note the lower-case "what" for solvation).
DDI_QUESTION = "What are the side effects of these two drugs?"
SOLVATION_QUESTION = "what is the solvation Gibbs free energy of this pair of molecules?"
ABSORPTION_QUESTION = "What is the Absorption max?"
EMISSION_QUESTION = "What is the Emission max?"

DDI_POSITIVE = "#Drug1 and #Drug2 exhibit drug-drug interaction."
DDI_NEGATIVE = "#Drug1 and #Drug2 do not exhibit drug-drug interaction."


def molecule_slot(smiles: str, *, trailing_space: bool = True, mol_token: str = MOL_TOKEN) -> str:
    """``[START_I_SMILES]<smiles[:128]>[END_I_SMILES]<mol>. `` -- one molecule in a prompt."""
    return f"{START_SMILES}{smiles[:SMILES_TEXT_LIMIT]}{END_SMILES}{mol_token}." + (
        " " if trailing_space else ""
    )


def pair_prompt(smiles_a: str, smiles_b: str, question: str, *, mol_token: str = MOL_TOKEN) -> str:
    """Fine-tuning prompt of every task (released code since 2024-05-24)."""
    return (
        f"</s> {molecule_slot(smiles_a, mol_token=mol_token)} </s> </s>"
        f"{molecule_slot(smiles_b, mol_token=mol_token)} </s> . {question}"
    )


def pretrain_prompt(smiles_a: str, smiles_b: str, *, mol_token: str = MOL_TOKEN) -> str:
    """Stage-1 pair-pretraining prompt (no question; no trailing space after each molecule)."""
    slot_a = molecule_slot(smiles_a, trailing_space=False, mol_token=mol_token)
    slot_b = molecule_slot(smiles_b, trailing_space=False, mol_token=mol_token)
    return f"</s> {slot_a} </s> </s> {slot_b} </s>"


def _half_interval(value: float) -> tuple[float, float]:
    return math.floor(2 * value) / 2, math.ceil(2 * value) / 2


def solvation_target(value: float) -> str:
    """Interval CoT then the value, e.g. -4.78 -> '... above -5.0 and below -4.5, so the accurate value is -4.78;'."""
    low, high = _half_interval(value)
    return (
        f"The solvation Gibbs free energy of these two molecules is above {low} and below {high}, "
        f"so the accurate value is {value:.2f};"
    )


def wavelength_target(value: float, quantity: str = "Absorption max") -> str:
    """Chromophore CoT: 10 nm interval, then the value."""
    low = (value // 10) * 10
    return (
        f"The {quantity} of these two molecules is above {low} and below {low + 10}, "
        f"so the accurate value is {value:.2f};"
    )


def binary_ddi_target(interacts: bool) -> str:
    return DDI_POSITIVE if interacts else DDI_NEGATIVE


def description_pair_target(description_a: str, description_b: str, answer: str = "") -> str:
    """``</s> d1 </s> </s> d2 </s> <answer>``: pretraining (no answer) and DrugBank CoT targets."""
    return f"</s> {description_a} </s> </s> {description_b} </s> {answer}"


__all__ = [
    "ABSORPTION_QUESTION",
    "DDI_NEGATIVE",
    "DDI_POSITIVE",
    "DDI_QUESTION",
    "EMISSION_QUESTION",
    "MOL_TOKEN",
    "SMILES_TEXT_LIMIT",
    "without_smiles_text",
    "SOLVATION_QUESTION",
    "binary_ddi_target",
    "description_pair_target",
    "molecule_slot",
    "pair_prompt",
    "pretrain_prompt",
    "solvation_target",
    "wavelength_target",
]
