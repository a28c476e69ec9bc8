"""The task vocabulary, one layer above the checkpoint files: what a task asks and answers, and how it is scored.

`registry` holds every `TaskSpec` (question, target sentence, candidates, symmetry, roles, unit) and the user
tasks' JSON definitions; `templates` the exact MolTC prompt and answer strings; `properties` the RDKit property
sentences of the chain of thought; `layout` the file names of a MoT-instructions folder; `defaults` what a
trained model records about its tasks in its config; `metrics` the metric functions. Everything above (data,
training, inference, evaluation, apps) reads tasks from here, so a task's behaviour is written once.
"""

from .._lazy import lazy_exports

# The registry's public names (`moltc_hf.instructions` serves them too, from their 0.1 home).
REGISTRY_NAMES = "TASKS TaskSpec get_task register_dataset_tasks register_definition register_task task_definition user_task"

__getattr__, __all__ = lazy_exports(
    __name__, {"registry": REGISTRY_NAMES, "defaults": ("set_task_defaults", "task_defaults")}
)
