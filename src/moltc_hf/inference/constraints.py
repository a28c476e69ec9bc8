"""Constrained decoding of a regression answer's value: a well-formed number that agrees with its own interval.

A regression answer reads ``"... is above {lo} and below {hi}, so the accurate value is {v:.2f};"``. Greedy decoding
of a small model can write a number its own reasoning rules out (``"above -4.0 and below -3.5, so the accurate
value is -300;"``: one wrong digit after ``-3``, an error of 296 kcal/mol that dominates a test set's RMSE). Once
the value phrase is generated, `ValueConstraint` lets through only the tokens that keep the value a prefix of a
number the template can write: with ``{v:.2f}`` and ``;`` after it, and inside ``[lo, hi]`` when the answer gave
its interval. The model still chooses the value (its most likely token among the allowed ones at every step);
it can no longer contradict the interval it wrote or leave the template's number format. Without an interval
only the format is enforced (at most ``max_integer_digits`` digits before the point).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch
from transformers import LogitsProcessor

_VALUE_PHRASE = re.compile(r"the\s+accurate\s+value\s+is", re.IGNORECASE)
_NUMBER = r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)"
_INTERVAL = re.compile(r"above\s+(?P<low>" + _NUMBER + r")\s+and\s+below\s+(?P<high>" + _NUMBER + r")", re.I)
_NUMBER_CHARACTERS = frozenset(" -0123456789.;")
_DIGITS = frozenset("0123456789")


def value_strings(low: float, high: float, decimals: int = 2, limit: int = 100_000) -> list[str] | None:
    """Every ``{v:.2f}`` string with ``low <= v <= high`` (``None`` when there are more than ``limit``)."""
    scale = 10**decimals
    first, last = math.ceil(min(low, high) * scale - 1e-9), math.floor(max(low, high) * scale + 1e-9)
    if last - first + 1 > limit:
        return None
    return [f"{step / scale:.{decimals}f}" for step in range(first, last + 1)]


def is_number_prefix(text: str, decimals: int = 2, max_integer_digits: int = 4, end: str = ";") -> bool:
    """Whether ``text`` (what follows the value phrase) can still grow into ``" -12.34;"``."""
    position = 1 if text[:1] == " " else 0
    position += text[position : position + 1] == "-"
    start = position
    while position < len(text) and text[position] in _DIGITS:
        position += 1
    if position - start > max_integer_digits:
        return False
    if position == len(text):
        return True
    if position == start or text[position] != ".":
        return False
    point = position
    position += 1
    while position < len(text) and text[position] in _DIGITS:
        position += 1
    if position - point - 1 > decimals:
        return False
    rest = text[position:]
    return rest == "" or (position - point - 1 == decimals and end.startswith(rest))


class ValueConstraint(LogitsProcessor):
    """Masks the tokens that would make a regression answer's value malformed or leave its own interval.

    Args:
        tokenizer: the processor's tokenizer (its number-like tokens are found once).
        prompt_length: the width of the (left-padded) prompt block; generated text starts after it.
        decimals, max_integer_digits: the number format (``{v:.2f}``; the bound applies when no interval is given).
    """

    def __init__(self, tokenizer, prompt_length: int, decimals: int = 2, max_integer_digits: int = 4) -> None:
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length
        self.decimals = decimals
        self.max_integer_digits = max_integer_digits
        self.number_tokens = number_like_tokens(tokenizer)
        self._allowed: dict[str, list[int]] = {}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for row, ids in enumerate(input_ids[:, self.prompt_length :].tolist()):
            allowed = self.allowed_tokens(self.tokenizer.decode(ids, clean_up_tokenization_spaces=False))
            if allowed is not None:
                keep = torch.full_like(scores[row], -math.inf)
                keep[allowed] = 0.0
                scores[row] = scores[row] + keep
        return scores

    def allowed_tokens(self, generated: str) -> list[int] | None:
        """The token ids allowed next after ``generated`` (``None``: no constraint here)."""
        phrase = _VALUE_PHRASE.search(generated)
        if phrase is None or _VALUE_PHRASE.search(generated, phrase.end()):
            return None
        tail = generated[phrase.end() :]
        interval = _INTERVAL.search(generated, 0, phrase.start())
        values = value_strings(float(interval["low"]), float(interval["high"])) if interval else None
        if values:
            complete = {f" {value};" for value in values}
            if tail in complete or not any(c.startswith(tail) for c in complete):
                return None  # done, or already off the template (the parser reports it)
            allowed = [
                i for i, piece in self.number_tokens if any(c.startswith(tail + piece) for c in complete)
            ]
        else:
            if not is_number_prefix(tail, self.decimals, self.max_integer_digits) or tail.endswith(";"):
                return None
            allowed = [
                i
                for i, piece in self.number_tokens
                if is_number_prefix(tail + piece, self.decimals, self.max_integer_digits)
            ]
        return allowed or None


def number_like_tokens(tokenizer) -> Sequence[tuple[int, str]]:
    """``(id, text)`` of every token whose text is made of sign, digits, point, space and ``;`` only."""
    cache = getattr(tokenizer, "_moltc_number_tokens", None)
    if cache is None:
        special = set(tokenizer.all_special_ids)
        cache = []
        for token_id in range(len(tokenizer)):
            if token_id in special:
                continue
            piece = tokenizer.decode([token_id], clean_up_tokenization_spaces=False)
            if piece and set(piece) <= _NUMBER_CHARACTERS:
                cache.append((token_id, piece))
        tokenizer._moltc_number_tokens = cache
    return cache


__all__ = ["ValueConstraint", "is_number_prefix", "number_like_tokens", "value_strings"]
