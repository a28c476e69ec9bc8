"""Padding-free training: packed rows give the padded batch's loss and logits; the recipe key trains through TRL."""

from __future__ import annotations

import pickle
from pathlib import Path

import datasets
import pandas as pd
import pytest
import torch

from conftest import tiny_lora_recipe
from moltc_hf import MolTCDataCollator, build_model
from moltc_hf.collator import IGNORE_INDEX
from moltc_hf.tasks.registry import get_task
from moltc_hf.training import Recipe, build_trainer, prepare_stage_model
from moltc_hf.training.trainer import drop_invalid_rows


def chchminer_rows(raw_dir: Path, count: int = 6) -> list[dict]:
    """Real ChChMiner pairs (both labels), so row lengths differ as they do in training."""
    frame = pd.read_csv(raw_dir / "ChChMiner" / "ChChMiner_train.csv").sample(n=count, random_state=0)
    spec = get_task("ddi_binary")
    return [
        {
            "task": "ddi_binary",
            "smiles_a": r["smiles_1"],
            "smiles_b": r["smiles_2"],
            "prompt": spec.prompt(r["smiles_1"], r["smiles_2"]),
            "target": spec.target(float(i % 2)),
            "source_row": int(index),
        }
        for i, (index, r) in enumerate(frame.iterrows())
    ]


def _model_inputs(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if k != "loss_weights"}


def test_packed_layout_restarts_positions_and_keeps_the_label_tokens(tiny, raw_dir):
    _, processor = tiny
    rows = chchminer_rows(raw_dir)
    padded = MolTCDataCollator(processor, decision_weight=4.0)(rows)
    packed = MolTCDataCollator(processor, decision_weight=4.0, padding_free=True)(rows)
    lengths = padded["attention_mask"].sum(1)
    assert len(set(lengths.tolist())) > 1  # the rows really differ in length
    assert "attention_mask" not in packed
    assert packed["input_ids"].shape == (1, int(lengths.sum()))
    starts = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)])
    assert packed["cu_seq_lens_q"].tolist() == starts.tolist()
    assert packed["max_length_q"] == int(lengths.max())
    position_ids = packed["position_ids"][0]
    for row, (start, stop) in enumerate(zip(starts[:-1], starts[1:])):
        assert position_ids[start:stop].tolist() == list(range(stop - start))
        assert (
            packed["input_ids"][0, start:stop].tolist() == padded["input_ids"][row, : stop - start].tolist()
        )
        assert packed["labels"][0, start] == IGNORE_INDEX  # never predicted from the previous row
    # The same label tokens and weights, in the same order: the padded loss's numerator and denominator.
    keep = padded["labels"] != IGNORE_INDEX
    assert packed["labels"][packed["labels"] != IGNORE_INDEX].tolist() == padded["labels"][keep].tolist()
    assert packed["loss_weights"].sum() == padded["loss_weights"].sum()
    assert torch.equal(packed["mol_roles"], padded["mol_roles"])
    with pytest.raises(ValueError, match="prompt-only"):
        MolTCDataCollator(processor, include_target=False, padding_free=True)


def test_bins_hold_every_row_once_within_the_longest_row(tiny, raw_dir):
    _, processor = tiny
    rows = chchminer_rows(raw_dir, count=10)
    padded = MolTCDataCollator(processor)(rows)
    binned = MolTCDataCollator(processor, padding_free=True, pack_length="longest")(rows)
    lengths = padded["attention_mask"].sum(1)
    assert binned["input_ids"].shape[1] == int(lengths.max())
    assert binned["input_ids"].numel() < padded["input_ids"].numel()  # fewer tokens than the padded batch
    # Every row appears once, as a block starting at position 0; the tails are label-free pad blocks.
    keep = binned["labels"] != IGNORE_INDEX
    assert sorted(binned["labels"][keep].tolist()) == sorted(
        padded["labels"][padded["labels"] != IGNORE_INDEX].tolist()
    )
    starts = (binned["position_ids"] == 0).sum()
    pads = (binned["input_ids"] == processor.tokenizer.pad_token_id).any(1).sum()
    assert int(starts) == len(rows) + int(pads)


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_packed_loss_and_logits_equal_the_padded_batch(raw_dir, attn_implementation):
    """One packed sequence: per-row logits equal the padded batch's (the block mask keeps rows apart)."""
    model, processor = build_model("tiny", seed=0)
    model.untie_projectors()  # role routing of the molecules must survive the packing too
    model.set_attn_implementation(attn_implementation)
    model.eval()
    rows = chchminer_rows(raw_dir)
    padded = MolTCDataCollator(processor)(rows)
    packed = MolTCDataCollator(processor, padding_free=True)(rows)
    with torch.no_grad():
        reference = model(**padded)
        output = model(**packed)
        # Per-row positions under a plain causal mask: rows would see their predecessors, so the block mask matters.
        ones = torch.ones_like(packed["input_ids"])
        leaky = model(**{**packed, "attention_mask": ones}).logits
    assert torch.allclose(output.loss, reference.loss, atol=1e-5), (output.loss, reference.loss)
    offset = 0
    for row, length in enumerate(padded["attention_mask"].sum(1).tolist()):
        torch.testing.assert_close(
            output.logits[0, offset : offset + length], reference.logits[row, :length], atol=1e-5, rtol=1e-5
        )
        offset += length
    assert not torch.allclose(leaky[0, -10:], output.logits[0, -10:], atol=1e-3)


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_binned_loss_equals_the_padded_batch(raw_dir, attn_implementation):
    model, processor = build_model("tiny", seed=0)
    model.untie_projectors()
    model.set_attn_implementation(attn_implementation)
    model.eval()
    rows = chchminer_rows(raw_dir, count=10)
    padded = MolTCDataCollator(processor, decision_weight=3.0)(rows)
    binned = MolTCDataCollator(processor, decision_weight=3.0, padding_free=True, pack_length="longest")(rows)
    assert binned["input_ids"].shape[0] > 1
    with torch.no_grad():
        reference = model(**_model_inputs(padded))
        output = model(**_model_inputs(binned))
    assert torch.allclose(output.loss, reference.loss, atol=1e-5), (output.loss, reference.loss)

    # Per-token losses as a multiset: the same answer tokens get the same log-probabilities.
    def token_losses(out, batch):
        targets = batch["labels"][:, 1:]
        losses = torch.nn.functional.cross_entropy(
            out.logits[:, :-1].transpose(1, 2), targets.clamp(min=0), reduction="none"
        )
        keep = targets != IGNORE_INDEX
        return losses[keep].sort().values, (batch["loss_weights"][:, 1:][keep]).sum()

    (a, wa), (b, wb) = token_losses(output, binned), token_losses(reference, padded)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert wa == wb


def test_weighted_loss_is_the_same_packed(raw_dir, tmp_path):
    model, processor = build_model("tiny", seed=0)
    model.eval()
    rows = chchminer_rows(raw_dir)
    recipe = Recipe.from_dict(
        {
            "name": "t",
            "stage": "finetune",
            "dataset_config": "x",
            "decision_weight": 10.0,
            "padding_free": True,
        }
    )
    trainer = build_trainer(recipe, model, processor, datasets.Dataset.from_list(rows), tmp_path)
    assert trainer.data_collator.padding_free and trainer.data_collator.pack_length == "longest"  # sdpa
    padded = MolTCDataCollator(processor, decision_weight=10.0)(rows)
    packed = trainer.data_collator(rows)
    with torch.no_grad():  # (compute_loss pops labels and weights from the dict it gets: copies)
        packed_loss = trainer.compute_loss(model, dict(packed))
        padded_loss = trainer.compute_loss(model, dict(padded))
        packed_plain = model(**_model_inputs(packed)).loss
        padded_plain = model(**_model_inputs(padded)).loss
    assert torch.allclose(packed_loss, padded_loss, atol=1e-5)
    assert torch.allclose(packed_plain, padded_plain, atol=1e-5)
    assert not torch.allclose(packed_loss, packed_plain)


def _train(rows, tmp_path: Path, **recipe_keys) -> list[float]:
    training = recipe_keys.pop("training", {})
    model, processor = build_model("tiny", seed=0)
    dataset, _ = drop_invalid_rows(datasets.Dataset.from_list(rows), processor, "train")
    recipe = tiny_lora_recipe("pf", 3, training, **recipe_keys)
    prepare_stage_model(model, recipe)
    trainer = build_trainer(recipe, model, processor, dataset, tmp_path)
    trainer.train()
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


@pytest.mark.slow
def test_padding_free_recipe_trains_like_the_padded_one(raw_dir, tmp_path):
    """Three LoRA steps through `build_trainer` (TRL's own loss): the same losses packed as padded, within
    float noise, and the same again with collation in two DataLoader worker processes."""
    rows = chchminer_rows(raw_dir, count=12)
    padded = _train(rows, tmp_path / "padded")
    packed = _train(rows, tmp_path / "packed", padding_free=True)
    workers = _train(rows, tmp_path / "workers", padding_free=True, training={"dataloader_num_workers": 2})
    assert len(packed) == 3 and all(torch.isfinite(torch.tensor(packed)))
    assert packed == pytest.approx(padded, abs=1e-4)
    assert workers == pytest.approx(packed, abs=1e-6)


def test_collator_pickles_for_spawned_workers(tiny, raw_dir):
    _, processor = tiny
    rows = chchminer_rows(raw_dir, count=3)
    collator = MolTCDataCollator(processor, padding_free=True)
    collator(rows)  # warm the featurizer cache: it travels with the collator
    clone = pickle.loads(pickle.dumps(collator))
    assert len(clone.processor.featurizer) == len(processor.featurizer) > 0
    a, b = collator(rows), clone(rows)
    assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["graphs"].x, b["graphs"].x)


def test_padding_free_recipe_key_is_checked():
    with pytest.raises(ValueError, match="padding_free: expected true or false"):
        Recipe.from_dict({"name": "t", "stage": "finetune", "dataset_config": "x", "padding_free": "yes"})
    with pytest.raises(ValueError, match="top level"):
        Recipe.from_dict(
            {"name": "t", "stage": "finetune", "dataset_config": "x", "training": {"padding_free": True}}
        )


def test_dataloader_settings_pin_only_on_cuda(tmp_path):
    from moltc_hf.training.trainer import build_sft_config

    recipe = Recipe.from_dict(
        {"name": "t", "stage": "finetune", "dataset_config": "x", "training": {"dataloader_num_workers": 2}}
    )
    args = build_sft_config(recipe, tmp_path)
    assert args.dataloader_num_workers == 2 and args.dataloader_persistent_workers
    assert args.dataloader_pin_memory == torch.cuda.is_available()


def test_pack_length_follows_the_attention_kernel(tiny):
    from moltc_hf.training.trainer import pack_length_for

    model, _ = tiny
    assert pack_length_for(model) == "longest"  # sdpa: bins, the dense block mask stays small
    model.config.get_text_config()._attn_implementation = "flash_attention_2"
    assert pack_length_for(model) is None  # varlen kernels: one sequence
