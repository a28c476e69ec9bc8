"""Training recipes: one YAML file per stage (``hub_configs/recipes/*.yaml``), parsed into a `Recipe`.

A recipe holds what differs between runs (stage, starting model, dataset config, LoRA, projector untying)
and an open ``training:`` block of `SFTConfig` fields laid over the paper's optimiser and schedule.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..factory import HUB_CONFIGS_DIR
from .graph_pretrain import GraphPretrainingArguments

RECIPES_DIR = HUB_CONFIGS_DIR / "recipes"
STAGES = ("graph-pretrain", "pretrain", "finetune", "chain")
# `stage: pipeline` was the name of a chain until 0.1 ("pipeline" now means only the Hugging Face one): still read.
OLD_STAGE_NAMES = {"pipeline": "chain"}

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
        stage: ``graph-pretrain`` (self-supervised GIN pretraining on the MOSES corpus, `graph_pretrain`),
            ``pretrain``, ``finetune`` or ``chain`` (``pipeline``, its 0.1 name, is still read).
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
        mixture_temperature: joint training (``dataset_config: a,b,...``): config ``i`` is drawn with probability
            ``∝ n_i ** (1 / T)`` (`moltc_hf.training.mixture`); 1 = by size, larger = flatter.
        stopping_strategy: `datasets.interleave_datasets`'s; ``all_exhausted`` sees every row at least once.
        padding_free: pack each batch's rows into one sequence (per-row position ids, attention that does not
            cross rows) instead of padding them to the longest row; the same loss, no compute on padding
            (`moltc_hf.collator`). Best with flash attention on CUDA (varlen kernels).
        sdpa_backends / frozen_weights_dtype / compile_graph_path: GPU-speed levers (`moltc_hf.training.speed`):
            the attention kernels allowed (``auto``: not cuDNN on CUDA), the frozen LLM weights' dtype (``auto``: bf16
            with LoRA + bf16 on CUDA), `torch.compile` of the GIN + Q-Former (off, or true / a backend name).
        pad_to_multiple_of: padded (and packed) batch lengths rounded up to a multiple of this: fewer shapes.
        graph_only_prompts: train on prompts without the SMILES text (`MolTCDataCollator.graph_only`): the
            graph tokens are then the molecules' only way in (stage-1 property pretraining, `tiny-property-pretrain`).
        graph_encoder: a pretrained GIN folder (`moltc pretrain-graph` output) that a model built fresh from
            ``model`` (a config name) starts from; in a chain, a ``graph-pretrain`` stage sets it for the next.
        freeze_graph_encoder: keep the GIN's weights fixed in this stage (a pretrained GIN used as a feature
            extractor, as the paper's stage 2 keeps it only through LoRA's ``modules_to_save``).
        graph_pretraining: for ``graph-pretrain``: `GraphPretrainingArguments` fields (``max_steps``,
            ``batch_size``, ``objectives``, ...); the corpus is MOSES from ``$MOLTC_RAW_DIR`` (or the molsets wheel
            there), the GIN's shape ``model``'s graph config.
        training: `SFTConfig` fields over `PAPER_TRAINING_DEFAULTS`.
        stages: for ``chain``: stage recipes (file names relative to this file, or inline mappings).
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
    mixture_temperature: float = 1.0
    stopping_strategy: str = "all_exhausted"
    padding_free: bool = False
    graph_only_prompts: bool = False
    graph_encoder: str | None = None
    freeze_graph_encoder: bool = False
    graph_pretraining: dict[str, Any] = field(default_factory=dict)
    sdpa_backends: str | list[str] = "auto"
    frozen_weights_dtype: str = "auto"
    compile_graph_path: bool | str = False
    pad_to_multiple_of: int | None = None
    training: dict[str, Any] = field(default_factory=dict)
    stages: list[Recipe] = field(default_factory=list)
    source: str | None = None

    def __post_init__(self):
        if self.stage not in STAGES:
            raise ValueError(f"Recipe {self.name!r}: stage must be one of {STAGES}, got {self.stage!r}")
        if self.stage == "chain" and not self.stages:
            raise ValueError(f"Recipe {self.name!r}: a chain needs a non-empty `stages` list")
        if self.stage not in ("chain", "graph-pretrain") and not self.dataset_config:
            raise ValueError(f"Recipe {self.name!r}: stage {self.stage!r} needs `dataset_config`")

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        *,
        base_dir: Path | None = None,
        name: str | None = None,
        where: str = "",
    ) -> Recipe:
        """Validate ``data`` field by field (the message names the key path) and build the recipe."""
        label = f"Recipe {(data.get('name', name) if isinstance(data, dict) else name)!r}"
        if not isinstance(data, dict):
            raise ValueError(f"{label}{where}: expected a mapping of recipe keys, got {_shown(data)}")
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"{label}: unknown key(s) {[where + str(k) for k in unknown]}; expected some of {sorted(known)}"
            )
        if "stage" not in data:
            raise ValueError(f"{label}: missing key {where}stage (one of {STAGES})")
        if data["stage"] in OLD_STAGE_NAMES:
            new = OLD_STAGE_NAMES[data["stage"]]
            warnings.warn(
                f"{label}: `stage: {data['stage']}` is now `stage: {new}`; the old name is read for now",
                FutureWarning,
                stacklevel=2,
            )
            data["stage"] = new
        validate_fields(data, label, where)
        data.setdefault("name", name or "recipe")
        data["stages"] = [
            load_recipe(s if Path(s).is_absolute() or base_dir is None else base_dir / s)
            if isinstance(s, str)
            else cls.from_dict(
                s, base_dir=base_dir, name=f"{data['name']}[{index}]", where=f"{where}stages[{index}]."
            )
            for index, s in enumerate(data.get("stages") or [])
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
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"Recipe {path}: not valid YAML ({' '.join(str(err).split())})") from None
    if data is None:
        raise ValueError(f"Recipe {path}: the file is empty (expected at least `stage:`)")
    if not isinstance(data, dict):
        raise ValueError(f"Recipe {path}: expected a mapping of recipe keys, got {_shown(data)}")
    loaded = Recipe.from_dict(data, base_dir=path.parent, name=path.stem)
    loaded.source = str(path)
    return loaded


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# key -> (check, what it must be); keys not listed (name, stages, source) are checked where they are used.
_FIELD_CHECKS: dict[str, tuple[Any, str]] = {
    "name": (lambda v: isinstance(v, str) and v, "a non-empty string"),
    "stage": (lambda v: v in STAGES, f"one of {list(STAGES)}"),
    "model": (lambda v: isinstance(v, str) and v.strip(), "a model config name, model folder or hub id"),
    "dataset_config": (lambda v: v is None or (isinstance(v, str) and v), "a dataset config name"),
    "untie_projectors": (lambda v: isinstance(v, bool), "true or false"),
    "lora": (
        lambda v: v is None or isinstance(v, dict),
        "a mapping of LoRA settings (r, lora_alpha, ...) or null",
    ),
    "freeze_language_model": (lambda v: isinstance(v, bool), "true or false"),
    "max_length": (
        lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1),
        "an integer >= 1 or null",
    ),
    "bf16": (lambda v: isinstance(v, bool) or v == "auto", "true, false or auto"),
    "gradient_checkpointing": (lambda v: isinstance(v, bool) or v == "auto", "true, false or auto"),
    "save_adapter": (lambda v: isinstance(v, bool), "true or false"),
    "decision_weight": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "mixture_temperature": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "stopping_strategy": (
        lambda v: v in ("all_exhausted", "first_exhausted", "all_exhausted_without_replacement"),
        "all_exhausted, first_exhausted or all_exhausted_without_replacement",
    ),
    "padding_free": (lambda v: isinstance(v, bool), "true or false"),
    "graph_only_prompts": (lambda v: isinstance(v, bool), "true or false"),
    "graph_encoder": (
        lambda v: v is None or (isinstance(v, str) and v.strip()),
        "a pretrained GIN folder or null",
    ),
    "graph_pretraining": (
        lambda v: v is None or isinstance(v, dict),
        "a mapping of graph pretraining settings",
    ),
    "freeze_graph_encoder": (lambda v: isinstance(v, bool), "true or false"),
    "sdpa_backends": (
        lambda v: (
            v in ("auto", "all")
            or (isinstance(v, list) and v and all(b in ("flash", "efficient", "cudnn", "math") for b in v))
        ),
        "auto, all or a list of flash, efficient, cudnn, math",
    ),
    "frozen_weights_dtype": (lambda v: v in ("auto", "float32", "bfloat16"), "auto, float32 or bfloat16"),
    "compile_graph_path": (
        lambda v: isinstance(v, bool) or (isinstance(v, str) and v),
        "true, false or a torch.compile backend name",
    ),
    "pad_to_multiple_of": (
        lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1),
        "an integer >= 1 or null",
    ),
    "training": (lambda v: v is None or isinstance(v, dict), "a mapping of SFTConfig fields"),
    "stages": (lambda v: v is None or isinstance(v, list), "a list of recipe files or mappings"),
}


def validate_fields(data: dict[str, Any], label: str, where: str = "") -> None:
    """Type/range checks of every recipe key, then of the ``lora:`` and ``training:`` blocks' keys."""
    for key, value in data.items():
        check, expected = _FIELD_CHECKS.get(key, (lambda v: True, ""))
        if not check(value):
            raise ValueError(f"{label}: {where}{key}: expected {expected}, got {_shown(value)}")
    if data.get("training") is None:
        data["training"] = {}
    if data.get("graph_pretraining") is None:
        data["graph_pretraining"] = {}
    if data["graph_pretraining"]:
        try:
            GraphPretrainingArguments.from_dict(data["graph_pretraining"])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{label}: {where}graph_pretraining: {err}") from None
    if data.get("lora"):
        validate_lora(data["lora"], label, f"{where}lora.")
    if data["training"]:
        validate_training(data["training"], label, f"{where}training.")


def validate_lora(lora: dict[str, Any], label: str, where: str) -> None:
    """``lora:`` keys are `moltc_lora_config`'s arguments."""
    import inspect

    from ..lora import moltc_lora_config

    parameters = inspect.signature(moltc_lora_config).parameters
    unknown = sorted(set(lora) - set(parameters))
    if unknown:
        raise ValueError(
            f"{label}: unknown key(s) {[where + str(k) for k in unknown]}; expected some of {sorted(parameters)}"
        )
    for key, value in lora.items():
        default = parameters[key].default
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ValueError(f"{label}: {where}{key}: expected true or false, got {_shown(value)}")
        if (
            isinstance(default, int)
            and not isinstance(default, bool)
            and not (isinstance(value, int) and not isinstance(value, bool) and value >= 1)
        ):
            raise ValueError(f"{label}: {where}{key}: expected an integer >= 1, got {_shown(value)}")
        if isinstance(default, float) and not (_is_number(value) and 0 <= value < 1):
            raise ValueError(f"{label}: {where}{key}: expected a number in [0, 1), got {_shown(value)}")


_SIMPLE_TYPES = {
    "<class 'bool'>": (lambda v: isinstance(v, bool), "true or false"),
    "bool | None": (lambda v: v is None or isinstance(v, bool), "true, false or null"),
    "<class 'int'>": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "int | None": (
        lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
        "an integer or null",
    ),
    "<class 'float'>": (_is_number, "a number"),
    "float | None": (lambda v: v is None or _is_number(v), "a number or null"),
    "<class 'str'>": (lambda v: isinstance(v, str), "a string"),
    "str | None": (lambda v: v is None or isinstance(v, str), "a string or null"),
}


def validate_training(training: dict[str, Any], label: str, where: str) -> None:
    """``training:`` keys must be `SFTConfig` fields, and simple-typed fields must hold that type.

    ``learning_rate: fast`` or a misspelt ``learning_rat`` would otherwise surface as a TRL traceback (or be
    silently ignored) at the start of training, after the model and data are loaded.
    """
    from trl import SFTConfig

    fields = {f.name: f for f in dataclasses.fields(SFTConfig) if f.init}
    if "padding_free" in training:
        # TRL's switch builds TRL's own collator (and refuses ours); MolTC's packing is the recipe key.
        raise ValueError(
            f"{label}: {where}padding_free: set padding_free at the top level of the recipe (MolTC's collator "
            "packs the rows); the SFTConfig field would replace that collator"
        )
    unknown = sorted(set(training) - set(fields))
    if unknown:
        raise ValueError(f"{label}: unknown key(s) {[where + str(k) for k in unknown]}: not SFTConfig fields")
    for key, value in training.items():
        check, expected = _SIMPLE_TYPES.get(str(fields[key].type), (lambda v: True, ""))
        if not check(value):
            raise ValueError(f"{label}: {where}{key}: expected {expected}, got {_shown(value)}")


def check_model_source(model: str, key: str = "model") -> None:
    """A model that is written as a path (``./x``, ``/x``, ``a/b/c``) must exist; names and hub ids pass."""
    looks_local = model.startswith((".", "/", "~")) or model.count("/") > 1
    if looks_local and not Path(model).expanduser().exists():
        raise FileNotFoundError(f"{key}: no such model folder {model!r}")


__all__ = [
    "PAPER_TRAINING_DEFAULTS",
    "RECIPES_DIR",
    "STAGES",
    "Recipe",
    "check_model_source",
    "load_recipe",
    "validate_fields",
]
