"""Candidate scoring, generation and `evaluate_model` / `moltc evaluate` on a tiny untrained (real) model."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from moltc_hf.evaluation import (
    evaluate_model,
    format_report,
    generate_answers,
    score_candidates,
    write_report,
)
from moltc_hf.inference.predict import uncached_features
from moltc_hf.inference.scoring import tokenize_candidates
from moltc_hf.tasks import templates


@pytest.fixture(scope="module")
def model_and_processor():
    from moltc_hf import build_model

    model, processor = build_model("tiny", seed=0)
    return model.eval(), processor


@pytest.fixture(scope="module")
def chchminer_rows(raw_dir):
    frame = pd.read_csv(raw_dir / "ChChMiner/ChChMiner_train.csv").sample(24, random_state=0)
    return [
        {
            "task": "ddi_binary",
            "smiles_a": a,
            "smiles_b": b,
            "prompt": templates.pair_prompt(a, b, templates.DDI_QUESTION),
            "target": templates.binary_ddi_target(bool(label)),
            "label": float(label),
            "source_row": int(index),
        }
        for index, a, b, label in zip(frame.index, frame.smiles_1, frame.smiles_2, frame.label)
    ]


PAIRS = [("CCO", "c1ccccc1O"), ("CC(=O)Oc1ccccc1C(=O)O", "CN1CCC[C@H]1c1cccnc1"), ("O", "C")]
CANDIDATES = [templates.DDI_NEGATIVE, templates.DDI_POSITIVE, "#Drug1 and #Drug2 are the same drug."]


def test_candidates_tokenize_like_training_targets(model_and_processor):
    _, processor = model_and_processor
    prompt = templates.pair_prompt(*PAIRS[0], templates.DDI_QUESTION)
    prefix = templates.description_pair_target("first.", "second.", "")
    context, continuations = tokenize_candidates(processor, prompt, CANDIDATES, prefix)
    for candidate, continuation in zip(CANDIDATES, continuations):
        # exactly the collator's ids: prompt + encode_answer(target) + answer end
        expected = processor.encode_prompt(prompt) + processor.encode_answer(prefix + candidate)
        assert context + continuation == expected + [processor.answer_end_token_id]


@pytest.mark.parametrize("prefixes", [None, ["</s> a. </s> </s> b. </s> "] * 3])
def test_cached_scoring_equals_full_sequences_and_is_batch_independent(model_and_processor, prefixes):
    model, processor = model_and_processor
    prompts = [templates.pair_prompt(a, b, templates.DDI_QUESTION) for a, b in PAIRS]
    features = uncached_features(model, processor, PAIRS)
    cached = score_candidates(
        model, processor, prompts, CANDIDATES, features, prefixes=prefixes, max_sequences=4
    )
    flat = score_candidates(
        model, processor, prompts, CANDIDATES, features, prefixes=prefixes, strategy="flat"
    )
    assert cached.shape == (3, 3) and torch.isfinite(cached).all() and (cached < 0).all()
    torch.testing.assert_close(cached, flat, rtol=1e-5, atol=1e-4)
    alone = score_candidates(
        model, processor, prompts[1:2], CANDIDATES, features[2:4], prefixes=prefixes and prefixes[1:2]
    )
    torch.testing.assert_close(alone[0], cached[1], rtol=1e-5, atol=1e-4)  # left padding does not leak


def test_generation_confidence_is_the_geometric_mean_token_probability(model_and_processor):
    model, processor = model_and_processor
    prompts = [templates.pair_prompt(a, b, templates.SOLVATION_QUESTION) for a, b in PAIRS[:2]]
    features = uncached_features(model, processor, PAIRS[:2])
    texts, confidences = generate_answers(model, processor, prompts, features, max_new_tokens=6)
    assert len(texts) == 2 and all(0 < c <= 1 for c in confidences)
    # recompute by teacher forcing the generated tokens on the first prompt
    ids = processor.encode_prompt(prompts[0])
    new = processor.encode_text(texts[0])[:6]
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids + new]), molecule_features=features[:2]).logits[0]
    log_probs = torch.log_softmax(logits[len(ids) - 1 : -1], -1).gather(1, torch.tensor(new)[:, None])
    assert confidences[0] == pytest.approx(float(log_probs.mean().exp()), rel=1e-3)
    beam_texts, beam_confidences = generate_answers(
        model, processor, prompts, features, max_new_tokens=6, num_beams=2
    )
    assert len(beam_texts) == 2 and all(0 < c <= 1 for c in beam_confidences)


def test_evaluate_binary_ddi_accounts_for_every_row(model_and_processor, chchminer_rows, tmp_path):
    model, processor = model_and_processor
    rows = [dict(r) for r in chchminer_rows[:16]]
    rows[5]["smiles_b"] = "C1CC"  # unclosed ring: rejected, not dropped
    rows[9]["label"] = float("nan")  # no truth to score against: rejected too
    report = evaluate_model(
        model, processor, rows, train_rows=chchminer_rows[8:], batch_size=8, progress=False
    )
    predictions = report["predictions"]
    assert report["num_rows"] == 16 and report["num_rejected"] == 2 and len(predictions) == 14
    assert report["rejects"].set_index("row")["field"].to_dict() == {9: "label", 5: "smiles_b"}
    assert not {5, 9} & set(predictions["row_id"])
    probabilities = np.stack(predictions["class_probabilities"].to_list())
    np.testing.assert_allclose(probabilities.sum(1), 1, rtol=1e-5)
    assert (predictions["label"] == probabilities.argmax(1)).all()
    metrics = report["metrics"]
    y_true = predictions["y_true"].to_numpy(int)
    assert metrics["accuracy"] == pytest.approx(float((predictions["label"] == y_true).mean()))
    consistency = report["order_consistency"]
    assert consistency["num_pairs"] == 14 and 0 <= consistency["same_answer"] <= 1
    symmetric = consistency["symmetric_readout"]  # both orders' probabilities averaged
    assert symmetric["num_examples"] == 14 and 0 <= symmetric["auroc"] <= 1
    assert set(report["references"]["drug_prior"]) >= {"auroc", "accuracy"}
    paths = write_report(report, tmp_path)
    assert {p.name for p in paths} >= {"metrics.json", "roc.png", "reliability.png", "confusion.png"}
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["metrics"]["num_examples"] == 14 and "predictions" not in saved
    assert "accuracy" in format_report(report)


def test_evaluate_regression_reports_unparseable_rows(model_and_processor, tmp_path):
    model, processor = model_and_processor
    values = [-4.78, 1.2, -0.5]
    rows = [
        {
            "smiles_a": "O",
            "smiles_b": smiles,
            "prompt": templates.pair_prompt("O", smiles, templates.SOLVATION_QUESTION),
            "target": templates.solvation_target(v),
            "label": v,
        }
        for smiles, v in zip(["CCO", "c1ccccc1", "CC(C)C"], values)
    ]
    report = evaluate_model(model, processor, rows, "solvation", max_new_tokens=8, progress=False)
    predictions = report["predictions"]
    assert report["mode"] == "generate" and len(predictions) == 3
    # an untrained model writes no template: every row stays, with NaN and a reason
    assert predictions["value"].isna().all() and predictions["error"].notna().all()
    assert report["metrics"]["num_unparseable"] == 3 and report["metrics"]["unparseable_rate"] == 1.0
    assert math.isnan(report["metrics"]["rmse"])
    write_report(report, tmp_path)
    assert (tmp_path / "parity.png").exists()
    assert json.loads((tmp_path / "metrics.json").read_text())["metrics"]["rmse"] is None


def test_moltc_evaluate_cli(tmp_path, raw_dir, model_and_processor):
    from moltc_hf.cli import main
    from moltc_hf.instructions import build_dataset

    model, processor = model_and_processor
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    build_dataset(["chchminer"], tmp_path / "data", limit=40, raw_dir=raw_dir)
    out = tmp_path / "eval"
    args = [
        "evaluate",
        "--model",
        str(tmp_path / "model"),
        "--dataset",
        str(tmp_path / "data"),
        "--config",
        "chchminer",
    ]
    assert main([*args, "--out", str(out), "--limit", "6", "--device", "cpu"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "ddi_binary" and metrics["metrics"]["num_examples"] == 6
    assert "drug_prior" in metrics["references"] and (out / "roc.png").exists()


def test_drug_type_prior_reference_uses_train_type_counts():
    from moltc_hf.baselines.priors import drug_type_prior_reference

    train = pd.DataFrame(
        {
            "smiles_a": ["CCO", "CCO", "CCN", "CCN"],
            "smiles_b": ["O", "N", "O", "C"],
            "label": [2.0, 2.0, 0.0, 1.0],
        }
    )
    test = pd.DataFrame({"smiles_a": ["CCO", "CCN"], "smiles_b": ["C", "Cl"], "label": [2.0, 0.0]})
    reference = drug_type_prior_reference(train, test, num_classes=3)
    # CCO was #Drug1 of type 2 twice -> type 2; CCN ties 0/1 -> argmax picks 0
    assert reference["accuracy"] == 1.0 and reference["num_train_rows"] == 4
    assert "skipped" in drug_type_prior_reference(None, test, 3)


def test_cot_reasoning_matches_the_dataset_targets(model_and_processor, raw_dir, tmp_path):
    """Scoring after `describe_pair` (pipeline / predict) conditions on exactly what DrugBank targets hold."""
    from moltc_hf.inference.predict import iter_predictions
    from moltc_hf.instructions import build_dataset
    from moltc_hf.tasks.registry import answer_sentence, describe_pair, split_reasoning

    build_dataset(["drugbank"], tmp_path, limit=12, raw_dir=raw_dir)
    rows = pd.read_parquet(tmp_path / "data" / "drugbank" / "train-00000-of-00001.parquet").head(6)
    for row in rows.itertuples():
        assert split_reasoning(row.target, answer_sentence(row.target)) == describe_pair(
            row.smiles_a, row.smiles_b
        )
    model, processor = model_and_processor
    candidates = sorted({answer_sentence(t) for t in rows["target"]})
    results = [
        r
        for batch, _ in iter_predictions(
            model, processor, rows.to_dict("records"), "ddi_type", candidates=candidates
        )
        for r in batch
    ]
    for _, row, prediction in results:
        assert prediction.reasoning == describe_pair(row["smiles_a"], row["smiles_b"]).strip()
        assert prediction.answer.endswith(prediction.label_name) and len(
            prediction.class_probabilities
        ) == len(candidates)


def test_limit_takes_a_seeded_sample_not_the_first_rows():
    from moltc_hf.evaluation.evaluate import sample_rows

    sorted_split = pd.DataFrame({"label": [0] * 50 + [1] * 50, "row": range(100)})
    sample = sample_rows(sorted_split, 20)
    assert len(sample) == 20 and set(sample["label"]) == {0, 1}  # the first 20 rows hold one class only
    assert list(sample["row"]) == sorted(sample["row"])  # file order kept
    assert sample.equals(sample_rows(sorted_split, 20))  # the same rows every run
    assert sample_rows(sorted_split, 200) is sorted_split
