"""Robustness (issue 16): hostile or careless input is a one-line error or a per-row reject, never a traceback,
a hang, a silent drop or lost data; outputs are complete or absent; ``--resume`` survives a kill."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import save_tiny_model
from moltc_hf.cli import main
from moltc_hf.featurization import InvalidMoleculeError, parse_molecule

RING_EXPLOSION = "C12" + "C3C4" * 40 + "C1C2"  # 167 characters; RDKit alone: minutes and > 2.5 GB
VALID_PAIRS = [("CCO", "c1ccccc1O"), ("CC(=O)O", "CCN"), ("CCCl", "OCCO"), ("c1ccncc1", "CC")]


pytestmark = pytest.mark.usefixtures("no_moltc_debug")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    # a model that records its task (issue 27: one that records none answers only a named --task)
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny", task="ddi_binary")


@pytest.fixture()
def pairs_csv(tmp_path) -> Path:
    path = tmp_path / "pairs.csv"
    pd.DataFrame(VALID_PAIRS, columns=["smiles_a", "smiles_b"]).to_csv(path, index=False)
    return path


def _error(capsys) -> str:
    """The one error line (progress bars of model loading may precede it on stderr)."""
    err = capsys.readouterr().err
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("moltc ")]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


# -- 1. options, paths, recipes, model folders -------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [("--limit", "0"), ("--limit", "-1"), ("--batch-size", "0"), ("--num-beams", "0"), ("--device", "tpu9")],
)
def test_bad_predict_options_are_refused_at_parse_time(option, value, pairs_csv, tmp_path, capsys):
    args = [
        "predict",
        "--model",
        "nosuch",
        "--input",
        str(pairs_csv),
        "--output",
        str(tmp_path / "o.parquet"),
    ]
    assert main([*args, option, value]) == 2
    assert _error(capsys).startswith(f"moltc predict: error: argument {option}")
    assert not (tmp_path / "o.parquet").exists()


def test_bad_paths_are_one_line_errors_and_the_input_is_never_overwritten(pairs_csv, tmp_path, capsys):
    before = pairs_csv.read_bytes()
    cases = {
        "is the input file": (str(pairs_csv), str(pairs_csv)),
        "is a directory, expected a CSV": (str(tmp_path), str(tmp_path / "o.parquet")),
        "is a file, not a folder": (str(pairs_csv), str(pairs_csv / "o.parquet")),
        "is a directory, expected a file": (str(pairs_csv), str(tmp_path)),
        "no such file": (str(tmp_path / "missing.csv"), str(tmp_path / "o.parquet")),
    }
    for expected, (source, output) in cases.items():
        assert main(["predict", "--model", "nosuch", "--input", source, "--output", output]) == 2
        assert expected in _error(capsys)
    assert pairs_csv.read_bytes() == before


RECIPE_BASE = "name: r\nstage: finetune\ndataset_config: freesolv\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (RECIPE_BASE + "training:\n  learning_rat: 1.0e-3\n", "training.learning_rat"),
        (RECIPE_BASE + "training:\n  learning_rate: fast\n", "training.learning_rate: expected a number"),
        (RECIPE_BASE + "training: [1, 2]\n", "training: expected a mapping"),
        (RECIPE_BASE + "lora: yes\n", "lora: expected a mapping"),
        (RECIPE_BASE + "lora: {r: 8, alpha: 3}\n", "lora.alpha"),
        (RECIPE_BASE + "lora: {r: 0}\n", "lora.r: expected an integer >= 1"),
        (RECIPE_BASE + "model: null\n", "model: expected a model config name"),
        (RECIPE_BASE + "max_length: -3\n", "max_length: expected an integer >= 1"),
        ("", "the file is empty"),
        ("- stage: finetune\n", "expected a mapping of recipe keys, got list"),
        ("name: r\ndataset_config: freesolv\n", "missing key stage"),
        ("name: r\nstage: [finetune\n", "not valid YAML"),
        (
            "name: p\nstage: pipeline\nstages:\n  - {stage: pretrain, dataset_config: x, lora: 3}\n",
            "stages[0].lora",
        ),
    ],
)
def test_recipes_are_validated_field_by_field(text, expected, tmp_path, capsys):
    from moltc_hf.training import load_recipe

    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        load_recipe(path)
    assert expected in str(info.value)
    args = ["train", "--recipe", str(path), "--dataset", str(tmp_path), "--output-dir", str(tmp_path / "run")]
    assert main(args) == 2
    assert expected in _error(capsys)


def test_a_recipe_model_path_that_does_not_exist_is_named(tmp_path, capsys):
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE_BASE + "model: ./no/such/model\n")
    args = ["train", "--recipe", str(path), "--dataset", str(tmp_path), "--output-dir", str(tmp_path / "run")]
    assert main(args) == 2
    assert "no such model folder './no/such/model'" in _error(capsys)


def _garble_config(folder: Path) -> None:
    (folder / "config.json").write_text("{not json")


def _eight_query_tokens(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["num_query_tokens"] = "eight"
    (folder / "config.json").write_text(json.dumps(config))


def _size_mismatch(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["num_query_tokens"] = 4  # the weights hold 8 query tokens
    (folder / "config.json").write_text(json.dumps(config))


def _truncate_weights(folder: Path) -> None:
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _corrupt_header(folder: Path) -> None:
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[8:40] = b"\xff" * 32
    weights.write_bytes(bytes(data))


def _pickle_only(folder: Path) -> None:
    import torch
    from safetensors.torch import load_file

    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()


BROKEN_FOLDERS = {
    "garbled config": (_garble_config, "config.json is not valid JSON"),
    "num_query_tokens eight": (_eight_query_tokens, "cannot load this model"),
    "size mismatch": (_size_mismatch, "cannot load this model"),
    "truncated weights": (_truncate_weights, "cannot load this model"),
    "empty weights": (lambda f: (f / "model.safetensors").write_bytes(b""), "cannot load this model"),
    "corrupt header": (_corrupt_header, "cannot load this model"),
    "no weights": (lambda f: (f / "model.safetensors").unlink(), "no weights"),
    "pickle only": (_pickle_only, "refusing to unpickle"),
    "no config": (lambda f: (f / "config.json").unlink(), "no config.json"),
    "no tokenizer.json": (lambda f: (f / "tokenizer.json").unlink(), "tokenizer.json is missing"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_FOLDERS))
def test_broken_model_folders_are_one_line_errors(case, model_dir, pairs_csv, tmp_path, capsys):
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    breaks, expected = BROKEN_FOLDERS[case]
    breaks(folder)
    args = [
        "predict",
        "--model",
        str(folder),
        "--input",
        str(pairs_csv),
        "--output",
        str(tmp_path / "o.parquet"),
    ]
    assert main([*args, "--device", "cpu"]) == 2
    err = _error(capsys)
    assert err.startswith(f"moltc predict: error: --model {folder}") and expected in err


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    from moltc_hf.instructions import build_dataset

    out = tmp_path_factory.mktemp("data") / "mot"
    build_dataset("embedded", out, limit=30, pretrain_pairs=10, progress=False)
    return out


def _evaluate(model_dir, dataset, tmp_path, split="test"):
    args = ["evaluate", "--model", str(model_dir), "--dataset", str(dataset), "--config", "freesolv"]
    return main(
        [*args, "--split", split, "--out", str(tmp_path / "eval"), "--device", "cpu", "--max-new-tokens", "4"]
    )


def test_evaluate_rejects_text_and_inf_labels_per_row_and_refuses_an_empty_split(
    model_dir, dataset_dir, tmp_path, capsys
):
    from moltc_hf.tasks.layout import data_file

    dataset = tmp_path / "mot"
    shutil.copytree(dataset_dir, dataset)
    test_file = dataset / data_file("freesolv", "test")
    rows = pd.read_parquet(test_file)
    labels = rows["label"].astype(object)
    labels.iloc[0], labels.iloc[1] = "abc", float("inf")
    rows.assign(label=labels.astype(str)).to_parquet(test_file)
    assert _evaluate(model_dir, dataset, tmp_path) == 0
    rejects = pd.read_parquet(tmp_path / "eval" / "rejects.parquet").set_index("row")
    assert rejects.loc["0", "reason"] == "label 'abc' is not a number"
    assert rejects.loc["1", "reason"] == "label is not finite"
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["num_rows"] == len(rows) and metrics["num_rejected"] >= 2
    rows.iloc[:0].to_parquet(test_file)
    capsys.readouterr()
    assert _evaluate(model_dir, dataset, tmp_path) == 2
    assert "has no rows" in _error(capsys)


# -- 2. molecule parsing is bounded -----------------------------------------------------------------------


def test_ring_explosion_is_a_fast_reject_and_every_drugbank_drug_still_parses(raw_dir):
    start = time.perf_counter()
    with pytest.raises(InvalidMoleculeError, match="fused ring system with 42 independent rings"):
        parse_molecule(RING_EXPLOSION)
    assert time.perf_counter() - start < 1.0
    smiles = set()
    for path in (raw_dir / "DrugBank-DDI").glob("*/drug_smiles.csv"):
        smiles |= set(pd.read_csv(path)["smiles"])
    assert len(smiles) > 1500
    for value in smiles:
        parse_molecule(value)  # raises for any drug the bound would wrongly refuse


def test_predict_rejects_a_ring_explosion_among_valid_rows(model_dir, tmp_path):
    rows = [*VALID_PAIRS[:2], (RING_EXPLOSION, "CCO"), *VALID_PAIRS[2:]]
    source = tmp_path / "pairs.csv"
    pd.DataFrame(rows, columns=["smiles_a", "smiles_b"]).to_csv(source, index=False)
    output = tmp_path / "out.parquet"
    args = ["predict", "--model", str(model_dir), "--input", str(source), "--output", str(output)]
    assert main([*args, "--device", "cpu"]) == 0
    predictions = pd.read_parquet(output)
    rejects = pd.read_parquet(tmp_path / "out.rejects.parquet")
    assert predictions["row_id"].tolist() == [0, 1, 3, 4]
    assert rejects["row"].tolist() == ["2"] and "ring system" in rejects["reason"][0]


# -- 3. atomic outputs and resume -------------------------------------------------------------------------


def test_an_interrupted_build_leaves_no_folder_and_an_old_one_intact(raw_dir, tmp_path):
    from moltc_hf.instructions import build_dataset

    partial_raw = tmp_path / "raw"
    partial_raw.mkdir()
    # DrugBank is missing: the build fails after ChChMiner's files are written
    (partial_raw / "ChChMiner").symlink_to(raw_dir / "ChChMiner")
    out = tmp_path / "mot"
    with pytest.raises(FileNotFoundError):
        build_dataset("chchminer,drugbank", out, limit=20, raw_dir=partial_raw, progress=False)
    # before: data/chchminer/*.parquet without a card, which load_dataset(out) read as a partial default config
    assert not out.exists()
    build_dataset("chchminer", out, limit=20, raw_dir=partial_raw, progress=False)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(FileNotFoundError):
        build_dataset("chchminer,drugbank", out, limit=30, raw_dir=partial_raw, progress=False)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    # what a failed build leaves is the hidden staging folder, which the next build removes first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".mot.")] == [".mot.partial"]


def _fake_checkpoint(folder: Path, step: int, model) -> None:
    """A real checkpoint layout: safetensors weights, a torch optimizer file, the Trainer's state JSON."""
    import torch
    from transformers import TrainerState

    model.save_pretrained(folder)
    torch.save({"state": {}, "param_groups": []}, folder / "optimizer.pt")
    TrainerState(global_step=step).save_to_json(str(folder / "trainer_state.json"))


def test_resume_skips_incomplete_checkpoints_and_says_which(tiny, tmp_path, caplog):
    from moltc_hf.training.run import newest_complete_checkpoint

    model, _ = tiny
    _fake_checkpoint(tmp_path / "checkpoint-2", 2, model)
    _fake_checkpoint(tmp_path / "checkpoint-4", 4, model)
    state = tmp_path / "checkpoint-4" / "trainer_state.json"
    state.write_text(state.read_text()[:20])  # killed while writing the state
    (tmp_path / "checkpoint-6").mkdir()  # killed right after mkdir
    with caplog.at_level("WARNING"):
        assert newest_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    assert "checkpoint-6 (no trainer_state.json)" in caplog.text
    assert "checkpoint-4 (trainer_state.json is truncated)" in caplog.text


def test_a_kill_after_the_last_checkpoint_resumes_to_the_same_model(dataset_dir, tmp_path):
    """Killed after checkpoint-N (N = max_steps) but before final/: the rerun must not train step N+1."""
    import dataclasses

    from moltc_hf.training import load_recipe, train

    recipe = load_recipe("tiny-finetune")
    recipe = dataclasses.replace(
        recipe, training={**recipe.training, "disable_tqdm": True, "logging_steps": 1, "save_steps": 2}
    )
    full = train(recipe, dataset_dir=dataset_dir, output_dir=tmp_path / "run", max_steps=4)
    weights = (full.final_dir / "model.safetensors").read_bytes()
    shutil.rmtree(full.final_dir)
    (tmp_path / "run" / "train_result.json").unlink()
    resumed = train(recipe, dataset_dir=dataset_dir, output_dir=tmp_path / "run", max_steps=4, resume=True)
    assert resumed.global_step == 4  # before: 5
    assert (resumed.final_dir / "model.safetensors").read_bytes() == weights


def test_the_final_model_is_swapped_in_whole(tmp_path):
    from moltc_hf.training.run import write_folder_atomically

    final = tmp_path / "final"
    write_folder_atomically(final, lambda d: (d.mkdir(), (d / "config.json").write_text("{}")))

    def full_disk(folder: Path) -> None:
        folder.mkdir()
        (folder / "config.json").write_text('{"new": 1}')
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_folder_atomically(final, full_disk)
    assert (final / "config.json").read_text() == "{}"  # the previous model, not half of the new one


@pytest.mark.slow
def test_predict_resume_after_kill_continues_without_duplicates(model_dir, tmp_path):
    from moltc_hf.inference.screening import rejects_path_for

    rows = [(a, b) for _ in range(4) for a, b in VALID_PAIRS]
    rows[5] = ("C1CC", "CCO")
    source = tmp_path / "pairs.parquet"
    names = [f"p{i}" for i in range(len(rows))]
    pd.DataFrame(rows, columns=["smiles_a", "smiles_b"]).assign(name=names).to_parquet(source)
    common = ["--model", str(model_dir), "--input", str(source), "--device", "cpu", "--part-size", "2"]
    common += ["--batch-size", "1"]
    reference = tmp_path / "reference.parquet"
    assert main(["predict", *common, "--output", str(reference)]) == 0

    output = tmp_path / "out.parquet"
    parts = tmp_path / ".out.parquet.parts"
    command = [sys.executable, "-m", "moltc_hf.cli", "predict", *common, "--output", str(output)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(parts.glob("part-*.predictions.parquet")) and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)  # kill -9 right after its first part is complete
    process.wait()
    if process.returncode != -signal.SIGKILL:
        pytest.skip(f"the run ended (rc {process.returncode}) before it could be killed")
    done_before = len(list(parts.glob("part-*.predictions.parquet")))
    assert not output.exists() and 1 <= done_before < 8  # nothing half written under the final name
    assert main(["predict", *common, "--output", str(output), "--resume"]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(output), pd.read_parquet(reference))
    assert pd.read_parquet(output)["row_id"].tolist() == [i for i in range(len(rows)) if i != 5]
    assert pd.read_parquet(rejects_path_for(output))["row"].tolist() == ["5"]
    assert not parts.exists()


def test_resume_with_other_options_is_refused(model_dir, pairs_csv, tmp_path, capsys):
    from moltc_hf.inference.screening import PartsFolder

    output = tmp_path / "out.parquet"
    PartsFolder(output, 1).prepare({"task": "ddi_binary", "rows": 99}, resume=False)
    args = ["predict", "--model", str(model_dir), "--input", str(pairs_csv), "--output", str(output)]
    assert main([*args, "--device", "cpu", "--resume"]) == 2
    assert "--resume: the unfinished run" in _error(capsys)


def test_predict_streams_its_input_in_parts(tmp_path):
    from moltc_hf.inference.screening import PairsFile

    frame = pd.DataFrame({"smiles_a": ["C"] * 10, "smiles_b": ["O"] * 10, "x": range(10)})
    frame.to_parquet(tmp_path / "p.parquet", row_group_size=3)
    pairs = PairsFile(tmp_path / "p.parquet", chunk_rows=3)
    chunks = list(pairs.rows(2, 9, 4))
    assert [c.index.tolist() for c in chunks] == [[2, 3, 4, 5], [6, 7, 8]]
    assert chunks[1]["x"].tolist() == [6, 7, 8] and pairs.num_rows == 10


def _small_disk():
    """In the child: files may not grow past 6 kB (EFBIG, the same OSError path as a full disk)."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (6000, 6000))


@pytest.mark.slow
def test_a_full_disk_in_predict_is_one_line_and_resume_finishes(model_dir, tmp_path):
    rows = [(a, b) for _ in range(4) for a, b in VALID_PAIRS]
    source = tmp_path / "pairs.csv"
    pd.DataFrame(rows, columns=["smiles_a", "smiles_b"]).to_csv(source, index=False)
    output = tmp_path / "out.parquet"
    args = ["predict", "--model", str(model_dir), "--input", str(source), "--output", str(output)]
    args += ["--device", "cpu", "--part-size", "4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("MOLTC_DEBUG", None)
    command = [sys.executable, "-m", "moltc_hf.cli", *args]
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, preexec_fn=_small_disk, timeout=300
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("moltc predict: error:")]
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(lines) == 1, done.stderr[-2000:]
    assert "File too large" in lines[0] and not output.exists()
    assert main([*args, "--resume"]) == 0
    assert pd.read_parquet(output)["row_id"].tolist() == list(range(len(rows)))


# -- 4. CSV quirks ----------------------------------------------------------------------------------------


def test_quoted_cr_and_nul_keep_row_ids_on_the_files_records(model_dir, tmp_path):
    source = tmp_path / "quirks.csv"
    text = 'smiles_a,smiles_b,note\nCCO,CCN,"a\rb"\nCCC,CO,"x\x00y"\nC1CC,C,"p\r\nq"\nCCCC,N,"m\nn"\nCC,O,plain\n'
    source.write_bytes(text.encode())
    output = tmp_path / "out.parquet"
    args = ["predict", "--model", str(model_dir), "--input", str(source), "--output", str(output)]
    assert main([*args, "--device", "cpu"]) == 0
    predictions = pd.read_parquet(output)
    assert predictions["row_id"].tolist() == [0, 1, 3, 4]
    assert predictions["note"].tolist() == ["a\rb", "x\x00y", "m\nn", "plain"]
    assert pd.read_parquet(tmp_path / "out.rejects.parquet")["row"].tolist() == ["2"]


def test_an_unreadable_csv_is_refused_with_the_reason(tmp_path, capsys):
    source = tmp_path / "broken.csv"
    source.write_text('smiles_a,smiles_b\n"CCO,CCN\nCC,C\n')  # the quote never closes
    args = ["predict", "--model", "nosuch", "--input", str(source), "--output", str(tmp_path / "o.parquet")]
    assert main(args) == 2
    assert f"{source}: not a readable CSV file" in _error(capsys)


def test_a_bare_cr_outside_quotes_is_refused_with_its_line(tmp_path, capsys):
    source = tmp_path / "bare.csv"
    source.write_bytes(b"smiles_a,smiles_b\nCCO,CCN\nC\rC,O\nCC,N\n")  # before: 4 rows read from 3
    args = ["predict", "--model", "nosuch", "--input", str(source), "--output", str(tmp_path / "o.parquet")]
    assert main(args) == 2
    assert "line 3: a carriage return (CR) outside quotes" in _error(capsys)


# -- 5. conversion ----------------------------------------------------------------------------------------


def test_lora_scale_follows_the_runs_peft_config(tmp_path):
    from moltc_hf.conversion import lora_scaling_and_source

    checkpoint = {
        "hyper_parameters": {"lora_r": 8, "lora_alpha": 32}
    }  # the defaults a --peft_config run keeps
    config = tmp_path / "lora_config.json"
    config.write_text(json.dumps({"r": 16, "lora_alpha": 32, "target_modules": ["q_proj", "v_proj"]}))
    assert lora_scaling_and_source(checkpoint)[0] == 4.0
    scale, origin = lora_scaling_and_source(checkpoint, peft_config=config)
    assert scale == 2.0 and "lora_config.json" in origin
    assert (
        lora_scaling_and_source(checkpoint, lora_alpha=64, peft_config=config)[0] == 4.0
    )  # explicit arguments win


def _pickle_with_fake_module(obj_factory, module: str, path: Path) -> None:
    """Pickle an object of a class living in ``module`` (Lightning is not installed here), then forget it."""
    import types

    import torch

    parts = module.split(".")
    names = [".".join(parts[: i + 1]) for i in range(len(parts))]
    for name in names:
        sys.modules[name] = types.ModuleType(name)
    try:
        torch.save(obj_factory(sys.modules[module]), path)
    finally:
        for name in names:
            del sys.modules[name]


def test_attribute_dict_hyperparameters_load_as_plain_data(tmp_path):
    import torch

    from moltc_hf.conversion import load_torch_checkpoint

    def make(module):
        attribute_dict = type("AttributeDict", (dict,), {"__module__": module.__name__})
        module.AttributeDict = attribute_dict
        return {
            "state_dict": {"x": torch.ones(2)},
            "hyper_parameters": attribute_dict(lora_r=16, lora_alpha=32),
        }

    path = tmp_path / "last.ckpt"
    _pickle_with_fake_module(make, "lightning.fabric.utilities.data", path)
    checkpoint = load_torch_checkpoint(path)  # before: "Can only SETITEMS for dict ..."
    assert checkpoint["hyper_parameters"] == {"lora_r": 16, "lora_alpha": 32}


def test_a_pickle_that_calls_a_function_is_refused_and_nothing_runs(tmp_path):
    import torch

    from moltc_hf.conversion import CheckpointConversionError, load_torch_checkpoint

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.makedirs, (str(marker),))

    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": Payload()}, path)
    with pytest.raises(CheckpointConversionError, match=r"it pickles \['os.makedirs'\]\); refused"):
        load_torch_checkpoint(path)
    assert not marker.exists()
