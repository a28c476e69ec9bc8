"""The GPU-speed levers of issue #26, checked for correctness on CPU (their speed is `benchmarks/gpu_check.py`'s).

* Projector routing planned on the host: the same molecule tokens and the same loss as running each role's projector
  on its own molecules, and no read of the device-side ``mol_roles`` (a ``meta`` tensor here: reading it fails).
* bf16 inference (``dtype``/``torch_dtype`` of the pipeline, ``--dtype`` of predict): the same class on >= 99% of
  pairs as fp32 and probabilities within ``BF16_PROBABILITY_TOLERANCE``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import torch

from conftest import fresh_python, tiny_lora_recipe
from moltc_hf import MolTCDataCollator
from moltc_hf.cli import main
from moltc_hf.inference.predict import inference_dtype
from moltc_hf.pipeline import set_task_defaults
from moltc_hf.tasks import templates

# bf16 keeps 8 mantissa bits; the class scores are summed log-probabilities, log-softmaxed in fp32.
BF16_PROBABILITY_TOLERANCE = 0.01

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O", "CN1CCC[C@H]1c1cccnc1", "O=C=O", "CCCCCl"]


def _rows(count: int = 6) -> list[dict]:
    pairs = [(SMILES[i % 6], SMILES[(3 * i + 1) % 6]) for i in range(count)]
    return [
        {
            "smiles_a": a,
            "smiles_b": b,
            "prompt": templates.pair_prompt(a, b, templates.DDI_QUESTION),
            "target": templates.binary_ddi_target(i % 2 == 0),
        }
        for i, (a, b) in enumerate(pairs)
    ]


def _untied(tiny):
    model, processor = tiny
    model.untie_projectors()
    with torch.no_grad():  # the two projectors must differ, or a routing mistake would not show
        model.mol_connector.projectors[1].language_projection.weight.add_(0.3)
    return model, processor


def _by_definition(model, graphs, roles: torch.Tensor) -> torch.Tensor:
    """Each role's projector on that role's molecules, put back in the order of ``graphs``."""
    nodes, mask = model.graph_encoder(graphs)
    out = None
    for role, projector in enumerate(model.mol_connector.projectors):
        index = torch.nonzero(roles == role).flatten()
        values = projector(nodes[index], mask[index])
        out = values.new_zeros(len(roles), *values.shape[1:]) if out is None else out
        out[index] = values
    return out


@pytest.mark.parametrize("order", ["pairs", "mixed"])
def test_host_planned_routing_equals_each_projector_on_its_role(tiny, order):
    model, processor = _untied(tiny)
    model.eval()
    molecules = [(a, b) for a, b in zip(SMILES, reversed(SMILES))]
    graphs, roles = processor.featurize_molecules(molecules)
    assert graphs.mol_role.tolist() == roles.tolist() == [0, 1] * len(molecules)
    if order == "mixed":  # any order of roles (not the collator's A, B, A, B): gathered per role
        permutation = torch.tensor([3, 0, 1, 2, 5, 4, 7, 6, 11, 8, 9, 10])
        graphs = graphs.index_select(permutation)
        from torch_geometric.data import Batch

        graphs, roles = Batch.from_data_list(graphs), roles[permutation]
    with torch.no_grad():
        expected = _by_definition(model, graphs, roles)
        torch.testing.assert_close(model.get_molecule_features(graphs, roles), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("padding_free", [False, True])
@pytest.mark.parametrize("per_role", [False, True])
def test_training_loss_equals_the_per_role_definition(tiny, padding_free, per_role):
    """Training mode (dropout, BatchNorm batch statistics): the same loss to 1e-5 as the per-role definition."""
    model, processor = _untied(tiny)
    model.config.graph_batch_per_role = per_role
    model.train()
    batch = MolTCDataCollator(processor, padding_free=padding_free, pack_length="longest")(_rows())
    graphs, roles = batch.pop("graphs"), batch["mol_roles"]
    torch.manual_seed(0)
    if per_role:
        from torch_geometric.data import Batch

        features = torch.empty(0)
        parts = {}
        for role in (0, 1):
            index = torch.nonzero(roles == role).flatten()
            part = Batch.from_data_list(graphs.index_select(index))
            nodes, mask = model.graph_encoder(part)
            parts[role] = (index, model.mol_connector.projectors[role](nodes, mask))
        features = parts[0][1].new_zeros(len(roles), *parts[0][1].shape[1:])
        for index, values in parts.values():
            features[index] = values
    else:
        features = _by_definition(model, graphs, roles)
    expected = model(**batch, molecule_features=features).loss
    torch.manual_seed(0)
    # mol_roles where the host cannot read it (as on a CUDA device): training never reads it back
    loss = model(**{**batch, "mol_roles": roles.to("meta")}, graphs=graphs).loss
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-5)
    loss.backward()
    for projector in model.mol_connector.projectors:  # both projectors learn from their own molecules
        assert projector.query_tokens.grad is not None and projector.query_tokens.grad.abs().sum() > 0


# -- bf16 inference --
DRUGS = [
    "CCO",
    "c1ccccc1O",
    "CC(=O)Oc1ccccc1C(=O)O",
    "CN1CCC[C@H]1c1cccnc1",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "CC(=O)Nc1ccc(O)cc1",
    "c1ccncc1",
    "ClC(Cl)Cl",
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "OC(=O)c1ccccc1O",
]
PAIRS = [(a, b) for a in DRUGS for b in DRUGS if a != b]  # 90 pairs


@pytest.fixture(scope="module")
def ddi_model_dir(tmp_path_factory):
    from moltc_hf import build_model

    model, processor = build_model("tiny", seed=0)
    set_task_defaults(model.config, task="ddi_binary", tasks=["ddi_binary"])
    path = tmp_path_factory.mktemp("tiny-ddi")
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def _agreement(reference: list[dict], other: list[dict]) -> None:
    same = sum(a["label"] == b["label"] for a, b in zip(reference, other)) / len(reference)
    gaps = [abs(a["probability"] - b["probability"]) for a, b in zip(reference, other)]
    print(f"bf16 vs fp32: same class {same:.1%}, largest probability gap {max(gaps):.4f}")
    assert same >= 0.99
    assert max(gaps) <= BF16_PROBABILITY_TOLERANCE
    for a, b in zip(reference, other):  # a decided fp32 answer (margin above the tolerance) never flips
        if abs(a["probability"] - 0.5) > BF16_PROBABILITY_TOLERANCE:
            assert a["label"] == b["label"]


def test_inference_dtype_is_bf16_on_cuda_and_fp32_on_cpu():
    assert inference_dtype(None, "cpu") is torch.float32 and inference_dtype("auto", "cpu") is torch.float32
    assert (
        inference_dtype("auto", "cuda") is torch.bfloat16
        and inference_dtype(None, "cuda:1") is torch.bfloat16
    )
    assert inference_dtype("float32", "cuda") is torch.float32
    assert inference_dtype(torch.float16, "cpu") is torch.float16
    with pytest.raises(ValueError, match="dtype must be one of"):
        inference_dtype("fp8", "cpu")


def test_pipeline_in_bf16_agrees_with_fp32(ddi_model_dir):
    from transformers import pipeline

    fp32 = pipeline("molecule-pair-interaction", model=str(ddi_model_dir), trust_remote_code=True)
    assert fp32.model.dtype is torch.float32  # "auto" on CPU
    bf16 = pipeline(
        "molecule-pair-interaction", model=str(ddi_model_dir), dtype=torch.bfloat16, trust_remote_code=True
    )
    assert bf16.model.dtype is torch.bfloat16
    _agreement(fp32(PAIRS, batch_size=16), bf16(PAIRS, batch_size=16))


@pytest.mark.slow
def test_pipeline_torch_dtype_in_a_fresh_process_without_moltc_hf(ddi_model_dir, tmp_path):
    from transformers import pipeline

    fp32 = pipeline("molecule-pair-interaction", model=str(ddi_model_dir), trust_remote_code=True)
    folder = tmp_path / "shared"
    fp32.save_pretrained(folder)
    script = (
        "import json, sys, torch\n"
        "from transformers import pipeline\n"
        "pipe = pipeline('molecule-pair-interaction', model=sys.argv[1], trust_remote_code=True,"
        " torch_dtype=torch.bfloat16)\n"
        "assert not [m for m in sys.modules if m.startswith('moltc_hf')]\n"
        "pairs = json.loads(sys.argv[2])\n"
        "print(json.dumps({'dtype': str(pipe.model.dtype), 'out': pipe(pairs, batch_size=16)}))\n"
    )
    pairs = PAIRS[:20]
    result = fresh_python(
        script, str(folder), json.dumps(pairs), cwd=tmp_path, HF_MODULES_CACHE=str(tmp_path / "modules")
    )
    assert result["dtype"] == "torch.bfloat16"
    _agreement(fp32([tuple(p) for p in pairs]), result["out"])


def test_predict_dtype_option(ddi_model_dir, tmp_path):
    source = tmp_path / "pairs.csv"
    pd.DataFrame({"smiles_a": [a for a, _ in PAIRS], "smiles_b": [b for _, b in PAIRS]}).to_csv(
        source, index=False
    )
    base = ["predict", "--model", str(ddi_model_dir), "--input", str(source), "--device", "cpu"]
    outputs = {}
    for dtype in ("auto", "bfloat16"):
        outputs[dtype] = tmp_path / f"{dtype}.parquet"
        assert main([*base, "--output", str(outputs[dtype]), "--dtype", dtype]) == 0
    frames = {dtype: pd.read_parquet(path) for dtype, path in outputs.items()}
    _agreement(frames["auto"].to_dict("records"), frames["bfloat16"].to_dict("records"))
    assert main([*base, "--output", str(tmp_path / "x.parquet"), "--dtype", "fp8"]) == 2


# -- training levers (recipe keys) --
def _lever_trainer(tmp_path, tiny, **recipe_keys):
    import datasets

    from moltc_hf.training import build_trainer, prepare_stage_model

    model, processor = tiny
    recipe = tiny_lora_recipe("levers", 2, **recipe_keys)
    prepare_stage_model(model, recipe)
    return build_trainer(recipe, model, processor, datasets.Dataset.from_list(_rows(8)), tmp_path)


def _losses(trainer) -> list[float]:
    trainer.train()
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


@pytest.mark.parametrize("padding_free", [False, True])
def test_pad_to_multiple_of_keeps_the_loss(tiny, padding_free):
    model, processor = _untied(tiny)
    model.eval()
    rows = _rows(5)
    plain = MolTCDataCollator(processor, padding_free=padding_free, pack_length="longest")(rows)
    rounded = MolTCDataCollator(
        processor, padding_free=padding_free, pack_length="longest", pad_to_multiple_of=64
    )(rows)
    assert (
        rounded["input_ids"].shape[1] % 64 == 0
        and rounded["input_ids"].shape[1] > plain["input_ids"].shape[1]
    )
    with torch.no_grad():
        torch.testing.assert_close(model(**rounded).loss, model(**plain).loss, rtol=1e-5, atol=1e-5)


def test_sdpa_backends_setting():
    from moltc_hf.training.speed import sdpa_backends

    assert sdpa_backends("auto", cuda=False) is None  # CPU: torch's own choice
    assert sdpa_backends("auto", cuda=True) == [
        "flash",
        "efficient",
        "math",
    ]  # no cuDNN re-planning per shape
    assert sdpa_backends("all", cuda=True) is None and sdpa_backends(["math"]) == ["math"]
    from moltc_hf.training import Recipe

    with pytest.raises(ValueError, match="sdpa_backends: expected auto, all or a list"):
        Recipe.from_dict({"name": "t", "stage": "finetune", "dataset_config": "x", "sdpa_backends": ["fast"]})
    with pytest.raises(ValueError, match="frozen_weights_dtype: expected auto, float32 or bfloat16"):
        Recipe.from_dict(
            {"name": "t", "stage": "finetune", "dataset_config": "x", "frozen_weights_dtype": "fp16"}
        )


def test_training_steps_run_under_the_recipes_sdpa_backends(tiny, tmp_path):
    trainer = _lever_trainer(tmp_path, tiny, sdpa_backends=["math"])
    seen = []
    language_model = trainer.model.get_base_model().model.language_model
    handle = language_model.register_forward_hook(
        lambda *_: seen.append(
            (torch.backends.cuda.flash_sdp_enabled(), torch.backends.cuda.math_sdp_enabled())
        )
    )
    try:
        losses = _losses(trainer)
    finally:
        handle.remove()
    assert len(losses) == 2 and seen and all(state == (False, True) for state in seen)
    assert torch.backends.cuda.flash_sdp_enabled()  # restored after the step


def test_frozen_language_model_in_bf16_keeps_fp32_masters_and_saves_fp32(tiny, tmp_path):
    from safetensors import safe_open

    from moltc_hf.training import merged_model

    trainer = _lever_trainer(tmp_path, tiny, bf16=True, frozen_weights_dtype="bfloat16")
    dtypes = {name: p.dtype for name, p in trainer.model.named_parameters()}
    frozen = [
        n for n, p in trainer.model.named_parameters() if not p.requires_grad and "language_model." in n
    ]
    assert frozen and all(dtypes[n] is torch.bfloat16 for n in frozen)
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert any("lora_" in n for n in trainable) and any("graph_encoder" in n for n in trainable)
    assert all(dtypes[n] is torch.float32 for n in trainable)
    losses = _losses(trainer)
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    model = merged_model(trainer)
    model.save_pretrained(tmp_path / "final")
    with safe_open(tmp_path / "final" / "model.safetensors", "pt") as weights:
        # (I64: BatchNorm's num_batches_tracked)
        assert {weights.get_slice(k).get_dtype() for k in weights.keys()} - {"I64"} == {"F32"}  # noqa: SIM118


@pytest.mark.slow
def test_compiled_graph_path_trains_like_the_eager_one(tmp_path):
    """`compile_graph_path` (the eager backend here: dynamo's tracing and graph breaks, without a C compiler):
    the same losses, the same parameter names."""
    from moltc_hf import build_model

    eager = _lever_trainer(tmp_path / "a", build_model("tiny", seed=0))
    compiled = _lever_trainer(tmp_path / "b", build_model("tiny", seed=0), compile_graph_path="eager")
    names = [n for n, _ in compiled.model.named_parameters()]
    assert names == [n for n, _ in eager.model.named_parameters()]
    assert _losses(compiled) == pytest.approx(_losses(eager), abs=1e-5)


# -- the GPU check's CPU dry run, from a fresh copy of the tree --
@pytest.mark.slow
def test_gpu_check_dry_run_from_a_fresh_clone(tmp_path):
    """`benchmarks/gpu_check.sh --dry-run` in a copy of the tracked files (no install, no hub_configs link in
    src/): the same script as on the GPU, on the CPU at the tiny shape, writing the table's rows to $OUT."""
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=root, capture_output=True, text=True, check=True
    )
    clone = tmp_path / "clone"
    for name in listed.stdout.splitlines():
        source = root / name
        if source.is_file() and not source.is_symlink():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    assert not (clone / "src" / "moltc_hf" / "hub_configs").exists()
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        "PYTHON": sys.executable,
        "OUT": str(tmp_path / "out"),
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", "--dry-run", "--levers", "default", "off", "--layouts", "padded"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert (
        Path(summary["package"]) == (clone / "src" / "moltc_hf").resolve()
    )  # the clone's code, not an install
    runs = {(r["levers"], r["variant"]): r for r in summary["runs"]}
    assert set(runs) == {
        (levers, variant) for levers in ("default", "off") for variant in ("moltc", "text-only")
    }
    assert all(
        r["s_per_step"] > 0 and r["tokens_per_step"] > 0 and len(r["losses"]) == 2 for r in runs.values()
    )
    assert summary["generate_new_tokens"] > 0
    [screen] = summary["screening"]
    assert screen["pairs"] == 16 and screen["pairs_per_s"] > 0 and screen["dtype"] == "float32"
    assert "vs text" in done.stdout and "screening tiny float32: 1 query x 16 drugs" in done.stdout
