"""The "molecule-pair-interaction" pipeline on a saved tiny model: structures, errors, fresh-process reload."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from transformers import Pipeline

import moltc_hf.pipeline  # noqa: F401  (registers the task)
from moltc_hf import InvalidMoleculeError
from moltc_hf.pipeline import MoleculePairInteractionPipeline, set_task_defaults

KEYS = {"task", "answer", "label", "value", "probability", "reasoning"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from moltc_hf import build_model

    model, processor = build_model("tiny", seed=0)
    set_task_defaults(
        model.config,
        task="ddi_binary",
        candidates={"ddi_type": ["#Drug1 raises #Drug2.", "#Drug1 lowers #Drug2."]},
    )
    path = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def pipe(model_dir):
    from transformers import pipeline

    return pipeline("molecule-pair-interaction", model=str(model_dir), trust_remote_code=True)


def test_pipeline_class_and_processor(pipe):
    # The saved folder carries the pipeline's code (`custom_pipelines`, issue 27), and with trust_remote_code=True
    # transformers runs that copy, as it would from the hub: the same class, loaded from the folder.
    assert type(pipe).__name__ == MoleculePairInteractionPipeline.__name__
    assert type(pipe).__module__.startswith("transformers_modules") and isinstance(pipe, Pipeline)
    assert type(pipe.processor).__name__ == "MolTCProcessor"


def test_single_pair_dict_and_tuple(pipe):
    out = pipe({"smiles_a": "CCO", "smiles_b": "c1ccccc1O"})
    assert set(out) >= KEYS and out["task"] == "ddi_binary"
    assert out["label"] in ("interaction", "no interaction") and out["value"] is None
    assert 0.5 <= out["probability"] <= 1  # the chosen class of two
    assert out == pipe(("CCO", "c1ccccc1O"))


def test_batched_pairs_match_single_answers(pipe):
    pairs = [("CCO", "c1ccccc1O"), {"smiles_a": "CC(=O)O", "smiles_b": "CN"}, ("O", "C")]
    outs = pipe(pairs, batch_size=2)
    assert isinstance(outs, list) and len(outs) == 3
    single = pipe(("CC(=O)O", "CN"))
    assert outs[1]["label"] == single["label"]
    assert outs[1]["probability"] == pytest.approx(single["probability"], rel=1e-4)


def test_tasks_and_modes(pipe):
    solvation = pipe(("O", "CCO"), task="solvation", max_new_tokens=6)
    assert solvation["task"] == "solvation" and solvation["label"] is None
    assert solvation["value"] is None and solvation["error"]  # untrained: unparseable, and says why
    assert 0 < solvation["probability"] <= 1
    generated = pipe(("O", "CCO"), mode="generate", max_new_tokens=4)
    assert isinstance(generated["answer"], str) and 0 < generated["probability"] <= 1
    typed = pipe(("O", "CCO"), task="ddi_type", cot=False)  # candidates stored in the config
    assert typed["label"] in ("#Drug1 raises #Drug2.", "#Drug1 lowers #Drug2.")


def test_invalid_smiles_is_a_clear_error(pipe):
    with pytest.raises(InvalidMoleculeError, match=r"'C1CC'.*smiles_b"):
        pipe(("CCO", "C1CC"))
    with pytest.raises(InvalidMoleculeError, match=r"row 1, field 'smiles_a'"):
        pipe([("CCO", "O"), ("not a smiles", "O")])
    with pytest.raises(ValueError, match="smiles_b"):
        pipe({"smiles_a": "CCO"})


FRESH = """
import json, sys
from transformers import AutoModelForCausalLM, pipeline
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], trust_remote_code=True)
import moltc_hf.pipeline
pipe = pipeline("molecule-pair-interaction", model=sys.argv[1], trust_remote_code=True)
print(json.dumps({"type": type(model).__name__, "out": pipe(("CCO", "c1ccccc1O"))}))
"""


@pytest.mark.slow
def test_fresh_process_reload(model_dir, pipe):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", FRESH, str(model_dir)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = pipe(("CCO", "c1ccccc1O"))
    assert result["type"] == "MolTCForConditionalGeneration"
    assert result["out"]["label"] == expected["label"]
    assert result["out"]["probability"] == pytest.approx(expected["probability"], rel=1e-4)
