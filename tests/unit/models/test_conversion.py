"""Original MolTC checkpoint conversion, on tiny state dicts named exactly like the original modules.

The fake checkpoint is built from the original code's structure (`model/blip2_opt.py`, `model/gin_model.py`,
LAVIS `Qformer.py`, OPTForCausalLM wrapped by PEFT), not by inverting our mapping, so a wrong rename fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from moltc_hf import build_model
from moltc_hf.cli import main as cli_main
from moltc_hf.conversion import (
    CheckpointConversionError,
    convert_original_checkpoint,
    load_graphcl_weights,
    load_torch_checkpoint,
)
from moltc_hf.tasks import templates

GIN_LAYERS, GIN_WIDTH = 2, 32  # hub_configs/models/tiny.json
Q_LAYERS, Q_WIDTH, Q_FFN, CROSS_FREQ, NUM_QUERY = 2, 32, 64, 1, 8
LM_LAYERS, LM_WIDTH, LM_FFN, MAX_POS = 2, 64, 128, 512
LORA_R = 4
PROMPT = templates.pair_prompt("CCO", "c1ccccc1O", templates.DDI_QUESTION)


def _gin_state(gen: torch.Generator, width: int = GIN_WIDTH) -> dict[str, torch.Tensor]:
    """pretrain-gnns `GNN` state dict (the GraphCL file layout)."""
    state = {
        "x_embedding1.weight": torch.randn(120, width, generator=gen),
        "x_embedding2.weight": torch.randn(3, width, generator=gen),
    }
    for i in range(GIN_LAYERS):
        state |= {
            f"gnns.{i}.mlp.0.weight": torch.randn(2 * width, width, generator=gen),
            f"gnns.{i}.mlp.0.bias": torch.randn(2 * width, generator=gen),
            f"gnns.{i}.mlp.2.weight": torch.randn(width, 2 * width, generator=gen),
            f"gnns.{i}.mlp.2.bias": torch.randn(width, generator=gen),
            f"gnns.{i}.edge_embedding1.weight": torch.randn(6, width, generator=gen),
            f"gnns.{i}.edge_embedding2.weight": torch.randn(3, width, generator=gen),
            f"batch_norms.{i}.weight": torch.rand(width, generator=gen) + 0.5,
            f"batch_norms.{i}.bias": torch.randn(width, generator=gen),
            f"batch_norms.{i}.running_mean": torch.randn(width, generator=gen),
            f"batch_norms.{i}.running_var": torch.rand(width, generator=gen) + 0.5,
            f"batch_norms.{i}.num_batches_tracked": torch.tensor(7),
        }
    return state


def _linear(gen, prefix, out_dim, in_dim):
    return {
        f"{prefix}.weight": torch.randn(out_dim, in_dim, generator=gen) * 0.1,
        f"{prefix}.bias": torch.randn(out_dim, generator=gen) * 0.1,
    }


def _norm(gen, prefix, dim):
    return {
        f"{prefix}.weight": 1 + 0.1 * torch.randn(dim, generator=gen),
        f"{prefix}.bias": 0.1 * torch.randn(dim, generator=gen),
    }


def original_state_dict(vocab_size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A Lightning `Blip2Stage2.state_dict()` of a LoRA run at tiny size, with the original key names."""
    gen = torch.Generator().manual_seed(seed)
    state = {f"blip2opt.graph_encoder.{k}": v for k, v in _gin_state(gen).items()}
    state |= _norm(gen, "blip2opt.ln_graph", GIN_WIDTH)
    state["blip2opt.query_tokens"] = torch.randn(1, NUM_QUERY, Q_WIDTH, generator=gen)
    bert = "blip2opt.Qformer.bert"
    state |= _norm(gen, f"{bert}.embeddings.LayerNorm", Q_WIDTH)
    state[f"{bert}.embeddings.position_ids"] = torch.arange(MAX_POS).unsqueeze(
        0
    )  # persistent buffer in LAVIS
    for i in range(Q_LAYERS):
        layer = f"{bert}.encoder.layer.{i}"
        blocks = ["attention"] + (["crossattention"] if i % CROSS_FREQ == 0 else [])
        for block in blocks:
            kv_in = GIN_WIDTH if block == "crossattention" else Q_WIDTH  # LAVIS: encoder_width for cross k/v
            state |= _linear(gen, f"{layer}.{block}.self.query", Q_WIDTH, Q_WIDTH)
            state |= _linear(gen, f"{layer}.{block}.self.key", Q_WIDTH, kv_in)
            state |= _linear(gen, f"{layer}.{block}.self.value", Q_WIDTH, kv_in)
            state |= _linear(gen, f"{layer}.{block}.output.dense", Q_WIDTH, Q_WIDTH)
            state |= _norm(gen, f"{layer}.{block}.output.LayerNorm", Q_WIDTH)
        state |= _linear(gen, f"{layer}.intermediate_query.dense", Q_FFN, Q_WIDTH)
        state |= _linear(gen, f"{layer}.output_query.dense", Q_WIDTH, Q_FFN)
        state |= _norm(gen, f"{layer}.output_query.LayerNorm", Q_WIDTH)
    state |= _linear(gen, "blip2opt.opt_proj", LM_WIDTH, Q_WIDTH)
    opt = "blip2opt.opt_model.base_model.model"  # PeftModel(OPTForCausalLM)
    embed = torch.randn(vocab_size, LM_WIDTH, generator=gen) * 0.1
    state[f"{opt}.model.decoder.embed_tokens.weight"] = embed
    state[f"{opt}.model.decoder.embed_positions.weight"] = (
        torch.randn(MAX_POS + 2, LM_WIDTH, generator=gen) * 0.1
    )
    state |= _norm(gen, f"{opt}.model.decoder.final_layer_norm", LM_WIDTH)
    for i in range(LM_LAYERS):
        layer = f"{opt}.model.decoder.layers.{i}"
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            state |= _linear(gen, f"{layer}.self_attn.{proj}", LM_WIDTH, LM_WIDTH)
            if proj in ("q_proj", "v_proj"):
                state[f"{layer}.self_attn.{proj}.lora_A.default.weight"] = (
                    torch.randn(LORA_R, LM_WIDTH, generator=gen) * 0.1
                )
                state[f"{layer}.self_attn.{proj}.lora_B.default.weight"] = (
                    torch.randn(LM_WIDTH, LORA_R, generator=gen) * 0.1
                )
        state |= _norm(gen, f"{layer}.self_attn_layer_norm", LM_WIDTH)
        state |= _linear(gen, f"{layer}.fc1", LM_FFN, LM_WIDTH)
        state |= _linear(gen, f"{layer}.fc2", LM_WIDTH, LM_FFN)
        state |= _norm(gen, f"{layer}.final_layer_norm", LM_WIDTH)
    state[f"{opt}.lm_head.weight"] = embed
    return state


@pytest.fixture(scope="module")
def vocab_size() -> int:
    return build_model("tiny")[0].config.text_config.vocab_size


@pytest.fixture(scope="module")
def original_ckpt(tmp_path_factory, vocab_size):
    """Saved like Lightning: state_dict + pickled argparse hyper-parameters (LoRA r=4, alpha=16 -> scaling 4)."""
    path = tmp_path_factory.mktemp("orig") / "last.ckpt"
    hparams = argparse.Namespace(lora_r=LORA_R, lora_alpha=16, opt_model="facebook/galactica-1.3b")
    torch.save(
        {
            "epoch": 9,
            "global_step": 100,
            "state_dict": original_state_dict(vocab_size),
            "hyper_parameters": hparams,
        },
        path,
    )
    return path


def test_weights_only_load_keeps_hyperparameters_inert(original_ckpt):
    checkpoint = load_torch_checkpoint(original_ckpt)
    assert checkpoint["hyper_parameters"]["lora_alpha"] == 16
    assert (
        type(checkpoint["hyper_parameters"]).__module__ == "moltc_hf.conversion"
    )  # a stand-in, not argparse


def test_convert_maps_every_key_and_merges_lora(original_ckpt, vocab_size):
    model, _, report = convert_original_checkpoint(original_ckpt, model_config="tiny")
    original = load_torch_checkpoint(original_ckpt)["state_dict"]
    assert report.unmatched == []
    assert report.missing == []
    assert report.ignored == ["Qformer.bert.embeddings.position_ids"]
    assert len(report.merged_lora) == 2 * LM_LAYERS
    ours = model.state_dict()
    torch.testing.assert_close(
        ours["model.graph_encoder.gnns.1.mlp.2.weight"],
        original["blip2opt.graph_encoder.gnns.1.mlp.2.weight"],
    )
    torch.testing.assert_close(ours["model.graph_encoder.layernorm.bias"], original["blip2opt.ln_graph.bias"])
    q = "model.mol_connector.projectors.0"
    torch.testing.assert_close(ours[f"{q}.query_tokens"], original["blip2opt.query_tokens"])
    torch.testing.assert_close(
        ours[f"{q}.qformer.layernorm.weight"], original["blip2opt.Qformer.bert.embeddings.LayerNorm.weight"]
    )
    torch.testing.assert_close(
        ours[f"{q}.qformer.encoder.layer.1.crossattention.attention.key.weight"],
        original["blip2opt.Qformer.bert.encoder.layer.1.crossattention.self.key.weight"],
    )
    torch.testing.assert_close(ours[f"{q}.language_projection.weight"], original["blip2opt.opt_proj.weight"])
    base = "blip2opt.opt_model.base_model.model.model.decoder.layers.0.self_attn.v_proj"
    expected = (
        original[f"{base}.weight"]
        + 4.0 * original[f"{base}.lora_B.default.weight"] @ original[f"{base}.lora_A.default.weight"]
    )
    torch.testing.assert_close(
        ours["model.language_model.decoder.layers.0.self_attn.v_proj.weight"], expected
    )
    torch.testing.assert_close(
        ours["model.language_model.decoder.layers.0.self_attn.k_proj.weight"],
        original["blip2opt.opt_model.base_model.model.model.decoder.layers.0.self_attn.k_proj.weight"],
    )
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    assert model.config.graph_config.self_loop_bond_type == 0
    assert all(layer.self_loop_bond_type == 0 for layer in model.model.graph_encoder.gnns)


def test_shape_mismatch_is_refused_with_the_key(tmp_path, vocab_size):
    state = original_state_dict(vocab_size)
    state["blip2opt.opt_proj.weight"] = torch.zeros(LM_WIDTH + 1, Q_WIDTH)
    path = tmp_path / "bad.ckpt"
    torch.save({"state_dict": state}, path)
    with pytest.raises(
        CheckpointConversionError,
        match=r"language_projection\.weight: checkpoint \(65, 32\) vs model \(64, 32\)",
    ):
        convert_original_checkpoint(path, model_config="tiny")


def test_unknown_checkpoint_is_refused(tmp_path):
    path = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"encoder.weight": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointConversionError, match="does not look like a MolTC"):
        convert_original_checkpoint(path, model_config="tiny")


def test_unmatched_keys_are_reported(tmp_path, vocab_size):
    state = original_state_dict(vocab_size)
    state["blip2opt.extra_head.weight"] = torch.zeros(3)
    path = tmp_path / "extra.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": {"lora_r": LORA_R, "lora_alpha": 16}}, path)
    _, _, report = convert_original_checkpoint(path, model_config="tiny")
    assert report.unmatched == ["extra_head.weight"]


@pytest.mark.slow
def test_round_trip_cli_convert_then_fresh_process_autoload(tmp_path, original_ckpt):
    """convert -> save -> AutoModel.from_pretrained in a process that never imported moltc_hf -> same logits."""
    out = tmp_path / "converted"
    assert (
        cli_main(
            [
                "convert-original",
                "--checkpoint",
                str(original_ckpt),
                "--out",
                str(out),
                "--model-config",
                "tiny",
            ]
        )
        == 0
    )
    assert json.loads((out / "conversion_report.json").read_text())["unmatched"] == []
    model, processor, _ = convert_original_checkpoint(original_ckpt, model_config="tiny")
    inputs = processor(text=[PROMPT], molecules=[("CCO", "c1ccccc1O")])
    script = textwrap.dedent(f"""
        import sys, torch
        from transformers import AutoModel, AutoProcessor
        from safetensors.torch import save_file
        torch.set_num_threads(1)
        model = AutoModel.from_pretrained({str(out)!r}, trust_remote_code=True).eval()
        processor = AutoProcessor.from_pretrained({str(out)!r}, trust_remote_code=True)
        assert "moltc_hf" not in sys.modules, "loaded through the installed package, not the shipped code"
        inputs = processor(text=[{PROMPT!r}], molecules=[("CCO", "c1ccccc1O")])
        with torch.no_grad():
            logits = model(**inputs).logits
        save_file({{"logits": logits.contiguous(), "input_ids": inputs["input_ids"]}}, {str(tmp_path / "fresh.safetensors")!r})
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, timeout=120)
    fresh = load_file(tmp_path / "fresh.safetensors")
    assert torch.equal(fresh["input_ids"], inputs["input_ids"])
    with torch.no_grad():
        direct = model(**inputs).logits
    torch.testing.assert_close(fresh["logits"], direct, rtol=1e-5, atol=1e-5)


def test_graphcl_weights_load_into_the_gin(tmp_path):
    model, _ = build_model("tiny")
    state = _gin_state(torch.Generator().manual_seed(3))
    path = tmp_path / "graphcl_80.pth"
    torch.save(state, path)
    report = load_graphcl_weights(model, path)
    assert report.unmatched == []
    assert report.missing == ["layernorm.bias", "layernorm.weight"]
    encoder_state = model.model.graph_encoder.state_dict()
    for key, value in state.items():
        torch.testing.assert_close(encoder_state[key], value)

    wrong = tmp_path / "graphcl_wide.pth"
    torch.save(_gin_state(torch.Generator().manual_seed(3), width=300), wrong)
    with pytest.raises(
        CheckpointConversionError, match=r"x_embedding1\.weight: file \(120, 300\) vs model \(120, 32\)"
    ):
        load_graphcl_weights(model, wrong)


def test_lora_run_checkpoint_with_base_llm_and_peft_adapter_folder(tmp_path, vocab_size):
    """A LoRA run's .ckpt has no `opt_model.*` keys (Lightning drops them); its adapter is a PEFT folder.

    The adapter is written by real PEFT (`save_pretrained(safe_serialization=False)`, i.e. `adapter_model.bin`),
    and the expected LLM is PEFT's own `merge_and_unload()` of the same base weights.
    """
    from peft import LoraConfig, get_peft_model
    from transformers import OPTConfig, OPTForCausalLM

    text_config = build_model("tiny")[0].config.text_config.to_dict()
    torch.manual_seed(5)
    base = OPTForCausalLM(OPTConfig(**{k: v for k, v in text_config.items() if k != "model_type"}))
    base.save_pretrained(tmp_path / "galactica-tiny")
    lora = LoraConfig(r=LORA_R, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft_model = get_peft_model(base, lora)
    peft_model.save_pretrained(tmp_path / "lora_epoch_99", safe_serialization=False)
    merged = peft_model.merge_and_unload().model.state_dict()

    state = {
        k: v for k, v in original_state_dict(vocab_size).items() if not k.startswith("blip2opt.opt_model.")
    }
    torch.save({"state_dict": state}, tmp_path / "epoch=99.ckpt")
    model, _, report = convert_original_checkpoint(
        tmp_path / "epoch=99.ckpt",
        model_config="tiny",
        base_model=tmp_path / "galactica-tiny",
        peft_dir=tmp_path / "lora_epoch_99",
    )
    assert len(report.merged_lora) == 2 * LM_LAYERS and report.unmatched == [] and report.notes == []
    ours = model.model.language_model.state_dict()
    for key in (
        "decoder.layers.1.self_attn.q_proj.weight",
        "decoder.layers.0.fc1.weight",
        "decoder.embed_tokens.weight",
    ):
        torch.testing.assert_close(ours[key], merged[key])
    torch.testing.assert_close(model.model.graph_encoder.layernorm.weight, state["blip2opt.ln_graph.weight"])

    _, _, bare = convert_original_checkpoint(tmp_path / "epoch=99.ckpt", model_config="tiny")
    assert "no LLM weights" in bare.notes[0]
