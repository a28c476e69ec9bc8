"""Read answers out of generated text, strictly: the template's own phrases, never "the last number".

Regression answers follow ``"... is above {lo} and below {hi}, so the accurate value is {v:.2f};"``
(interval chain-of-thought, then the value). We read the value after ``the accurate value is`` and the
interval after ``above ... and below ...``; the value wins when both are there, and the answer is flagged
when it falls outside its own interval. Only when the value sentence is missing do we fall back to the
interval's midpoint (marked ``value_source="interval"``). Anything else is *unparseable*: it keeps its
row with ``value=NaN`` and a reason, so the unparseable rate is always reported.

Classification answers are matched against the candidate sentences after the reasoning (the text after
the last ``</s>``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ..tasks.registry import SEPARATOR, answer_sentence

# A decimal number that is not the start of a longer malformed token like "1.2.3" or "4.5e".
_NUMBER = r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?(?![\d.]*\d)(?!\.\d)"
_VALUE = re.compile(r"the\s+accurate\s+value\s+is\s+(?P<value>" + _NUMBER + r")", re.IGNORECASE)
_INTERVAL = re.compile(
    r"above\s+(?P<low>" + _NUMBER + r")\s+and\s+below\s+(?P<high>" + _NUMBER + r")", re.IGNORECASE
)
_VALUE_PHRASE = re.compile(r"so\s+the\s+accurate\s+value\s+is", re.IGNORECASE)
_WS = re.compile(r"\s+")
_MALFORMED = re.compile(
    r"\s*[-+.\d]"
)  # after the value phrase: a number-like token the strict pattern refused


@dataclass
class ParsedAnswer:
    """One generated answer, read.

    ``value`` (regression) or ``label`` (classification) is ``NaN`` / ``None`` when ``error`` says why not.
    """

    text: str
    reasoning: str = ""
    value: float = math.nan
    label: int | None = None
    interval_low: float = math.nan
    interval_high: float = math.nan
    value_source: str | None = None  # "value", "interval" or None
    outside_interval: bool = False
    error: str | None = None

    @property
    def parsed(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return asdict(self)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def parse_regression_answer(text: str) -> ParsedAnswer:
    """Parse ``"... above lo and below hi, so the accurate value is v;"``; see the module docstring."""
    answer = ParsedAnswer(text=text)
    value_match = _VALUE.search(text)
    interval_match = _INTERVAL.search(text)
    cut = _VALUE_PHRASE.search(text)
    answer.reasoning = _reasoning_before(text, cut.start() if cut else None)
    try:
        _read_numbers(answer, value_match, interval_match, cut)
    except ValueError as err:  # e.g. "1e999" overflows to inf
        answer.value, answer.value_source, answer.error = math.nan, None, f"number {err} is not finite"
    return answer


def _read_numbers(answer: ParsedAnswer, value_match, interval_match, cut) -> None:
    if interval_match:
        low, high = _float(interval_match["low"]), _float(interval_match["high"])
        if low > high:
            low, high = high, low
        answer.interval_low, answer.interval_high = low, high
    if value_match:
        answer.value = _float(value_match["value"])
        answer.value_source = "value"
        if interval_match:
            answer.outside_interval = not (answer.interval_low <= answer.value <= answer.interval_high)
    elif cut and _MALFORMED.match(answer.text, cut.end()):
        # "the accurate value is -2.96.81": a number was written, wrongly; the interval's midpoint is not it
        token = answer.text[cut.end() :].split()[0].rstrip(";,")
        answer.error = f"'the accurate value is' is followed by a malformed number {token!r}"
    elif interval_match:
        answer.value = (answer.interval_low + answer.interval_high) / 2
        answer.value_source = "interval"
    elif cut:
        answer.error = "'the accurate value is' is not followed by a number"
    else:
        answer.error = "no 'the accurate value is V' or 'above X and below Y' in the answer"


def parse_classification_answer(text: str, candidates: Sequence[str]) -> ParsedAnswer:
    """Match the answer sentence (after the reasoning) against ``candidates``; label = candidate index.

    Exact match after whitespace normalisation first; otherwise a candidate that occurs exactly once
    in the answer (and is not contained in another matching candidate) is accepted; otherwise
    unparseable.
    """
    answer = ParsedAnswer(text=text)
    sentence = answer_sentence(text)
    answer.reasoning = _reasoning_before(text, text.rfind(SEPARATOR) if SEPARATOR in text else None)
    normalised = [_normalise(c) for c in candidates]
    wanted = _normalise(sentence)
    if wanted in normalised:
        answer.label = normalised.index(wanted)
        return answer
    contained = [i for i, c in enumerate(normalised) if c and c in wanted]
    # "#Drug1 and #Drug2 exhibit ..." is not inside "... do not exhibit ...", but guard anyway:
    contained = [
        i for i in contained if not any(i != j and normalised[i] in normalised[j] for j in contained)
    ]
    if len(contained) == 1:
        answer.label = contained[0]
    elif contained:
        answer.error = f"the answer contains {len(contained)} different candidate sentences"
    else:
        answer.error = f"the answer matches none of the {len(candidates)} candidate sentences"
    return answer


def _reasoning_before(text: str, position: int | None) -> str:
    if position is None or position <= 0:
        return ""
    return text[:position].strip().rstrip(",").strip()


def _normalise(text: str) -> str:
    return _WS.sub(" ", text).strip()


__all__ = ["ParsedAnswer", "parse_classification_answer", "parse_regression_answer"]
