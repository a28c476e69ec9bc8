"""`build_model`: the one builder for a fresh MolTC model + processor from a `hub_configs/models/` file.

Tests, quickstart, benchmarks and users all go through here, so the config -> tokenizer -> model wiring
(vocab size from ``len(tokenizer)``, pad/bos/eos ids copied into the text config, the ``<mol>`` id, the
answer-end stop token) lives in one place.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer

from .configuration_moltc import MOL_TOKEN, MolTCConfig, MolTCGraphConfig
from .modeling_moltc import MolTCForConditionalGeneration
from .processing_moltc import MolTCProcessor
from .tokenization_moltc import build_tokenizer


def _hub_configs_dir():
    """The shipped configs: package data (pyproject.toml maps the top-level hub_configs/ to the package
    moltc_hf.hub_configs), found through the import system in a wheel, an install and a Space. A source checkout
    run with ``PYTHONPATH=src`` (no install, so no mapping: `benchmarks/gpu_check.sh` on a fresh clone) reads the
    checkout's own hub_configs/, which is also the one to prefer when an install of another tree is on the path."""
    checkout = Path(__file__).resolve().parents[2] / "hub_configs"
    if (checkout / "models").is_dir() and (checkout / "recipes").is_dir():
        return checkout
    return files("moltc_hf.hub_configs")


HUB_CONFIGS_DIR = _hub_configs_dir()
MODEL_CONFIGS_DIR = HUB_CONFIGS_DIR / "models"
# A pretrained graph encoder folder (`moltc pretrain-graph`): the GIN's weights (pretrain-gnns key names) and its
# `MolTCGraphConfig`, which replaces the model config's own graph config when a model is built from it.
GRAPH_ENCODER_WEIGHTS = "graph_encoder.safetensors"
GRAPH_CONFIG_FILE = "graph_config.json"


def available_model_configs() -> list[str]:
    return sorted(p.stem for p in MODEL_CONFIGS_DIR.glob("*.json"))


def resolve_model_config(name_or_path: str | Path) -> Path:
    """A config name (``tiny``, ``galactica-125m``, ...) or a path to a JSON file."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    candidate = MODEL_CONFIGS_DIR / f"{name_or_path}.json"
    if candidate.is_file():
        return candidate
    raise FileNotFoundError(
        f"No model config {str(name_or_path)!r}: not a file and not one of {available_model_configs()} "
        f"in {MODEL_CONFIGS_DIR}"
    )


def load_model_spec(name_or_path: str | Path) -> dict:
    spec = json.loads(resolve_model_config(name_or_path).read_text())
    return {k: v for k, v in spec.items() if not k.startswith("_")}


def build_config(spec: dict, tokenizer) -> MolTCConfig:
    """MolTCConfig from a spec dict, sized and wired to ``tokenizer``."""
    text_config = dict(spec["text_config"])
    text_config["vocab_size"] = max(int(text_config.get("vocab_size", 0)), len(tokenizer))
    text_config["pad_token_id"] = tokenizer.pad_token_id
    text_config["eos_token_id"] = tokenizer.eos_token_id
    text_config["bos_token_id"] = (
        tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    )
    model_keys = {
        "graph_config",
        "qformer_config",
        "num_query_tokens",
        "projector_sharing",
        "num_molecule_roles",
    }
    kwargs = {k: v for k, v in spec.items() if k in model_keys}
    return MolTCConfig(
        text_config=text_config,
        mol_token=MOL_TOKEN,
        mol_token_id=tokenizer.convert_tokens_to_ids(MOL_TOKEN),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **kwargs,
    )


def build_model(
    name_or_path: str | Path = "tiny",
    *,
    pretrained_text_model: bool = False,
    tokenizer=None,
    seed: int | None = 0,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
    graph_encoder: str | Path | None = None,
) -> tuple[MolTCForConditionalGeneration, MolTCProcessor]:
    """Build a fresh, untrained MolTC model and its processor from a model config.

    Args:
        name_or_path: a `hub_configs/models/` name (``tiny``, ``galactica-125m``, ``galactica-1.3b``) or a JSON path.
        pretrained_text_model: load the LLM weights and tokenizer named by the config's ``pretrained_text_model``
            (the ordinary transformers hub path; needs network or a local cache). Default: build from config
            with a locally trained tokenizer.
        tokenizer: use this tokenizer instead (MolTC's special tokens are added if missing).
        seed: seeds the random init, so the same seed gives the same weights.
        graph_encoder: a pretrained GIN folder (`moltc pretrain-graph` output: ``graph_encoder.safetensors`` +
            ``graph_config.json``): its graph config replaces the spec's and its weights are loaded.
    """
    spec = load_model_spec(name_or_path)
    encoder_weights = None
    if graph_encoder is not None:
        spec["graph_config"], encoder_weights = read_graph_encoder(graph_encoder)
    tokenizer_spec = spec.get("tokenizer", {})
    if tokenizer is None:
        if pretrained_text_model and tokenizer_spec.get("name_or_path"):
            tokenizer = AutoTokenizer.from_pretrained(tokenizer_spec["name_or_path"])
        else:
            tokenizer = build_tokenizer(**tokenizer_spec.get("train", {}))
    processor = MolTCProcessor(tokenizer=tokenizer, num_query_tokens=spec.get("num_query_tokens", 8))
    config = build_config(spec, processor.tokenizer)
    if seed is not None:
        torch.manual_seed(seed)
    model = MolTCForConditionalGeneration(config)
    if pretrained_text_model:
        language_model = AutoModel.from_pretrained(spec["pretrained_text_model"])
        language_model.resize_token_embeddings(config.text_config.vocab_size)
        model.model.language_model.load_state_dict(language_model.state_dict())
        model.tie_weights()
    if encoder_weights is not None:
        model.model.graph_encoder.load_state_dict(encoder_weights)
        model.config.pretrained_graph_encoder = str(graph_encoder)
    configure_generation(model, processor)
    if dtype is not None:
        model = model.to(dtype)
    if device is not None:
        model = model.to(device)
    return model, processor


def read_graph_encoder(folder: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """``(graph config dict, GIN state dict)`` of a pretrained graph encoder folder, with a message that names
    what is missing (a ``final/`` inside the folder given is found too: the folder a run writes)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if (
        not (folder / GRAPH_ENCODER_WEIGHTS).is_file()
        and (folder / "final" / GRAPH_ENCODER_WEIGHTS).is_file()
    ):
        folder = folder / "final"
    missing = [name for name in (GRAPH_ENCODER_WEIGHTS, GRAPH_CONFIG_FILE) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"graph_encoder: {folder} is not a pretrained graph encoder folder (missing {', '.join(missing)}; "
            "`moltc pretrain-graph --out DIR` writes DIR/final)"
        )
    config = json.loads((folder / GRAPH_CONFIG_FILE).read_text())
    keep = MolTCGraphConfig.__annotations__  # its own fields; the file also holds PreTrainedConfig's
    return {k: v for k, v in config.items() if k in keep}, load_file(str(folder / GRAPH_ENCODER_WEIGHTS))


def configure_generation(model: MolTCForConditionalGeneration, processor: MolTCProcessor) -> None:
    """Stop on the answer-end token (``\\n``), not on ``</s>``: MolTC answers use ``</s>`` as a separator.

    The id is recorded in ``config.answer_end_token_id`` too, so the model's `save_pretrained` can restore it
    after a `transformers.Trainer` / TRL ``SFTTrainer`` aligned the generation config's eos to the tokenizer's.
    """
    tokenizer = processor.tokenizer
    model.config.answer_end_token_id = processor.answer_end_token_id
    model.generation_config.eos_token_id = processor.answer_end_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = model.config.text_config.bos_token_id


__all__ = [
    "GRAPH_CONFIG_FILE",
    "GRAPH_ENCODER_WEIGHTS",
    "available_model_configs",
    "build_config",
    "build_model",
    "configure_generation",
    "load_model_spec",
    "read_graph_encoder",
]
