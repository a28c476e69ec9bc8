"""Training recipes: one YAML file per stage (``hub_configs/recipes/*.yaml``), parsed into a `Recipe`.

A recipe holds what differs between runs (stage, starting model, dataset config, LoRA, projector untying)
and an open ``training:`` block of `SFTConfig` fields laid over the paper's optimiser and schedule.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..factory import HUB_CONFIGS_DIR

RECIPES_DIR = HUB_CONFIGS_DIR / "recipes"
STAGES = ("pretrain", "finetune", "pipeline")

# The paper's optimiser and schedule (LAVIS linear-warmup-cosine, AdamW 1e-4 -> 1e-5, wd 0.05) expressed with
# transformers' own scheduler. A recipe's ``training:`` block overrides any of these or sets any other SFTConfig field.
PAPER_TRAINING_DEFAULTS: dict[str, Any] = {
    "optim": "adamw_torch",
    "learning_rate": 1e-4,
    "weight_decay": 0.05,
    "lr_scheduler_type": "cosine_with_min_lr",
    "lr_scheduler_kwargs": {"min_lr": 1e-5},
    "warmup_steps": 0.05,
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 8,
    "num_train_epochs": 10,
    "logging_steps": 10,
    "save_strategy": "steps",
    "save_steps": 500,
    "save_total_limit": 2,
    "eval_strategy": "no",
    "report_to": "none",
    "seed": 0,
    "dataloader_num_workers": 0,
}


@dataclass
class Recipe:
    """One training stage (or a chain of them), as read from a recipe YAML file.

    Attributes:
        name: recipe name (the file stem by default).
        stage: ``pretrain``, ``finetune`` or ``pipeline``.
        model: where a run starts when `train` gets no ``model``: a `hub_configs/models` name (fresh build),
            a saved model folder or a hub id.
        dataset_config: the dataset folder's config (``pretrain``, ``freesolv``, ``drugbank``, ...).
        untie_projectors: at the start of this stage, give each molecule role its own projector.
        lora: LoRA settings passed to `moltc_lora_config` (``r``, ``lora_alpha``, ...); ``None`` for no LoRA.
        freeze_language_model: without LoRA, keep the LLM frozen (pair pretraining); ignored with LoRA.
        max_length: the collator's token limit (placeholders are never cut).
        bf16 / gradient_checkpointing: ``"auto"`` follows the device (on with CUDA, off on CPU).
        save_adapter: also write the PEFT adapter to ``output_dir/adapter``.
        decision_weight: loss weight of the tokens that decide a classification answer (1 = the paper's plain
            token mean; see `moltc_hf.collator`).
        training: `SFTConfig` fields over `PAPER_TRAINING_DEFAULTS`.
        stages: for ``pipeline``: stage recipes (file names relative to this file, or inline mappings).
    """

    name: str
    stage: str
    model: str = "tiny"
    dataset_config: str | None = None
    untie_projectors: bool = False
    lora: dict[str, Any] | None = None
    freeze_language_model: bool = True
    max_length: int | None = 512
    bf16: bool | str = "auto"
    gradient_checkpointing: bool | str = "auto"
    save_adapter: bool = False
    decision_weight: float = 1.0
    training: dict[str, Any] = field(default_factory=dict)
    stages: list[Recipe] = field(default_factory=list)
    source: str | None = None

    def __post_init__(self):
        if self.stage not in STAGES:
            raise ValueError(f"Recipe {self.name!r}: stage must be one of {STAGES}, got {self.stage!r}")
        if self.stage == "pipeline" and not self.stages:
            raise ValueError(f"Recipe {self.name!r}: a pipeline needs a non-empty `stages` list")
        if self.stage != "pipeline" and not self.dataset_config:
            raise ValueError(f"Recipe {self.name!r}: stage {self.stage!r} needs `dataset_config`")

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, base_dir: Path | None = None, name: str | None = None
    ) -> Recipe:
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"Recipe {data.get('name', name)!r}: unknown key(s) {unknown}; expected some of {sorted(known)}"
            )
        data.setdefault("name", name or "recipe")
        data["stages"] = [
            load_recipe(s if Path(s).is_absolute() or base_dir is None else base_dir / s)
            if isinstance(s, str)
            else cls.from_dict(s, base_dir=base_dir)
            for s in data.get("stages") or []
        ]
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["stages"] = [stage.to_dict() for stage in self.stages]
        out.pop("source")
        return out


def load_recipe(recipe: str | Path | Recipe) -> Recipe:
    """A `Recipe` from a YAML path or a name in ``hub_configs/recipes`` (``tiny-finetune``)."""
    if isinstance(recipe, Recipe):
        return recipe
    path = Path(recipe)
    if not path.is_file():
        candidate = RECIPES_DIR / f"{recipe}.yaml"
        if not candidate.is_file():
            names = sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))
            raise FileNotFoundError(f"No recipe {str(recipe)!r}: not a file and not one of {names}")
        path = candidate
    data = yaml.safe_load(path.read_text()) or {}
    loaded = Recipe.from_dict(data, base_dir=path.parent, name=path.stem)
    loaded.source = str(path)
    return loaded


__all__ = ["PAPER_TRAINING_DEFAULTS", "RECIPES_DIR", "STAGES", "Recipe", "load_recipe"]
