"""CUDA paths: bf16 forward/backward, generation with beams and cached molecule features on a GPU.

Skipped where no GPU is present (CI); run on a lent GPU machine with `pytest tests/integration/test_cuda.py`.
"""

from __future__ import annotations

import pytest
import torch

from conftest import solvation_rows
from moltc_hf import MolTCDataCollator, build_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

PAIRS = [("O", "CCO", -5.0), ("CCCCCCCC", "c1ccccc1O", -6.6), ("ClC(Cl)Cl", "CC(=O)Oc1ccccc1C(=O)O", -9.1)]


def _rows():
    return solvation_rows(PAIRS)


def test_bf16_forward_backward_on_cuda_moves_the_graph_batch():
    model, processor = build_model("tiny", dtype=torch.bfloat16, device="cuda")
    model.untie_projectors()
    batch = MolTCDataCollator(processor)(_rows())
    batch = {k: (v.to("cuda") if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
    assert batch["graphs"].x.device.type == "cpu"  # the model moves the PyG batch itself
    output = model(**batch)
    assert output.logits.dtype == torch.bfloat16 and torch.isfinite(output.loss)
    output.loss.backward()
    grads = [p.grad for p in model.mol_connector.parameters() if p.grad is not None]
    assert grads and all(g.device.type == "cuda" for g in grads)


def test_autocast_matches_between_cpu_and_cuda_in_fp32():
    model, processor = build_model("tiny")
    model.eval()
    batch = MolTCDataCollator(processor)(_rows())
    with torch.no_grad():
        cpu_loss = model(**batch).loss
        model.to("cuda")
        cuda_batch = {k: (v.to("cuda") if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
        cuda_loss = model(**cuda_batch).loss
    assert torch.allclose(cpu_loss, cuda_loss.cpu(), atol=1e-4)


def test_generate_with_beams_and_precomputed_features_on_cuda():
    model, processor = build_model("tiny", dtype=torch.bfloat16, device="cuda")
    model.eval()
    batch = MolTCDataCollator(processor, padding_side="left", include_target=False)(_rows())
    inputs = {k: (v.to("cuda") if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
    beams = model.generate(**inputs, max_new_tokens=8, num_beams=3, do_sample=False)
    with torch.no_grad():
        features = model.get_molecule_features(inputs.pop("graphs"), inputs["mol_roles"])
    cached = model.generate(
        **inputs, molecule_features=features, max_new_tokens=8, num_beams=3, do_sample=False
    )
    assert beams.shape[0] == 3 and torch.equal(beams, cached)
