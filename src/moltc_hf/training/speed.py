"""The GPU-speed levers of a training run, each a recipe key with a default that is safe on CPU.

Measured at the paper's shape (galactica-1.3b, batch 64, one H200, `benchmarks/gpu_check.py`), the MolTC step
cost 4.8x the same LLM's text-only step, and a profile showed where the time went; each lever here answers one
finding (the routing's host syncs are answered in `modeling_moltc` itself):

* ``sdpa_backends``: torch's SDPA dispatcher prefers cuDNN's attention on Hopper, and cuDNN builds a new
  execution plan for every new shape (~1 ms of host time per call, forward and backward). The Q-Former's node
  count and the LLM's sequence length change every batch, so every step re-plans. ``auto`` allows flash,
  memory-efficient and math on CUDA (not cuDNN); a list names the backends; ``all`` leaves torch's choice.
* ``frozen_weights_dtype``: with LoRA the language model's weights are frozen, yet kept fp32 autocast re-casts
  every one of them to bf16 on every forward (6k ``_to_copy`` calls per 3 steps). ``auto`` stores them in bf16
  when the run is LoRA + bf16 on CUDA; the trainable weights (LoRA, GIN, connector) stay fp32 masters, and
  `merged_model` brings the model back to fp32 before merging, so ``final/`` keeps its format.
* ``compile_graph_path``: the GIN + Q-Former are many small kernels (13k launches per 3 steps); ``true``
  compiles them with `torch.compile` (``dynamic=True``: node counts vary), a string names the backend. Off by
  default until a GPU measurement says it pays for its compile time.
* ``pad_to_multiple_of`` (collator): padded lengths rounded up, so the LLM sees a few shapes, not one per batch.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

SDPA_BACKEND_NAMES = ("flash", "efficient", "cudnn", "math")
FROZEN_DTYPES = ("auto", "float32", "bfloat16")


def _backend(name: str):
    from torch.nn.attention import SDPBackend

    return {
        "flash": SDPBackend.FLASH_ATTENTION,
        "efficient": SDPBackend.EFFICIENT_ATTENTION,
        "cudnn": SDPBackend.CUDNN_ATTENTION,
        "math": SDPBackend.MATH,
    }[name]


def sdpa_backends(setting: str | list[str], cuda: bool | None = None) -> list[str] | None:
    """The SDPA backends a run allows (``None``: torch's own choice, no context)."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if setting == "all":
        return None
    if setting == "auto":
        return ["flash", "efficient", "math"] if cuda else None
    unknown = [name for name in setting if name not in SDPA_BACKEND_NAMES]
    if unknown or not setting:
        raise ValueError(
            f"sdpa_backends: expected auto, all or a list of {list(SDPA_BACKEND_NAMES)}, got {setting!r}"
        )
    return list(setting)


def attention_context(backends: list[str] | None):
    """`torch.nn.attention.sdpa_kernel` over ``backends`` (a no-op context for ``None``)."""
    if not backends:
        return contextlib.nullcontext()
    from torch.nn.attention import sdpa_kernel

    return sdpa_kernel([_backend(name) for name in backends])


def frozen_weights_dtype(
    setting: str, *, lora: bool, bf16: bool, cuda: bool | None = None
) -> torch.dtype | None:
    """The dtype the frozen language-model weights are stored in during training (``None``: leave them)."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if setting not in FROZEN_DTYPES:
        raise ValueError(f"frozen_weights_dtype: expected one of {list(FROZEN_DTYPES)}, got {setting!r}")
    if setting == "auto":
        return torch.bfloat16 if (lora and bf16 and cuda) else None
    return None if setting == "float32" else torch.bfloat16


def cast_frozen_language_model(model: nn.Module, dtype: torch.dtype) -> int:
    """Store the frozen floating-point weights of the language model (and its tied head) in ``dtype``.

    Only parameters without gradient under ``language_model`` / ``lm_head`` move: LoRA's matrices, the GIN and
    the connector (trainable, or PEFT's frozen originals of `modules_to_save`, which are not used) are left as they
    are. The tensors are replaced in place (``param.data``), so ties (``lm_head`` = input embeddings) hold.
    Returns the number of parameters cast.
    """
    cast = 0
    seen: set[int] = set()
    for name, parameter in model.named_parameters(remove_duplicate=False):
        if parameter.requires_grad or not parameter.is_floating_point() or id(parameter) in seen:
            continue
        if "language_model." not in name and "lm_head." not in name:
            continue
        seen.add(id(parameter))
        if parameter.dtype != dtype:
            parameter.data = parameter.data.to(dtype)
            cast += parameter.numel()
    return cast


def compile_graph_path(model: nn.Module, setting: bool | str) -> list[str]:
    """`nn.Module.compile` every GIN encoder and Q-Former projector of ``model`` (in place: parameter names and
    saved files are unchanged). ``setting``: ``False``, ``True`` (inductor) or a `torch.compile` backend name."""
    if setting is False:
        return []
    from ..modeling_moltc import MolTCGraphEncoder, MolTCProjector

    backend = "inductor" if setting is True else setting
    compiled = []
    for name, module in model.named_modules():
        if isinstance(module, (MolTCGraphEncoder, MolTCProjector)):
            module.compile(backend=backend, dynamic=True)
            compiled.append(name)
    return compiled


def apply_training_levers(trainer, recipe, bf16: bool) -> dict[str, Any]:
    """Apply the recipe's levers to a built trainer (its model already wrapped by PEFT); returns what was done."""
    done: dict[str, Any] = {"sdpa_backends": sdpa_backends(recipe.sdpa_backends)}
    trainer.sdpa_backends = done["sdpa_backends"]
    dtype = frozen_weights_dtype(recipe.frozen_weights_dtype, lora=recipe.lora is not None, bf16=bf16)
    sharded = getattr(trainer, "is_fsdp_enabled", False) or getattr(trainer, "is_deepspeed_enabled", False)
    if sharded and recipe.frozen_weights_dtype == "auto":
        dtype = None  # FSDP / ZeRO flatten parameters into one dtype per unit: keep them uniform
    done["frozen_weights_dtype"] = str(dtype).removeprefix("torch.") if dtype else None
    if dtype is not None:
        done["frozen_parameters_cast"] = cast_frozen_language_model(trainer.model, dtype)
    done["compiled"] = compile_graph_path(trainer.model, recipe.compile_graph_path)
    logger.info("Training levers: %s", done)
    return done


def full_precision(model: nn.Module) -> nn.Module:
    """The model with every floating-point weight back in fp32 (after `cast_frozen_language_model`)."""
    if any(p.is_floating_point() and p.dtype != torch.float32 for p in model.parameters()):
        model.to(torch.float32)
    return model


__all__ = [
    "FROZEN_DTYPES",
    "SDPA_BACKEND_NAMES",
    "apply_training_levers",
    "attention_context",
    "cast_frozen_language_model",
    "compile_graph_path",
    "frozen_weights_dtype",
    "full_precision",
    "sdpa_backends",
]
