"""Model calls: candidate scoring by log-likelihood, and free generation with a per-answer confidence.

Both take ``molecule_features`` (``[num_mols, nq, H]`` from `model.get_molecule_features`, in row-major pair
order) rather than graphs, so callers can compute them once per molecule (see `moltc_hf.inference.screening`).

Scoring (``strategy="cache"``, the default): the prompt -- plus any reasoning prefix and the tokens all
candidates share -- runs once per pair with the KV cache; the cache is repeated per candidate and only the
candidates' differing tail runs again, batched. Each candidate is tokenised *together* with its prefix
exactly as the collator tokenises training targets, and ends with the answer-end token, so a candidate's
score is the log-likelihood of the whole answer the model would have to write. ``strategy="flat"`` runs
every (pair, candidate) sequence in full; it is the reference the cached path is tested against and the
baseline `benchmarks/screen.py` times it against.

Shared prefix (``share_prefix=True``, the default, with ``strategy="cache"``): in a one-vs-many screen every
pair of a batch starts with the same tokens -- ``</s>``, the query drug's SMILES and its ``<mol>`` graph
tokens -- up to where the library molecule's part begins. That prefix (the longest common token prefix of the
batch's contexts, cut before any molecule run whose features differ between pairs) is encoded once, its KV
cache is expanded along the batch, and only each pair's own suffix runs, with a ``[prefix | padding | suffix]``
attention mask whose position ids continue from the prefix; the candidates then follow as above. The scores
are the unshared path's (same tokens, positions and attention), so it is only used where a whole molecule's
graph tokens are shared: a batch of unrelated pairs shares two tokens, not worth an extra forward pass.

What a candidate's score adds up (``reduction``): ``"sum"`` is the log-likelihood of the whole answer (the
original's readout). Summed over whole sentences it favours the shorter sentence wherever the model is
unsure of the template tokens, a length bias rather than a prediction. ``"decision"`` (the default) sums
only the tokens that tell a candidate apart from the others (`moltc_hf.collator.decision_spans`: for binary
DDI the one token "exhibit" vs "do"), so the classes compete on the same footing; ``"mean"`` is the
length-normalised sum. Under ``"decision"`` the cached paths run the continuations only up to the last
deciding token (for binary DDI: none at all, the prompt's last logits decide), as no later token counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessorList

from ..collator import decision_spans
from ..processing_moltc import MolTCProcessor
from .constraints import ValueConstraint

REDUCTIONS = ("decision", "sum", "mean")


def _common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    shortest = min(len(s) for s in sequences)
    for index in range(shortest):
        token = sequences[0][index]
        if any(s[index] != token for s in sequences[1:]):
            return index
    return shortest


def tokenize_candidates(
    processor: MolTCProcessor, prompt: str, candidates: Sequence[str], prefix: str = ""
) -> tuple[list[int], list[list[int]]]:
    """``(context ids, one continuation per candidate)``; context = prompt + prefix + shared answer tokens."""
    end = [processor.answer_end_token_id]
    # `encode_answer`, as the collator tokenizes training targets: a ``</s>`` in a CoT prefix is text there too.
    full = [processor.encode_answer(prefix + candidate) + end for candidate in candidates]
    shared = _common_prefix_length(full)
    if any(len(f) == shared for f in full):
        raise ValueError("Two candidate answers tokenize identically; each class needs a distinct sentence.")
    return processor.encode_prompt(prompt) + full[0][:shared], [f[shared:] for f in full]


@torch.inference_mode()
def score_candidates(
    model,
    processor: MolTCProcessor,
    prompts: Sequence[str],
    candidates: Sequence[str],
    molecule_features: torch.Tensor,
    *,
    prefixes: Sequence[str] | None = None,
    strategy: str = "cache",
    max_sequences: int = 256,
    reduction: str = "decision",
    share_prefix: bool = True,
) -> torch.Tensor:
    """Log-likelihood scores ``[num_pairs, num_candidates]`` of each candidate answer after each prompt.

    ``softmax(dim=-1)`` of the result gives class probabilities. ``reduction``: which tokens count (see the
    module docstring). ``max_sequences`` bounds pairs x candidates per forward pass (memory); pairs are
    processed in groups that fit. ``share_prefix``: encode a prefix all pairs of a group share once (see the
    module docstring; cached strategy only).
    """
    if strategy not in ("cache", "flat"):
        raise ValueError(f"strategy must be 'cache' or 'flat', got {strategy!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    num_pairs = len(prompts)
    if num_pairs == 0:
        return torch.zeros(0, len(candidates))
    per_pair = molecule_features.shape[0] // num_pairs
    tokenized = [
        tokenize_candidates(processor, prompt, candidates, prefixes[i] if prefixes else "")
        for i, prompt in enumerate(prompts)
    ]
    group = max(1, max_sequences // max(1, len(candidates)))
    score = _score_cached if strategy == "cache" else _score_flat
    grouped_features = molecule_features.view(num_pairs, per_pair, *molecule_features.shape[1:])
    scores = torch.empty(num_pairs, len(candidates))
    for index in length_groups([len(context) for context, _ in tokenized], group):
        pairs = [tokenized[i] for i in index]
        features = grouped_features[torch.tensor(index, device=molecule_features.device)].flatten(0, 1)
        shared = None
        if share_prefix and strategy == "cache" and len(index) > 1:
            shared = shared_prefix(processor, [c for c, _ in pairs], features, per_pair)
        spans = _decision_spans_per_pair(pairs) if reduction == "decision" else None
        # "decision" counts no token after the deciding ones: the continuations are scored only that far.
        max_tokens = max(stop for pair in spans for _, stop in pair) if spans is not None else None
        if shared is not None:
            log_probs, mask = _score_shared(
                model, processor, pairs, features, per_pair, *shared, max_tokens=max_tokens
            )
        else:
            log_probs, mask = score(model, processor, pairs, features, per_pair, max_tokens)
        weights = _token_weights(spans, mask, reduction)
        scores[index] = (log_probs * weights).sum(1).view(len(index), len(candidates)).float().cpu()
    return scores


def length_groups(lengths: Sequence[int], max_size: int, slack: float = 1.2) -> list[list[int]]:
    """Indices of pairs grouped by context length (shortest first) so a padded batch is mostly tokens.

    A library's SMILES vary from a few to 128 characters, so a batch padded to its longest context spends a
    third of its compute on padding; sorted, a group grows while its padded size stays within ``slack`` times
    its tokens (and ``max_size`` pairs). Scores do not depend on the grouping.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    groups: list[list[int]] = []
    total = 0
    for i in order:
        current = groups[-1] if groups else None
        if (
            current
            and len(current) < max_size
            and (len(current) + 1) * lengths[i] <= slack * (total + lengths[i])
        ):
            current.append(i)
            total += lengths[i]
        else:
            groups.append([i])
            total = lengths[i]
    return groups


def _decision_spans_per_pair(tokenized) -> list[list[tuple[int, int]]]:
    """Per pair, its candidates' decision spans (`decision_spans`), computed once per distinct candidate set:
    pairs usually share their continuations."""
    spans_of: dict[tuple, list[tuple[int, int]]] = {}
    per_pair = []
    for _, continuations in tokenized:
        key = tuple(map(tuple, continuations))
        if key not in spans_of:
            spans_of[key] = decision_spans(continuations)
        per_pair.append(spans_of[key])
    return per_pair


def _token_weights(spans, mask: torch.Tensor, reduction: str) -> torch.Tensor:
    """``[pairs x candidates, length]`` weights of each continuation token for ``reduction`` (``spans``: the
    pairs' decision spans, for ``"decision"``)."""
    mask = mask.float()
    if reduction == "sum":
        return mask
    if reduction == "mean":
        return mask / mask.sum(1, keepdim=True).clamp(min=1)
    weights = torch.zeros_like(mask)
    for row, (start, stop) in enumerate(span for pair in spans for span in pair):
        weights[row, start:stop] = 1.0
    return weights


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _gather_log_probs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def shared_prefix(
    processor: MolTCProcessor, contexts: Sequence[Sequence[int]], features: torch.Tensor, per_pair: int
) -> tuple[int, int] | None:
    """``(prefix tokens, molecules in it)`` that every context of a batch shares, or ``None``.

    The prefix is the longest common token prefix, leaving each context at least one token of its own, and
    cut before a ``<mol>`` run that it would split or whose molecule features are not the same in every pair
    (two library drugs whose SMILES text agrees up to the 128-character cut still differ in their graphs).
    ``None`` unless it holds at least one whole molecule (the one-vs-many case).
    """
    length = min(_common_prefix_length(contexts), min(len(c) for c in contexts) - 1)
    mol_id, num_query = processor.mol_token_id, processor.num_query_tokens
    run_starts = [
        i for i in range(length) if contexts[0][i] == mol_id and (i == 0 or contexts[0][i - 1] != mol_id)
    ]
    grouped = features.view(len(contexts), per_pair, *features.shape[1:])
    molecules = 0
    for start in run_starts:
        whole = start + num_query <= length
        if (
            not whole
            or molecules >= per_pair
            or not bool((grouped[:, molecules] == grouped[0, molecules]).all())
        ):
            length = start
            break
        molecules += 1
    return (length, molecules) if molecules else None


def _score_shared(
    model,
    processor,
    tokenized,
    features,
    per_pair,
    prefix_length: int,
    prefix_molecules: int,
    max_tokens=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`_score_cached` with the batch's shared prefix encoded once and its KV cache expanded along the batch."""
    device = _device(model)
    contexts = [context for context, _ in tokenized]
    grouped = features.view(len(contexts), per_pair, *features.shape[1:])
    prefix = model(
        input_ids=torch.tensor([contexts[0][:prefix_length]], device=device),
        molecule_features=grouped[0, :prefix_molecules],
        use_cache=True,
        logits_to_keep=1,
    )
    cache = prefix.cache
    cache.batch_repeat_interleave(len(contexts))
    suffixes = [context[prefix_length:] for context in contexts]
    # [prefix | left padding | suffix]: OPT counts positions over the mask, so each suffix continues the prefix.
    context_mask = torch.cat(
        [
            torch.ones(len(contexts), prefix_length, dtype=torch.long),
            processor.attention_mask_for(suffixes, "left"),
        ],
        dim=1,
    ).to(device)
    out = model(
        input_ids=processor.pad(suffixes, "left").to(device),
        attention_mask=context_mask,
        molecule_features=grouped[:, prefix_molecules:].reshape(-1, *features.shape[1:]),
        cache=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    return _score_continuations(model, processor, tokenized, out, context_mask, max_tokens)


def _score_cached(
    model, processor, tokenized, features, per_pair, max_tokens: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probabilities of every continuation (and its mask), prompt encoded once per pair."""
    device = _device(model)
    contexts = [context for context, _ in tokenized]
    context_mask = processor.attention_mask_for(contexts, "left").to(device)
    out = model(
        input_ids=processor.pad(contexts, "left").to(device),
        attention_mask=context_mask,
        molecule_features=features,
        use_cache=True,
        logits_to_keep=1,
    )
    return _score_continuations(model, processor, tokenized, out, context_mask, max_tokens)


def _score_continuations(
    model, processor, tokenized, out, context_mask, max_tokens: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """From the contexts' forward pass (last logits + KV cache): each continuation's first ``max_tokens`` log-probs."""
    device = _device(model)
    num_candidates = len(tokenized[0][1])
    first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)  # predicts every continuation's first token
    continuations = [c[:max_tokens] for _, conts in tokenized for c in conts]
    ids = processor.pad(continuations, "right").to(device)
    mask = processor.attention_mask_for(continuations, "right").to(device)
    token_log_probs = torch.empty(ids.shape, device=device)
    token_log_probs[:, 0] = first.repeat_interleave(num_candidates, 0).gather(1, ids[:, :1]).squeeze(1)
    if ids.shape[1] > 1:
        # The last token predicts nothing that is scored: the continuations run without it.
        cache = out.cache
        cache.batch_repeat_interleave(num_candidates)
        out = model(
            input_ids=ids[:, :-1],
            attention_mask=torch.cat(
                [context_mask.repeat_interleave(num_candidates, 0), mask[:, :-1]], dim=1
            ),
            cache=cache,
            use_cache=True,
        )
        token_log_probs[:, 1:] = _gather_log_probs(out.logits, ids[:, 1:])
    return token_log_probs * mask, mask


def _score_flat(
    model, processor, tokenized, features, per_pair, max_tokens: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same per-token log-probabilities from full (pair, candidate) sequences: the reference (every token)."""
    device = _device(model)
    num_candidates = len(tokenized[0][1])
    sequences, lengths = [], []
    for context, conts in tokenized:
        for cont in conts:
            sequences.append(context + cont)
            lengths.append(len(cont))
    ids = processor.pad(sequences, "left").to(device)
    index = torch.arange(len(tokenized)).repeat_interleave(num_candidates)
    molecule_index = (index[:, None] * per_pair + torch.arange(per_pair)).reshape(-1).to(features.device)
    out = model(
        input_ids=ids,
        attention_mask=processor.attention_mask_for(sequences, "left").to(device),
        molecule_features=features[molecule_index],
    )
    token_log_probs = _gather_log_probs(out.logits[:, :-1], ids[:, 1:])
    width = ids.shape[1] - 1
    # Continuation-aligned like the cached path: column j is the j-th token of the candidate's continuation.
    longest = max(lengths)
    aligned = torch.zeros(len(sequences), longest, device=device)
    mask = torch.zeros(len(sequences), longest, device=device)
    for row, length in enumerate(lengths):
        aligned[row, :length] = token_log_probs[row, width - length :]
        mask[row, :length] = 1.0
    return aligned * mask, mask


@torch.inference_mode()
def generate_answers(
    model,
    processor: MolTCProcessor,
    prompts: Sequence[str],
    molecule_features: torch.Tensor,
    *,
    max_new_tokens: int = 64,
    num_beams: int = 1,
    constrain_value: bool = False,
    **generate_kwargs,
) -> tuple[list[str], list[float]]:
    """Greedy / beam answers (left-padded prompts) and each answer's confidence.

    ``constrain_value``: a regression answer's value is decoded under `constraints.ValueConstraint` (a
    well-formed ``{v:.2f}`` inside the interval the answer gave before it).

    Confidence = the geometric mean of the generated tokens' probabilities (including the answer-end
    token), i.e. ``exp(mean log p)``: comparable across answers of different lengths, in [0, 1]. For beams
    it uses the chosen beam's per-step scores.
    """
    if not prompts:
        return [], []
    device = _device(model)
    prompt_ids = [processor.encode_prompt(p) for p in prompts]
    input_ids = processor.pad(prompt_ids, "left").to(device)
    end_id = processor.answer_end_token_id
    if constrain_value:
        constraint = ValueConstraint(processor.tokenizer, input_ids.shape[1])
        given = generate_kwargs.get("logits_processor") or []
        generate_kwargs["logits_processor"] = LogitsProcessorList([*given, constraint])
    output = model.generate(
        input_ids=input_ids,
        attention_mask=processor.attention_mask_for(prompt_ids, "left").to(device),
        molecule_features=molecule_features,
        max_new_tokens=max_new_tokens,
        num_beams=num_beams,
        do_sample=False,
        eos_token_id=end_id,
        pad_token_id=processor.tokenizer.pad_token_id,
        return_dict_in_generate=True,
        output_scores=True,
        **generate_kwargs,
    )
    new_tokens = output.sequences[:, input_ids.shape[1] :]
    transition = model.compute_transition_scores(
        output.sequences,
        output.scores,
        getattr(output, "beam_indices", None),
        normalize_logits=num_beams == 1,
    )
    texts, confidences = [], []
    for tokens, log_probs in zip(new_tokens.tolist(), transition.float().cpu()):
        length = tokens.index(end_id) + 1 if end_id in tokens else len(tokens)
        texts.append(
            processor.tokenizer.decode(
                tokens[: length - 1 if end_id in tokens else length], clean_up_tokenization_spaces=False
            )
        )
        step_log_probs = log_probs[:length]
        step_log_probs = step_log_probs[torch.isfinite(step_log_probs)]
        confidences.append(float(step_log_probs.mean().exp()) if len(step_log_probs) else 0.0)
    return texts, confidences


__all__ = ["generate_answers", "score_candidates", "shared_prefix", "tokenize_candidates"]
