"""Loading a trained MolTC, once for every caller: training from a saved stage, `moltc predict`/`evaluate`, the
pipeline, the quickstart.

Light on purpose (transformers' Auto classes and the task registry only): the pipeline's saved remote code imports
it, so it may not read the package's ``hub_configs`` the way `moltc_hf.factory` does.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoProcessor

from .modeling_moltc import MolTCForConditionalGeneration
from .processing_moltc import MolTCProcessor
from .tasks.registry import register_model_tasks


def load_trained_model(
    source: str | Path, dtype: torch.dtype | str = torch.float32
) -> tuple[MolTCForConditionalGeneration, MolTCProcessor]:
    """A saved MolTC folder or hub id and its processor, for training on or for answering (the one loader).

    The user tasks the model was trained on (recorded in its config) join the task registry here, so a process
    that loads the model knows them before it builds a prompt.
    """
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    register_model_tasks(model.config)
    return model, AutoProcessor.from_pretrained(source)


__all__ = ["load_trained_model"]
