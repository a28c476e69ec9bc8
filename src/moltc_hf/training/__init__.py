"""Recipes -> TRL `SFTTrainer`: MolTC's two training stages (pair pretraining, then task fine-tuning).

A recipe (``hub_configs/recipes/*.yaml``) names a stage, a starting model, a dataset config and the
`SFTConfig` values; `train` turns it into one ``SFTTrainer`` run with `MolTCDataCollator` (loss on the
answer tokens only) and, for fine-tuning, the paper's LoRA on the language model. A ``pipeline`` recipe
chains stage recipes, each starting from the previous stage's merged model.

Stages (docs/method.md §6):

* ``pretrain``: random drug pairs, one shared (tied) projector, the language model frozen, GIN + query
  tokens + Q-Former + projector trained. No LoRA.
* ``finetune``: task data; ``untie_projectors: true`` gives molecule A and molecule B their own projector
  (copied from the pretrained one) *before* PEFT wraps the model; LoRA on the LLM's q/v projections,
  GIN and connector fully trained (`moltc_lora_config`).

Outputs of a stage in ``output_dir``: ``checkpoint-<step>/`` (Trainer checkpoints: safetensors weights or
the PEFT adapter, optimizer, scheduler, RNG state; what ``resume`` reads), ``final/`` (the model with LoRA
merged, ``AutoModel``-loadable, processor and recipe beside it: what everybody else loads), optionally
``adapter/`` (the PEFT adapter + trained GIN/connector, to apply on the stage's *starting* model after the
same untie step), ``rejects.parquet`` (rows skipped for bad SMILES) and ``train_result.json``.
"""

# Each module's `__all__` is the one list of what it exports; the package re-exports all of them.
from . import recipe, run, trainer
from .recipe import *  # noqa: F403
from .run import *  # noqa: F403
from .trainer import *  # noqa: F403

__all__ = [*recipe.__all__, *run.__all__, *trainer.__all__]
