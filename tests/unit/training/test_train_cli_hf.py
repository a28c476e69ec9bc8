"""`moltc train` the way Hugging Face users run training scripts (issue 15): recipe values as `SFTConfig` options,
``--push-to-hub``, a log file instead of a terminal, and two CPU processes under ``torchrun``."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from moltc_hf._progress import progress_bar
from moltc_hf.cli import main

REC_SCRIPT = '''
"""Run by torchrun: one tiny stage through `moltc_hf.training.train` (what `moltc train` calls); each rank
records which rows its data loader gives it."""
import dataclasses, json, os, sys
from transformers import TrainerCallback
from moltc_hf.training import load_recipe, train

class RecordRows(TrainerCallback):
    def on_train_begin(self, args, state, control, train_dataloader=None, **kwargs):
        dataset = train_dataloader.dataset
        rows = [dataset[i]["source_row"] for batch in train_dataloader.batch_sampler for i in batch]
        out = {"world": args.world_size, "mode": str(args.parallel_mode), "rows": rows}
        with open(os.path.join(sys.argv[2], f"rank{os.environ['RANK']}.json"), "w") as f:
            json.dump(out, f)

recipe = load_recipe("tiny-finetune")
training = {**recipe.training, "per_device_train_batch_size": 4, "save_strategy": "no", "logging_steps": 1}
train(dataclasses.replace(recipe, training=training), dataset_dir=sys.argv[1], output_dir=sys.argv[2],
      config_name="freesolv", max_steps=3, callbacks=[RecordRows()])
'''


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    from moltc_hf.instructions import build_dataset

    out = tmp_path_factory.mktemp("data") / "mot"
    build_dataset("embedded", out, limit=30, pretrain_pairs=10, progress=False)
    return out


def _env() -> dict:
    # One thread per process: the suite shares two cores.
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_train_in_a_log_file_takes_sft_options_and_pushes_final(dataset_dir, tmp_path):
    """``moltc train ... --learning_rate ... > train.log 2>&1``: the overrides reach the run, the log has short
    periodic loss lines (no carriage-return bar), and ``--push-to-hub`` uploads (here: lists) ``final/``."""
    log = tmp_path / "train.log"
    command = [
        sys.executable, "-m", "moltc_hf.cli", "train", "--recipe", "tiny-finetune", "--dataset", str(dataset_dir),
        "--config", "freesolv", "--output-dir", str(tmp_path / "run"), "--max-steps", "24",
        "--learning_rate", "5e-4", "--per_device_train_batch_size", "2", "--logging-steps", "4",
        "--save_strategy", "no", "--push-to-hub", "--hub-model-id", "someone/moltc-tiny", "--hub-dry-run",
    ]  # fmt: skip
    with log.open("w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=_env(), timeout=600)
    text = log.read_text()
    assert done.returncode == 0, text[-3000:]
    assert max(len(line) for line in text.splitlines()) < 1000, "a progress bar redrew itself into the log"
    losses = re.findall(r"^step (\d+)/24 \| loss [0-9.]+ \|.*learning_rate .* steps/s", text, re.MULTILINE)
    assert [int(step) for step in losses] == [4, 8, 12, 16, 20, 24]
    recipe = yaml.safe_load((tmp_path / "run" / "final" / "training_recipe.yaml").read_text())
    assert recipe["training"]["learning_rate"] == 5e-4
    assert recipe["training"]["per_device_train_batch_size"] == 2
    assert "would upload" in text and "someone/moltc-tiny" in text and "model.safetensors" in text
    # final/ records what it was trained on: the Space offers only that (`moltc_hf.demo`), the pipeline defaults to it.
    config = json.loads((tmp_path / "run" / "final" / "config.json").read_text())
    assert config["task_specific_params"]["molecule-pair-interaction"] == {
        "tasks": ["solvation"],
        "task": "solvation",
    }


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--learnin_rate", "1e-4"], "--learnin_rate"),
        (["--output_dir", "elsewhere"], "--output-dir"),
        (["--learning_rate", "fast"], "learning_rate"),
        (["--push-to-hub"], "--hub-model-id"),
    ],
)
def test_train_refuses_bad_overrides_by_name_before_training(options, named, dataset_dir, tmp_path, capsys):
    args = [
        "train",
        "--recipe",
        "tiny-finetune",
        "--dataset",
        str(dataset_dir),
        "--output-dir",
        str(tmp_path),
    ]
    assert main([*args, *options]) == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "final").exists()


def test_progress_bar_off_a_terminal_writes_a_line_now_and_then_not_per_update():
    stream = io.StringIO()  # not a terminal
    with progress_bar(total=1000, desc="pairs", file=stream) as bar:
        for _ in range(1000):
            bar.update(1)
    assert stream.getvalue().count("\r") <= 3 and "1000/1000" in stream.getvalue()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
@pytest.mark.slow
def test_two_cpu_processes_are_data_parallel_with_one_final(launcher, dataset_dir, tmp_path):
    """Two gloo processes (``torchrun`` / ``accelerate launch``): each rank trains on its own half of the rows;
    rank 0 alone writes ``final/``."""
    script = tmp_path / "record.py"
    script.write_text(REC_SCRIPT)
    out = tmp_path / "run"
    out.mkdir()
    if launcher == "torchrun":
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    else:  # accelerate's multi-process launcher (its --cpu one starts a single process without MPI)
        command = [
            sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(_free_port()),
        ]  # fmt: skip
    done = subprocess.run(
        [*command, str(script), str(dataset_dir), str(out)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 and r["mode"] == "ParallelMode.DISTRIBUTED" for r in ranks)
    first, second = (set(r["rows"]) for r in ranks)
    assert len(first) == len(second) == 12 and not first & second  # 24 train rows, split in two
    result = json.loads((out / "train_result.json").read_text())
    assert result["global_step"] == 3
    assert sorted(p.name for p in out.iterdir() if "final" in p.name) == ["final"]
    assert (out / "final" / "model.safetensors").is_file()
