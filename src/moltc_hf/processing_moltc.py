# Checkpoint file: save_pretrained copies it beside the weights (auto_map), so it may import only the other
# checkpoint files (configuration_moltc, modeling_moltc, processing_moltc, featurization), relatively.
# They own the special-token strings (configuration_moltc.MOL_TOKEN, ...); the rest of moltc_hf imports them.
"""MolTCProcessor: tokenizer + molecule featurizer, the only place that turns strings into model inputs.

It owns the text side the way `LlavaProcessor` does: each ``<mol>`` in a prompt becomes
``num_query_tokens`` placeholder ids, so the model never reasons about strings. SMILES between
``[START_I_SMILES]`` and ``[END_I_SMILES]`` are tokenized one character per token with any tokenizer
(what Galactica's split marker achieves, docs/method.md §3), and both molecules of each pair are featurized
into one PyG ``Batch`` with their roles (0 = molecule A, 1 = molecule B).
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
from transformers import BatchFeature, ProcessorMixin
from transformers.processing_utils import ProcessingKwargs, Unpack

from .configuration_moltc import END_SMILES, MOL_TOKEN, START_SMILES
from .featurization import MoleculeFeaturizer, torch_geometric_quietly

with torch_geometric_quietly():
    from torch_geometric.data import Batch

_SMILES_TEXT = re.compile(re.escape(START_SMILES) + ".*?" + re.escape(END_SMILES), re.DOTALL)


def without_smiles_text(prompt: str) -> str:
    """``prompt`` with every molecule's SMILES text removed (markers and ``<mol>`` kept): a graph-only prompt.

    What a graph-only model reads, at training (``graph_only_prompts``) and in the text-masked ablation: the
    molecule reaches the LLM through its graph tokens alone, so whatever the answer needs must come from them.
    """
    return _SMILES_TEXT.sub(f"{START_SMILES}{END_SMILES}", prompt)


ANSWER_END = "\n"  # appended to every target; generation stops on it (the original's intended stop id)
MOLECULE_FIELDS = ("smiles_a", "smiles_b")
SMILES_TEXT_LIMIT = (
    128  # prompts carry at most this many SMILES characters (the graph keeps the whole molecule)
)

# The pair prompt as a chat template: a user turn whose content is two ``{"type": "molecule", "smiles": ...}``
# items and the question (``{"type": "text", "text": ...}``) renders exactly as the dataset's prompts
# (`moltc_hf.tasks.templates.pair_prompt`); an assistant turn is the answer text. Saved with the processor
# (``chat_template.jinja``), so `apply_chat_template` works wherever the processor loads.
_MOLECULE_SLOT = (
    "{{ '"
    + START_SMILES
    + "' + item['smiles'][:"
    + str(SMILES_TEXT_LIMIT)
    + "] + '"
    + END_SMILES
    + "' + mol_token + '. ' }}"
)
DEFAULT_CHAT_TEMPLATE = (
    "{%- set mol_token = mol_token | default('" + MOL_TOKEN + "') -%}"
    "{%- for message in messages -%}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- set ns = namespace(molecules=0) -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'molecule' -%}"
    "{{ '</s> ' if ns.molecules == 0 else ' </s> </s>' }}"
    + _MOLECULE_SLOT
    + "{%- set ns.molecules = ns.molecules + 1 -%}"
    "{%- elif item['type'] == 'text' -%}{{ ' </s> . ' if ns.molecules else '' }}{{ item['text'] }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{%- endfor -%}"
)


# The text options MolTC honours, with their defaults (left padding: `__call__` is the inference entry point; the
# collator pads right for training). The tokenizer's others (``stride``, ...) would do nothing, so they are refused.
_TEXT_DEFAULTS = {
    "padding": "longest",
    "truncation": False,
    "max_length": None,
    "pad_to_multiple_of": None,
    "padding_side": "left",
    "return_tensors": "pt",
    "return_attention_mask": True,
}
TEXT_OPTIONS = tuple(_TEXT_DEFAULTS)


class MolTCProcessorKwargs(ProcessingKwargs, total=False):
    """`MolTCProcessor.__call__`'s keywords, merged by `ProcessorMixin._merge_kwargs` as any transformers processor's
    are (flat, or in ``text_kwargs``/``common_kwargs``)."""

    _defaults = {"text_kwargs": _TEXT_DEFAULTS}  # type: ignore[misc]  # (how transformers gives one defaults)


PADDING_CHOICES = (True, False, "longest", "max_length", "do_not_pad")
TRUNCATION_CHOICES = (True, False, "longest_first", "only_first", "do_not_truncate")
RETURN_TENSORS_CHOICES = ("pt", "np", None)
_SEGMENT_MEMO_SIZE = 50_000
_SMILES_SPAN = re.compile(re.escape(START_SMILES) + r"(.*?)" + re.escape(END_SMILES), re.DOTALL)


class MolTCProcessor(ProcessorMixin):
    """Builds ``input_ids``, ``attention_mask``, ``graphs`` and ``mol_roles`` from prompts and SMILES pairs.

    Args:
        tokenizer: any transformers tokenizer; `prepare_tokenizer` adds MolTC's special tokens if missing.
        num_query_tokens: placeholders per molecule; must equal the model's ``config.num_query_tokens``.
        mol_token: the placeholder written once per molecule in prompts.
        keep_largest_fragment: featurize only the largest fragment of salts/mixtures.
        answer_control_tokens_as_text: `encode_answer` spells the tokenizer's bos/eos/pad strings in answers
            as text (default). ``False`` keeps them as their ids, as the original MolTC was trained (Galactica
            read the ``</s>`` separators of its targets as eos): converted original checkpoints set it, so their
            CoT prefixes are scored the way they learnt them.
        graph_only_prompts: `encode_prompt` removes every molecule's SMILES text (`without_smiles_text`), so the
            molecules reach the model through their graph tokens only. Training sets it from the recipe's
            ``graph_only_prompts`` and saves it with the model: a model fine-tuned on graph-only prompts is then
            asked in the form it learnt, through every path (pipeline, ``moltc predict``, the demo, chat template).
    """

    def __init__(
        self,
        tokenizer=None,
        num_query_tokens: int = 8,
        mol_token: str = MOL_TOKEN,
        keep_largest_fragment: bool = False,
        chat_template=None,
        answer_control_tokens_as_text: bool = True,
        graph_only_prompts: bool = False,
        **kwargs,
    ):
        self.num_query_tokens = num_query_tokens
        self.graph_only_prompts = bool(graph_only_prompts)
        self.answer_control_tokens_as_text = bool(answer_control_tokens_as_text)
        self.mol_token = mol_token
        self.keep_largest_fragment = keep_largest_fragment
        tokenizer = self.prepare_tokenizer(tokenizer, mol_token)
        super().__init__(tokenizer, chat_template=chat_template or DEFAULT_CHAT_TEMPLATE)
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

    @property
    def control_tokens(self) -> tuple[str, ...]:
        """The tokenizer's bos/eos/pad strings: ids that mean "start", "stop" or "nothing" to Trainer and
        `generate`, so an answer must never hold them as tokens (`encode_answer`)."""
        tokenizer = self.tokenizer
        names = (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token)
        return tuple(dict.fromkeys(t for t in names if t))

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

    def encode_answer(self, text: str) -> list[int]:
        """Tokenize an answer (a training target, a scored candidate): `encode_text`, except that the
        tokenizer's bos/eos/pad strings are spelled as plain text.

        MolTC's description targets separate sentences with the literal ``</s>``. As the eos *id*, a model
        trained on it stops after the first separator wherever the generation config holds the tokenizer's
        eos -- which `transformers.Trainer` and TRL write into it. Spelled as text, the separator is just
        characters, and the only stop token an answer holds is its answer end (``ANSWER_END``). Prompts keep
        `encode_text` (the original model reads ``</s>`` there as the token). Text without those strings
        tokenizes exactly as with `encode_text`.
        """
        controls = self.control_tokens
        if not self.answer_control_tokens_as_text or not any(token in text for token in controls):
            return self.encode_text(text)
        pattern = re.compile(
            "(" + "|".join(re.escape(t) for t in sorted(controls, key=len, reverse=True)) + ")"
        )
        ids: list[int] = []
        for index, piece in enumerate(pattern.split(text)):
            if index % 2:  # a control string: its characters, not its id (memoised under a key no text has)
                key = "\0" + piece
                if key not in self._segment_ids:
                    self._segment_ids[key] = self.tokenizer(
                        piece, add_special_tokens=False, split_special_tokens=True
                    )["input_ids"]
                ids += self._segment_ids[key]
            elif piece:
                ids += self.encode_text(piece)
        return ids

    def encode_prompt(self, text: str) -> list[int]:
        """Tokenize a prompt and expand each ``<mol>`` into ``num_query_tokens`` placeholder ids.

        With ``graph_only_prompts`` the SMILES text goes first (idempotent: a stripped prompt stays as it is).
        """
        mol_id = self.mol_token_id
        expanded: list[int] = []
        if getattr(self, "graph_only_prompts", False):
            text = without_smiles_text(text)
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
        Each graph also carries its role (``graphs.mol_role``): the batch stays on the host when a Trainer moves
        ``mol_roles`` to the device, so the model plans the projector routing from it without a device read.
        """
        graphs, roles = [], []
        for position, group in enumerate(molecules):
            row = rows[position] if rows is not None else position
            for role, smiles in enumerate(group):
                field = MOLECULE_FIELDS[role] if role < len(MOLECULE_FIELDS) else f"smiles_{role}"
                graph = copy.copy(
                    self.featurizer(smiles, row=row, field=field)
                )  # (the featurizer's cached graph)
                graph.mol_role = role
                graphs.append(graph)
                roles.append(role)
        return Batch.from_data_list(graphs), torch.tensor(roles, dtype=torch.long)

    # -- batching --
    def pad(
        self,
        sequences: Sequence[Sequence[int]],
        padding_side: str = "right",
        pad_value: int | None = None,
        length: int | None = None,
    ) -> torch.Tensor:
        """Pad id lists into a tensor (left padding for generation, right for training), to the longest row or
        to ``length``."""
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        pad_value = self.tokenizer.pad_token_id if pad_value is None else pad_value
        longest = max((len(s) for s in sequences), default=0)
        if length is not None:
            if length < longest:
                raise ValueError(f"Cannot pad to length {length}: the longest row has {longest} tokens")
            longest = length
        if padding_side == "right":
            rows = [list(s) + [pad_value] * (longest - len(s)) for s in sequences]
        else:
            rows = [[pad_value] * (longest - len(s)) + list(s) for s in sequences]
        return torch.tensor(rows, dtype=torch.long).view(len(sequences), longest)

    def attention_mask_for(
        self, sequences: Sequence[Sequence[int]], padding_side: str = "right", length: int | None = None
    ) -> torch.Tensor:
        return self.pad([[1] * len(s) for s in sequences], padding_side, pad_value=0, length=length)

    def __call__(
        self,
        text: str | list[str] | None = None,
        molecules: Sequence[Sequence[str]] | None = None,
        **kwargs: Unpack[MolTCProcessorKwargs],
    ) -> BatchFeature:
        """``processor(text=prompts, molecules=[(smi_a, smi_b), ...])`` -> model inputs.

        Text options, as for any transformers processor (flat, or in ``text_kwargs={...}``): ``padding``
        (``"longest"``/``True`` by default, ``"max_length"``, ``False``), ``max_length``, ``truncation`` (cuts the
        end of a prompt to ``max_length``, never into its ``<mol>`` placeholders), ``pad_to_multiple_of``,
        ``padding_side`` (``"left"`` by default: this is the inference entry point; the collator pads right for
        training), ``return_tensors`` (``"pt"`` by default, ``"np"``, or ``None`` for lists; ``graphs`` is always
        a PyG ``Batch``) and ``return_attention_mask``. Unknown keywords raise a `TypeError` naming them.
        Each prompt must hold one ``<mol>`` per molecule of its pair, else a `ValueError` names the row.
        """
        options = self._text_options(kwargs)
        if text is None:
            raise ValueError("MolTCProcessor needs `text` (one prompt per pair).")
        texts = [text] if isinstance(text, str) else list(text)
        if molecules is not None and len(molecules) and isinstance(molecules[0], str):
            molecules = [cast("Sequence[str]", molecules)]  # a single pair given as (smi_a, smi_b)
        input_ids = [self.encode_prompt(t) for t in texts]
        if options.pop("truncation"):
            input_ids = [self._truncate(ids, options["max_length"], row) for row, ids in enumerate(input_ids)]
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
            graphs, roles = self.featurize_molecules(molecules)
            data.update(graphs=graphs, mol_roles=roles.tolist())  # (converted as return_tensors says)
        return_tensors = options.pop("return_tensors")
        _check_lengths(input_ids, options, return_tensors)
        data.update(self._padded(input_ids, options, return_tensors))
        return BatchFeature(data=data, tensor_type=return_tensors, skip_tensor_conversion=["graphs"])

    def _text_options(self, kwargs: Mapping[str, Any]) -> dict:
        """The text options of one call, merged as transformers merges a processor's (`_merge_kwargs`: flat keywords,
        ``text_kwargs``, ``common_kwargs``, then `MolTCProcessorKwargs`' defaults) and checked.

        Keywords MolTC does not honour are refused rather than ignored with a log line, as `_merge_kwargs` would. The
        tokenizer's init kwargs are not merged: a tokenizer saved with ``padding_side="right"`` must not turn the
        inference entry point's left padding around.
        """
        nested = {key: name for name in ("text_kwargs", "common_kwargs") for key in kwargs.get(name) or {}}
        unknown = sorted((set(kwargs) | set(nested)) - {*TEXT_OPTIONS, "text_kwargs", "common_kwargs"})
        if unknown:
            raise TypeError(
                f"MolTCProcessor got unknown keyword argument(s) {unknown}; it accepts `text`, `molecules` and "
                f"{list(TEXT_OPTIONS)}."
            )
        twice = sorted(set(nested) & set(kwargs))
        if twice:
            raise TypeError(f"MolTCProcessor got {twice[0]!r} twice: in {nested[twice[0]]} and as a keyword")
        merged = self._merge_kwargs(MolTCProcessorKwargs, **kwargs)  # type: ignore[arg-type]  # (wants the class)
        return _checked_options(merged["text_kwargs"])

    def _truncate(self, ids: list[int], max_length: int, row: int) -> list[int]:
        """Cut the end of a prompt to ``max_length`` tokens; refuse when that would cut a molecule's placeholders
        (the model needs every ``<mol>`` run whole, one per molecule), which the tokenizer's truncation cannot know."""
        if len(ids) <= max_length:
            return ids
        mol_id = self.mol_token_id
        needed = max((i for i, t in enumerate(ids) if t == mol_id), default=-1) + 1
        if needed > max_length:
            raise ValueError(
                f"Row {row}: truncating to max_length={max_length} would cut into its `{self.mol_token}` "
                f"placeholders (they end at token {needed}); use max_length >= {needed}."
            )
        return ids[:max_length]

    def _padded(self, input_ids: list[list[int]], options: dict, return_tensors: str | None) -> dict:
        """``input_ids`` and ``attention_mask`` padded by `tokenizer.pad`, as NumPy when tensors are wanted
        (BatchFeature turns them into torch without a copy, 3x faster than from lists)."""
        if input_ids:
            return self.tokenizer.pad(
                {"input_ids": input_ids}, **options, return_tensors=return_tensors and "np"
            )
        # No row to take a width from (`tokenizer.pad` would give shapeless float arrays): (0, width) ids.
        width = options["max_length"] if options["padding"] == "max_length" else 0
        multiple = options["pad_to_multiple_of"] or 1
        empty = self.pad([], length=-(-width // multiple) * multiple)
        rows = empty.tolist() if return_tensors is None else empty
        return {"input_ids": rows, **({"attention_mask": rows} if options["return_attention_mask"] else {})}

    def apply_chat_template(self, conversation, chat_template: str | None = None, **kwargs):  # type: ignore[override]
        """Render (and with ``tokenize=True`` process) pair conversations (see `DEFAULT_CHAT_TEMPLATE`).

        With ``tokenize=True`` the molecules of each conversation (its ``{"type": "molecule", "smiles": ...}``
        items, in order) are featurized too, so ``return_dict=True`` gives ``input_ids``, ``attention_mask``,
        ``graphs`` and ``mol_roles`` ready for the model; ``processor_kwargs`` go to `__call__`.
        """
        tokenize = kwargs.pop("tokenize", False)
        return_dict = kwargs.pop("return_dict", False)
        processor_kwargs = dict(kwargs.pop("processor_kwargs", None) or {})
        if "return_tensors" in kwargs:
            value = kwargs.pop("return_tensors")
            processor_kwargs.setdefault("return_tensors", "pt" if value == "auto" else value)
        batched = bool(conversation) and isinstance(conversation[0], (list, tuple))
        conversations = conversation if batched else [conversation]
        for index, one in enumerate(conversations):
            check_conversation(one, f"conversation {index}: " if batched else "")
        kwargs.setdefault("mol_token", self.mol_token)
        prompts = [
            super(MolTCProcessor, self).apply_chat_template(c, chat_template=chat_template, **kwargs)
            for c in conversations
        ]
        if not tokenize:
            return prompts if batched else prompts[0]
        molecules = [_conversation_molecules(c) for c in conversations]
        out = self(text=prompts, molecules=molecules if any(molecules) else None, **processor_kwargs)
        return out if return_dict else out["input_ids"]

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


def _checked_options(options: dict) -> dict:
    """Refuse values transformers' tokenizers would refuse (or silently misuse), naming the option."""
    if options["padding"] not in PADDING_CHOICES:
        raise ValueError(f"padding must be one of {PADDING_CHOICES}, got {options['padding']!r}")
    if options["truncation"] not in TRUNCATION_CHOICES:
        raise ValueError(f"truncation must be one of {TRUNCATION_CHOICES}, got {options['truncation']!r}")
    options["truncation"] = options["truncation"] not in (False, "do_not_truncate")
    for name in ("max_length", "pad_to_multiple_of"):
        value = options[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if options["max_length"] is None and (options["truncation"] or options["padding"] == "max_length"):
        wanted = "truncation" if options["truncation"] else "padding='max_length'"
        raise ValueError(f"{wanted} needs max_length=...")
    if options["padding_side"] not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {options['padding_side']!r}")
    if options["return_tensors"] not in RETURN_TENSORS_CHOICES:
        raise ValueError(
            f"return_tensors must be one of {RETURN_TENSORS_CHOICES}, got {options['return_tensors']!r} "
            "(MolTC molecules are PyG graphs, a PyTorch structure)"
        )
    return options


def _check_lengths(input_ids: list[list[int]], options: dict, return_tensors: str | None) -> None:
    """Refuse, with the fix, the rows `tokenizer.pad` would leave ragged (it neither truncates nor complains)."""
    if options["padding"] == "max_length":
        too_long = [row for row, ids in enumerate(input_ids) if len(ids) > options["max_length"]]
        if too_long:
            raise ValueError(
                f"Rows {too_long} are longer than max_length={options['max_length']}; pass truncation=True "
                "or a larger max_length"
            )
    elif options["padding"] in (False, "do_not_pad") and return_tensors and len(set(map(len, input_ids))) > 1:
        raise ValueError(
            "padding=False with rows of different lengths cannot make tensors; pass padding='longest' "
            "or return_tensors=None"
        )


CHAT_ITEM_TYPES = ("molecule", "text")


def check_conversation(conversation, where: str = "") -> None:
    """Refuse what the chat template would drop silently, and warn about what it shortens.

    The template renders only ``{"type": "molecule", "smiles": ...}`` and ``{"type": "text", "text": ...}``
    items: an ``{"type": "image"}`` item (or a misspelt type) would vanish from the prompt, so it is a
    ValueError naming the message and item. A SMILES longer than `SMILES_TEXT_LIMIT` characters is cut in the
    prompt's text, as every training prompt was (the graph still encodes the whole molecule): a warning.
    """
    for m, message in enumerate(conversation):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str) or content is None:
            continue
        for i, item in enumerate(content):
            kind = item.get("type") if isinstance(item, dict) else None
            if kind not in CHAT_ITEM_TYPES:
                raise ValueError(
                    f"{where}message {m} item {i}: type {kind!r} is not something MolTC reads; its chat "
                    "template renders {'type': 'molecule', 'smiles': ...} and {'type': 'text', 'text': ...} "
                    "items only (anything else would be dropped from the prompt)"
                )
            field = "smiles" if kind == "molecule" else "text"
            if not isinstance(item.get(field), str):
                raise ValueError(f"{where}message {m} item {i}: a {kind!r} item needs a string {field!r}")
            if kind == "molecule" and len(item["smiles"]) > SMILES_TEXT_LIMIT:
                warnings.warn(
                    f"{where}message {m} item {i}: the SMILES has {len(item['smiles'])} characters; the prompt "
                    f"shows its first {SMILES_TEXT_LIMIT} (as in training), the graph encodes the whole molecule",
                    UserWarning,
                    stacklevel=3,
                )


def _conversation_molecules(conversation) -> tuple[str, ...]:
    """The SMILES of a conversation's ``{"type": "molecule", "smiles": ...}`` items, in order."""
    return tuple(
        item["smiles"]
        for message in conversation
        if not isinstance(message["content"], str)
        for item in message["content"]
        if item.get("type") == "molecule"
    )


__all__ = [
    "ANSWER_END",
    "CHAT_ITEM_TYPES",
    "DEFAULT_CHAT_TEMPLATE",
    "MolTCProcessor",
    "MolTCProcessorKwargs",
    "check_conversation",
]
