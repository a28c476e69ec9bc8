"""Issue 27: what a command is told is what it does, every saved folder works with ``pipeline()``, and every
number says where it came from. One test (or more) per numbered point, written the way a user makes the call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import save_tiny_model
from moltc_hf.cli import main

PAIRS = [("CCO", "c1ccccc1O"), ("CC(=O)O", "CCN"), ("CCCl", "OCCO")]


pytestmark = pytest.mark.usefixtures("no_moltc_debug")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A folder written by plain ``model.save_pretrained`` + ``processor.save_pretrained`` (no task)."""
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny", task=None)


@pytest.fixture()
def pairs_csv(tmp_path) -> Path:
    path = tmp_path / "pairs.csv"
    pd.DataFrame(PAIRS, columns=["smiles_a", "smiles_b"]).to_csv(path, index=False)
    return path


def _fresh_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """``code`` in a new interpreter, offline, started outside the repository (no ``moltc_hf`` on its path
    unless installed), the way a user's own script runs."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


# -- 1. the output format follows the suffix --------------------------------------------------------------


def test_predict_output_format_follows_the_suffix(model_dir, pairs_csv, tmp_path):
    base = ["predict", "--model", str(model_dir), "--input", str(pairs_csv), "--device", "cpu"]
    base += ["--task", "ddi_binary", "--allow-untrained-task"]
    assert main([*base, "--output", str(tmp_path / "preds.csv")]) == 0
    frame = pd.read_csv(tmp_path / "preds.csv")
    assert frame["row_id"].tolist() == [0, 1, 2]
    assert frame["smiles_a"].tolist() == [a for a, _ in PAIRS]
    assert {"label", "probability", "value_source", "outside_interval"} <= set(frame.columns)
    assert main([*base, "--output", str(tmp_path / "preds.jsonl")]) == 0
    lines = pd.read_json(tmp_path / "preds.jsonl", lines=True)
    assert lines["row_id"].tolist() == [0, 1, 2]
    assert lines["label"].tolist() == frame["label"].tolist()
    assert main([*base, "--output", str(tmp_path / "preds.parquet")]) == 0
    assert pd.read_parquet(tmp_path / "preds.parquet")["label"].tolist() == frame["label"].tolist()


def test_predict_refuses_an_output_suffix_it_cannot_write(pairs_csv, tmp_path, capsys):
    args = ["predict", "--model", "nosuch", "--input", str(pairs_csv), "--output", str(tmp_path / "p.xlsx")]
    assert main(args) == 2  # refused before the (missing) model is looked for
    err = capsys.readouterr().err
    assert "unknown suffix '.xlsx'" in err and ".csv" in err and ".jsonl" in err
    assert not (tmp_path / "p.xlsx").exists()


# -- 2. training overrides are applied, and what is saved is what ran --------------------------------------


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    from moltc_hf.instructions import build_dataset

    out = tmp_path_factory.mktemp("data") / "mot"
    build_dataset("embedded", out, limit=30, pretrain_pairs=10, progress=False)
    return out


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--bf16", "true"], {"bf16": True, "fp16": False}),
        (["--bf16", "false"], {"bf16": False}),
        (["--num_train_epochs", "1"], {"num_train_epochs": 1.0, "max_steps": -1}),
        (["--max_steps", "7", "--num_train_epochs", "1"], {"max_steps": 7}),
        (
            ["--gradient_checkpointing", "true"],
            {"gradient_checkpointing": True, "activation_checkpointing": True},
        ),
        (["--learning_rate", "3e-4"], {"learning_rate": 3e-4}),
    ],
)
def test_each_kind_of_override_reaches_the_trainer_arguments(options, expected, tmp_path):
    """``moltc train ... <options>`` builds its SFTConfig from the recipe with the options laid over it: each
    value given is the value the Trainer gets (the device and the recipe's ``max_steps`` no longer win)."""
    from moltc_hf.cli._overrides import parse_overrides, with_training_overrides
    from moltc_hf.training.recipe import load_recipe
    from moltc_hf.training.trainer import build_sft_config

    recipe = with_training_overrides(load_recipe("tiny-finetune"), parse_overrides(options))
    args = build_sft_config(recipe, tmp_path)
    assert {name: getattr(args, name) for name in expected} == expected


@pytest.fixture(scope="module")
def trained_run(dataset_dir, tmp_path_factory) -> tuple[Path, str]:
    """``moltc train --recipe tiny-finetune ... --max-steps 3 --bf16 false ...`` (one checkpoint, at step 3):
    the run folder and stdout."""
    import contextlib
    import io

    run = tmp_path_factory.mktemp("train") / "run"
    args = ["train", "--recipe", "tiny-finetune", "--dataset", str(dataset_dir), "--config", "freesolv"]
    args += ["--output-dir", str(run), "--max-steps", "3", "--bf16", "false", "--save_steps", "3"]
    args += ["--per_device_train_batch_size", "4"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) == 0
    return run, out.getvalue()


def test_train_cli_applies_overrides_and_saves_what_ran(trained_run):
    run, out = trained_run
    assert "recipe overrides from the command line:" in out and "max_steps=3" in out and "bf16=False" in out
    assert json.loads((run / "train_result.json").read_text())["global_step"] == 3
    saved = yaml.safe_load((run / "final" / "training_recipe.yaml").read_text())
    assert saved["training"]["max_steps"] == 3  # not the recipe's 600
    assert saved["bf16"] is False and saved["training"]["bf16"] is False
    assert saved["training"]["per_device_train_batch_size"] == 4


def test_train_cli_num_train_epochs_wins_over_the_recipe_max_steps(dataset_dir, tmp_path, capsys):
    from datasets import load_dataset

    rows = len(load_dataset(str(dataset_dir), "freesolv", split="train"))
    run = tmp_path / "run"
    args = ["train", "--recipe", "tiny-finetune", "--dataset", str(dataset_dir), "--config", "freesolv"]
    args += ["--output-dir", str(run), "--num_train_epochs", "1", "--per_device_train_batch_size", "8"]
    args += ["--save_strategy", "no"]
    assert main(args) == 0
    assert "max_steps='none (the epochs decide)'" in capsys.readouterr().out
    assert json.loads((run / "train_result.json").read_text())["global_step"] == -(-rows // 8)  # one epoch
    saved = yaml.safe_load((run / "final" / "training_recipe.yaml").read_text())
    assert saved["training"]["num_train_epochs"] == 1 and saved["training"]["max_steps"] == -1


# -- 3. every saved folder is a pipeline in a fresh process, without naming the task ----------------------

FRESH_PIPELINE = """
import json, sys
from transformers import pipeline
pipe = pipeline(model=sys.argv[1], trust_remote_code=True)  # no task name: config.json's custom_pipelines
out = pipe({"smiles_a": "O", "smiles_b": "CCO"}, task="solvation")
print(json.dumps({"task": pipe.task, "class": type(pipe).__name__, "moltc_hf": "moltc_hf" in sys.modules,
                  "out": out}))
"""


@pytest.mark.slow
def test_every_saved_folder_is_a_pipeline_in_a_fresh_process(model_dir, trained_run, tmp_path):
    """A plain ``model.save_pretrained`` folder and `moltc train`'s ``final/`` (the quickstart saves through the
    same `save_final`) carry the pipeline code and ``custom_pipelines``; a script that never imports moltc_hf
    loads them with ``pipeline(model=folder, trust_remote_code=True)`` offline."""
    for folder in (model_dir, trained_run[0] / "final"):
        config = json.loads((folder / "config.json").read_text())
        assert list(config["custom_pipelines"]) == ["molecule-pair-interaction"]
        assert (folder / "pipeline.py").is_file() and (folder / "tasks_registry.py").is_file()
        done = _fresh_python(FRESH_PIPELINE.replace("sys.argv[1]", repr(str(folder))), tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["task"] == "molecule-pair-interaction" and not result["moltc_hf"]
        assert result["class"] == "MoleculePairInteractionPipeline"
        assert result["out"]["task"] == "solvation"
        assert {"value_source", "outside_interval"} <= set(result["out"])


# -- 4. every number says where it came from -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "source", "outside", "error"),
    [
        ("is above -3.0 and below -1.0, so the accurate value is -2.96.81;", None, None, False, "-2.96.81"),
        ("is above -5.0 and below -5.0, so the accurate value is -5.91;", -5.91, "value", True, None),
        ("is above -2.0 and below -1.5, so the accurate value is", -1.75, "interval", False, None),
        ("is above -2.0 and below -1.5, so the accurate value is -1.80;", -1.8, "value", False, None),
    ],
)
def test_a_regression_answer_carries_its_provenance(text, value, source, outside, error):
    """A malformed number is an error (not the interval's midpoint passed off as the answer); a value outside
    its own (here empty) interval is flagged; a midpoint says it is one."""
    from moltc_hf.inference.parsing import parse_regression_answer

    parsed = parse_regression_answer(text)
    assert (parsed.value_source, parsed.outside_interval) == (source, outside)
    if error is None:
        assert parsed.error is None and parsed.value == pytest.approx(value)
    else:
        assert error in parsed.error and parsed.value != parsed.value  # NaN


def test_pipeline_demo_and_predict_share_the_provenance_fields(model_dir, pairs_csv, tmp_path):
    from transformers import pipeline

    from moltc_hf.demo import API_OUTPUTS, _answer_text, _format_confidence

    pipe = pipeline("molecule-pair-interaction", model=str(model_dir), trust_remote_code=True)
    out = pipe({"smiles_a": "O", "smiles_b": "CCO"}, task="solvation", mode="generate", max_new_tokens=8)
    assert {"value", "value_source", "outside_interval", "error"} <= set(out)
    assert {"value_source", "outside_interval"} <= set(API_OUTPUTS)
    args = ["predict", "--model", str(model_dir), "--input", str(pairs_csv), "--device", "cpu"]
    args += ["--task", "solvation", "--allow-untrained-task", "--max-new-tokens", "8"]
    assert main([*args, "--output", str(tmp_path / "p.parquet")]) == 0
    assert {"value", "value_source", "outside_interval", "error"} <= set(
        pd.read_parquet(tmp_path / "p.parquet")
    )
    # the demo shows a flagged answer as flagged, in its answer and its confidence, in the task's unit
    flagged = {"task": "solvation", "value": -5.91, "answer": "above -5.0 and below -5.0, so ... -5.91;",
               "value_source": "value", "outside_interval": True, "error": None}  # fmt: skip
    assert "kcal/mol" in _answer_text(flagged) and "contradicts" in _answer_text(flagged)
    assert "not reliable" in _format_confidence(0.929, flagged)
    nm = {**flagged, "task": "chromophore_absorption", "outside_interval": False}
    assert _answer_text(nm).startswith("-5.91 nm") and _format_confidence(0.929, nm) == "92.9%"


# -- 5. the demo API: named parameters, a default task the model answers, "Use via API" visible ---------


@pytest.fixture(scope="module")
def solvation_space(tmp_path_factory):
    """The demo served on 127.0.0.1 (as `moltc demo` serves it) with a model trained on solvation only."""
    import socket

    from moltc_hf import build_model
    from moltc_hf.cli.demo import load_app
    from moltc_hf.pipeline import set_task_defaults

    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    model, processor = build_model("tiny", seed=0)
    set_task_defaults(model.config, task="solvation", tasks=["solvation"])
    folder = tmp_path_factory.mktemp("space") / "solv"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = load_app().launch(str(folder), port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield demo, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def test_demo_api_has_named_parameters_and_the_model_task_as_default(solvation_space):
    from gradio_client import Client

    demo, url = solvation_space
    client = Client(url, verbose=False)
    endpoint = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/predict"]
    names = [p["parameter_name"] for p in endpoint["parameters"]]
    assert names == ["smiles_a", "smiles_b", "task"]
    assert endpoint["parameters"][2]["parameter_default"] == "solvation"
    task, *_ = client.predict("O", "CCO", api_name="/predict")  # task left out
    assert task == "solvation"
    named = client.predict(smiles_a="O", smiles_b="CCO", task="solvation", api_name="/predict")
    assert named[0] == "solvation" and isinstance(named[7], bool)
    assert "api" in demo.footer_links  # the "Use via API" link is shown


# -- 6. a plain Trainer with default arguments: the error names the fix; no task recorded, no silent DDI -----


def test_plain_trainer_with_default_arguments_is_told_remove_unused_columns(dataset_dir, tmp_path):
    from datasets import load_dataset
    from transformers import Trainer, TrainingArguments

    from moltc_hf import MolTCDataCollator, build_model

    model, processor = build_model("tiny", seed=0)
    args = TrainingArguments(str(tmp_path / "out"), max_steps=1, use_cpu=True, report_to=[])
    train = load_dataset(str(dataset_dir), "freesolv", split="train")
    trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=MolTCDataCollator(processor))
    with pytest.raises(KeyError, match=r"rows lack column.*remove_unused_columns=False"):
        trainer.train()


@pytest.mark.slow
def test_a_model_that_records_no_task_is_refused_unless_a_task_is_named(
    model_dir, pairs_csv, tmp_path, capsys
):
    """`model_dir` is what a plain Trainer run saves: no trained task in config.json."""
    base = ["predict", "--model", str(model_dir), "--input", str(pairs_csv), "--device", "cpu"]
    assert main([*base, "--output", str(tmp_path / "a.parquet")]) == 2
    assert "records no trained task" in capsys.readouterr().err and not (tmp_path / "a.parquet").exists()
    done = _fresh_python(
        "from transformers import pipeline\n"
        f"pipe = pipeline(model={str(model_dir)!r}, trust_remote_code=True)\n"
        "try:\n    pipe(('O', 'CCO'))\nexcept ValueError as err:\n    print('refused:', err)\n"
        "print(pipe(('O', 'CCO'), task='solvation')['task'])\n",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "refused: the model records no trained task" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "solvation"


# -- 9. `moltc <cmd> --help`, an argument error and `--version` answer without torch -------------------------

LIGHT_CLI = """
import contextlib, io, json, sys
sys.path.insert(0, sys.argv[1])
from moltc_cli import SUBCOMMANDS, main
answers = {}
for argv in [["--version"], *[[c, "--help"] for c in SUBCOMMANDS], ["predict", "--model", "m", "--input", "i",
             "--output", "o.csv", "--limit", "0"], ["train", "--recipe"]]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    answers[" ".join(argv)] = [code, out.getvalue(), err.getvalue()]
print(json.dumps({"answers": answers, "heavy": sorted(m for m in ("torch", "transformers", "moltc_hf")
                                                      if m in sys.modules)}))
"""


def test_cli_help_version_and_argument_errors_do_not_import_torch(tmp_path):
    """(Their speed is measured by ``benchmarks/cli_startup.py``; this checks the cause: no heavy import.)"""
    src = Path(__file__).resolve().parents[2] / "src"
    done = subprocess.run(
        [sys.executable, "-c", LIGHT_CLI, str(src)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    answers = result["answers"]
    assert answers["--version"][0] == 0 and answers["--version"][1].startswith("moltc-hf ")
    for command in ("build-dataset", "train", "evaluate", "predict", "push", "convert-original", "demo"):
        code, out, _ = answers[f"{command} --help"]
        assert code == 0 and out.startswith(f"usage: moltc {command}"), command
    code, _, err = answers["predict --model m --input i --output o.csv --limit 0"]
    assert code == 2 and err.strip() == "moltc predict: error: argument --limit: must be >= 1, got 0"
    code, _, err = answers["train --recipe"]
    assert code == 2 and "argument --recipe: expected one argument" in err


# -- 8. dataset card and summary: a quoted rebuild command, no files a user lacks, rows that add up ----------


def test_own_csv_summary_adds_up_and_the_card_rebuild_command_is_shell_quoted(tmp_path, capsys):
    import shlex

    rows = [("O", "CCO", -5.0), ("O", "C1CC", -1.0), ("O", "c1ccccc1", None), ("O", "CCO", -5.0)]
    rows += [("O", "CCN", "abc")] + [("O", "C" * i + "O", -float(i)) for i in range(1, 12)]
    source = tmp_path / "my file.csv"
    pd.DataFrame(rows, columns=["solvent smiles", "solute", "dG"]).to_csv(source, index=False)
    args = ["build-dataset", "--data-path", str(source), "--smiles-columns", "solvent smiles", "solute"]
    args += ["--target-column", "dG", "--task", "regression", "--name", "mysolv", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "mot")]) == 0
    out = capsys.readouterr().out
    header, _, line = out.splitlines()[:3]
    counts = dict(zip(header.split(), line.split()))
    # 16 rows: 2 bad targets, 1 bad SMILES rejected; the repeated (O, CCO, -5.0) is kept and counted
    assert (counts["rows"], counts["rejected"], counts["kept"], counts["dupes"]) == ("16", "3", "13", "1")
    card = (tmp_path / "mot" / "README.md").read_text()
    command = card.split("This folder was built with `")[1].split("`;")[0]
    words = shlex.split(command)
    assert words[words.index("--smiles-columns") + 1 :][:2] == ["solvent smiles", "solute"]
    assert words[words.index("--data-path") + 1] == "my file.csv"
    assert "SOURCES.md" not in card and "PAPER.md" not in card
    assert "## DrugBank interaction types" not in card and "non-commercial" not in card

    assert main([*args, "--out", str(tmp_path / "dedup"), "--drop-duplicates"]) == 0
    counts = dict(zip(*[line.split() for line in capsys.readouterr().out.splitlines()[:3:2]]))
    assert (counts["rows"], counts["rejected"], counts["kept"]) == ("16", "4", "12")
    rejects = pd.read_parquet(tmp_path / "dedup" / "rejects.parquet").set_index("row")
    assert (
        rejects.loc["my file.csv:3", "reason"] == "exact duplicate of row my file.csv:0 (--drop-duplicates)"
    )
    assert rejects.loc["my file.csv:3", "field"] == "solvent smiles,solute"
    assert "--drop-duplicates" in (tmp_path / "dedup" / "README.md").read_text()


# -- 10. conventions: config names, the model card's install line, TRL's run README -----------------------


def test_train_on_a_folder_without_the_recipe_config_names_the_configs_there(tmp_path, capsys):
    source = tmp_path / "mine.csv"
    rows = [("O", "C" * i + "O", -float(i)) for i in range(1, 13)]
    pd.DataFrame(rows, columns=["solvent", "solute", "dG"]).to_csv(source, index=False)
    build = ["build-dataset", "--data-path", str(source), "--smiles-columns", "solvent", "solute"]
    build += ["--target-column", "dG", "--task", "regression", "--name", "mysolv", "--no-progress"]
    assert main([*build, "--out", str(tmp_path / "mot")]) == 0
    capsys.readouterr()
    args = ["train", "--recipe", "tiny-finetune", "--dataset", str(tmp_path / "mot")]  # recipe's: freesolv
    assert main([*args, "--output-dir", str(tmp_path / "run"), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "has no config 'freesolv'; its configs: mysolv" in err and "--config" in err
    assert "BuilderConfig" not in err


def test_model_card_says_how_to_install_and_the_run_readme_names_its_start(trained_run):
    from moltc_hf.hub import model_card

    run, _ = trained_run
    card = str(model_card(run / "final", "someone/moltc-tiny"))
    assert "pip install moltc-hf" not in card and "not on PyPI" in card and "pip install -e ." in card
    readme = (run / "README.md").read_text()  # TRL's draft card of the run folder
    assert "[None]" not in readme and "trained with moltc-hf from `tiny`" in readme
    assert 'model="None"' not in readme and "trust_remote_code=True" in readme


# -- 7. the chat template: documented with a runnable example; image items refused, long SMILES warned ------


def test_chat_template_refuses_image_items_and_warns_about_long_smiles(tiny):
    _, processor = tiny
    question = {"type": "text", "text": "what is the solvation Gibbs free energy of this pair of molecules?"}
    image = [{"role": "user", "content": [{"type": "image"}, {"type": "molecule", "smiles": "O"}, question]}]
    with pytest.raises(ValueError, match=r"message 0 item 0: type 'image' is not something MolTC reads"):
        processor.apply_chat_template(image)
    long = "C" * 200
    conversation = [
        {
            "role": "user",
            "content": [{"type": "molecule", "smiles": "O"}, {"type": "molecule", "smiles": long}],
        }
    ]
    with pytest.warns(
        UserWarning, match=r"item 1: the SMILES has 200 characters; the prompt shows its first 128"
    ):
        prompt = processor.apply_chat_template(conversation)
    assert "C" * 128 in prompt and "C" * 129 not in prompt


def _readme_example(marker: str) -> str:
    """The python block of README's "Use a model" section that contains ``marker``."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Use a model", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```")[0] for b in section.split("```python\n")[1:]]
    (example,) = [b for b in blocks if marker in b]
    return example


@pytest.mark.slow
def test_readme_pipeline_example_runs_without_moltc_hf(tmp_path):
    """The README's pipeline example, by folder, in a fresh process that never imports moltc_hf: the folder's own
    task (recorded at training) is answered without naming it, one pair and a batch."""
    from moltc_hf import build_model
    from moltc_hf.pipeline import set_task_defaults

    example = _readme_example("pipeline(")
    assert "import moltc_hf" not in example and "trust_remote_code=True" in example
    model, processor = build_model("tiny", seed=0)
    set_task_defaults(model.config, tasks=["solvation"], task="solvation")
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    done = _fresh_python(
        example.replace("runs/quickstart/model", str(tmp_path / "model"))
        + "\nimport sys\nassert 'moltc_hf' not in sys.modules\n"
        "one = pipe({'smiles_a': 'O', 'smiles_b': 'CCO'})\n"
        "batch = pipe([('O', 'c1ccccc1O'), ('CCCCCCCCO', 'CN')], batch_size=2)\n"
        "assert one['task'] == 'solvation' and len(batch) == 2 and all(b['task'] == 'solvation' for b in batch)\n"
        "print('ran')\n",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "ran"


@pytest.mark.slow
def test_readme_chat_template_example_runs_without_moltc_hf(tmp_path):
    """The README's chat-template example, as a user without moltc_hf runs it, on a saved folder."""
    from moltc_hf import build_model

    example = _readme_example("apply_chat_template")
    assert '"text": "what is the solvation Gibbs free energy of this pair of molecules?"' in example
    model, processor = build_model("tiny", seed=0)
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    done = _fresh_python(
        example.replace("runs/quickstart/model", str(tmp_path / "model")) + "\nimport sys\n"
        "assert 'moltc_hf' not in sys.modules\nprint('ran')\n",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "ran"


# -- 11. the seeded quickstart gives the same numbers twice, and says what they depend on -----------------


@pytest.mark.slow
def test_seeded_quickstart_is_reproducible_and_records_what_it_depends_on(tmp_path):
    from moltc_hf.quickstart import QuickstartOptions, run_quickstart

    results = []
    for name in ("a", "b"):
        options = QuickstartOptions(out_dir=tmp_path / name, smoke=True, progress=False, seed=0)
        run_quickstart(options, log=lambda line: None)
        results.append(json.loads((tmp_path / name / "metrics.json").read_text()))
    assert results[0]["model"]["metrics"] == results[1]["model"]["metrics"]  # to the last digit
    assert results[0]["finetune_loss_first_last"] == results[1]["finetune_loss_first_last"]
    recorded = results[0]["reproducibility"]
    assert recorded["threads"] == 1 and recorded["deterministic_algorithms"] is True
    assert {"torch", "transformers", "cpu_capability"} <= set(recorded)
