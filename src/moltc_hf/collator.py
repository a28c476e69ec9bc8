"""MolTCDataCollator: MoT-instruction rows -> SFT batches for TRL's `SFTTrainer` (or any loop).

Per row it tokenizes ``prompt`` (``<mol>`` expanded) and ``target`` + the answer-end token, masks the
prompt and the padding with -100 in ``labels`` (loss only on the answer, as in MolTC), truncates to
``max_length`` without ever cutting into a run of ``<mol>`` placeholders, and batches both molecules'
graphs. Projector routing: every molecule carries its role in ``mol_roles`` (0 = molecule A,
1 = molecule B); a tied model sends all of them through its one projector, an untied one sends role r to
projector r. The collator does not need to know which: the contract is the same in both modes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .processing_moltc import ANSWER_END, MOLECULE_FIELDS, MolTCProcessor

IGNORE_INDEX = -100


@dataclass
class MolTCDataCollator:
    """Collate rows with ``prompt``, ``target``, ``smiles_a``, ``smiles_b`` into model inputs.

    Args:
        processor: the model's `MolTCProcessor`.
        max_length: maximum tokens per row; the answer is cut first, placeholders are never cut.
        padding_side: ``"right"`` for training; ``"left"`` for generation (prompt-only batches).
        include_target: ``False`` builds prompt-only batches for generation / scoring.
    """

    processor: MolTCProcessor
    max_length: int | None = None
    padding_side: str = "right"
    include_target: bool = True
    prompt_column: str = "prompt"
    target_column: str = "target"
    smiles_columns: Sequence[str] = MOLECULE_FIELDS

    def __post_init__(self):
        self._answer_end = self.processor.encode_text(ANSWER_END)

    def __call__(self, rows: list[dict]) -> dict:
        missing = [c for c in (self.prompt_column, *self.smiles_columns) if c not in rows[0]]
        if self.include_target and self.target_column not in rows[0]:
            missing.append(self.target_column)
        if missing:
            raise KeyError(f"MolTCDataCollator: rows lack column(s) {missing}; got {sorted(rows[0])}")
        sequences, label_sequences = [], []
        for row in rows:
            prompt_ids = self.processor.encode_prompt(row[self.prompt_column])
            target_ids = (
                self.processor.encode_text(row[self.target_column]) + self._answer_end
                if self.include_target
                else []
            )
            ids, num_target = self._truncate(prompt_ids, target_ids)
            sequences.append(ids)
            label_sequences.append([IGNORE_INDEX] * (len(ids) - num_target) + ids[len(ids) - num_target :])

        molecules = [[row[c] for c in self.smiles_columns] for row in rows]
        rows_ids = [row.get("source_row", index) for index, row in enumerate(rows)]
        graphs, mol_roles = self.processor.featurize_molecules(molecules, rows=rows_ids)
        batch = {
            "input_ids": self.processor.pad(sequences, self.padding_side),
            "attention_mask": self.processor.attention_mask_for(sequences, self.padding_side),
            "graphs": graphs,
            "mol_roles": mol_roles,
        }
        if self.include_target:
            batch["labels"] = self.processor.pad(label_sequences, self.padding_side, pad_value=IGNORE_INDEX)
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


__all__ = ["IGNORE_INDEX", "MolTCDataCollator"]
