"""The LoRA setup of MolTC: adapters on the language model only, molecule modules fully trained.

PEFT can only train what it wraps: `modules_to_save` takes whole modules (not a bare `nn.Parameter`,
not a `ModuleList`), which is why the query tokens, Q-Former(s) and projector(s) live in one
``mol_connector`` module. The target regex is limited to the language model so the Q-Former's own
attention projections are not LoRA-wrapped.
"""

from __future__ import annotations

from collections.abc import Sequence

from peft import LoraConfig

PAPER_TARGET_MODULES = ("q_proj", "v_proj")


def moltc_lora_config(
    r: int = 8,
    lora_alpha: int = 32,
    lora_dropout: float = 0.1,
    target_modules: Sequence[str] = PAPER_TARGET_MODULES,
    train_graph_encoder: bool = True,
    train_connector: bool = True,
) -> LoraConfig:
    """LoraConfig with the paper's defaults (r=8, alpha=32, dropout=0.1 on q/v) for a MolTC model.

    ``train_graph_encoder`` / ``train_connector`` keep the GIN and the ``mol_connector`` fully trainable
    (saved whole with the adapter); set them to False to freeze those blocks.
    """
    modules_to_save = [
        name
        for name, keep in (("graph_encoder", train_graph_encoder), ("mol_connector", train_connector))
        if keep
    ]
    return LoraConfig(
        r=r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        target_modules=rf".*language_model.*\.({'|'.join(target_modules)})",
        modules_to_save=modules_to_save or None,
        task_type="CAUSAL_LM",
    )


__all__ = ["PAPER_TARGET_MODULES", "moltc_lora_config"]
