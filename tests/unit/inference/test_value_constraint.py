"""Constrained decoding of regression values: well-formed, inside the answer's own interval, through generate."""

from __future__ import annotations

import math

import torch

from moltc_hf.inference.constraints import ValueConstraint, is_number_prefix, value_strings
from moltc_hf.inference.parsing import parse_regression_answer
from moltc_hf.inference.predict import uncached_features
from moltc_hf.inference.scoring import generate_answers
from moltc_hf.tasks.registry import get_task
from moltc_hf.tasks.templates import solvation_target

ANSWER = "The solvation Gibbs free energy of these two molecules is above -4.0 and below -3.5, so the accurate value is"


def test_value_strings_cover_the_interval_at_two_decimals():
    assert value_strings(-4.0, -3.5)[:2] == ["-4.00", "-3.99"] and value_strings(-4.0, -3.5)[-1] == "-3.50"
    assert len(value_strings(-4.0, -3.5)) == 51
    assert value_strings(-0.5, 0.0)[-2:] == ["-0.01", "0.00"]  # no "-0.00"
    assert value_strings(0, 1e6) is None  # too many to list: the format alone is enforced


def test_number_prefixes_follow_the_template_format():
    for text in ["", " ", " -", " -3", " -3.", " -3.7", " -3.75", " -3.75;", " 12.00;"]:
        assert is_number_prefix(text), text
    for text in [" -3.751", " -3.7;", " --3", " -.5", " 12345", " 3.75x", "  3"]:
        assert not is_number_prefix(text), text


def test_the_constraint_turns_a_garbled_value_into_one_inside_its_interval(tiny):
    """The seed-2 FreeSolv failure: '... above -4.0 and below -3.5, so the accurate value is -300;'."""
    _, processor = tiny
    tokenizer = processor.tokenizer
    constraint = ValueConstraint(tokenizer, prompt_length=0)
    piece_of = {i: piece for i, piece in constraint.number_tokens}
    # after "-3" only the point may follow (-30.xx, -300 are outside [-4.0, -3.5])
    assert {piece_of[i] for i in constraint.allowed_tokens(ANSWER + " -3")} == {"."}
    # after "-3." only 5..9 (the value must stay >= -4.0 and <= -3.5 means -3.50..-3.99)
    after_point = {piece_of[i] for i in constraint.allowed_tokens(ANSWER + " -3.")}
    assert {piece[0] for piece in after_point} == set("56789") and "5" in after_point
    assert {piece_of[i] for i in constraint.allowed_tokens(ANSWER + " -4.0")} <= {"0", "0;"}
    assert constraint.allowed_tokens(ANSWER + " -3.75;") is None  # complete: the answer may end
    assert (
        constraint.allowed_tokens("The solvation Gibbs free energy is above") is None
    )  # not at the value yet
    # as a logits processor: the garbled argmax "0" is masked, the best allowed token wins
    generated = torch.tensor([tokenizer(ANSWER + " -3", add_special_tokens=False)["input_ids"]])
    scores = torch.zeros(1, len(tokenizer))
    zero, point = tokenizer.convert_tokens_to_ids("0"), tokenizer.convert_tokens_to_ids(".")
    scores[0, zero], scores[0, point] = 5.0, 1.0
    masked = constraint(generated, scores.clone())
    assert int(masked.argmax()) == point and math.isinf(float(masked[0, zero]))


def test_without_an_interval_only_the_format_is_enforced(tiny):
    _, processor = tiny
    constraint = ValueConstraint(processor.tokenizer, prompt_length=0, max_integer_digits=2)
    piece_of = {i: piece for i, piece in constraint.number_tokens}
    allowed = {piece_of[i] for i in constraint.allowed_tokens("so the accurate value is -30")}
    assert allowed == {"."}  # a third integer digit is refused
    assert ";" in {piece_of[i] for i in constraint.allowed_tokens("so the accurate value is -30.12")}


def test_constrained_generation_always_answers_a_parseable_value_inside_its_interval(tiny):
    """A random tiny model, forced into the template up to the value phrase, answers a number the parser reads."""
    model, processor = tiny
    task = get_task("solvation")
    prompts = [task.prompt(a, b) + " " + ANSWER for a, b in [("O", "CCO"), ("CCCCCC", "c1ccccc1")]]
    model.eval()
    features = uncached_features(model, processor, [("O", "CCO"), ("CCCCCC", "c1ccccc1")])
    texts, _ = generate_answers(model, processor, prompts, features, max_new_tokens=8, constrain_value=True)
    for text in texts:
        parsed = parse_regression_answer(ANSWER + text)
        assert parsed.parsed and -4.0 <= parsed.value <= -3.5, text
    assert solvation_target(-3.75).endswith("-3.75;")


def test_the_pipeline_and_the_clis_take_the_readout_option(tmp_path):
    from transformers import pipeline as hf_pipeline

    from conftest import save_tiny_model
    from moltc_hf.cli import main as cli_main

    folder = save_tiny_model(tmp_path / "model", task="solvation")
    pipe = hf_pipeline(model=str(folder), trust_remote_code=True)
    for constrain in (True, False):
        out = pipe({"smiles_a": "O", "smiles_b": "CCO"}, constrain_value=constrain, max_new_tokens=4)
        assert out["task"] == "solvation" and "value_source" in out
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("smiles_a,smiles_b\nO,CCO\nO,CCCO\n")
    for flag in ([], ["--no-constrain-value"]):
        output = tmp_path / f"out{len(flag)}.csv"
        code = cli_main(
            [
                "predict",
                "--model",
                str(folder),
                "--input",
                str(pairs),
                "--output",
                str(output),
                "--max-new-tokens",
                "4",
            ]
            + flag
        )
        assert code == 0 and output.read_text().count("\n") == 3
