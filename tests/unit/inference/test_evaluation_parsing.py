"""Answer parsing on real template strings (made by the templates module) and malformed ones."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from moltc_hf.inference.parsing import parse_classification_answer, parse_regression_answer
from moltc_hf.instructions.readers import drugbank_type_sentences
from moltc_hf.tasks import templates
from moltc_hf.tasks.registry import candidates_for, swapped_prompt


@pytest.mark.parametrize("value", [-4.78, -5.0, 0.0, 0.25, 3.2, -12.345, 7.5])
def test_solvation_targets_parse_to_their_value(value):
    parsed = parse_regression_answer(templates.solvation_target(value))
    assert parsed.parsed and parsed.value_source == "value"
    assert parsed.value == pytest.approx(round(value, 2))
    assert parsed.interval_low <= parsed.value <= parsed.interval_high and not parsed.outside_interval
    assert (
        parsed.reasoning.startswith("The solvation Gibbs free energy") and "accurate" not in parsed.reasoning
    )


@pytest.mark.parametrize("value", [512.3, 398.0, 1000.04])
def test_wavelength_targets_parse(value):
    parsed = parse_regression_answer(templates.wavelength_target(value, "Emission max"))
    assert parsed.value == pytest.approx(round(value, 2)) and not parsed.outside_interval


def test_value_wins_over_interval_and_disagreement_is_flagged():
    text = "The solvation Gibbs free energy of these two molecules is above -5.0 and below -4.5, so the accurate value is -3.10;"
    parsed = parse_regression_answer(text)
    assert parsed.value == pytest.approx(-3.1) and parsed.outside_interval
    assert (parsed.interval_low, parsed.interval_high) == (-5.0, -4.5)


def test_missing_value_falls_back_to_interval_midpoint_marked():
    parsed = parse_regression_answer("... is above -2.0 and below -1.5, so the accurate value is")
    assert parsed.value == pytest.approx(-1.75) and parsed.value_source == "interval"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "The solvation Gibbs free energy of these two molecules is 4.2",  # a bare number is not an answer
        "so the accurate value is 1.2.3;",  # malformed number
        "so the accurate value is -;",
        "the accurate value is 1e999;",  # overflows to inf
        "??????????",
    ],
)
def test_malformed_regression_answers_are_unparseable_with_a_reason(text):
    parsed = parse_regression_answer(text)
    assert not parsed.parsed and math.isnan(parsed.value) and parsed.error


def test_binary_ddi_answers():
    candidates = [templates.DDI_NEGATIVE, templates.DDI_POSITIVE]
    assert parse_classification_answer(templates.binary_ddi_target(True), candidates).label == 1
    assert parse_classification_answer(templates.binary_ddi_target(False), candidates).label == 0
    cot = templates.description_pair_target(
        "Molecular weight 46.07.", "Molecular weight 18.02.", templates.DDI_NEGATIVE
    )
    parsed = parse_classification_answer(cot, candidates)
    assert parsed.label == 0 and "46.07" in parsed.reasoning and "18.02" in parsed.reasoning
    assert (
        parse_classification_answer("  #Drug1 and   #Drug2 exhibit drug-drug interaction. ", candidates).label
        == 1
    )
    for bad in ["", "#Drug1 and #Drug2 exhibit", "yes", f"{templates.DDI_POSITIVE} {templates.DDI_NEGATIVE}"]:
        parsed = parse_classification_answer(bad, candidates)
        assert parsed.label is None and parsed.error


def test_drugbank_type_sentences_from_real_dataset_rows(raw_dir):
    by_type = drugbank_type_sentences(raw_dir)  # the dataset builder's class id -> sentence
    sentences = [by_type[k] for k in range(86)]
    assert set(sentences) == set(
        pd.read_csv(raw_dir / "DrugBank-DDI/ssi-ddi/Interaction_information.csv")["Description"]
    )
    rows = [
        {"label": float(k), "target": templates.description_pair_target("d1", "d2", s)}
        for k, s in enumerate(sentences)
    ]
    candidates = candidates_for(rows, "ddi_type")
    assert candidates == sentences and len(candidates) == 86
    for k in (0, 3, 85):
        assert parse_classification_answer(rows[k]["target"], candidates).label == k
    # a split that holds only some classes still gets all 86 (the list the dataset ships, checked against the rows)
    some = rows[:3] + rows[10:12]
    assert candidates_for(some, "ddi_type", classes=sentences) == sentences
    with pytest.raises(ValueError, match="no row"):
        candidates_for([{**r, "target": r["target"] + "!"} for r in some], "ddi_type", classes=sentences)


def test_swapped_prompt_rebuilds_the_template():
    prompt = templates.pair_prompt("CCO", "c1ccccc1", templates.DDI_QUESTION)
    assert swapped_prompt(prompt, "CCO", "c1ccccc1") == templates.pair_prompt(
        "c1ccccc1", "CCO", templates.DDI_QUESTION
    )
    assert swapped_prompt(prompt, "CCN", "c1ccccc1") is None  # prompt does not belong to these SMILES


def test_a_prompt_without_smiles_text_is_its_own_swap():
    prompt = templates.pair_prompt("", "", "What are the side effects of these two drugs?")
    assert swapped_prompt(prompt, "CCO", "c1ccccc1") == prompt  # graph-only: only the graphs swap
