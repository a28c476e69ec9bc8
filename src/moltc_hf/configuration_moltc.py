# Checkpoint file: save_pretrained copies it beside the weights (auto_map), so it may import only the other
# checkpoint files (configuration_moltc, modeling_moltc, processing_moltc, featurization), relatively.
# They own the special-token strings (configuration_moltc.MOL_TOKEN, ...); the rest of moltc_hf imports them.
"""MolTC model configuration.

A MolTC model is three blocks, each with its own sub-config, held by one composite config the way
`LlavaConfig` / `Blip2Config` hold theirs:

* `graph_config` (`MolTCGraphConfig`): the GIN graph encoder over the original MolTC atom/bond vocabulary.
* `qformer_config` (`Blip2QFormerConfig`): the Q-Former that turns graph nodes into `num_query_tokens` tokens.
* `text_config` (any causal-LM config, OPT/Galactica by default): the language model.

`projector_sharing` selects between the released code ("tied": one Q-Former + projector for both
molecules) and the paper ("untied": one per molecule role, e.g. solvent / solute).
"""

from __future__ import annotations

from typing import Literal

from transformers import AutoConfig, Blip2QFormerConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

# Original MolTC / pretrain-gnns vocabulary sizes: the embedding tables must keep these shapes so
# released GIN and MolCA weights load. See `featurization.py` for the index meaning.
# The special-token strings of MolTC prompts. The checkpoint files own them (everything else imports them
# from here): a saved model's processor and config must agree with the prompts written for it.
MOL_TOKEN = "<mol>"  # one per molecule in a prompt; the processor expands it into num_query_tokens ids
START_SMILES = "[START_I_SMILES]"  # SMILES text between these two tags is tokenized one character a token
END_SMILES = "[END_I_SMILES]"
MOLTC_SPECIAL_TOKENS = (MOL_TOKEN, START_SMILES, END_SMILES)

NUM_ATOM_TYPES = 120  # atomic number 1..118 -> 0..117, 118 = unknown/dummy atom, 119 = mask token
NUM_CHIRALITY_TAGS = 3  # unspecified, CW, CCW (CHI_OTHER falls back to unspecified)
NUM_BOND_TYPES = 6  # single, double, triple, aromatic, self-loop, mask
NUM_BOND_DIRECTIONS = 3  # none, end-up-right, end-down-right

# Remote-code entry points written into every saved config.json. `register_for_auto_class` keeps only
# one model auto class, but users load MolTC with both AutoModel and AutoModelForCausalLM.
MOLTC_AUTO_MAP = {
    "AutoConfig": "configuration_moltc.MolTCConfig",
    "AutoModel": "modeling_moltc.MolTCForConditionalGeneration",
    "AutoModelForCausalLM": "modeling_moltc.MolTCForConditionalGeneration",
}


def check_int(config: str, name: str, value, minimum: int, maximum: int | None = None) -> None:
    """``config.name`` must be an int in ``[minimum, maximum]``: a string from a YAML/CLI override or a float
    from arithmetic would otherwise fail far away (``'<' not supported``, a float tensor shape)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{config}.{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ValueError(f"{config}.{name} must be >= {minimum}{upper}, got {value}")


def check_float(config: str, name: str, value, minimum: float, maximum: float | None = None) -> None:
    """``config.name`` must be a real number in ``[minimum, maximum]`` (an int is fine)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{config}.{name} must be a number, got {value!r} ({type(value).__name__})")
    if not minimum <= value <= (maximum if maximum is not None else float("inf")):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ValueError(f"{config}.{name} must be >= {minimum}{upper}, got {value}")


def check_choice(config: str, name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{config}.{name} must be one of {list(choices)}, got {value!r}")


class MolTCGraphConfig(PreTrainedConfig):
    """Configuration of the GIN graph encoder (pretrain-gnns variant used by MolCA/MolTC).

    Args:
        num_layers: number of GIN message-passing layers (paper: 5).
        hidden_size: node embedding width (paper: 300).
        dropout: dropout after each layer (paper: 0).
        jk_mode: jumping-knowledge mode, ``"last"`` (paper) or ``"sum"`` over layers.
        self_loop_bond_type: bond-type index given to self-loops. pretrain-gnns (GraphCL weights) uses 4;
            the released MolTC code uses 0 (the single-bond index), which `convert-original` restores.
    """

    model_type = "moltc_graph"
    base_config_key = "graph_config"

    num_layers: int = 5
    hidden_size: int = 300
    dropout: float = 0.0
    jk_mode: Literal["last", "sum"] = "last"
    num_atom_types: int = NUM_ATOM_TYPES
    num_chirality_tags: int = NUM_CHIRALITY_TAGS
    num_bond_types: int = NUM_BOND_TYPES
    num_bond_directions: int = NUM_BOND_DIRECTIONS
    self_loop_bond_type: int = 4
    layer_norm_eps: float = 1e-5

    def __post_init__(self, **kwargs):
        check_choice("graph_config", "jk_mode", self.jk_mode, ("last", "sum"))
        for name in ("num_layers", "hidden_size", "num_atom_types", "num_chirality_tags", "num_bond_types"):
            check_int("graph_config", name, getattr(self, name), 1)
        check_int("graph_config", "num_bond_directions", self.num_bond_directions, 1)
        check_int("graph_config", "self_loop_bond_type", self.self_loop_bond_type, 0, self.num_bond_types - 1)
        check_float("graph_config", "dropout", self.dropout, 0.0, 1.0)
        check_float("graph_config", "layer_norm_eps", self.layer_norm_eps, 0.0)
        super().__post_init__(**kwargs)


class MolTCConfig(PreTrainedConfig):
    """Composite configuration of `MolTCForConditionalGeneration`.

    Args:
        graph_config: `MolTCGraphConfig` (or dict) of the GIN.
        qformer_config: `Blip2QFormerConfig` (or dict); its ``encoder_hidden_size`` is forced to the GIN width.
        text_config: config (or dict with ``model_type``) of the causal LM; OPT by default.
        num_query_tokens: learned query tokens, i.e. LLM tokens per molecule (paper: 8).
        projector_sharing: ``"tied"`` (one Q-Former/projector for both molecules, the released code) or
            ``"untied"`` (one per molecule role; the paper's dynamic parameter sharing).
        num_molecule_roles: how many roles exist when untied (2: molecule A / molecule B).
        mol_token: the placeholder string that the processor expands into ``num_query_tokens`` tokens.
        mol_token_id: its id in the tokenizer (set by `build_model` / the processor).
        graph_batch_per_role: in training, run molecule-A graphs and molecule-B graphs through the GIN as two
            batches, so BatchNorm statistics are per side as in the original code (on for converted checkpoints;
            off by default: one batch is faster). Eval mode is identical either way (running statistics).
        answer_end_token_id: the token every answer ends with (the processor's ``ANSWER_END``; set by
            `moltc_hf.factory.configure_generation`). Generation stops on it, not on the tokenizer's eos:
            `save_pretrained` writes it back into the generation config whatever a Trainer put there.
    """

    model_type = "moltc"
    sub_configs_defaults = {
        "graph_config": MolTCGraphConfig,  # type: ignore[dict-item]  # a class is accepted as its spec
        "qformer_config": Blip2QFormerConfig,  # type: ignore[dict-item]
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="opt"),
    }

    graph_config: dict | PreTrainedConfig | None = None
    qformer_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    num_query_tokens: int = 8
    projector_sharing: Literal["tied", "untied"] = "tied"
    num_molecule_roles: int = 2
    mol_token: str = MOL_TOKEN
    mol_token_id: int | None = None
    answer_end_token_id: int | None = None
    graph_batch_per_role: bool = False
    initializer_range: float = 0.02
    tie_word_embeddings: bool = True

    def __post_init__(self, **kwargs):
        # Checked before the sub-configs are built, so a bad value is named here rather than failing inside them.
        check_choice("MolTCConfig", "projector_sharing", self.projector_sharing, ("tied", "untied"))
        check_int("MolTCConfig", "num_query_tokens", self.num_query_tokens, 1)
        check_int("MolTCConfig", "num_molecule_roles", self.num_molecule_roles, 1)
        if not isinstance(self.mol_token, str) or not self.mol_token:
            raise TypeError(f"MolTCConfig.mol_token must be a non-empty string, got {self.mol_token!r}")
        if self.mol_token_id is not None:
            check_int("MolTCConfig", "mol_token_id", self.mol_token_id, 0)
        if self.answer_end_token_id is not None:
            check_int("MolTCConfig", "answer_end_token_id", self.answer_end_token_id, 0)
        check_float("MolTCConfig", "initializer_range", self.initializer_range, 0.0)
        if not isinstance(self.graph_batch_per_role, bool):
            raise TypeError(
                f"MolTCConfig.graph_batch_per_role must be a bool, got {self.graph_batch_per_role!r}"
            )
        super().__post_init__(**kwargs)
        # The Q-Former cross-attends to GIN node embeddings, so its key/value width is the GIN width.
        self.qformer_config.encoder_hidden_size = self.graph_config.hidden_size
        self.tie_word_embeddings = bool(getattr(self.text_config, "tie_word_embeddings", True))
        self.auto_map = {**MOLTC_AUTO_MAP, **(getattr(self, "auto_map", None) or {})}

    @property
    def num_projectors(self) -> int:
        """1 when tied, one per molecule role when untied."""
        return 1 if self.projector_sharing == "tied" else self.num_molecule_roles


__all__ = [
    "END_SMILES",
    "check_choice",
    "check_float",
    "check_int",
    "MOLTC_SPECIAL_TOKENS",
    "MOL_TOKEN",
    "START_SMILES",
    "MolTCConfig",
    "MolTCGraphConfig",
]
