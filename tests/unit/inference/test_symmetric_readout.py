"""Symmetric readout: binary DDI answers the mean of (A, B) and (B, A), so both orders get one answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moltc_hf.evaluation import evaluate_model
from moltc_hf.inference.predict import iter_predictions, uses_symmetric_readout
from moltc_hf.tasks.registry import get_task

PAIRS = [("CCO", "c1ccccc1O"), ("CC(=O)Oc1ccccc1C(=O)O", "CN1CCC[C@H]1c1cccnc1"), ("O=C(O)CCC", "N#CC")]


@pytest.fixture(scope="module")
def order_sensitive_model():
    """Untied projectors with molecule B's scaled: a model whose one-order answers depend on the order."""
    from moltc_hf import build_model

    model, processor = build_model("tiny", seed=0)
    model.untie_projectors()
    with torch.no_grad():
        model.model.mol_connector.projectors[1].language_projection.weight.mul_(3)
    return model.eval(), processor


def _probabilities(model, processor, pairs, **kwargs) -> np.ndarray:
    rows = [{"smiles_a": a, "smiles_b": b} for a, b in pairs]
    results = [
        r for batch, _ in iter_predictions(model, processor, rows, "ddi_binary", **kwargs) for r in batch
    ]
    return np.array([prediction.class_probabilities for _, _, prediction in results])


def test_default_readout_is_order_invariant_and_the_mean_of_both_orders(order_sensitive_model):
    model, processor = order_sensitive_model
    swapped = [(b, a) for a, b in PAIRS]
    forward_only = _probabilities(model, processor, PAIRS, symmetric=False)
    backward_only = _probabilities(model, processor, swapped, symmetric=False)
    assert np.abs(forward_only - backward_only).max() > 1e-4  # the one-order model does depend on the order
    default = _probabilities(model, processor, PAIRS)
    np.testing.assert_allclose(default, _probabilities(model, processor, swapped), atol=1e-6)
    np.testing.assert_allclose(default, (forward_only + backward_only) / 2, atol=1e-6)


def test_only_symmetric_classification_in_score_mode_averages_orders():
    assert uses_symmetric_readout(get_task("ddi_binary"), "score", None)
    assert not uses_symmetric_readout(get_task("ddi_binary"), "score", False)
    assert not uses_symmetric_readout(get_task("ddi_binary"), "generate", None)
    assert not uses_symmetric_readout(get_task("ddi_type"), "score", None)  # DrugBank types are directed
    assert not uses_symmetric_readout(get_task("solvation"), "score", True)  # regression generates


def test_evaluate_reports_full_order_consistency_with_the_default_readout(order_sensitive_model):
    model, processor = order_sensitive_model
    rows = [
        {"smiles_a": a, "smiles_b": b, "prompt": get_task("ddi_binary").prompt(a, b), "label": i % 2}
        for i, (a, b) in enumerate(PAIRS * 2)
    ]
    for row in rows:
        row["target"] = get_task("ddi_binary").candidates[row["label"]]
    symmetric = evaluate_model(model, processor, rows, "ddi_binary", progress=False)
    assert symmetric["order_consistency"]["same_answer"] == 1.0
    assert symmetric["order_consistency"]["mean_abs_probability_difference"] < 1e-6
    one_order = evaluate_model(model, processor, rows, "ddi_binary", progress=False, symmetric=False)
    assert one_order["order_consistency"]["mean_abs_probability_difference"] > 1e-4


def test_pipeline_answers_both_orders_alike(order_sensitive_model):
    from moltc_hf.pipeline import MoleculePairInteractionPipeline

    model, processor = order_sensitive_model
    pipe = MoleculePairInteractionPipeline(model=model, processor=processor, task="ddi_binary")
    a, b = PAIRS[1]
    forward, backward = pipe((a, b)), pipe((b, a))
    assert forward["probability"] == pytest.approx(backward["probability"], abs=1e-6)
    assert forward["label"] == backward["label"]
    one_order = pipe((a, b), symmetric=False), pipe((b, a), symmetric=False)
    assert abs(one_order[0]["probability"] - one_order[1]["probability"]) > 1e-5
