"""MoT-instructions: readers for the public MRL datasets, the task registry, templates, splits and the card.

Exports are lazy (`moltc_hf._lazy`): the pipeline and the tokenizer read `tasks` and `templates` on
``import moltc_hf``, and that must not load the dataset builder.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "BuildReport": "builder",
    "MoleculeCache": "builder",
    "build_dataset": "builder",
    "pair_key": "overlap",
    "remove_overlapping_pairs": "overlap",
    "describe_molecule": "properties",
    "cold_drug_split": "splits",
    "random_split": "splits",
    "scaffold_split": "splits",
    "TASKS": "tasks",
    "TaskSpec": "tasks",
    "get_task": "tasks",
    "register_task": "tasks",
    "DDI_QUESTION": "templates",
    "SOLVATION_QUESTION": "templates",
    "binary_ddi_target": "templates",
    "description_pair_target": "templates",
    "molecule_slot": "templates",
    "pair_prompt": "templates",
    "pretrain_prompt": "templates",
    "solvation_target": "templates",
    "wavelength_target": "templates",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
