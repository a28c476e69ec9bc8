"""MoT-instructions: readers for the public MRL datasets, the task registry, templates, splits and the card.

Exports are lazy (`moltc_hf._lazy`): the pipeline and the tokenizer read `tasks` and `templates` on
``import moltc_hf``, and that must not load the dataset builder.
"""

from .._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "builder": ("BuildReport", "MoleculeCache", "build_dataset", "build_pair_file"),
        "loading": ("load_split",),
        "overlap": ("pair_key", "remove_overlapping_pairs"),
        "properties": ("describe_molecule",),
        "splits": ("cold_drug_split", "random_split", "scaffold_split"),
        "tasks": (
            "TASKS",
            "TaskSpec",
            "get_task",
            "register_dataset_tasks",
            "register_definition",
            "register_task",
            "task_definition",
            "user_task",
        ),
        "templates": (
            "DDI_QUESTION SOLVATION_QUESTION binary_ddi_target description_pair_target "
            "molecule_slot pair_prompt pretrain_prompt solvation_target wavelength_target"
        ),
    },
)
