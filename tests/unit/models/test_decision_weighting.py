"""Decisions: loss weight on the tokens that decide a class, scoring by those tokens, calibration on validation."""

from __future__ import annotations

import datasets
import numpy as np
import torch

from moltc_hf import MolTCDataCollator
from moltc_hf.collator import IGNORE_INDEX, decision_spans
from moltc_hf.evaluation.calibration import apply_temperature, calibrate, fit_temperature, fit_threshold
from moltc_hf.evaluation.evaluate import evaluate_model
from moltc_hf.evaluation.report import format_report
from moltc_hf.inference.predict import uncached_features
from moltc_hf.inference.scoring import score_candidates, tokenize_candidates
from moltc_hf.tasks import templates
from moltc_hf.tasks.registry import get_task
from moltc_hf.training import Recipe, build_trainer


def test_decision_spans_start_where_candidates_part_and_stop_when_unique():
    spans = decision_spans([[1, 2, 3, 9], [1, 2, 4, 5, 9], [1, 2, 4, 6, 9]])
    assert spans == [(2, 3), (2, 4), (2, 4)]
    assert decision_spans([[7, 1], [8, 1]]) == [(0, 1), (0, 1)]


def _rows(label: float) -> list[dict]:
    spec = get_task("ddi_binary")
    return [
        {
            "task": "ddi_binary",
            "smiles_a": "CCO",
            "smiles_b": "c1ccccc1O",
            "prompt": spec.prompt("CCO", "c1ccccc1O"),
            "target": spec.target(label),
        }
    ]


def test_collator_weights_exactly_the_decision_token(tiny):
    _, processor = tiny
    collator = MolTCDataCollator(processor, decision_weight=10.0)
    for label, sentence in ((1.0, templates.DDI_POSITIVE), (0.0, templates.DDI_NEGATIVE)):
        batch = collator(_rows(label))
        weights, labels = batch["loss_weights"][0], batch["labels"][0]
        assert weights.shape == labels.shape
        assert (weights[labels == IGNORE_INDEX] == 0).all()
        decided = (weights == 10.0).nonzero().flatten().tolist()
        assert len(decided) == 1  # "exhibit" vs "do": one token decides the binary answer
        positive = processor.encode_text(templates.DDI_POSITIVE)
        negative = processor.encode_text(templates.DDI_NEGATIVE)
        shared = next(i for i, (a, b) in enumerate(zip(positive, negative)) if a != b)
        own = positive if label == 1.0 else negative
        assert labels[decided[0]].item() == own[shared]
        assert int((weights > 0).sum()) == len(processor.encode_text(sentence)) + 1  # answer + its end token
    assert "loss_weights" not in MolTCDataCollator(processor)(_rows(1.0))  # weight 1: the paper's loss


def test_collator_weights_the_number_tokens_of_a_regression_answer(tiny):
    _, processor = tiny
    spec = get_task("solvation")
    target = spec.target(-11.01)
    row = {"task": "solvation", "smiles_a": "O", "smiles_b": "CCO", "prompt": spec.prompt("O", "CCO")}
    batch = MolTCDataCollator(processor, decision_weight=10.0)([row | {"target": target}])
    weights, labels = batch["loss_weights"][0], batch["labels"][0]
    weighted = processor.tokenizer.decode(labels[weights == 10.0].tolist()).replace(" ", "")
    plain = processor.tokenizer.decode(labels[weights == 1.0].tolist())
    numbers = [n for n in target.replace(",", " ").replace(";", " ").split() if any(c.isdigit() for c in n)]
    assert weighted == "".join(
        numbers
    )  # every number: sign, digits and decimal point ("-11.01", not "-1101")
    assert "solvation" in plain and not any(c.isdigit() for c in plain)  # the template weighs 1
    assert (weights[labels == IGNORE_INDEX] == 0).all()


def test_weighted_loss_with_unit_weights_is_the_plain_token_mean(tiny, tmp_path):
    model, processor = tiny
    recipe = Recipe.from_dict(
        {"name": "t", "stage": "finetune", "dataset_config": "x", "decision_weight": 10.0, "training": {}}
    )
    rows = _rows(1.0) + _rows(0.0)
    trainer = build_trainer(recipe, model, processor, datasets.Dataset.from_list(rows), tmp_path)
    batch = trainer.data_collator(rows)
    with torch.no_grad():
        plain = model(**{k: v for k, v in batch.items() if k != "loss_weights"}).loss
        unit = trainer.compute_loss(
            model, {**batch, "loss_weights": (batch["labels"] != IGNORE_INDEX).float()}
        )
        weighted = trainer.compute_loss(model, dict(batch))
    assert torch.allclose(plain, unit, atol=1e-5)
    assert not torch.allclose(weighted, unit)


def test_decision_scoring_compares_only_the_deciding_token(tiny):
    """Binary DDI by "decision": softmax over the two scores = the next-token odds of "exhibit" vs "do"."""
    model, processor = tiny
    prompt = templates.pair_prompt("CCO", "c1ccccc1O", templates.DDI_QUESTION)
    candidates = [templates.DDI_NEGATIVE, templates.DDI_POSITIVE]
    features = uncached_features(model, processor, [("CCO", "c1ccccc1O")])
    scores = score_candidates(model, processor, [prompt], candidates, features, reduction="decision")[0]
    context, continuations = tokenize_candidates(processor, prompt, candidates)
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([context]), molecule_features=features).logits[0, -1]
    log_probs = torch.log_softmax(logits.float(), -1)
    expected = torch.stack([log_probs[continuations[0][0]], log_probs[continuations[1][0]]])
    torch.testing.assert_close(scores, expected, rtol=1e-4, atol=1e-4)
    whole = score_candidates(model, processor, [prompt], candidates, features, reduction="sum")[0]
    assert (whole < scores).all()  # the whole sentences add the template tokens' log-probabilities


def test_calibration_fits_on_validation_and_is_reported():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1.5, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-z))).astype(int)  # the truth follows sigmoid(z) ...
    p = np.stack([1 / (1 + np.exp(4 * z)), 1 / (1 + np.exp(-4 * z))], 1)  # ... the scorer says sigmoid(4 z)
    assert 3.0 < fit_temperature(p, y) < 5.0
    assert np.allclose(apply_temperature(p, 1.0), p, atol=1e-9)
    halved = p[:, 1] * 0.5  # a biased scorer: positives only reach p ~ 0.5, argmax would call none of them
    assert fit_threshold(halved, y) < 0.5
    result = calibrate(p[:2000], y[:2000], p[2000:], y[2000:])
    assert result.ece_after < result.ece_before / 2 and 0 < result.threshold_accuracy < 1
    assert result.accuracy_at_threshold > 0.7


def test_evaluate_reports_validation_calibration(tiny):
    model, processor = tiny
    spec = get_task("ddi_binary")
    pairs = [("CCO", "c1ccccc1O"), ("CC(=O)O", "CN"), ("O", "CCCl"), ("c1ccncc1", "CCN")] * 2
    rows = [
        {**dict(zip(("smiles_a", "smiles_b"), pair)), "prompt": spec.prompt(*pair), "label": float(i % 2)}
        for i, pair in enumerate(pairs)
    ]
    rows = [{**row, "task": "ddi_binary", "target": spec.target(row["label"])} for row in rows]
    report = evaluate_model(model, processor, rows, calibration_rows=rows[:4], progress=False)
    calibration = report["calibration"]
    assert calibration["num_validation"] == 4 and calibration["temperature"] > 0
    assert 0 <= calibration["accuracy_at_threshold"] <= 1
    assert "calibrated.temperature" in format_report(report)
