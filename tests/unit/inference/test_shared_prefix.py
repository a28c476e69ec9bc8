"""One-vs-many scoring with the query's prefix encoded once: the same scores as the unshared path."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from moltc_hf import build_model
from moltc_hf.evaluation import score_candidates
from moltc_hf.inference.predict import MoleculeFeatureCache, iter_predictions, uncached_features
from moltc_hf.inference.scoring import shared_prefix, tokenize_candidates
from moltc_hf.instructions.readers import drugbank_type_sentences
from moltc_hf.tasks.registry import get_task

QUERY = "CC(=O)Oc1ccccc1C(=O)O"  # aspirin


@pytest.fixture(scope="module")
def library(raw_dir) -> list[str]:
    frame = pd.read_csv(raw_dir / "DrugBank-DDI" / "ssi-ddi" / "drug_smiles.csv")
    return [s for s in frame["smiles"].tolist()[:40] if len(s) < 150][:12]


@pytest.mark.parametrize("untied", [False, True])
def test_shared_prefix_scores_equal_the_unshared_path(library, untied):
    model, processor = build_model("tiny", seed=0)
    if untied:
        model.untie_projectors()
    model.eval()
    task = get_task("ddi_binary")
    pairs = [(QUERY, smiles) for smiles in library]
    prompts = [task.prompt(a, b) for a, b in pairs]
    features = uncached_features(model, processor, pairs)
    contexts = [tokenize_candidates(processor, p, task.candidates)[0] for p in prompts]
    length, molecules = shared_prefix(processor, contexts, features, per_pair=2)
    assert molecules == 1 and length > processor.num_query_tokens  # the query's text and graph tokens
    for reduction in ("decision", "sum"):
        reference = score_candidates(
            model, processor, prompts, task.candidates, features, share_prefix=False, reduction=reduction
        )
        shared = score_candidates(model, processor, prompts, task.candidates, features, reduction=reduction)
        flat = score_candidates(
            model, processor, prompts, task.candidates, features, strategy="flat", reduction=reduction
        )
        torch.testing.assert_close(shared, reference, atol=1e-4, rtol=0)
        torch.testing.assert_close(shared, flat, atol=1e-4, rtol=0)


def test_shared_prefix_with_many_candidates_and_small_groups(library, raw_dir):
    """DrugBank's 86 type sentences (continuations of different lengths) and groups smaller than the batch."""
    model, processor = build_model("tiny", seed=0)
    model.eval()
    task = get_task("ddi_binary")
    types = drugbank_type_sentences(raw_dir)
    candidates = [types[k] for k in range(12)]
    pairs = [(QUERY, smiles) for smiles in library[:6]]
    prompts = [task.prompt(a, b) for a, b in pairs]
    features = uncached_features(model, processor, pairs)
    reference = score_candidates(model, processor, prompts, candidates, features, share_prefix=False)
    shared = score_candidates(model, processor, prompts, candidates, features, max_sequences=36)
    torch.testing.assert_close(shared, reference, atol=1e-4, rtol=0)


def test_no_sharing_without_a_common_molecule(tiny, library):
    """Unrelated pairs share only ``</s> [START_I_SMILES]``; same SMILES text with other graphs is not shared."""
    model, processor = tiny
    task = get_task("ddi_binary")
    pairs = list(zip(library[:4], library[4:8]))
    features = uncached_features(model, processor, pairs)
    contexts = [tokenize_candidates(processor, task.prompt(a, b), task.candidates)[0] for a, b in pairs]
    assert shared_prefix(processor, contexts, features, 2) is None
    # The query's tokens, but a different molecule A in one pair's features: the run is not shared.
    pairs = [(QUERY, smiles) for smiles in library[:4]]
    features = uncached_features(model, processor, pairs)
    contexts = [tokenize_candidates(processor, task.prompt(a, b), task.candidates)[0] for a, b in pairs]
    features = features.clone()
    features[2] = features[2] + 1.0
    assert shared_prefix(processor, contexts, features, 2) is None


def test_screen_loop_uses_the_shared_prefix_with_the_same_predictions(library):
    model, processor = build_model("tiny", seed=0)
    rows = [{"smiles_a": QUERY, "smiles_b": smiles} for smiles in library]

    def probabilities(share: bool) -> torch.Tensor:
        cache = MoleculeFeatureCache(model, processor)
        batches = iter_predictions(
            model, processor, rows, "ddi_binary", batch_size=5, cache=cache, share_prefix=share
        )
        return torch.tensor([p.class_probabilities for batch, _ in batches for _, _, p in batch])

    torch.testing.assert_close(probabilities(True), probabilities(False), atol=1e-4, rtol=0)


def test_length_groups_cover_every_pair_once_with_little_padding():
    from moltc_hf.inference.scoring import length_groups

    lengths = [40 + (i * 37) % 120 for i in range(64)]
    groups = length_groups(lengths, max_size=16)
    assert sorted(i for g in groups for i in g) == list(range(64))
    assert all(len(g) <= 16 for g in groups)
    padded = sum(max(lengths[i] for i in g) * len(g) for g in groups)
    assert padded <= 1.2 * sum(lengths) < max(lengths) * len(lengths)
