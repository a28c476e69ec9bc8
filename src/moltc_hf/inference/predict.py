"""One batch of pairs -> one `Prediction` per pair, for any task: the step shared by evaluate, predict and the pipeline.

Classification answers come from candidate scoring (``mode="score"``: class probabilities from a softmax
over the candidates' log-likelihoods; the confidence is the chosen class's probability) or from free
generation (``mode="generate"``: the answer sentence is parsed; the confidence is the geometric mean of
the generated tokens' probabilities). Regression and free-text tasks always generate.

`iter_predictions` is the loop every reader of a model shares (``moltc evaluate``, ``moltc predict`` through
`moltc_hf.inference.screening`, the pipeline): it batches rows, validates their molecules into `Reject` records
instead of stopping, and encodes each unique molecule once. The graph encoder + Q-Former turn a molecule
into ``num_query_tokens`` soft tokens that do not depend on its partner, so `MoleculeFeatureCache` keeps them
per (canonical SMILES, role) -- per canonical SMILES alone when the projector is tied -- and batches pass
``molecule_features=`` to the model instead of graphs. A one-vs-many screen encodes the query drug once.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch_geometric.data import Batch

from .._progress import progress_bar
from ..featurization import InvalidMoleculeError, Reject, canonical_smiles
from ..loader import load_trained_model
from ..processing_moltc import MOLECULE_FIELDS
from ..tasks.registry import (
    CLASSIFICATION,
    REGRESSION,
    TaskSpec,
    describe_pair,
    get_task,
    swapped_prompt,
)
from .parsing import parse_classification_answer, parse_regression_answer
from .scoring import generate_answers, score_candidates

MODES = ("score", "generate")


@dataclass
class Prediction:
    """The model's answer to one pair. ``label``/``value`` are ``None`` when not applicable or unparseable."""

    task: str
    answer: str
    label: int | None = None
    label_name: str | None = None
    value: float | None = None
    probability: float = math.nan
    reasoning: str = ""
    class_probabilities: list[float] | None = None
    error: str | None = None
    value_source: str | None = None
    outside_interval: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def default_max_new_tokens(task: TaskSpec, cot: bool) -> int:
    """Room for the answer: template sentences are < 40 tokens; description reasoning needs far more."""
    return 256 if cot else 64


class SwappedInputs(NamedTuple):
    """A batch's pairs as (B, A): prompts, molecule features in (B, A) order, CoT prefixes (or ``None``)."""

    prompts: list[str]
    molecule_features: torch.Tensor
    prefixes: list[str] | None


def uses_symmetric_readout(task: TaskSpec, mode: str, symmetric: bool | None) -> bool:
    """Answer both orders and average them? Default: symmetric classification tasks (binary DDI) in score mode.

    A model trained on one order per pair answers (A, B) and (B, A) differently (order consistency ~0.7 on
    ChChMiner); the mean of both orders is order-invariant by construction and scores a little higher
    (docs/results.md). Generation has no probabilities to average, so it answers one order.
    """
    wanted = task.symmetric if symmetric is None else symmetric
    return bool(wanted) and mode == "score" and task.kind == CLASSIFICATION


def swapped_row(
    smiles_a: str, smiles_b: str, prompt: str, prefix: str, task: TaskSpec, from_dataset: bool
) -> tuple[str, str] | None:
    """The (B, A) prompt and CoT prefix of one (A, B) row, or ``None`` when either cannot be rebuilt.

    A dataset prompt is rebuilt when it is the standard pair prompt (`swapped_prompt`); a prefix when it is the
    pair's own description (`describe_pair`); an empty prefix stays empty.
    """
    new_prompt = (
        swapped_prompt(prompt, smiles_a, smiles_b) if from_dataset else task.prompt(smiles_b, smiles_a)
    )
    new_prefix = ""
    if prefix:  # CoT: the descriptions follow pair order, so they swap too
        new_prefix = (
            describe_pair(smiles_b, smiles_a) if describe_pair(smiles_a, smiles_b) == prefix else None
        )
    return None if new_prompt is None or new_prefix is None else (new_prompt, new_prefix)


def swapped_inputs(
    pairs: Sequence[Sequence[str]],
    prompts: Sequence[str],
    prefixes: Sequence[str] | None,
    task: TaskSpec,
    from_dataset: bool,
    features_of: Callable[[list[tuple[str, str]]], torch.Tensor],
) -> SwappedInputs:
    """A batch as (B, A) (`swapped_row` per row), molecule features from ``features_of(pairs)``.

    A row that cannot be rebuilt keeps its (A, B) inputs, so its answer is its one-order answer.
    """
    out_pairs, out_prompts, out_prefixes = [], [], []
    for index, ((a, b), prompt) in enumerate(zip(pairs, prompts)):
        prefix = prefixes[index] if prefixes is not None else ""
        swapped = swapped_row(a, b, prompt, prefix, task, from_dataset)
        out_pairs.append((a, b) if swapped is None else (b, a))
        out_prompts.append(prompt if swapped is None else swapped[0])
        out_prefixes.append(prefix if swapped is None else swapped[1])
    return SwappedInputs(out_prompts, features_of(out_pairs), out_prefixes if prefixes is not None else None)


def predict_batch(
    model,
    processor,
    task: TaskSpec,
    prompts: Sequence[str],
    molecule_features: torch.Tensor,
    *,
    mode: str = "score",
    candidates: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    prefixes: Sequence[str] | None = None,
    max_new_tokens: int | None = None,
    num_beams: int = 1,
    strategy: str = "cache",
    reduction: str = "decision",
    share_prefix: bool = True,
    swapped: SwappedInputs | None = None,
    constrain_value: bool = True,
) -> list[Prediction]:
    """Answer ``prompts`` (one per pair, molecules given as ``molecule_features`` in pair order).

    ``constrain_value``: decode a regression value as a well-formed number inside the interval the answer gave
    (`constraints.ValueConstraint`); ``False`` reads whatever greedy decoding wrote.

    ``swapped``: the same pairs as (B, A) (`swapped_inputs`); score mode then answers with the mean of both
    orders' class probabilities, so (A, B) and (B, A) get the same answer by construction.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if task.kind == CLASSIFICATION and not candidates:
        raise ValueError(f"Task {task.name!r} needs the candidate answer sentences (one per class).")
    names = list(class_names or task.class_names or candidates or [])
    if task.kind == CLASSIFICATION and mode == "score":
        options = dict(strategy=strategy, reduction=reduction, share_prefix=share_prefix)

        def class_probabilities(prompts, features, prefixes):
            log_likelihood = score_candidates(
                model, processor, prompts, candidates, features, prefixes=prefixes, **options
            )
            return torch.softmax(log_likelihood, dim=-1)

        probabilities = class_probabilities(prompts, molecule_features, prefixes)
        if swapped is not None:
            probabilities = (probabilities + class_probabilities(*swapped)) / 2
        predictions = []
        for index, row in enumerate(probabilities.tolist()):
            label = max(range(len(row)), key=row.__getitem__)
            prefix = prefixes[index] if prefixes else ""
            predictions.append(
                Prediction(
                    task=task.name,
                    answer=prefix + candidates[label],
                    label=label,
                    label_name=names[label],
                    probability=row[label],
                    reasoning=prefix.strip(),
                    class_probabilities=row,
                )
            )
        return predictions

    cot = bool(prefixes and any(prefixes))
    texts, confidences = generate_answers(
        model,
        processor,
        prompts,
        molecule_features,
        max_new_tokens=max_new_tokens or default_max_new_tokens(task, cot),
        num_beams=num_beams,
        constrain_value=constrain_value and task.kind == REGRESSION,
    )
    predictions = []
    for text, confidence in zip(texts, confidences):
        prediction = Prediction(task=task.name, answer=text, probability=confidence)
        if task.kind == REGRESSION:
            parsed = parse_regression_answer(text)
            prediction.value = parsed.value if parsed.parsed else math.nan
            prediction.value_source, prediction.outside_interval = (
                parsed.value_source,
                parsed.outside_interval,
            )
        elif task.kind == CLASSIFICATION:
            parsed = parse_classification_answer(text, candidates)
            prediction.label = parsed.label
            prediction.label_name = names[parsed.label] if parsed.label is not None else None
        else:
            predictions.append(prediction)
            continue
        prediction.reasoning, prediction.error = parsed.reasoning, parsed.error
        predictions.append(prediction)
    return predictions


class MoleculeFeatureCache:
    """LRU map (canonical SMILES, role) -> ``[num_query_tokens, hidden]`` molecule features on the model's device.

    ``features(pairs, rows)`` returns the stacked features of every molecule of ``pairs`` in row-major
    order, encoding only the molecules not seen before (in one batch). ``max_molecules`` bounds memory:
    a molecule costs ``num_query_tokens x hidden`` floats (64 KiB at 8 x 2048 fp32). ``max_bytes`` bounds it in
    bytes instead (measured on the first encoded molecule, at least ``min_molecules``): a screen of millions
    of distinct molecules then stays flat in memory whatever the model's width.
    """

    def __init__(
        self,
        model,
        processor,
        max_molecules: int = 100_000,
        *,
        max_bytes: int | None = None,
        min_molecules: int = 2048,
    ):
        self.model = model
        self.processor = processor
        self.max_molecules = max_molecules
        self.max_bytes = max_bytes
        self.min_molecules = min_molecules
        self._bounded = max_bytes is not None
        self.tied = len(model.model.mol_connector.projectors) == 1
        self._features: OrderedDict[tuple[str, int], torch.Tensor] = OrderedDict()
        self._canonical: dict[str, str] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._features)

    def key(self, smiles: str, role: int, *, row=None, field: str | None = None) -> tuple[str, int]:
        """Canonical key; raises `InvalidMoleculeError` (naming row and field) for a bad SMILES."""
        canonical = self._canonical.get(smiles)
        if canonical is None:
            canonical = canonical_smiles(
                smiles, keep_largest_fragment=self.processor.keep_largest_fragment, row=row, field=field
            )
            if len(self._canonical) > 4 * self.max_molecules:
                self._canonical.clear()
            self._canonical[smiles] = canonical
        return canonical, 0 if self.tied else role

    def features(self, pairs: Sequence[Sequence[str]], rows: Sequence | None = None) -> torch.Tensor:
        keys = [
            self.key(smiles, role, row=rows[i] if rows is not None else i, field=MOLECULE_FIELDS[role])
            for i, pair in enumerate(pairs)
            for role, smiles in enumerate(pair)
        ]
        missing = list(dict.fromkeys(k for k in keys if k not in self._features))
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            graphs = [self.processor.featurizer(smiles) for smiles, _ in missing]
            roles = torch.tensor([role for _, role in missing], dtype=torch.long)
            with torch.inference_mode():
                encoded = self.model.get_molecule_features(Batch.from_data_list(graphs), roles)
            for key, value in zip(missing, encoded):
                # a copy, not a view: a view would keep its whole batch alive after the others are evicted
                self._features[key] = value.clone() if self._bounded else value
            if self.max_bytes is not None:  # the bound in molecules, now that one molecule's size is known
                per_molecule = encoded[0].numel() * encoded[0].element_size()
                self.max_molecules = max(self.min_molecules, self.max_bytes // per_molecule)
                self.max_bytes, self._bounded = None, True
        stacked = torch.stack([self._features[k] for k in keys])
        for key in dict.fromkeys(keys):  # least recently used goes first; evict after this batch is served
            self._features.move_to_end(key)
        while len(self._features) > self.max_molecules:
            self._features.popitem(last=False)
        return stacked


def uncached_features(model, processor, pairs: Sequence[Sequence[str]], rows=None) -> torch.Tensor:
    """Every molecule encoded again for every pair: what the model's own forward does with ``graphs``."""
    graphs, mol_roles = processor.featurize_molecules(pairs, rows=rows)
    with torch.inference_mode():
        return model.get_molecule_features(graphs, mol_roles)


def _validate(rows: Sequence[Mapping], row_ids: Sequence, featurizer) -> tuple[list[int], list[Reject]]:
    """Indices of rows whose two SMILES featurize, and a `Reject` per bad field (featurizer caches graphs)."""
    keep, rejects = [], []
    for index, (row, row_id) in enumerate(zip(rows, row_ids)):
        ok = True
        for field_name in MOLECULE_FIELDS:
            try:
                featurizer(row.get(field_name), row=row_id, field=field_name)
            except InvalidMoleculeError as err:
                rejects.append(
                    Reject(row=row_id, field=field_name, value=str(row.get(field_name)), reason=err.reason)
                )
                ok = False
        if ok:
            keep.append(index)
    return keep, rejects


def iter_predictions(
    model,
    processor,
    rows: Iterable[Mapping],
    task: TaskSpec | str,
    *,
    batch_size: int = 32,
    mode: str = "score",
    candidates: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    cot: bool | None = None,
    use_dataset_prompts: bool = False,
    cache: MoleculeFeatureCache | bool = True,
    max_new_tokens: int | None = None,
    num_beams: int = 1,
    row_ids: Iterable | None = None,
    progress: str | None = None,
    reduction: str = "decision",
    share_prefix: bool = True,
    symmetric: bool | None = None,
    constrain_value: bool = True,
) -> Iterator[tuple[list[tuple[object, Mapping, Prediction]], list[Reject]]]:
    """Yield ``([(row_id, row, prediction), ...], rejects)`` per batch of ``rows``.

    Prompts are built by the task (`TaskSpec.prompt`), or taken from each row's
    ``prompt`` with ``use_dataset_prompts=True`` (evaluation). With ``cot`` (default: the task's
    convention) candidates are scored after the pair's property descriptions, as CoT targets have them.
    ``progress``: the label of a progress bar over the rows (none when ``None``). ``reduction``: which answer
    tokens a candidate's score sums (`moltc_hf.inference.scoring`). ``share_prefix``: a batch whose pairs share
    molecule A (a one-vs-many screen) encodes the shared prompt prefix once (same scores). ``symmetric``: answer
    (A, B) and (B, A) and average (`uses_symmetric_readout`; default: the task's ``symmetric``, score mode).
    """
    task = get_task(task) if isinstance(task, str) else task
    cot = task.cot if cot is None else cot
    candidates = list(candidates or task.candidates) or None
    if cache is True:
        cache = MoleculeFeatureCache(model, processor)
    model.eval()

    answer_options = {"mode": mode, "candidates": candidates, "class_names": class_names}
    answer_options.update(max_new_tokens=max_new_tokens, num_beams=num_beams, reduction=reduction)
    answer_options.update(share_prefix=share_prefix, constrain_value=constrain_value)
    both_orders = uses_symmetric_readout(task, mode, symmetric)

    def predict(batch: list[Mapping], batch_ids: list) -> list[Prediction]:
        pairs = [(row["smiles_a"], row["smiles_b"]) for row in batch]
        if use_dataset_prompts:
            prompts = [row["prompt"] for row in batch]
        else:
            prompts = [task.prompt(a, b) for a, b in pairs]
        prefixes = None
        if cot and task.is_classification:
            prefixes = [
                row["answer_prefix"] if "answer_prefix" in row else describe_pair(a, b)
                for row, (a, b) in zip(batch, pairs)
            ]

        def features_of(pairs):
            if isinstance(cache, MoleculeFeatureCache):  # (an empty cache is falsy: it has a __len__)
                return cache.features(pairs, batch_ids)
            return uncached_features(model, processor, pairs, batch_ids)

        swapped = None
        if both_orders:
            swapped = swapped_inputs(pairs, prompts, prefixes, task, use_dataset_prompts, features_of)
        return predict_batch(
            model,
            processor,
            task,
            prompts,
            features_of(pairs),
            prefixes=prefixes,
            swapped=swapped,
            **answer_options,
        )

    total = len(rows) if isinstance(rows, Sized) else None
    rows = iter(rows)
    ids = iter(row_ids) if row_ids is not None else itertools.count()
    # A live bar on a terminal; in a log file a plain line a minute, not one redraw per batch (`progress_bar`).
    with progress_bar(total=total, desc=progress, disable=progress is None, unit="pair") as bar:
        while batch := list(itertools.islice(rows, batch_size)):
            batch_ids = list(itertools.islice(ids, len(batch)))
            keep, rejects = _validate(batch, batch_ids, processor.featurizer)
            batch, batch_ids = [batch[i] for i in keep], [batch_ids[i] for i in keep]
            results = list(zip(batch_ids, batch, predict(batch, batch_ids))) if batch else []
            bar.update(len(results) + len({r.row for r in rejects}))
            yield results, rejects


def predict_frame(model, processor, frame, task: TaskSpec | str, **kwargs) -> tuple[list, list[Reject]]:
    """All of `iter_predictions` over a DataFrame's rows, row ids = the frame's index: ``(results, rejects)``."""
    results, rejects = [], []
    for batch_results, batch_rejects in iter_predictions(
        model, processor, frame.to_dict("records"), task, row_ids=frame.index.tolist(), **kwargs
    ):
        results += batch_results
        rejects += batch_rejects
    return results, rejects


INFERENCE_DTYPES = ("auto", "bfloat16", "float16", "float32")


def inference_dtype(dtype: torch.dtype | str | None, device: str | torch.device) -> torch.dtype:
    """The weights' dtype for inference: ``"auto"`` (or ``None``) is bf16 on CUDA and fp32 elsewhere.

    A saved ``final/`` is fp32 (training keeps fp32 masters); read in fp32 on a GPU, screening at the 1.3b shape
    ran at ~100 pairs/s. bf16 halves the weight traffic and runs on the tensor cores, and the class scores are
    log-softmaxed in fp32 either way (`evaluation.scoring`). On CPU bf16 matmuls are slow, so fp32 stays.
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
    if dtype not in INFERENCE_DTYPES:
        raise ValueError(f"dtype must be one of {list(INFERENCE_DTYPES)} or a torch.dtype, got {dtype!r}")
    return getattr(torch, dtype)


def load_for_inference(source: str | Path, device: str | None = None, dtype: torch.dtype | str | None = None):
    """A saved model folder (or hub id) + its processor, in eval mode on ``device`` (CUDA when available), in
    ``dtype`` (`inference_dtype`: bf16 on CUDA, fp32 on CPU unless told)."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = inference_dtype(dtype, device)
    model, processor = load_trained_model(source, dtype=dtype)
    return model.to(device).eval(), processor


__all__ = [
    "MODES",
    "MoleculeFeatureCache",
    "Prediction",
    "SwappedInputs",
    "default_max_new_tokens",
    "INFERENCE_DTYPES",
    "inference_dtype",
    "iter_predictions",
    "load_for_inference",
    "predict_batch",
    "predict_frame",
    "swapped_inputs",
    "swapped_row",
    "uncached_features",
    "uses_symmetric_readout",
]
