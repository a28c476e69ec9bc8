"""MoT-instructions, the data layer: readers for the public MRL datasets, user files, splits, the builder and card.

The task vocabulary it renders rows with (registry, templates, properties, folder layout) lives one layer down
in `moltc_hf.tasks`; its names are still served from here (the 0.1 import paths, CHANGELOG). Exports are lazy
(`moltc_hf._lazy`), so reading one name does not load the dataset builder.
"""

from .._lazy import lazy_exports
from ..tasks import REGISTRY_NAMES

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "builder": ("BuildReport", "MoleculeCache", "build_dataset", "build_pair_file"),
        "loading": ("load_split",),
        "overlap": ("pair_key", "remove_overlapping_pairs"),
        "moltc_hf.tasks.properties": ("describe_molecule",),
        "splits": ("cold_drug_split", "random_split", "scaffold_split"),
        "moltc_hf.tasks.registry": REGISTRY_NAMES,
        "moltc_hf.tasks.templates": (
            "DDI_QUESTION SOLVATION_QUESTION binary_ddi_target description_pair_target "
            "molecule_slot pair_prompt pretrain_prompt solvation_target wavelength_target"
        ),
    },
    moved_modules={
        "layout": "moltc_hf.tasks.layout",
        "properties": "moltc_hf.tasks.properties",
        "tasks": "moltc_hf.tasks.registry",
        "templates": "moltc_hf.tasks.templates",
    },
)
