"""Rows whose answer ``max_length`` cuts away: skipped as rejects, counted, and a run of only those refused.

The collator truncates a row to ``max_length`` from its end (never into the ``<mol>`` placeholders), so a prompt
as long as ``max_length`` keeps no answer token: its labels are all -100 and it teaches nothing. A recipe with
``max_length: 3`` cut every answer and "trained" to a mean loss of 0.0000 with exit 0. Here every row is measured
with the collator's own tokenization and cut before training: rows left with no answer token are rejects (with
their token counts), rows left with part of it are counted in a warning, and a split where no row keeps an
answer is refused with the ``max_length`` it would need.
"""

from __future__ import annotations

import logging

from datasets import Dataset

from ..collator import MolTCDataCollator
from ..processing_moltc import MolTCProcessor
from ..tasks.templates import without_smiles_text

logger = logging.getLogger(__name__)


def answer_lengths(
    dataset: Dataset, processor: MolTCProcessor, max_length: int, *, graph_only: bool = False
) -> list[tuple[int, int, int]]:
    """``(prompt tokens, answer tokens, answer tokens kept by max_length)`` of every row, as the collator cuts."""
    collator = MolTCDataCollator(processor, max_length=max_length, graph_only=graph_only)
    target_column = collator._target_column({name: None for name in dataset.column_names})
    lengths = []
    for prompt, target in zip(dataset[collator.prompt_column], dataset[target_column]):
        prompt_ids = processor.encode_prompt(without_smiles_text(prompt) if graph_only else prompt)
        target_ids = processor.encode_answer(target) + collator._answer_end
        _, kept = collator._truncate(prompt_ids, target_ids)
        lengths.append((len(prompt_ids), len(target_ids), kept))
    return lengths


def drop_answerless_rows(
    dataset: Dataset,
    processor: MolTCProcessor,
    max_length: int | None,
    split: str,
    *,
    graph_only: bool = False,
) -> tuple[Dataset, list[dict]]:
    """Skip the rows ``max_length`` leaves without an answer token; refuse a split where that is every row."""
    if max_length is None or len(dataset) == 0:
        return dataset, []
    lengths = answer_lengths(dataset, processor, max_length, graph_only=graph_only)
    rows = dataset["source_row"] if "source_row" in dataset.column_names else list(range(len(dataset)))
    answerless = [i for i, (_, _, kept) in enumerate(lengths) if kept == 0]
    partial = sum(1 for _, answer, kept in lengths if 0 < kept < answer)
    needed = max(prompt + answer for prompt, answer, _ in lengths)
    if len(answerless) == len(dataset):
        raise ValueError(
            f"max_length={max_length} cuts the whole answer off all {len(dataset)} {split} rows (prompts of "
            f"{min(p for p, _, _ in lengths)}-{max(p for p, _, _ in lengths)} tokens): nothing would be learned. "
            f"Raise max_length to at least {needed} (the longest prompt + answer)."
        )
    if partial:
        logger.warning(
            "max_length=%d cuts part of the answer off %d of %d %s rows (they train on its beginning only); "
            "max_length >= %d keeps every answer whole.",
            max_length,
            partial,
            len(dataset),
            split,
            needed,
        )
    if not answerless:
        return dataset, []
    logger.warning(
        "max_length=%d cuts the whole answer off %d of %d %s rows: skipped (written to rejects.parquet); "
        "max_length >= %d keeps every answer.",
        max_length,
        len(answerless),
        len(dataset),
        split,
        needed,
    )
    rejects = [
        {
            "row": rows[i],
            "field": "prompt",
            "value": f"{lengths[i][0]} prompt tokens + {lengths[i][1]} answer tokens",
            "reason": f"answer cut away by max_length={max_length} (the prompt alone is {lengths[i][0]} tokens)",
            "split": split,
        }
        for i in answerless
    ]
    dropped = set(answerless)
    return dataset.select([i for i in range(len(dataset)) if i not in dropped]), rejects
