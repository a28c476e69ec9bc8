"""The MolTC model as a Hugging Face PreTrainedModel: forward/backward, LoRA, save/reload, untying, generation."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from peft import get_peft_model

from conftest import solvation_rows
from moltc_hf import MolTCDataCollator, MolTCForConditionalGeneration, build_model, moltc_lora_config
from moltc_hf.factory import build_config, load_model_spec
from moltc_hf.tasks.templates import DDI_QUESTION, pair_prompt
from moltc_hf.tokenization_moltc import build_tokenizer

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
IBUPROFEN = "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O"
WARFARIN = "CC(=O)CC(c1ccccc1)c1c(O)c2ccccc2oc1=O"
CAFFEINE = "Cn1cnc2c1c(=O)n(C)c(=O)n2C"


def _rows() -> list[dict]:
    return solvation_rows([(ASPIRIN, WARFARIN, -6.2), (IBUPROFEN, CAFFEINE, -3.1)])


def test_forward_backward_with_lora_trains_molecule_modules_only(tiny):
    model, processor = tiny
    batch = MolTCDataCollator(processor)(_rows())
    peft_model = get_peft_model(model, moltc_lora_config())
    frozen_before = {
        name: param.detach().clone()
        for name, param in peft_model.named_parameters()
        if "language_model" in name and not param.requires_grad
    }
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    loss = peft_model(**batch).loss
    assert torch.isfinite(loss)
    loss.backward()

    def grad_norm(fragment: str) -> float:
        grads = [p.grad for n, p in peft_model.named_parameters() if fragment in n and p.grad is not None]
        return float(sum(g.abs().sum() for g in grads))

    assert grad_norm("graph_encoder") > 0, "no gradient reached the GIN"
    assert grad_norm("qformer") > 0, "no gradient reached the Q-Former"
    assert grad_norm("language_projection") > 0, "no gradient reached the projector"
    assert grad_norm("query_tokens") > 0, "no gradient reached the query tokens"
    assert grad_norm("lora_B") > 0, "no gradient reached the LoRA weights"
    optimizer.step()
    changed = [
        n
        for n, p in peft_model.named_parameters()
        if n in frozen_before and not torch.equal(p, frozen_before[n])
    ]
    assert frozen_before and not changed, f"frozen LLM weights changed: {changed[:5]}"


@pytest.mark.slow
def test_save_is_safetensors_only_and_reloads_in_fresh_process(tiny, tmp_path):
    model, processor = tiny
    model.eval()
    batch = processor(
        text=[r["prompt"] for r in _rows()], molecules=[(r["smiles_a"], r["smiles_b"]) for r in _rows()]
    )
    with torch.no_grad():
        expected = model(**batch).logits
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    files = {p.name for p in tmp_path.iterdir()}
    assert "model.safetensors" in files
    assert not {f for f in files if f.endswith((".bin", ".pt", ".pth", ".pkl"))}
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert {"AutoConfig", "AutoModel", "AutoModelForCausalLM"} <= set(auto_map)
    torch.save(expected, tmp_path / "expected.pt")

    script = textwrap.dedent(
        f"""
        import sys, torch
        from transformers import AutoModel, AutoProcessor
        path = {str(tmp_path)!r}
        model = AutoModel.from_pretrained(path, trust_remote_code=True).eval()
        processor = AutoProcessor.from_pretrained(path, trust_remote_code=True)
        assert "moltc_hf" not in sys.modules, "the fresh process must not import moltc_hf"
        rows = {_rows()!r}
        batch = processor(text=[r["prompt"] for r in rows], molecules=[(r["smiles_a"], r["smiles_b"]) for r in rows])
        with torch.no_grad():
            logits = model(**batch).logits
        expected = torch.load(path + "/expected.pt", weights_only=True)
        assert torch.equal(logits, expected), (logits - expected).abs().max()
        print("IDENTICAL")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert "IDENTICAL" in result.stdout, result.stderr[-3000:]


def test_auto_classes_work_without_remote_code_after_import(tiny, tmp_path):
    from transformers import AutoModel, AutoModelForCausalLM, AutoProcessor

    model, processor = tiny
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    assert type(AutoModel.from_pretrained(tmp_path)) is MolTCForConditionalGeneration
    assert type(AutoModelForCausalLM.from_pretrained(tmp_path)) is MolTCForConditionalGeneration
    assert type(AutoProcessor.from_pretrained(tmp_path)).__name__ == "MolTCProcessor"


def test_galactica_1_3b_shape_has_1_3b_llm_parameters():
    config = build_config(load_model_spec("galactica-1.3b"), build_tokenizer())
    with torch.device("meta"):
        model = MolTCForConditionalGeneration(config)
    llm_params = sum(p.numel() for p in model.model.language_model.parameters())
    print(f"galactica-1.3b LLM parameters: {llm_params / 1e9:.4f}B")
    assert abs(llm_params - 1.3e9) / 1.3e9 < 0.02
    assert model.lm_head.weight is model.model.language_model.get_input_embeddings().weight


def test_untied_projectors_route_by_role_and_survive_reload(tiny, tmp_path):
    model, processor = tiny
    model.eval()
    graphs, roles = processor.featurize_molecules([(ASPIRIN, WARFARIN), (IBUPROFEN, CAFFEINE)])
    with torch.no_grad():
        tied_features = model.get_molecule_features(graphs, roles)
    model.untie_projectors()
    assert model.config.projector_sharing == "untied" and len(model.mol_connector.projectors) == 2
    with torch.no_grad():
        untied_features = model.get_molecule_features(graphs, roles)
        assert torch.equal(tied_features, untied_features), "untying must start from the shared weights"
        model.mol_connector.projectors[1].language_projection.weight.add_(0.5)
        perturbed = model.get_molecule_features(graphs, roles)
    is_a = roles == 0
    assert torch.equal(perturbed[is_a], untied_features[is_a]), "molecule-A tokens changed with projector B"
    assert not torch.allclose(perturbed[~is_a], untied_features[~is_a]), (
        "molecule-B tokens ignored projector B"
    )

    model.save_pretrained(tmp_path)
    reloaded = MolTCForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert reloaded.config.projector_sharing == "untied" and len(reloaded.mol_connector.projectors) == 2
    with torch.no_grad():
        assert torch.equal(reloaded.get_molecule_features(graphs, roles), perturbed)


def test_untie_twice_is_an_error(tiny):
    model, _ = tiny
    model.untie_projectors()
    with pytest.raises(ValueError, match="already untied"):
        model.untie_projectors()


def test_generate_greedy_and_beams_on_a_batch_of_two(tiny):
    model, processor = tiny
    model.eval()
    rows = _rows()
    batch = MolTCDataCollator(processor, padding_side="left", include_target=False)(rows)
    prompt_length = batch["input_ids"].shape[1]
    greedy = model.generate(**batch, max_new_tokens=6, do_sample=False)
    assert greedy.shape[0] == 2 and greedy.shape[1] > prompt_length
    beams = model.generate(**batch, max_new_tokens=6, num_beams=3, num_return_sequences=3, do_sample=False)
    assert beams.shape[0] == 6
    texts = processor.batch_decode(beams[:, prompt_length:], skip_special_tokens=True)
    assert len(texts) == 6 and all(isinstance(t, str) for t in texts)
    # beam 0 of each sample equals the best beam with num_return_sequences=1: per-sample graphs were repeated
    best = model.generate(**batch, max_new_tokens=6, num_beams=3, do_sample=False)
    assert torch.equal(best[0], beams[0]) and torch.equal(best[1], beams[3])


def test_placeholder_molecule_mismatch_is_a_clear_value_error(tiny):
    model, processor = tiny
    prompt = pair_prompt(ASPIRIN, WARFARIN, DDI_QUESTION)
    batch = processor(text=[prompt], molecules=[(ASPIRIN, WARFARIN)])
    graphs_one, roles_one = processor.featurize_molecules([(ASPIRIN,)])
    with pytest.raises(ValueError, match=r"16 `<mol>` placeholder tokens .* but 1 molecules"):
        model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            graphs=graphs_one,
            mol_roles=roles_one,
        )
    with pytest.raises(ValueError, match="no `graphs` were given"):
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    with pytest.raises(ValueError, match="Row 0: the prompt has 2 `<mol>` slots but 1 molecules"):
        processor(text=[prompt], molecules=[(ASPIRIN,)])


def test_same_seed_builds_identical_weights():
    first, _ = build_model("tiny", seed=3)
    second, _ = build_model("tiny", seed=3)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name
