"""What a seasoned Hugging Face user tries on our pipeline, processor and configs (issue 15), offline and tiny."""

from __future__ import annotations

import ast
import json

import numpy as np
import pytest
import torch

import moltc_hf.pipeline  # noqa: F401  (registers the task in this process)
from conftest import fresh_python
from moltc_hf import MolTCConfig, MolTCGraphConfig, MolTCProcessor
from moltc_hf.hub import install_in_cache
from moltc_hf.pipeline import TASK_NAME, set_task_defaults
from moltc_hf.tasks.templates import DDI_QUESTION, pair_prompt

HUB_ID = "moltc-org/moltc-tiny-pipeline"
PAIRS = [("CCO", "c1ccccc1O"), ("CC(=O)O", "CN"), ("O", "C")]


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    from transformers import pipeline

    from moltc_hf import build_model

    model, processor = build_model("tiny", seed=0)
    set_task_defaults(model.config, task="ddi_binary")
    folder = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return pipeline(TASK_NAME, model=str(folder), trust_remote_code=True)


FRESH_PIPELINE = """
import json, sys
from transformers import pipeline
pipe = pipeline("molecule-pair-interaction", model=sys.argv[1], trust_remote_code=True)
assert not [m for m in sys.modules if m.startswith("moltc_hf")], "the shared pipeline must not need moltc_hf"
answers = pipe([("CCO", "c1ccccc1O"), ("O", "C")])
pipe.save_pretrained("saved-again")  # a pipeline loaded as remote code saves (and so pushes) its own code
again = pipeline("molecule-pair-interaction", model="saved-again", trust_remote_code=True)
assert again([("CCO", "c1ccccc1O"), ("O", "C")]) == answers
assert not [m for m in sys.modules if m.startswith("moltc_hf")]
print(json.dumps(answers))
"""


@pytest.mark.slow
def test_saved_pipeline_loads_by_hub_id_in_a_process_without_moltc_hf(pipe, tmp_path):
    """`pipe.save_pretrained` writes the code and ``custom_pipelines``; the hub copy is a pipeline by id alone."""
    folder = tmp_path / "shared"
    pipe.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    assert config["custom_pipelines"][TASK_NAME]["impl"] == "pipeline.MoleculePairInteractionPipeline"
    cache = tmp_path / "hub"
    install_in_cache(folder, HUB_ID, cache_dir=cache)
    remote = fresh_python(
        FRESH_PIPELINE,
        HUB_ID,
        cwd=tmp_path,
        HF_HUB_CACHE=str(cache),
        HF_MODULES_CACHE=str(tmp_path / "modules"),
    )
    local = pipe([PAIRS[0], PAIRS[2]])
    assert [r["label"] for r in remote] == [r["label"] for r in local]
    assert [r["probability"] for r in remote] == pytest.approx([r["probability"] for r in local], rel=1e-4)


def test_saved_code_is_flat_and_generated_from_the_package(pipe, tmp_path):
    from moltc_hf.pipeline import flat_module_name, pipeline_code_modules

    pipe.save_pretrained(tmp_path)
    for module in pipeline_code_modules():
        tree = ast.parse((tmp_path / f"{flat_module_name(module)}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1 and not (node.module or "").startswith("moltc_hf"), (
                    module,
                    node.module,
                )
                if node.level == 1 and node.module:
                    assert (tmp_path / f"{node.module}.py").is_file(), (module, node.module)


def test_model_push_carries_the_pipeline_code(pipe, tmp_path):
    """`moltc push` / `push_folder` of a trained model uploads the pipeline too (a dry run lists it, writes nothing)."""
    from moltc_hf.hub import push_folder

    pipe.model.save_pretrained(tmp_path)
    pipe.processor.save_pretrained(tmp_path)
    # (issue 27: `save_pretrained` itself now writes the pipeline code and `custom_pipelines`)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    result = push_folder(tmp_path, "someone/moltc-tiny", dry_run=True)
    assert {"pipeline.py", "tasks_registry.py", "inference_predict.py"} <= set(result.files)
    assert {
        path.name: path.read_bytes() for path in tmp_path.iterdir()
    } == before  # the dry run wrote nothing


def test_dataset_generator_and_key_pair_dataset_inputs(pipe):
    from datasets import Dataset
    from transformers.pipelines.pt_utils import KeyPairDataset

    expected = [r["label"] for r in pipe(PAIRS)]
    dataset = Dataset.from_dict({"smiles_a": [a for a, _ in PAIRS], "smiles_b": [b for _, b in PAIRS]})
    for inputs in (
        KeyPairDataset(dataset, "smiles_a", "smiles_b"),
        dataset,
        ({"smiles_a": a, "smiles_b": b} for a, b in PAIRS),
        dataset.to_pandas(),
    ):
        answers = list(pipe(inputs, batch_size=2))
        assert [r["label"] for r in answers] == expected, type(inputs).__name__


def test_a_bad_row_of_a_dataset_is_named(pipe):
    from moltc_hf import InvalidMoleculeError

    rows = ({"smiles_a": a, "smiles_b": b} for a, b in [*PAIRS, ("CCO", "C1CC")])
    with pytest.raises(InvalidMoleculeError, match=r"row 3, field 'smiles_b'"):
        list(pipe(rows, batch_size=2))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
@pytest.mark.parametrize("device", [0, "cuda", "cuda:0", torch.device("cuda")])
def test_a_gpu_device_on_a_cpu_machine_is_an_error(pipe, device):
    from transformers import pipeline

    with pytest.raises(ValueError, match="device="):
        pipeline(TASK_NAME, model=pipe.model, processor=pipe.processor, device=device)


def test_cpu_devices_still_work(pipe):
    from transformers import pipeline

    for device in ("cpu", -1):
        other = pipeline(TASK_NAME, model=pipe.model, processor=pipe.processor, device=device)
        assert other.device.type == "cpu"


# -- processor --
PROMPT = pair_prompt("CCO", "O", DDI_QUESTION)


def test_processor_return_tensors(tiny):
    _, processor = tiny
    pt = processor(text=PROMPT, molecules=("CCO", "O"))
    as_np = processor(text=PROMPT, molecules=("CCO", "O"), return_tensors="np")
    assert isinstance(as_np["input_ids"], np.ndarray) and isinstance(as_np["mol_roles"], np.ndarray)
    assert as_np["input_ids"].tolist() == pt["input_ids"].tolist()
    assert processor(text=PROMPT, return_tensors=None)["input_ids"] == pt["input_ids"].tolist()
    with pytest.raises(ValueError, match="return_tensors"):
        processor(text=PROMPT, return_tensors="tf")


def test_processor_padding_and_truncation(tiny):
    _, processor = tiny
    prompts, pairs = [PROMPT, PROMPT + " Briefly."], [("CCO", "O")] * 2
    batch = processor(text=prompts, molecules=pairs, padding="max_length", max_length=100)
    assert batch["input_ids"].shape == (2, 100) and batch["attention_mask"].shape == (2, 100)
    assert batch["attention_mask"][:, -1].all() and not batch["attention_mask"][:, 0].any()  # left padding
    right = processor(text=prompts, padding="max_length", max_length=100, padding_side="right")
    assert right["attention_mask"][:, 0].all()
    ids = processor.encode_prompt(PROMPT)
    last_mol = max(i for i, t in enumerate(ids) if t == processor.mol_token_id)
    cut = processor(text=prompts, molecules=pairs, truncation=True, max_length=last_mol + 2)
    assert cut["input_ids"].shape == (2, last_mol + 2)
    assert int((cut["input_ids"] == processor.mol_token_id).sum()) == 2 * 2 * processor.num_query_tokens
    with pytest.raises(ValueError, match="placeholders"):
        processor(text=prompts, molecules=pairs, truncation=True, max_length=last_mol - 2)
    with pytest.raises(ValueError, match="truncation=True"):
        processor(text=prompts, padding="max_length", max_length=10)
    with pytest.raises(ValueError, match="needs max_length"):
        processor(text=prompts, padding="max_length")
    nested = processor(text=prompts, text_kwargs={"padding": "max_length", "max_length": 90})
    assert nested["input_ids"].shape == (2, 90)
    assert processor(text=prompts, pad_to_multiple_of=64)["input_ids"].shape[1] % 64 == 0


def test_processor_refuses_unknown_keywords(tiny):
    _, processor = tiny
    with pytest.raises(TypeError, match=r"\['paddding'\]"):
        processor(text=PROMPT, paddding="max_length")
    with pytest.raises(TypeError, match="stride"):
        processor(text=PROMPT, text_kwargs={"stride": 2})


def test_chat_template_renders_the_pair_prompt_and_travels_with_the_processor(tiny, tmp_path):
    model, processor = tiny
    conversation = [
        {
            "role": "user",
            "content": [
                {"type": "molecule", "smiles": "CCO"},
                {"type": "molecule", "smiles": "O"},
                {"type": "text", "text": DDI_QUESTION},
            ],
        }
    ]
    assert processor.apply_chat_template(conversation) == PROMPT
    long = [
        dict(
            conversation[0],
            content=[{"type": "molecule", "smiles": "C" * 200}, *conversation[0]["content"][1:]],
        )
    ]
    with pytest.warns(UserWarning, match="shows its first 128"):  # shortened as in training, and said so
        assert processor.apply_chat_template(long) == pair_prompt("C" * 200, "O", DDI_QUESTION)
    inputs = processor.apply_chat_template(conversation, tokenize=True, return_dict=True)
    expected = processor(text=PROMPT, molecules=("CCO", "O"))
    assert torch.equal(inputs["input_ids"], expected["input_ids"]) and inputs["graphs"].num_graphs == 2
    with torch.no_grad():
        assert model(**inputs).logits.shape[1] == inputs["input_ids"].shape[1]
    processor.save_pretrained(tmp_path)
    assert (tmp_path / "chat_template.jinja").is_file()
    assert MolTCProcessor.from_pretrained(tmp_path).apply_chat_template(conversation) == PROMPT


# -- configs --
@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"num_query_tokens": "8"}, TypeError, "num_query_tokens"),
        ({"num_query_tokens": 0}, ValueError, "num_query_tokens"),
        ({"num_query_tokens": 8.0}, TypeError, "num_query_tokens"),
        ({"projector_sharing": "shared"}, ValueError, "projector_sharing"),
        ({"num_molecule_roles": "2"}, TypeError, "num_molecule_roles"),
        ({"graph_config": {"num_layers": "5"}}, TypeError, "graph_config.num_layers"),
        ({"graph_config": {"dropout": 1.5}}, ValueError, "graph_config.dropout"),
        ({"graph_config": {"self_loop_bond_type": 9}}, ValueError, "graph_config.self_loop_bond_type"),
    ],
)
def test_config_fields_are_validated_with_their_name(kwargs, error, field):
    with pytest.raises(error, match=field.replace(".", r"\.")):
        MolTCConfig(**kwargs)


def test_valid_configs_still_build():
    assert MolTCConfig(num_query_tokens=4).num_query_tokens == 4
    assert MolTCGraphConfig(dropout=0.1, hidden_size=32).hidden_size == 32


# -- dataset card --
@pytest.fixture(scope="module")
def built(raw_dir, tmp_path_factory):
    from moltc_hf.instructions.builder import build_dataset

    out = tmp_path_factory.mktemp("mot") / "mot-instructions"
    build_dataset("chchminer,drugbank,freesolv", out, limit=40, raw_dir=raw_dir, progress=False)
    return out


def test_load_dataset_without_a_config_name_gives_the_default(built, tmp_path):
    import datasets

    default = datasets.load_dataset(str(built), cache_dir=str(tmp_path / "cache"))
    named = datasets.load_dataset(str(built), "chchminer", cache_dir=str(tmp_path / "cache"))
    assert default["train"]["smiles_a"] == named["train"]["smiles_a"]


def test_card_features_and_class_labels(built, tmp_path):
    import datasets
    import pandas as pd
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(built / "README.md").data.to_dict()
    assert card["size_categories"] and all(info["features"] for info in card["dataset_info"])
    classes = json.loads((built / "classes.json").read_text())
    expected = {"chchminer": ["no interaction", "interaction"], "drugbank": classes["drugbank"]}
    for config in ("chchminer", "drugbank", "freesolv"):
        train = datasets.load_dataset(str(built), config, cache_dir=str(tmp_path / "cache"))["train"]
        stored = pd.read_parquet(built / "data" / config / "train-00000-of-00001.parquet")["label"]
        label = train.features["label"]
        if config in expected:
            assert isinstance(label, datasets.ClassLabel) and label.names == expected[config], config
        else:
            assert label == datasets.Value("float64")
        assert [float(v) for v in train["label"]] == stored.tolist(), config


# -- Space / demo API --
@pytest.fixture(scope="module")
def solvation_only_space(tmp_path_factory, monkeypatch_module):
    """The demo served on 127.0.0.1 with a tiny model that records it was trained on solvation only."""
    import socket

    from moltc_hf import build_model
    from moltc_hf.cli.demo import load_app

    monkeypatch_module.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch_module.setenv("no_proxy", "127.0.0.1,localhost")
    model, processor = build_model("tiny", seed=0)
    set_task_defaults(model.config, task="solvation", tasks=["solvation"])
    folder = tmp_path_factory.mktemp("space-model")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = load_app()
    demo = app.launch(str(folder), port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield app, demo, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_space_api_predict_is_named_labelled_and_typed(solvation_only_space):
    from gradio_client import Client

    app, _, url = solvation_only_space
    client = Client(url, verbose=False)
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/predict"}, set(endpoints)
    returns = endpoints["/predict"]["returns"]
    assert [r["label"].split(" ")[0] for r in returns] == list(app.API_OUTPUTS)
    assert returns[4]["type"]["type"] == "number"
    task, answer, label, value, confidence, reasoning, value_source, outside_interval = client.predict(
        "O", "CCO", "solvation", api_name="/predict"
    )
    assert task == "solvation" and isinstance(answer, str) and label in (None, "")
    assert isinstance(confidence, float) and 0 < confidence <= 1


def test_space_api_refuses_bad_input_with_an_error(solvation_only_space):
    from gradio_client import Client

    _, _, url = solvation_only_space
    client = Client(url, verbose=False)
    with pytest.raises(Exception, match=r"Invalid SMILES.*Molecule B \(solute\).*C1CC\("):
        client.predict("O", "C1CC(", "solvation", api_name="/predict")
    with pytest.raises(Exception, match=r"not trained on it.*solvation"):
        client.predict("CCO", "CCN", "ddi_binary", api_name="/predict")


def test_space_offers_only_the_tasks_the_model_was_trained_on(solvation_only_space):
    app, demo, _ = solvation_only_space
    components = {c.get("props", {}).get("elem_id"): c["props"] for c in demo.config["components"]}
    choices = [
        choice[0] if isinstance(choice, (list, tuple)) else choice for choice in components["task"]["choices"]
    ]
    assert choices == [app.TASKS[2].label]
    unavailable = components["unavailable-tasks"]
    assert unavailable["visible"] and "not trained on it" in unavailable["value"]
    assert app.TASKS[0].label in unavailable["value"]
