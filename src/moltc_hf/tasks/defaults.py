"""What a trained model records about its tasks, in its own ``config.json``.

``config.task_specific_params["molecule-pair-interaction"]`` holds the default task, the tasks it was trained on,
classification tasks' class sentences and user tasks' definitions. Training writes it and every answering path
(pipeline, `moltc predict`, the card, the demo) reads it, so it sits with the task vocabulary, below both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .registry import MODEL_TASKS_KEY

TASK_NAME = MODEL_TASKS_KEY  # "molecule-pair-interaction": the pipeline task and the config entry


def set_task_defaults(
    config,
    *,
    task: str | None = None,
    candidates: Mapping[str, Sequence[str]] | None = None,
    tasks: Sequence[str] | None = None,
    definitions: Mapping[str, Mapping] | None = None,
) -> None:
    """Record the default task, class sentences and the tasks the model was trained on (``tasks``: what a demo
    offers) in ``config.task_specific_params`` (saved with the model). ``definitions``: user tasks'
    `task_definition`s, so a process that loads the model knows them (`register_model_tasks`)."""
    params = dict(getattr(config, "task_specific_params", None) or {})
    entry = dict(params.get(TASK_NAME, {}))
    if task is not None:
        entry["task"] = task
    if tasks is not None:
        entry["tasks"] = sorted(set(entry.get("tasks", [])) | set(tasks))
    if candidates:
        entry["candidates"] = {**entry.get("candidates", {}), **{k: list(v) for k, v in candidates.items()}}
    if definitions:
        entry["definitions"] = {
            **entry.get("definitions", {}),
            **{k: dict(v) for k, v in definitions.items()},
        }
    params[TASK_NAME] = entry
    config.task_specific_params = params


def task_defaults(config) -> dict:
    """What `set_task_defaults` recorded: ``{"task": ..., "candidates": {task: [...]}, "tasks": [...]}`` (any may
    be absent)."""
    return dict((getattr(config, "task_specific_params", None) or {}).get(TASK_NAME, {}))


__all__ = ["TASK_NAME", "set_task_defaults", "task_defaults"]
