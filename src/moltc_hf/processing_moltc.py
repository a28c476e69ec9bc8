# Checkpoint file: save_pretrained copies it beside the weights (auto_map), so it may import only the other
# checkpoint files (configuration_moltc, modeling_moltc, processing_moltc, featurization), relatively.
# They own the special-token strings (configuration_moltc.MOL_TOKEN, ...); the rest of moltc_hf imports them.
"""MolTCProcessor: tokenizer + molecule featurizer, the only place that turns strings into model inputs.

It owns the text side the way `LlavaProcessor` does: each ``<mol>`` in a prompt becomes
``num_query_tokens`` placeholder ids, so the model never reasons about strings. SMILES between
``[START_I_SMILES]`` and ``[END_I_SMILES]`` are tokenized one character per token with any tokenizer
(what Galactica's split marker achieves, PAPER.md §3), and both molecules of each pair are featurized
into one PyG ``Batch`` with their roles (0 = molecule A, 1 = molecule B).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch_geometric.data import Batch
from transformers import BatchFeature, ProcessorMixin

from .configuration_moltc import END_SMILES, MOL_TOKEN, START_SMILES
from .featurization import MoleculeFeaturizer

ANSWER_END = "\n"  # appended to every target; generation stops on it (the original's intended stop id)
MOLECULE_FIELDS = ("smiles_a", "smiles_b")
_SEGMENT_MEMO_SIZE = 50_000
_SMILES_SPAN = re.compile(re.escape(START_SMILES) + r"(.*?)" + re.escape(END_SMILES), re.DOTALL)


class MolTCProcessor(ProcessorMixin):
    """Builds ``input_ids``, ``attention_mask``, ``graphs`` and ``mol_roles`` from prompts and SMILES pairs.

    Args:
        tokenizer: any transformers tokenizer; `prepare_tokenizer` adds MolTC's special tokens if missing.
        num_query_tokens: placeholders per molecule; must equal the model's ``config.num_query_tokens``.
        mol_token: the placeholder written once per molecule in prompts.
        keep_largest_fragment: featurize only the largest fragment of salts/mixtures.
    """

    def __init__(
        self,
        tokenizer=None,
        num_query_tokens: int = 8,
        mol_token: str = MOL_TOKEN,
        keep_largest_fragment: bool = False,
        chat_template=None,
        **kwargs,
    ):
        self.num_query_tokens = num_query_tokens
        self.mol_token = mol_token
        self.keep_largest_fragment = keep_largest_fragment
        tokenizer = self.prepare_tokenizer(tokenizer, mol_token)
        super().__init__(tokenizer, chat_template=chat_template)
        self.featurizer = MoleculeFeaturizer(keep_largest_fragment=keep_largest_fragment)
        self._segment_ids: dict[str, list[int]] = {}

    @staticmethod
    def prepare_tokenizer(tokenizer, mol_token: str = MOL_TOKEN):
        """Add ``<mol>`` and the SMILES tags (as special tokens) and a pad token if the tokenizer lacks them."""
        missing = [t for t in (mol_token, START_SMILES, END_SMILES) if t not in tokenizer.get_vocab()]
        if missing:
            tokenizer.add_special_tokens(
                {"additional_special_tokens": missing}, replace_extra_special_tokens=False
            )
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return tokenizer

    @property
    def mol_token_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(self.mol_token)

    @property
    def answer_end_token_id(self) -> int:
        return self.encode_text(ANSWER_END)[-1]

    # -- text --
    def encode_text(self, text: str) -> list[int]:
        """Tokenize plain text (no special-token wrapping), SMILES spans one character per token."""
        ids: list[int] = []
        position = 0
        for match in _SMILES_SPAN.finditer(text):
            ids += self._encode_plain(text[position : match.start()] + START_SMILES)
            for char in match.group(1):
                ids += self._encode_plain(char)
            position = match.end() - len(END_SMILES)
        ids += self._encode_plain(text[position:])
        return ids

    def encode_prompt(self, text: str) -> list[int]:
        """Tokenize a prompt and expand each ``<mol>`` into ``num_query_tokens`` placeholder ids."""
        mol_id = self.mol_token_id
        expanded: list[int] = []
        for token_id in self.encode_text(text):
            expanded += [token_id] * self.num_query_tokens if token_id == mol_id else [token_id]
        return expanded

    def _encode_plain(self, text: str) -> list[int]:
        """Tokenize a text segment; memoised, since prompt scaffolding and answer templates repeat per row."""
        if not text:
            return []
        ids = self._segment_ids.get(text)
        if ids is None:
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(self._segment_ids) < _SEGMENT_MEMO_SIZE:
                self._segment_ids[text] = ids
        return ids

    def count_molecule_slots(self, input_ids: Sequence[int]) -> int:
        return sum(1 for i in input_ids if i == self.mol_token_id) // self.num_query_tokens

    # -- molecules --
    def featurize_molecules(
        self, molecules: Sequence[Sequence[str]], rows: Sequence[int | str] | None = None
    ) -> tuple[Batch, torch.Tensor]:
        """Pairs (or any tuples) of SMILES -> one PyG ``Batch`` in row-major order + the role of each molecule.

        Raises `InvalidMoleculeError` naming the row and field (``smiles_a`` / ``smiles_b``) of a bad SMILES.
        """
        graphs, roles = [], []
        for position, group in enumerate(molecules):
            row = rows[position] if rows is not None else position
            for role, smiles in enumerate(group):
                field = MOLECULE_FIELDS[role] if role < len(MOLECULE_FIELDS) else f"smiles_{role}"
                graphs.append(self.featurizer(smiles, row=row, field=field))
                roles.append(role)
        return Batch.from_data_list(graphs), torch.tensor(roles, dtype=torch.long)

    # -- batching --
    def pad(
        self, sequences: Sequence[Sequence[int]], padding_side: str = "right", pad_value: int | None = None
    ) -> torch.Tensor:
        """Pad id lists into a tensor (left padding for generation, right for training)."""
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        pad_value = self.tokenizer.pad_token_id if pad_value is None else pad_value
        longest = max((len(s) for s in sequences), default=0)
        if padding_side == "right":
            rows = [list(s) + [pad_value] * (longest - len(s)) for s in sequences]
        else:
            rows = [[pad_value] * (longest - len(s)) + list(s) for s in sequences]
        return torch.tensor(rows, dtype=torch.long).view(len(sequences), longest)

    def attention_mask_for(
        self, sequences: Sequence[Sequence[int]], padding_side: str = "right"
    ) -> torch.Tensor:
        return self.pad([[1] * len(s) for s in sequences], padding_side, pad_value=0)

    def __call__(
        self,
        text: str | list[str] | None = None,
        molecules: Sequence[Sequence[str]] | None = None,
        padding_side: str = "left",
        return_tensors: str = "pt",
        **kwargs,
    ) -> BatchFeature:
        """``processor(text=prompts, molecules=[(smi_a, smi_b), ...])`` -> model inputs.

        Left padding by default: this is the inference entry point (the collator pads right for training).
        Each prompt must hold one ``<mol>`` per molecule of its pair, else a `ValueError` names the row.
        """
        if text is None:
            raise ValueError("MolTCProcessor needs `text` (one prompt per pair).")
        texts = [text] if isinstance(text, str) else list(text)
        if molecules is not None and len(molecules) and isinstance(molecules[0], str):
            molecules = [molecules]  # a single pair given as (smi_a, smi_b)
        input_ids = [self.encode_prompt(t) for t in texts]
        data: dict = {}
        if molecules is not None:
            if len(molecules) != len(texts):
                raise ValueError(f"Got {len(texts)} prompts but {len(molecules)} molecule groups.")
            for row, (ids, group) in enumerate(zip(input_ids, molecules)):
                slots = self.count_molecule_slots(ids)
                if slots != len(group):
                    raise ValueError(
                        f"Row {row}: the prompt has {slots} `{self.mol_token}` slots but {len(group)} molecules were given."
                    )
            data["graphs"], data["mol_roles"] = self.featurize_molecules(molecules)
        data["input_ids"] = self.pad(input_ids, padding_side)
        data["attention_mask"] = self.attention_mask_for(input_ids, padding_side)
        return BatchFeature(data=data, skip_tensor_conversion=["graphs"])

    def to_dict(self) -> dict:
        """Serialise the settings only: the featurizer's cache and the char-id memo are runtime state."""
        runtime = {key: self.__dict__.pop(key) for key in ("featurizer", "_segment_ids")}
        try:
            return super().to_dict()
        finally:
            self.__dict__.update(runtime)

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", "graphs", "mol_roles"]


__all__ = ["ANSWER_END", "MolTCProcessor"]
