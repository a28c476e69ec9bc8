"""Convert original MolTC / MolCA checkpoints (PyTorch Lightning, LAVIS naming) into moltc-hf models.

The released checkpoints are Lightning ``.ckpt`` files whose ``state_dict`` holds ``blip2opt.*`` (MolTC
stage 2) or ``blip2qformer.*`` (MolCA stage 1) keys, named after the original modules:

* ``graph_encoder.*``: the pretrain-gnns GIN (`model/gin_model.py`); our GIN keeps its parameter names.
* ``ln_graph.*``: the LayerNorm on the node tokens -> ``graph_encoder.layernorm``.
* ``Qformer.bert.*``: LAVIS' ``BertLMHeadModel`` (SciBERT) -> `Blip2QFormerModel`, with the renames of
  transformers' ``convert_blip_2_original_to_pytorch.py``: ``embeddings.LayerNorm`` -> ``layernorm``,
  ``attention.self`` / ``crossattention.self`` -> ``attention.attention`` / ``crossattention.attention``.
  MolTC deletes the text branch (word/position embeddings, ``intermediate``, ``output``, ``cls``); MolCA
  stage-1 checkpoints still have it, and it is reported as ignored.
* ``query_tokens`` and ``opt_proj.*``: the learned queries and the Linear into the LLM width.
* ``opt_model.*``: the OPT/Galactica ``OPTForCausalLM``, either plain (``model.decoder.*``, ``lm_head``)
  or wrapped by PEFT (``base_model.model.model.decoder.*`` with ``lora_A`` / ``lora_B``), which is merged.
  The Lightning module drops ``opt_model`` keys unless the LLM was fully tuned, so a LoRA run ships its
  adapter as a separate PEFT folder (``--peft_dir``): pass it as ``peft_dir`` and the base LLM weights
  as ``base_model``.

Checkpoints are read with ``torch.load(weights_only=True)``: tensors only, no code runs. Lightning also
pickles its hyper-parameters (``argparse.Namespace`` / ``AttributeDict``); those classes are replaced by
inert dict stand-ins so the tensors load without trusting the file.
"""

from __future__ import annotations

import json
import logging
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file

from .factory import build_model
from .modeling_moltc import MolTCForConditionalGeneration, MolTCGraphEncoder
from .processing_moltc import MolTCProcessor

logger = logging.getLogger(__name__)

ORIGINAL_PREFIXES = ("blip2opt.", "blip2qformer.")

# (original key pattern, our key template); tried in order, first match wins.
_RENAMES: list[tuple[re.Pattern, str]] = [
    (re.compile(r"graph_encoder\.(.+)"), r"model.graph_encoder.\1"),
    (re.compile(r"ln_graph\.(weight|bias)"), r"model.graph_encoder.layernorm.\1"),
    (re.compile(r"query_tokens"), r"model.mol_connector.projectors.0.query_tokens"),
    (re.compile(r"opt_proj\.(weight|bias)"), r"model.mol_connector.projectors.0.language_projection.\1"),
    (
        re.compile(r"Qformer\.bert\.embeddings\.LayerNorm\.(weight|bias)"),
        r"model.mol_connector.projectors.0.qformer.layernorm.\1",
    ),
    (
        re.compile(r"Qformer\.bert\.encoder\.layer\.(\d+)\.(attention|crossattention)\.self\.(.+)"),
        r"model.mol_connector.projectors.0.qformer.encoder.layer.\1.\2.attention.\3",
    ),
    (
        re.compile(
            r"Qformer\.bert\.encoder\.layer\.(\d+)\.((?:attention|crossattention)\.output|intermediate_query|output_query)\.(.+)"
        ),
        r"model.mol_connector.projectors.0.qformer.encoder.layer.\1.\2.\3",
    ),
    (re.compile(r"opt_model\.model\.decoder\.(.+)"), r"model.language_model.decoder.\1"),
    (re.compile(r"opt_model\.lm_head\.weight"), r"lm_head.weight"),
]

# Parts of the original that have no counterpart by design (reported, never an error).
_IGNORED = re.compile(
    r"Qformer\.(cls\..*|bert\.embeddings\.(word_embeddings|position_embeddings)\..*|bert\.embeddings\.position_ids"
    r"|bert\.encoder\.layer\.\d+\.(intermediate|output)\..*)"
    r"|(vision_proj|text_proj|graph_proj|itm_head)\..*|temp"
)

_PEFT_PREFIX = "opt_model.base_model.model."
_LORA_KEY = re.compile(r"(.+)\.lora_([AB])(?:\.[^.]+)?\.weight$")


class CheckpointConversionError(ValueError):
    """The checkpoint does not fit the target model (shape mismatch, missing weights, unknown layout)."""


@dataclass
class ConversionReport:
    """What the conversion did, key by key, so nothing is dropped silently."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # our keys the checkpoint did not provide
    unmatched: list[str] = field(default_factory=list)  # original keys with no counterpart
    ignored: list[str] = field(default_factory=list)  # original keys dropped by design (unused text branch)
    merged_lora: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"loaded {len(self.loaded)} tensors, merged LoRA into {len(self.merged_lora)} weights",
            f"ignored {len(self.ignored)} unused original tensors (Q-Former text branch)",
            f"unmatched original keys ({len(self.unmatched)}): {self.unmatched[:20]}",
            f"missing (kept from initialisation) ({len(self.missing)}): {self.missing[:20]}",
        ]
        return "\n".join(lines + self.notes)


class _Opaque(dict):
    """Inert stand-in for pickled non-tensor objects (hyper-parameters); keeps their state as a dict."""

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.update(state)
        else:
            self["state"] = state


class _PlainDict:
    """Stand-in for pickled *dict subclasses* (Lightning's ``AttributeDict``): rebuilt as a plain ``dict``.

    Their items arrive through the pickle's SETITEMS opcode, which the weights-only unpickler applies only to
    an exact ``dict``; a dict-subclass stand-in fails there ("Can only SETITEMS for dict ...").
    """

    def __new__(cls, *args, **kwargs):
        return {}


# Pickled classes known to be dict subclasses (by their last name part), rebuilt with `_PlainDict`.
_DICT_SUBCLASSES = ("AttributeDict",)


def load_torch_checkpoint(path: str | Path) -> dict:
    """``torch.load(weights_only=True)`` with the non-tensor classes of a Lightning checkpoint made inert."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}")
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    stand_ins = [
        (type(short, (_PlainDict if short in _DICT_SUBCLASSES else _Opaque,), {}), name)
        for name in unsafe
        for short in [name.rsplit(".", 1)[-1]]
    ]
    try:
        with torch.serialization.safe_globals(stand_ins):
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, TypeError, ValueError, EOFError) as err:
        # e.g. a pickle that *calls* a global (os.system, ...): the stand-in refuses the call's arguments
        named = f" (it pickles {unsafe[:5]})" if unsafe else ""
        # torch's own text also suggests weights_only=False, which would run the payload: keep only the reason
        reasons = [part for part in str(err).split("\n\n") if part.strip() and "weights_only" not in part]
        reason = (reasons[0] if reasons else str(err)).replace("WeightsUnpickler error:", "")
        message = " ".join(reason.split())[:300]
        raise CheckpointConversionError(
            f"{path}: not a loadable tensors-only checkpoint{named}; refused without running it: {message}"
        ) from None


def original_state_dict(checkpoint: dict | str | Path) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of a Lightning checkpoint with the ``blip2opt.`` / ``blip2qformer.`` prefix removed."""
    if not isinstance(checkpoint, dict):
        checkpoint = load_torch_checkpoint(checkpoint)
    state = checkpoint.get("state_dict", checkpoint)
    stripped = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        prefix = next((p for p in ORIGINAL_PREFIXES if key.startswith(p)), None)
        stripped[key[len(prefix) :] if prefix else key] = value
    if not any(k.startswith(("graph_encoder.", "Qformer.", "opt_model.")) for k in stripped):
        raise CheckpointConversionError(
            "This does not look like a MolTC/MolCA checkpoint: no 'blip2opt.graph_encoder.*', "
            "'blip2opt.Qformer.*' or 'blip2opt.opt_model.*' keys in its state_dict."
        )
    return stripped


def merge_lora(
    state: dict[str, torch.Tensor], scaling: float, report: ConversionReport
) -> dict[str, torch.Tensor]:
    """Fold PEFT LoRA pairs into their base weights (W += scaling * B @ A) and drop the PEFT wrapping."""
    lora: dict[str, dict[str, torch.Tensor]] = {}
    plain: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith(_PEFT_PREFIX):
            key = "opt_model." + key[len(_PEFT_PREFIX) :]
        match = _LORA_KEY.match(key)
        if match:
            lora.setdefault(match.group(1), {})[match.group(2)] = value
            continue
        plain[key.replace(".base_layer.", ".")] = value
    for module, pair in sorted(lora.items()):
        weight_key = f"{module}.weight"
        if set(pair) != {"A", "B"} or weight_key not in plain:
            raise CheckpointConversionError(
                f"Incomplete LoRA pair for {module!r}: has {sorted(pair)}, base weight "
                f"{'present' if weight_key in plain else 'missing'}."
            )
        delta = (pair["B"].float() @ pair["A"].float()) * scaling
        plain[weight_key] = (plain[weight_key].float() + delta).to(plain[weight_key].dtype)
        report.merged_lora.append(weight_key)
    return plain


def lora_scaling_and_source(
    checkpoint: dict,
    lora_r: int | None = None,
    lora_alpha: float | None = None,
    peft_config: str | Path | None = None,
) -> tuple[float, str]:
    """alpha / r and where it came from: the arguments, else ``peft_config``, else the hyper-parameters.

    The original builds its LoRA from ``--peft_config`` (a PEFT ``LoraConfig`` JSON) when the run was given
    one, and then leaves its ``lora_r`` / ``lora_alpha`` hyper-parameters at their defaults (8 / 32): with a
    ``lora_config.json`` of r=16 the hyper-parameters would give twice the real scale. So the run's
    ``peft_config`` file, when the caller passes it, wins over the hyper-parameters; without either, MolTC's
    defaults (32 / 8) apply.
    """
    r, alpha, origin = _lora_r_alpha(checkpoint, lora_r, lora_alpha, peft_config)[:3]
    return float(alpha) / float(r), f"r={r}, lora_alpha={alpha} from {origin}"


def _read_peft_config(peft_config: str | Path) -> dict:
    path = Path(peft_config)
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointConversionError(f"--peft-config {path}: not a readable LoRA config ({err})") from None
    if not isinstance(config, dict):
        raise CheckpointConversionError(f"--peft-config {path}: not a LoRA config (a JSON object)")
    return config


def _lora_r_alpha(checkpoint, lora_r, lora_alpha, peft_config) -> tuple[int, float, str, str]:
    """``(r, alpha, origin, where r came from)`` by the rule of `lora_scaling_and_source`."""
    if peft_config is not None:
        config = _read_peft_config(peft_config)
        r, alpha = config.get("r", 8), config.get("lora_alpha", 8)  # PEFT's defaults
        origin = r_origin = Path(peft_config).name
    else:
        hparams = checkpoint.get("hyper_parameters", {}) if isinstance(checkpoint, dict) else {}
        hparams = hparams if isinstance(hparams, dict) else {}
        r, alpha = hparams.get("lora_r") or 8, hparams.get("lora_alpha") or 32
        given = hparams.get("lora_r") or hparams.get("lora_alpha")
        origin = r_origin = "the checkpoint's hyper-parameters" if given else "MolTC's defaults"
    if lora_r or lora_alpha:
        origin = f"the caller's arguments over {origin}"
    r_origin = "--lora-r" if lora_r else r_origin
    return lora_r or r, lora_alpha or alpha, origin, r_origin


def lora_in_state(state: dict[str, torch.Tensor]) -> tuple[set[int], list[str]]:
    """The ranks of the LoRA pairs in a state dict (rows of each ``lora_A``) and the modules they adapt
    (``q_proj``, ``fc1``, ...): what the run really trained, whatever its hyper-parameters say."""
    ranks, targets = set(), set()
    for key, value in state.items():
        match = _LORA_KEY.match(key)
        if match and match.group(2) == "A" and isinstance(value, torch.Tensor) and value.dim() == 2:
            ranks.add(int(value.shape[0]))
            targets.add(match.group(1).rsplit(".", 1)[-1])
    return ranks, sorted(targets)


def checked_lora_scaling(
    state: dict[str, torch.Tensor],
    checkpoint: dict,
    lora_r: int | None = None,
    lora_alpha: float | None = None,
    peft_config: str | Path | None = None,
) -> tuple[float, str]:
    """alpha / r for the checkpoint's own LoRA pairs, with r checked against the rank of its tensors.

    A run given ``--peft_config`` (MolTC's ``lora_config.json``: r=16, alpha=32, five modules) keeps its unused
    ``lora_r=8`` hyper-parameter, so r from the hyper-parameters would double the scale. The ``lora_A`` tensors
    say the real rank: without ``--peft-config`` / ``--lora-r`` it replaces the hyper-parameters' r (alpha stays
    theirs, 32, which is also ``lora_config.json``'s); a rank or target list given explicitly that contradicts
    the tensors is refused, since it would merge the wrong scale silently.
    """
    ranks, targets = lora_in_state(state)
    r, alpha, origin, r_origin = _lora_r_alpha(checkpoint, lora_r, lora_alpha, peft_config)
    if not ranks:
        return float(alpha) / float(r), f"r={r}, lora_alpha={alpha} from {origin}"
    if len(ranks) > 1:
        raise CheckpointConversionError(
            f"The checkpoint's LoRA pairs have different ranks {sorted(ranks)} (a per-module rank_pattern); "
            "merging them with one alpha/r would be wrong, so the conversion is refused."
        )
    rank = ranks.pop()
    found = f"the checkpoint's lora_A tensors are rank {rank} on {', '.join(targets)}"
    if peft_config is not None:
        config_targets = _read_peft_config(peft_config).get("target_modules")
        if isinstance(config_targets, list) and not set(targets) <= set(config_targets):
            raise CheckpointConversionError(
                f"--peft-config {Path(peft_config).name} targets {sorted(config_targets)} but {found}: it is not "
                "this run's LoRA config"
            )
    if r != rank and (lora_r or (peft_config is not None)):
        raise CheckpointConversionError(
            f"{r_origin} says r={r} but {found}; the merge would use a scale {rank / r:g}x off. Pass the run's "
            "own LoRA config (or leave --lora-r out: the rank is read from the tensors)."
        )
    if r != rank:
        logger.warning(
            "LoRA rank: %s, not the r=%s of %s (the run used a --peft_config); merging with r=%d, lora_alpha=%s.",
            found,
            r,
            r_origin,
            rank,
            alpha,
        )
        origin = f"the rank of the lora_A tensors (not r={r} of {r_origin}), lora_alpha from {origin}"
    return float(alpha) / float(rank), f"r={rank}, lora_alpha={alpha} from {origin}; {found}"


def read_peft_adapter(peft_dir: str | Path) -> tuple[dict[str, torch.Tensor], float]:
    """A PEFT adapter folder (``adapter_config.json`` + ``adapter_model.safetensors`` or ``.bin``) as
    ``opt_model.*``-prefixed LoRA tensors and its scaling."""
    peft_dir = Path(peft_dir)
    config = json.loads((peft_dir / "adapter_config.json").read_text())
    if (peft_dir / "adapter_model.safetensors").is_file():
        weights = load_file(peft_dir / "adapter_model.safetensors")
    elif (peft_dir / "adapter_model.bin").is_file():
        weights = load_torch_checkpoint(peft_dir / "adapter_model.bin")
    else:
        raise FileNotFoundError(f"No adapter_model.safetensors or adapter_model.bin in {peft_dir}")
    ranks, targets = lora_in_state(weights)
    if ranks and ranks != {config.get("r", 8)}:
        raise CheckpointConversionError(
            f"{peft_dir / 'adapter_config.json'}: r={config.get('r', 8)} but its adapter's lora_A tensors are "
            f"rank {sorted(ranks)} on {', '.join(targets)}; the folder's config does not match its weights."
        )
    scaling = float(config.get("lora_alpha", 32)) / float(config.get("r", 8))
    return {"opt_model." + k[len("base_model.model.") :]: v for k, v in weights.items()}, scaling


def rename_original_keys(state: dict[str, torch.Tensor], report: ConversionReport) -> dict[str, torch.Tensor]:
    """Original (prefix-free, LoRA-merged) names -> ``MolTCForConditionalGeneration`` names."""
    renamed = {}
    for key, value in state.items():
        for pattern, template in _RENAMES:
            if pattern.fullmatch(key):
                renamed[pattern.sub(template, key)] = value
                break
        else:
            (report.ignored if _IGNORED.fullmatch(key) else report.unmatched).append(key)
    return renamed


def _shape_mismatches(
    state: dict[str, torch.Tensor], target: dict[str, torch.Tensor], source: str
) -> list[str]:
    """``"<key>: <source> (shape) vs model (shape)"`` for every key both have with different shapes."""
    return [
        f"{key}: {source} {tuple(value.shape)} vs model {tuple(target[key].shape)}"
        for key, value in state.items()
        if key in target and value.shape != target[key].shape
    ]


def load_converted_state(
    model: MolTCForConditionalGeneration, state: dict[str, torch.Tensor], report: ConversionReport
) -> None:
    """Copy renamed tensors into ``model``; refuse (before touching anything) when any shape disagrees."""
    target = model.state_dict()
    mismatched = _shape_mismatches(state, target, "checkpoint")
    if mismatched:
        raise CheckpointConversionError(
            "Checkpoint and model config disagree on shapes; pick the matching --model-config (and, for the "
            "vocabulary, the original tokenizer):\n  " + "\n  ".join(mismatched[:20])
        )
    report.unmatched.extend(sorted(k for k in state if k not in target))
    known = {k: v for k, v in state.items() if k in target}
    if "lm_head.weight" in known and "model.language_model.decoder.embed_tokens.weight" in known:
        known.pop("lm_head.weight")  # tied to the input embeddings
    model.load_state_dict(known, strict=False)
    model.tie_weights()
    report.loaded = sorted(known)
    tied = {"lm_head.weight"} if model.config.tie_word_embeddings else set()
    report.missing = sorted(k for k in target if k not in known and k not in tied)


def convert_original_checkpoint(
    checkpoint: str | Path | dict,
    *,
    model_config: str | Path = "galactica-1.3b",
    tokenizer=None,
    peft_dir: str | Path | None = None,
    base_model: str | Path | None = None,
    lora_r: int | None = None,
    lora_alpha: float | None = None,
    peft_config: str | Path | None = None,
) -> tuple[MolTCForConditionalGeneration, MolTCProcessor, ConversionReport]:
    """Build a moltc-hf model from an original MolTC/MolCA Lightning checkpoint.

    Args:
        checkpoint: path to the ``.ckpt`` (or the loaded dict).
        model_config: the `hub_configs/models` shape it was trained with (``galactica-1.3b`` for the paper).
        tokenizer: the tokenizer the checkpoint's vocabulary belongs to (Galactica + ``<mol>``); default: ours.
        peft_dir: the original run's PEFT adapter folder, merged into the LLM.
        base_model: a causal LM (hub id / folder) whose weights fill the LLM when the checkpoint has none.
        lora_r, lora_alpha: LoRA scaling for LoRA keys inside the checkpoint (default: ``peft_config``, else
            its hyper-parameters).
        peft_config: the ``--peft_config`` JSON the original run was given, if any: its ``r`` / ``lora_alpha``
            are the scale the run really used (`lora_scaling_and_source`). The report says which scale applied.

    The GIN's self-loop bond type is set to 0, as in the original code (`gin_model.py` ``fill_value=0``).
    """
    if not isinstance(checkpoint, dict):
        checkpoint = load_torch_checkpoint(checkpoint)
    report = ConversionReport()
    state = original_state_dict(checkpoint)
    scaling, origin = checked_lora_scaling(state, checkpoint, lora_r, lora_alpha, peft_config)
    state = merge_lora(state, scaling, report)
    if report.merged_lora:
        report.notes.append(f"in-checkpoint LoRA merged with scale alpha/r = {scaling:g} ({origin})")
    model, processor = build_model(model_config, tokenizer=tokenizer, seed=0)
    # The original trained on targets whose `</s>` separators Galactica tokenized as eos: score them that way.
    processor.answer_control_tokens_as_text = False
    _use_original_self_loops(model.model.graph_encoder)
    model.config.graph_batch_per_role = True  # the original's BatchNorm behaviour when fine-tuned further
    if base_model is not None:
        _load_base_language_model(model, base_model, report)
    if peft_dir is not None:
        adapter, scaling = read_peft_adapter(peft_dir)
        llm = {
            **_language_model_as_original(model),
            **{k: v for k, v in state.items() if k.startswith("opt_model.")},
        }
        state.update(merge_lora({**llm, **adapter}, scaling, report))
    elif base_model is None and not any(k.startswith("opt_model.") for k in state):
        report.notes.append(
            "The checkpoint has no LLM weights (Lightning drops opt_model.* unless the LLM was fully tuned): "
            "the language model keeps its initialisation. Pass base_model (and peft_dir for LoRA runs)."
        )
    load_converted_state(model, rename_original_keys(state, report), report)
    model.eval()
    return model, processor, report


def _use_original_self_loops(encoder: MolTCGraphEncoder) -> None:
    encoder.config.self_loop_bond_type = 0
    for layer in encoder.gnns:
        layer.self_loop_bond_type = 0


def _language_model_as_original(model: MolTCForConditionalGeneration) -> dict[str, torch.Tensor]:
    """Our LLM weights under the original ``opt_model.model.*`` names (the base an adapter merges into)."""
    return {f"opt_model.model.{k}": v for k, v in model.model.language_model.state_dict().items()}


def _load_base_language_model(
    model: MolTCForConditionalGeneration, base_model: str | Path, report: ConversionReport
) -> None:
    from transformers import AutoModel

    language_model = AutoModel.from_pretrained(base_model)
    ours = model.model.language_model
    embeddings = language_model.get_input_embeddings().weight
    if embeddings.shape[0] < ours.get_input_embeddings().weight.shape[0]:
        language_model.resize_token_embeddings(ours.get_input_embeddings().weight.shape[0])
    missing, unexpected = ours.load_state_dict(language_model.state_dict(), strict=False)
    report.unmatched.extend(f"base_model:{k}" for k in unexpected)
    model.tie_weights()


# -- GraphCL / pretrain-gnns GIN weights ------------------------------------------------------------------------


def load_graphcl_weights(model_or_encoder, path: str | Path) -> ConversionReport:
    """Load a pretrain-gnns GIN checkpoint (e.g. MolTC's ``gin_pretrained/graphcl_80.pth``) into the GIN.

    Keys are the original ones (``x_embedding1.weight``, ``gnns.0.mlp.0.weight``, ``batch_norms.0.running_mean``,
    ...), which our `MolTCGraphEncoder` keeps. The LayerNorm is not part of such a file and stays as is.
    GraphCL was trained with pretrain-gnns' self-loop bond type 4, our default, so the config is left alone.
    Accepts ``.pth``/``.pt`` (read with ``weights_only=True``) or ``.safetensors``.
    """
    encoder = model_or_encoder
    if not isinstance(encoder, MolTCGraphEncoder):
        encoder = (
            model_or_encoder.model.graph_encoder
            if hasattr(model_or_encoder, "model")
            else model_or_encoder.graph_encoder
        )
    path = Path(path)
    state = load_file(path) if path.suffix == ".safetensors" else load_torch_checkpoint(path)
    state = {
        k.removeprefix("gnn.").removeprefix("graph_encoder."): v
        for k, v in state.items()
        if isinstance(v, torch.Tensor)
    }
    report = ConversionReport()
    target = encoder.state_dict()
    mismatched = _shape_mismatches(state, target, "file")
    if mismatched:
        raise CheckpointConversionError(
            f"GIN weights in {path} do not fit graph_config:\n  " + "\n  ".join(mismatched)
        )
    known = {k: v for k, v in state.items() if k in target}
    if not known:
        raise CheckpointConversionError(
            f"{path} has no GIN keys (expected 'x_embedding1.weight', 'gnns.0.mlp.0.weight', ...)"
        )
    encoder.load_state_dict(known, strict=False)
    report.loaded = sorted(known)
    report.unmatched = sorted(k for k in state if k not in target)
    report.missing = sorted(k for k in target if k not in known)
    return report


__all__ = [
    "CheckpointConversionError",
    "ConversionReport",
    "checked_lora_scaling",
    "convert_original_checkpoint",
    "load_graphcl_weights",
    "load_torch_checkpoint",
    "lora_in_state",
    "merge_lora",
    "original_state_dict",
    "rename_original_keys",
]
