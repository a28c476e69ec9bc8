"""Training MolTC with the standard Hugging Face trainers, outside the `moltc` CLI (issue 15), offline and tiny.

A plain `transformers.Trainer` or TRL `SFTTrainer` with `MolTCDataCollator` must give a model that, saved and
reloaded, stops where its answers end -- not at the ``</s>`` separators inside description targets -- and the
docs/training.md `SFTTrainer` snippet must run as written.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from datasets import Dataset, load_dataset

from moltc_hf import MolTCDataCollator
from moltc_hf.inference.scoring import tokenize_candidates
from moltc_hf.tasks import templates
from moltc_hf.training import sft_config_for_moltc

TRAINING_DOC = Path(__file__).resolve().parents[2] / "docs" / "training.md"
PAIR = ("CCO", "c1ccccc1O")
# A chain-of-thought target (short descriptions, so a tiny model memorises it in a few dozen steps): three
# `</s>` separators before the answer, like pretrain, DrugBank-type and `--cot` targets.
CANDIDATES = [templates.DDI_NEGATIVE, templates.DDI_POSITIVE]
COT_TARGET = templates.description_pair_target("small.", "big.", templates.DDI_POSITIVE)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    from moltc_hf.instructions import build_dataset

    out = tmp_path_factory.mktemp("data") / "mot"
    build_dataset("embedded", out, limit=30, pretrain_pairs=10, progress=False)
    return out


def _control_ids(processor) -> set[int]:
    tokenizer = processor.tokenizer
    return {tokenizer.eos_token_id, tokenizer.bos_token_id, tokenizer.pad_token_id}


def test_answers_never_hold_the_tokenizers_eos_bos_or_pad(tiny, dataset_dir):
    """Pretrain targets (and any `</s>` in a target or a scored candidate) are text, never the eos id."""
    _, processor = tiny
    rows = list(load_dataset(str(dataset_dir), "pretrain")["train"])[:4]
    assert all("</s>" in row["completion"] and row["completion"] == row["target"] for row in rows)
    batch = MolTCDataCollator(processor)(rows)
    answer = batch["labels"][batch["labels"] != -100].tolist()
    assert not set(answer) & _control_ids(processor)
    # ... while the prompt's `</s>` is still the token the original model reads there.
    assert processor.tokenizer.eos_token_id in batch["input_ids"][0].tolist()
    assert processor.tokenizer.decode(processor.encode_answer(COT_TARGET)) == COT_TARGET
    # Candidate scoring tokenizes a CoT prefix + candidate exactly as the collator tokenizes that target.
    prompt = templates.pair_prompt(*PAIR, templates.DDI_QUESTION)
    prefix = templates.description_pair_target("small.", "big.", "")
    context, continuations = tokenize_candidates(processor, prompt, CANDIDATES, prefix)
    row = {"prompt": prompt, "completion": COT_TARGET, "smiles_a": PAIR[0], "smiles_b": PAIR[1]}
    labels = MolTCDataCollator(processor)([row])["labels"][0]
    assert (context + continuations[1])[len(processor.encode_prompt(prompt)) :] == labels[
        labels != -100
    ].tolist()


def _trainer(kind: str, model, processor, dataset: Dataset, output_dir: Path):
    """A stock trainer, configured as its docs say, with only our collator (and processor) plugged in."""
    from transformers import Trainer, TrainingArguments
    from trl import SFTTrainer

    common = dict(
        max_steps=40,
        learning_rate=1e-2,
        lr_scheduler_type="constant",
        per_device_train_batch_size=2,
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
    )
    collator = MolTCDataCollator(processor)
    if kind == "trainer":
        args = TrainingArguments(str(output_dir), remove_unused_columns=False, use_cpu=True, **common)
        return Trainer(
            model, args=args, train_dataset=dataset, data_collator=collator, processing_class=processor
        )
    args = sft_config_for_moltc(output_dir, **common)
    return SFTTrainer(
        model, args=args, train_dataset=dataset, data_collator=collator, processing_class=processor
    )


@pytest.mark.parametrize("kind", ["trainer", "sft_trainer"])
def test_stock_trainer_saves_a_model_that_stops_at_the_answer_end(kind, tiny, tmp_path):
    """Trainer aligns eos to ``</s>`` (``[2, answer end]``); saved and reloaded, generation writes the whole CoT
    answer through its separators and stops on the answer end."""
    from transformers import AutoModelForCausalLM, AutoProcessor

    model, processor = tiny
    prompt = templates.pair_prompt(*PAIR, templates.DDI_QUESTION)
    row = {"prompt": prompt, "completion": COT_TARGET, "smiles_a": PAIR[0], "smiles_b": PAIR[1]}
    torch.manual_seed(0)
    trainer = _trainer(kind, model, processor, Dataset.from_list([row] * 8), tmp_path / "run")
    trainer.train()
    trainer.save_model(str(tmp_path / "saved"))

    saved = AutoModelForCausalLM.from_pretrained(tmp_path / "saved").eval()
    saved_processor = AutoProcessor.from_pretrained(tmp_path / "saved")
    assert saved.generation_config.eos_token_id == saved_processor.answer_end_token_id
    inputs = saved_processor(text=[prompt], molecules=[PAIR])
    with torch.inference_mode():
        output = saved.generate(**inputs, max_new_tokens=80, do_sample=False)  # the saved generation config
    new = output[0, inputs["input_ids"].shape[1] :].tolist()
    assert new[-1] == saved_processor.answer_end_token_id and not set(new) & _control_ids(saved_processor)
    # Past the separators (a model trained on `</s>` as eos stops after one token), into the answer sentence.
    text = saved_processor.tokenizer.decode(new[:-1])
    assert text.count("</s>") >= 3 and "exhibit drug-drug interaction." in text, text


def test_sft_config_for_moltc_sets_what_molTC_needs_and_refuses_the_opposite(tmp_path):
    args = sft_config_for_moltc(tmp_path, learning_rate=1e-4, per_device_train_batch_size=3)
    assert (args.learning_rate, args.per_device_train_batch_size) == (1e-4, 3)
    assert args.remove_unused_columns is False and args.dataset_kwargs == {"skip_prepare_dataset": True}
    if not torch.cuda.is_available():
        assert args.use_cpu and not args.bf16 and not args.gradient_checkpointing
    with pytest.raises(ValueError, match="remove_unused_columns=False"):
        sft_config_for_moltc(tmp_path, remove_unused_columns=True)


@pytest.mark.slow
def test_readme_sft_snippet_runs_as_written(dataset_dir, tmp_path):
    """The docs/training.md plain-`SFTTrainer` snippet, byte for byte, with ``data/mot`` = a built dataset."""
    text = TRAINING_DOC.read_text()
    snippet = re.search(r"<!-- sft-snippet -->\n```python\n(.*?)```", text, re.DOTALL).group(1)
    assert "SFTTrainer(" in snippet and "sft_config_for_moltc(" in snippet
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mot").symlink_to(dataset_dir)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", snippet], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    final = tmp_path / "runs" / "sft" / "final"
    from transformers import AutoModelForCausalLM, AutoProcessor

    model = AutoModelForCausalLM.from_pretrained(final)
    assert model.generation_config.eos_token_id == AutoProcessor.from_pretrained(final).answer_end_token_id


def test_converted_original_checkpoints_keep_their_eos_separators(tiny, tmp_path):
    """The original MolTC learnt ``</s>`` in targets as eos: a processor saying so (conversion sets it) scores
    CoT prefixes that way, and the setting survives save/load."""
    from transformers import AutoProcessor

    _, processor = tiny
    processor.answer_control_tokens_as_text = False
    processor.save_pretrained(tmp_path)
    reloaded = AutoProcessor.from_pretrained(tmp_path)
    assert reloaded.answer_control_tokens_as_text is False
    assert reloaded.encode_answer(COT_TARGET) == reloaded.encode_text(COT_TARGET)
    assert reloaded.tokenizer.eos_token_id in reloaded.encode_answer(COT_TARGET)
