"""Reliability, round two (issue 28): one bad value never stops a batch, a refusal names its real cause, a
converted checkpoint is right without extra flags."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from conftest import load_benchmark, save_tiny_model
from moltc_hf.cli import main
from moltc_hf.featurization import InvalidMoleculeError, _parse_with_messages, parse_molecule

VALID_PAIRS = [("CCO", "c1ccccc1O"), ("CC(=O)O", "CCN"), ("CCCl", "OCCO"), ("c1ccncc1", "CC")]


pytestmark = pytest.mark.usefixtures("no_moltc_debug")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    # a model that records its task (issue 27: one that records none answers only a named --task)
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny", task="ddi_binary")


def _random_bytes_text(seed: int, length: int = 300) -> str:
    """What a corrupted source yields: random bytes decoded as UTF-8 with replacement characters."""
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(length)).decode("utf-8", "replace")


# -- 1. one value never aborts a run ----------------------------------------------------------------------


def test_rdkit_log_that_does_not_decode_is_not_an_exception():
    # Before: RDKit's captured log cut a multi-byte character and `log.messages` raised UnicodeDecodeError.
    mol, messages = _parse_with_messages("C(" + "é" * 300)
    assert mol is None and isinstance(messages, str)


@pytest.mark.parametrize("seed", range(6))
def test_random_bytes_are_an_invalid_molecule_with_a_reason(seed):
    with pytest.raises(InvalidMoleculeError) as info:
        parse_molecule(_random_bytes_text(seed), row=3, field="smiles_a")
    assert "non-ASCII character" in info.value.reason and "row 3" in str(info.value)


def test_predict_rejects_random_bytes_rows_and_predicts_the_rest(model_dir, tmp_path):
    rows = [*VALID_PAIRS[:2], (_random_bytes_text(1), "CCO"), ("CC", _random_bytes_text(2)), *VALID_PAIRS[2:]]
    source = tmp_path / "pairs.csv"
    pd.DataFrame(rows, columns=["smiles_a", "smiles_b"]).to_csv(source, index=False)
    output = tmp_path / "out.parquet"
    args = ["predict", "--model", str(model_dir), "--input", str(source), "--output", str(output)]
    assert main([*args, "--device", "cpu"]) == 0
    assert pd.read_parquet(output)["row_id"].tolist() == [0, 1, 4, 5]
    rejects = pd.read_parquet(tmp_path / "out.rejects.parquet")
    assert rejects["row"].tolist() == ["2", "3"] and rejects["field"].tolist() == ["smiles_a", "smiles_b"]
    assert all("non-ASCII character" in reason for reason in rejects["reason"])


def test_pipeline_raises_invalid_molecule_for_random_bytes(model_dir):
    from transformers import pipeline

    pipe = pipeline("molecule-pair-interaction", model=str(model_dir), trust_remote_code=True)
    with pytest.raises(InvalidMoleculeError, match=r"row 1, field 'smiles_b'"):
        pipe([("CCO", "O"), ("CC", _random_bytes_text(4))])


# -- 5. messages ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("smiles", "expected"),
    [
        ("*)2@]#/(:4c3r:/c-%c=O.NO)[[c]#%2oH:#322(1" * 12, "extra close parentheses while parsing"),
        ("nB*%O#(-%+-s4" * 30, "syntax error while parsing"),
        ("C1CC" + "C" * 700, "unclosed ring"),
    ],
)
def test_reject_reasons_are_one_short_line_without_the_smiles(smiles, expected):
    with pytest.raises(InvalidMoleculeError) as info:
        parse_molecule(smiles)
    reason = info.value.reason
    assert expected in reason and smiles[:20] not in reason
    assert len(reason) <= 200 and "\n" not in reason


# -- 7. a converted checkpoint is right without --peft-config -------------------------------------------

FIVE_MODULES = ["q_proj", "v_proj", "out_proj", "fc1", "fc2"]


@pytest.fixture(scope="module")
def peft_config_run(tmp_path_factory):
    """A MolTC run given ``--peft_config lora_config.json`` (r=16, alpha=32, five modules): its LLM is PEFT-wrapped
    in the .ckpt, its hyper-parameters keep the unused lora_r=8 / lora_alpha=32. Real PEFT builds the adapter;
    PEFT's own ``merge_and_unload`` is the expected LLM."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import OPTConfig, OPTForCausalLM

    from moltc_hf import build_model
    from unit.models.test_conversion import original_state_dict  # tests/ is on sys.path (conftest.py)

    text_config = build_model("tiny")[0].config.text_config
    torch.manual_seed(7)
    base = OPTForCausalLM(OPTConfig(**{k: v for k, v in text_config.to_dict().items() if k != "model_type"}))
    lora = LoraConfig(r=16, lora_alpha=32, target_modules=FIVE_MODULES, init_lora_weights=False)
    peft_model = get_peft_model(base, lora)
    llm = {f"blip2opt.opt_model.{k}": v.clone() for k, v in peft_model.state_dict().items()}
    merged = {k: v.clone() for k, v in peft_model.merge_and_unload().state_dict().items()}
    state = original_state_dict(text_config.vocab_size)
    state = {k: v for k, v in state.items() if not k.startswith("blip2opt.opt_model.")} | llm
    folder = tmp_path_factory.mktemp("peft-run")
    torch.save(
        {"state_dict": state, "hyper_parameters": {"lora_r": 8, "lora_alpha": 32}}, folder / "last.ckpt"
    )
    return folder / "last.ckpt", merged


def _lora_config(folder: Path, **fields) -> Path:
    import json

    path = folder / "lora_config.json"
    path.write_text(json.dumps({"r": 16, "lora_alpha": 32, "target_modules": FIVE_MODULES} | fields))
    return path


def test_conversion_reads_the_lora_rank_from_the_tensors(peft_config_run, tmp_path, capsys):
    import json

    from safetensors.torch import load_file

    checkpoint, merged = peft_config_run
    out = tmp_path / "converted"
    args = ["convert-original", "--checkpoint", str(checkpoint), "--out", str(out), "--model-config", "tiny"]
    assert main(args) == 0  # no --peft-config
    notes = " ".join(json.loads((out / "conversion_report.json").read_text())["notes"])
    assert "scale alpha/r = 2 " in notes and "rank 16 on fc1, fc2, out_proj, q_proj, v_proj" in notes
    ours = load_file(out / "model.safetensors")
    for layer in range(2):
        for module in ("self_attn.q_proj", "self_attn.v_proj", "self_attn.out_proj", "fc1", "fc2"):
            key = f"decoder.layers.{layer}.{module}.weight"
            expected = merged[f"model.{key}"]
            assert torch_close(ours[f"model.language_model.{key}"], expected), key

    from moltc_hf.conversion import convert_original_checkpoint

    with_config = convert_original_checkpoint(
        checkpoint, model_config="tiny", peft_config=_lora_config(tmp_path)
    )[0]
    key = "decoder.layers.1.fc2.weight"
    assert torch_close(with_config.model.language_model.state_dict()[key], merged[f"model.{key}"])


def torch_close(a, b) -> bool:
    import torch

    return bool(torch.allclose(a.float(), b.float(), rtol=1e-5, atol=1e-6))


def test_a_rank_or_targets_that_contradict_the_tensors_are_refused(peft_config_run, tmp_path, capsys):
    from moltc_hf.conversion import CheckpointConversionError, convert_original_checkpoint

    checkpoint, _ = peft_config_run
    args = [
        "convert-original",
        "--checkpoint",
        str(checkpoint),
        "--out",
        str(tmp_path / "o"),
        "--model-config",
    ]
    assert main([*args, "tiny", "--lora-r", "8"]) == 2
    error = capsys.readouterr().err
    assert "--lora-r says r=8 but the checkpoint's lora_A tensors are rank 16" in error
    assert not (tmp_path / "o").exists()
    with pytest.raises(CheckpointConversionError, match="lora_config.json says r=8 but"):
        convert_original_checkpoint(checkpoint, model_config="tiny", peft_config=_lora_config(tmp_path, r=8))
    with pytest.raises(CheckpointConversionError, match=r"targets \['q_proj', 'v_proj'\] but"):
        config = _lora_config(tmp_path, target_modules=["q_proj", "v_proj"])
        convert_original_checkpoint(checkpoint, model_config="tiny", peft_config=config)


# -- 2. whole-file refusals only for their real cause --------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip"])
def test_compressed_csv_inputs_are_predicted(model_dir, tmp_path, suffix):
    source = tmp_path / f"pairs{suffix}"
    pd.DataFrame(VALID_PAIRS, columns=["smiles_a", "smiles_b"]).assign(note=["a,b", "c", "d", "e"]).to_csv(
        source, index=False
    )
    assert source.read_bytes()[:9] != b"smiles_a,"  # really compressed
    output = tmp_path / "out.parquet"
    args = ["predict", "--model", str(model_dir), "--input", str(source), "--output", str(output)]
    assert main([*args, "--device", "cpu"]) == 0
    predictions = pd.read_parquet(output)
    assert predictions["row_id"].tolist() == [0, 1, 2, 3] and predictions["note"][0] == "a,b"


def test_a_two_million_character_field_is_its_rows_reject(model_dir, tmp_path):
    huge = "C" * 2_000_000
    rows = [*VALID_PAIRS[:2], (huge, "CCO"), *VALID_PAIRS[2:]]
    source = tmp_path / "pairs.csv"
    frame = pd.DataFrame(rows, columns=["smiles_a", "smiles_b"]).assign(note=["x", huge, "y", "z", "w"])
    frame.to_csv(source, index=False)
    output = tmp_path / "out.parquet"
    args = ["predict", "--model", str(model_dir), "--input", str(source), "--output", str(output)]
    assert main([*args, "--device", "cpu"]) == 0
    predictions = pd.read_parquet(output)
    assert predictions["row_id"].tolist() == [0, 1, 3, 4] and len(predictions["note"][1]) == 2_000_000
    rejects = pd.read_parquet(tmp_path / "out.rejects.parquet")
    assert rejects["row"].tolist() == ["2"] and "longer than 5000 characters" in rejects["reason"][0]


def test_a_bare_cr_refusal_says_the_rows_cannot_be_counted(tmp_path, capsys):
    source = tmp_path / "bare.csv"
    source.write_bytes(b"smiles_a,smiles_b\nCCO,CCN\nC\rC,O\nCC,N\n")
    args = ["predict", "--model", "nosuch", "--input", str(source), "--output", str(tmp_path / "o.parquet")]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert "line 3: a carriage return (CR) outside quotes" in error
    assert "the file's rows cannot be counted reliably (pandas reads 4)" in error


# -- 3. a full disk during training -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    from moltc_hf.instructions import build_dataset

    out = tmp_path_factory.mktemp("data") / "mot"
    build_dataset("embedded", out, limit=30, pretrain_pairs=10, progress=False)
    return out


def _cli_with_file_size_limit(args: list[str], limit: int, timeout: int):
    """``python -m moltc_hf.cli ARGS`` in a child where no file may grow past ``limit`` bytes (EFBIG: the same
    write-error path as ENOSPC on a full disk; RLIMIT_FSIZE is the real kernel limit, no patching)."""
    import os
    import subprocess
    import sys

    def limit_files():
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {k: v for k, v in os.environ.items() if k != "MOLTC_DEBUG"} | {"OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "moltc_hf.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=limit_files,
        timeout=timeout,
    )


@pytest.mark.slow
def test_a_full_disk_during_train_is_one_line_and_leaves_no_weightless_checkpoint(dataset_dir, tmp_path):
    run = tmp_path / "run"
    args = ["train", "--recipe", "tiny-finetune", "--dataset", str(dataset_dir), "--output-dir", str(run)]
    args += ["--max-steps", "3", "--save_steps", "2", "--per_device_train_batch_size", "4"]
    done = _cli_with_file_size_limit(args, 300_000, timeout=600)  # the tiny model's 735 kB weights do not fit
    lines = [line for line in done.stderr.splitlines() if line.startswith("moltc train: error:")]
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(lines) == 1, done.stderr[-3000:]
    assert "could not write checkpoint-2" in lines[0] and "File too large" in lines[0]
    assert "--resume starts from step 0" in lines[0]
    assert not (run / "checkpoint-2").exists() and not (run / "final").exists()


@pytest.mark.slow
def test_a_full_disk_in_predict_names_the_parts_folder_it_keeps(model_dir, tmp_path):
    source = tmp_path / "pairs.csv"
    pd.DataFrame(VALID_PAIRS * 4, columns=["smiles_a", "smiles_b"]).to_csv(source, index=False)
    output = tmp_path / "out.parquet"
    args = ["predict", "--model", str(model_dir), "--input", str(source), "--output", str(output)]
    args += ["--device", "cpu", "--part-size", "4"]
    done = _cli_with_file_size_limit(args, 6000, timeout=300)  # a predictions part is larger than 6 kB
    lines = [line for line in done.stderr.splitlines() if line.startswith("moltc predict: error:")]
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(lines) == 1, done.stderr[-2000:]
    parts = tmp_path / ".out.parquet.parts"
    assert f"the finished parts are kept in {parts} (the run's resume state" in lines[0]
    assert "rerun with --resume" in lines[0] and parts.is_dir() and not output.exists()


# -- 4. truncation that cuts the answers away ------------------------------------------------------------


def _recipe_with_max_length(folder: Path, max_length: int) -> Path:
    import yaml

    from moltc_hf.training.recipe import load_recipe

    source = Path(load_recipe("tiny-finetune").source)
    recipe = yaml.safe_load(source.read_text()) | {"max_length": max_length}
    path = folder / "tiny-short.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_a_max_length_that_cuts_every_answer_is_refused_with_the_count(dataset_dir, tmp_path, capsys):
    recipe = _recipe_with_max_length(tmp_path, 3)
    args = [
        "train",
        "--recipe",
        str(recipe),
        "--dataset",
        str(dataset_dir),
        "--output-dir",
        str(tmp_path / "run"),
    ]
    assert main([*args, "--max-steps", "2"]) == 2
    error = capsys.readouterr().err
    assert "moltc train: error: max_length=3 cuts the whole answer off all" in error and "train rows" in error
    assert "Raise max_length to at least" in error and not (tmp_path / "run" / "final").exists()


def test_rows_that_lose_their_answer_are_rejects_and_the_rest_train(dataset_dir, tiny_processor, caplog):
    from moltc_hf.collator import IGNORE_INDEX, MolTCDataCollator
    from moltc_hf.instructions.loading import load_split
    from moltc_hf.training.truncation import answer_lengths, drop_answerless_rows

    split = load_split(dataset_dir, "freesolv", "train")
    prompts = sorted(p for p, _, _ in answer_lengths(split, tiny_processor, 10_000))
    max_length = prompts[len(prompts) // 2]  # the longer half of the prompts leave no room for an answer
    lengths = answer_lengths(split, tiny_processor, max_length)
    expected = [i for i, (prompt, _, _) in enumerate(lengths) if prompt >= max_length]
    assert 0 < len(expected) < len(split)
    with caplog.at_level("WARNING"):
        kept, rejects = drop_answerless_rows(split, tiny_processor, max_length, "train")
    assert len(rejects) == len(expected) and len(kept) == len(split) - len(expected)
    assert f"cuts the whole answer off {len(expected)} of {len(split)} train rows" in caplog.text
    assert all(r["reason"].startswith(f"answer cut away by max_length={max_length}") for r in rejects)
    # what is kept really trains: the collator leaves answer tokens in every kept row's labels
    batch = MolTCDataCollator(tiny_processor, max_length=max_length)(list(kept))
    assert bool(((batch["labels"] != IGNORE_INDEX).sum(dim=1) > 0).all())


@pytest.fixture(scope="module")
def tiny_processor():
    from moltc_hf import build_model

    return build_model("tiny", seed=0)[1]


# -- 5. progress per scored batch; 6. bounded caches ------------------------------------------------------


def distinct_smiles(count: int, offset: int = 0) -> list[str]:
    """``count`` different valid molecules, the generator `benchmarks/predict_memory.py` measures with."""
    return load_benchmark("predict_memory").distinct_smiles(count, offset)


@pytest.fixture()
def tiny_loaded(model_dir):
    from moltc_hf.inference.predict import load_for_inference

    return load_for_inference(model_dir, device="cpu")


def test_the_predict_bar_counts_rows_as_batches_are_scored(tiny_loaded, tmp_path, monkeypatch, capsys):
    import re

    import moltc_hf._progress
    from moltc_hf.inference.screening import screen_file

    monkeypatch.setattr(moltc_hf._progress, "LOG_INTERVAL_S", 0.0)  # off a terminal: redraw on every update
    source = tmp_path / "pairs.csv"
    pd.DataFrame(VALID_PAIRS * 4, columns=["smiles_a", "smiles_b"]).to_csv(source, index=False)
    model, processor = tiny_loaded
    screen_file(model, processor, source, tmp_path / "out.parquet", "ddi_binary", batch_size=2, write_every=8)
    counts = [int(n) for n in re.findall(r"(\d+)/16", capsys.readouterr().err)]
    assert {2, 4, 6, 10, 16} <= set(counts)  # before: only 0, 8 and 16 (one move per part)


def test_the_feature_cache_is_bounded_in_bytes(tiny_loaded):
    from moltc_hf.featurization import canonical_smiles
    from moltc_hf.inference.predict import MoleculeFeatureCache

    model, processor = tiny_loaded
    per_molecule = model.config.num_query_tokens * model.config.text_config.hidden_size * 4
    cache = MoleculeFeatureCache(model, processor, max_bytes=10 * per_molecule, min_molecules=4)
    molecules = distinct_smiles(60)
    for start in range(0, 60, 6):
        cache.features([(a, "O") for a in molecules[start : start + 6]])
        assert len(cache) <= 10
    distinct = len({canonical_smiles(m) for m in [*molecules, "O"]})
    assert cache.max_molecules == 10 and len(cache) == 10 and cache.misses >= distinct  # evicted ones again
    assert len(cache._canonical) <= 41


def test_a_screen_keeps_the_graph_cache_bounded_and_restores_it(tiny_loaded, tmp_path, monkeypatch):
    from moltc_hf.inference import screening

    model, processor = tiny_loaded
    monkeypatch.setattr(screening, "GRAPH_CACHE_SIZE", 32)
    molecules = distinct_smiles(200)
    source = tmp_path / "pairs.parquet"
    pd.DataFrame({"smiles_a": molecules[:100], "smiles_b": molecules[100:]}).to_parquet(source)
    sizes = []
    processor.featurizer.cache_size = 200_000
    original_remember = processor.featurizer._remember

    def remember(*args):
        original_remember(*args)
        sizes.append(len(processor.featurizer))

    processor.featurizer._remember = remember  # records the cache size after every insert; the cache is real
    report = screening.screen_file(
        model, processor, source, tmp_path / "out.parquet", "ddi_binary", batch_size=8
    )
    assert report.num_predicted == 100 and len(sizes) >= 200
    assert max(sizes) <= 32 and processor.featurizer.cache_size == 200_000


def test_a_truncated_or_mislabelled_compressed_csv_is_refused_with_the_cause(tmp_path, capsys):
    good = tmp_path / "good.csv.gz"
    pd.DataFrame(VALID_PAIRS * 50, columns=["smiles_a", "smiles_b"]).to_csv(good, index=False)
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    mislabelled = tmp_path / "plain.csv.gz"
    mislabelled.write_text("smiles_a,smiles_b\nCCO,CC\n")
    for source, cause in ((truncated, "EOFError"), (mislabelled, "BadGzipFile")):
        out = tmp_path / "o.parquet"
        assert main(["predict", "--model", "nosuch", "--input", str(source), "--output", str(out)]) == 2
        error = capsys.readouterr().err
        assert f"{source}: cannot decompress it ({cause}" in error and "Traceback" not in error
