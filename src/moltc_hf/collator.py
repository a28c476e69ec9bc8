"""MolTCDataCollator: MoT-instruction rows -> SFT batches for TRL's `SFTTrainer` (or any loop).

Per row it tokenizes ``prompt`` (``<mol>`` expanded) and ``target`` + the answer-end token (with
`MolTCProcessor.encode_answer`: a ``</s>`` separator in a target is text, never the eos id, so a model
trained on it does not stop there whatever eos Trainer writes into the generation config), masks the
prompt and the padding with -100 in ``labels`` (loss only on the answer, as in MolTC), truncates to
``max_length`` without ever cutting into a run of ``<mol>`` placeholders, and batches both molecules'
graphs. Projector routing: every molecule carries its role in ``mol_roles`` (0 = molecule A,
1 = molecule B); a tied model sends all of them through its one projector, an untied one sends role r to
projector r. The collator does not need to know which: the contract is the same in both modes.

Decision weighting (``decision_weight > 1``): in a classification answer only a token or two say which
class it is ("... exhibit ..." vs "... do not exhibit ..."); averaged over the ~15 template tokens, the
label is ~1/15 of the gradient and a small model learns the template, then the base rate. With a weight,
the collator adds ``loss_weights`` (1 on answer tokens, ``decision_weight`` on the tokens where the
row's class sentence first differs from every other candidate, as `decision_spans` finds them), and
`moltc_hf.training.trainer.MolTCSFTTrainer` takes the weighted mean of the token losses. A regression answer
("... is above -11.5 and below -11.0, so the accurate value is -11.01;") is the same case: its number tokens
(signs, digits, decimal points) are ~13 of ~33 and the rest is template, so they get the weight too.

Padding-free batches (``padding_free=True``, recipe key ``padding_free``): DDI prompts are short and vary in
length, so a right-padded batch spends much of its compute on padding. Instead the rows are concatenated
into one ``[1, total_tokens]`` sequence, the layout of TRL's ``DataCollatorForLanguageModeling(padding_free=True)``:
no ``attention_mask``, ``position_ids`` restarting at 0 at each row (the model turns them into a
block-diagonal causal mask, so no token attends across rows), the first label of every row set to -100 (so
nothing is predicted from the previous row's last token) and ``cu_seq_lens_q/k`` + ``max_length_q/k`` for the
flash-attention varlen kernels. Molecules are batched in the packed order of their rows, so the splice is the
padded batch's; the label tokens (and ``loss_weights``) are exactly the padded batch's, so the loss is too.

One sequence suits flash attention (varlen kernels, nothing quadratic across rows). SDPA and eager attention
get the block-diagonal mask as a dense ``[T, T]`` mask, so one sequence of T tokens costs T^2 attention
(measured 0.6x the padded step on CPU at the galactica-125m shape); ``pack_length="longest"`` instead packs
the rows first-fit-decreasing into sequences no longer than the batch's longest row: the attention stays
that of the padded batch or less, and only the bins' short tails are padding (each tail is its own masked
block: position ids from 0, labels -100). `moltc_hf.training.build_trainer` picks by attention implementation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from .processing_moltc import ANSWER_END, MOLECULE_FIELDS, MolTCProcessor
from .tasks.registry import REGRESSION, TASKS
from .tasks.templates import without_smiles_text

IGNORE_INDEX = -100
_NUMBER_CHARACTERS = set("-+0123456789.")


def decision_spans(candidates: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Per candidate token list: the ``[start, stop)`` tokens that tell it apart from every other candidate.

    ``start`` is the end of the prefix all candidates share; ``stop`` the first length at which this
    candidate's tokens are no longer a prefix of any other candidate's (at least one token).
    """
    shortest = min(len(c) for c in candidates)
    start = next(
        (i for i in range(shortest) if any(c[i] != candidates[0][i] for c in candidates[1:])), shortest
    )
    spans = []
    for index, tokens in enumerate(candidates):
        others = [c for j, c in enumerate(candidates) if j != index]
        stop = start + 1
        while stop < len(tokens) and any(list(o[:stop]) == list(tokens[:stop]) for o in others):
            stop += 1
        spans.append((start, min(stop, len(tokens))))
    return spans


@dataclass
class MolTCDataCollator:
    """Collate rows with ``prompt``, ``completion`` (or ``target``), ``smiles_a``, ``smiles_b`` into model inputs.

    Args:
        processor: the model's `MolTCProcessor`.
        max_length: maximum tokens per row; the answer is cut first, placeholders are never cut.
        padding_side: ``"right"`` for training; ``"left"`` for generation (prompt-only batches).
        include_target: ``False`` builds prompt-only batches for generation / scoring.
        decision_weight: loss weight of the tokens that decide an answer: a classification answer's class tokens,
            a regression answer's number tokens (1: the paper's plain mean).
        candidates: task name -> class sentences, for tasks whose classes are data (DrugBank types); tasks
            with fixed candidates (binary DDI) are read from the task registry.
        target_column: the answer column; by default ``completion`` (TRL's prompt-completion name, which
            the MoT-instructions build writes) when the rows have it, else ``target`` (older builds, and
            the column the rest of moltc_hf reads).
        padding_free: pack the rows instead of padding them (see the module docstring).
        graph_only: drop every molecule's SMILES text from the prompts (`templates.without_smiles_text`), so the
            answer must come from the graph tokens: stage-1 property pretraining uses it, or the LLM learns to
            read the properties off the SMILES and the graph path learns nothing (docs/results.md).
        pack_length: with ``padding_free``: ``None`` packs one sequence (flash attention); ``"longest"`` packs
            sequences of at most the batch's longest row; an integer, of at most that many tokens (or the longest row).
        pad_to_multiple_of: round the batch length (padded, or packed with bins) up to a multiple of this, so the
            model sees a few shapes instead of one per batch (kernels planned or compiled per shape are reused).
    """

    processor: MolTCProcessor
    max_length: int | None = None
    padding_side: str = "right"
    include_target: bool = True
    prompt_column: str = "prompt"
    target_column: str | None = None
    smiles_columns: Sequence[str] = MOLECULE_FIELDS
    decision_weight: float = 1.0
    candidates: Mapping[str, Sequence[str]] = field(default_factory=dict)
    padding_free: bool = False
    pack_length: int | str | None = None
    graph_only: bool = False
    pad_to_multiple_of: int | None = None

    def __post_init__(self):
        if self.padding_free and not self.include_target:
            raise ValueError("padding_free=True packs training rows; prompt-only batches are padded (left).")
        self._answer_end = self.processor.encode_text(ANSWER_END)
        self._spans: dict[str, dict[tuple[int, ...], tuple[int, int]]] = {}
        self._number_token_kind: dict[int, str] = {}

    def _number_positions(self, target_ids: list[int]) -> list[int]:
        """The positions of a regression answer's number tokens: signs, digits and the points between them."""
        positions = []
        for position, token in enumerate(target_ids):
            kind = self._number_token_kind.get(token)
            if kind is None:
                text = self.processor.tokenizer.decode([token]).strip()
                kind = (
                    "point" if text == "." else "number" if text and set(text) <= _NUMBER_CHARACTERS else ""
                )
                self._number_token_kind[token] = kind
            # A point counts inside a number only (it sets the magnitude: "-6.34", not "-634"), not at a sentence end.
            if kind == "number" or (kind == "point" and positions and positions[-1] == position - 1):
                positions.append(position)
        return positions

    def _decision_span(self, task: str | None, target_ids: list[int]) -> tuple[int, int] | None:
        """Where the row's decision tokens sit in ``target_ids`` (its class sentence ends the target)."""
        if task not in self._spans:
            sentences = self.candidates.get(task) or (TASKS[task].candidates if task in TASKS else ())
            encoded = [tuple(self.processor.encode_answer(s) + self._answer_end) for s in sentences]
            self._spans[task] = dict(zip(encoded, decision_spans(encoded))) if len(encoded) > 1 else {}
        for tokens, (start, stop) in self._spans[task].items():
            if tuple(target_ids[len(target_ids) - len(tokens) :]) == tokens:
                offset = len(target_ids) - len(tokens)
                return offset + start, offset + stop
        return None

    def _decision_positions(self, task: str | None, target_ids: list[int], num_target: int) -> list[int]:
        """Target positions that get ``decision_weight``: class tokens, or a regression answer's number tokens."""
        if task in TASKS and TASKS[task].kind == REGRESSION:
            return [p for p in self._number_positions(target_ids) if p < num_target]
        span = self._decision_span(task, target_ids)
        if span is None or num_target != len(target_ids):  # (not when truncated)
            return []
        return list(range(*span))

    def _target_column(self, row: Mapping) -> str:
        if self.target_column is not None:
            return self.target_column
        return "completion" if "completion" in row else "target"

    def __call__(self, rows: list[dict]) -> dict:
        missing = [c for c in (self.prompt_column, *self.smiles_columns) if c not in rows[0]]
        target_column = self._target_column(rows[0])
        if self.include_target and target_column not in rows[0]:
            missing.append(target_column)
        if missing:
            hint = ""
            if set(rows[0]) <= {"label", "labels", "input_ids", "attention_mask"}:
                # Trainer's default remove_unused_columns=True dropped every column the model's forward does
                # not name -- the SMILES, prompt and completion this collator reads.
                hint = (
                    ". The Trainer removed them: pass remove_unused_columns=False in TrainingArguments / "
                    "SFTConfig (moltc_hf.training.sft_config_for_moltc sets it)"
                )
            raise KeyError(f"MolTCDataCollator: rows lack column(s) {missing}; got {sorted(rows[0])}{hint}")
        sequences, label_sequences, weight_sequences = [], [], []
        weighted = self.include_target and self.decision_weight != 1.0
        for row in rows:
            prompt = row[self.prompt_column]
            prompt_ids = self.processor.encode_prompt(
                without_smiles_text(prompt) if self.graph_only else prompt
            )
            target_ids = (
                self.processor.encode_answer(row[target_column]) + self._answer_end
                if self.include_target
                else []
            )
            ids, num_target = self._truncate(prompt_ids, target_ids)
            sequences.append(ids)
            label_sequences.append([IGNORE_INDEX] * (len(ids) - num_target) + ids[len(ids) - num_target :])
            if weighted:
                weights = [0.0] * (len(ids) - num_target) + [1.0] * num_target
                for position in self._decision_positions(row.get("task"), target_ids, num_target):
                    weights[len(prompt_ids) + position] = self.decision_weight
                weight_sequences.append(weights)

        order = list(range(len(rows)))
        if self.padding_free:
            bins = _bins([len(s) for s in sequences], self.pack_length)
            order = [i for members in bins for i in members]
        molecules = [[rows[i][c] for c in self.smiles_columns] for i in order]
        rows_ids = [rows[i].get("source_row", i) for i in order]
        graphs, mol_roles = self.processor.featurize_molecules(molecules, rows=rows_ids)
        if self.padding_free:
            pad_id = self.processor.tokenizer.pad_token_id
            packed = _packed(
                bins,
                sequences,
                label_sequences,
                weight_sequences if weighted else None,
                pad_id,
                self.pad_to_multiple_of if len(bins) > 1 else None,  # (one varlen sequence needs no rounding)
            )
            return {**packed, "graphs": graphs, "mol_roles": mol_roles}
        length = _rounded(max(len(s) for s in sequences), self.pad_to_multiple_of)
        batch = {
            "input_ids": self.processor.pad(sequences, self.padding_side, length=length),
            "attention_mask": self.processor.attention_mask_for(sequences, self.padding_side, length=length),
            "graphs": graphs,
            "mol_roles": mol_roles,
        }
        if self.include_target:
            batch["labels"] = self.processor.pad(
                label_sequences, self.padding_side, pad_value=IGNORE_INDEX, length=length
            )
        if weighted:
            batch["loss_weights"] = _pad_weights(
                weight_sequences, batch["labels"].shape[1], self.padding_side
            )
        return batch

    def _truncate(self, prompt_ids: list[int], target_ids: list[int]) -> tuple[list[int], int]:
        """Cut to ``max_length`` from the end, but never before the end of the last ``<mol>`` run."""
        ids = prompt_ids + target_ids
        if self.max_length is None or len(ids) <= self.max_length:
            return ids, len(target_ids)
        mol_id = self.processor.mol_token_id
        last_placeholder = max((i for i, t in enumerate(prompt_ids) if t == mol_id), default=-1)
        cut = max(self.max_length, last_placeholder + 1)
        return ids[:cut], max(0, cut - len(prompt_ids))


def _bins(lengths: list[int], pack_length: int | str | None) -> list[list[int]]:
    """Row indices per packed sequence: one sequence, or first-fit-decreasing bins of ``pack_length`` tokens."""
    if pack_length is None:
        return [list(range(len(lengths)))]
    if pack_length != "longest" and not (isinstance(pack_length, int) and pack_length > 0):
        raise ValueError(f"pack_length must be None, 'longest' or a positive integer, got {pack_length!r}")
    capacity = max(lengths) if pack_length == "longest" else max(pack_length, max(lengths))
    bins: list[list[int]] = []
    room: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        target = next((b for b, free in enumerate(room) if free >= lengths[index]), None)
        if target is None:
            bins.append([])
            room.append(capacity)
            target = len(bins) - 1
        bins[target].append(index)
        room[target] -= lengths[index]
    return bins


def _packed(
    bins: list[list[int]],
    sequences: list[list[int]],
    labels: list[list[int]],
    weights: list[list[float]] | None,
    pad_id: int,
    multiple: int | None = None,
) -> dict[str, torch.Tensor | int]:
    """Rows concatenated per bin into ``[num_bins, width]`` (TRL's padding-free layout when there is one bin).

    A bin shorter than the widest one ends in a pad block of its own (position ids from 0, labels -100), so
    no ``attention_mask`` is needed and the block mask keeps it apart from the rows.
    """
    width = _rounded(max(sum(len(sequences[i]) for i in members) for members in bins), multiple)
    ids, positions, packed_labels, packed_weights, lengths = [], [], [], [], []
    for members in bins:
        for i in members:
            ids += sequences[i]
            positions += range(len(sequences[i]))
            packed_labels += [IGNORE_INDEX] + labels[i][1:]  # a row's first token is never a target
            packed_weights += [0.0] + (weights[i][1:] if weights is not None else [])
            lengths.append(len(sequences[i]))
        tail = width - sum(len(sequences[i]) for i in members)
        if tail:
            ids += [pad_id] * tail
            positions += range(tail)
            packed_labels += [IGNORE_INDEX] * tail
            packed_weights += [0.0] * tail
            lengths.append(tail)
    shape = (len(bins), width)
    seq_lens = torch.tensor(lengths)
    cu_seq_lens = torch.cat([torch.zeros(1, dtype=torch.long), seq_lens.cumsum(0)]).to(torch.int32)
    out = {
        "input_ids": torch.tensor(ids, dtype=torch.long).view(shape),
        "position_ids": torch.tensor(positions, dtype=torch.long).view(shape),
        "labels": torch.tensor(packed_labels, dtype=torch.long).view(shape),
        # Sequence boundaries of the flattened batch, for the flash-attention varlen kernels (as TRL sends them).
        "cu_seq_lens_q": cu_seq_lens,
        "cu_seq_lens_k": cu_seq_lens,
        "max_length_q": int(seq_lens.max()),
        "max_length_k": int(seq_lens.max()),
    }
    if weights is not None:
        out["loss_weights"] = torch.tensor(packed_weights, dtype=torch.float32).view(shape)
    return out


def _rounded(length: int, multiple: int | None) -> int:
    return length if not multiple else -(-length // multiple) * multiple


def _pad_weights(sequences: list[list[float]], width: int, padding_side: str) -> torch.Tensor:
    pads = [[0.0] * (width - len(s)) for s in sequences]
    rows = [s + p if padding_side == "right" else p + s for s, p in zip(sequences, pads)]
    return torch.tensor(rows, dtype=torch.float32).view(len(sequences), width)


__all__ = ["IGNORE_INDEX", "MolTCDataCollator", "decision_spans"]
