"""MolTCProcessor and MolTCDataCollator: prompt layout, placeholders, labels, truncation, routing, round trips."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import torch

from conftest import fresh_python, save_tiny_model
from moltc_hf import InvalidMoleculeError, MolTCDataCollator, MolTCProcessor
from moltc_hf.collator import IGNORE_INDEX
from moltc_hf.tasks.templates import DDI_QUESTION, SOLVATION_QUESTION, pair_prompt, solvation_target
from moltc_hf.tokenization_moltc import build_tokenizer


@pytest.fixture(scope="module")
def freesolv_rows(raw_dir) -> list[dict]:
    frame = pd.read_csv(raw_dir / "FreeSolv" / "FreeSolv.csv").head(6)
    return [
        {
            "prompt": pair_prompt(row["0"], row["1"], SOLVATION_QUESTION),
            "target": solvation_target(float(row["dGsolv_avg"])),
            "smiles_a": row["0"],
            "smiles_b": row["1"],
            "source_row": int(index),
        }
        for index, row in frame.iterrows()
    ]


def test_prompt_layout_matches_the_paper(tiny):
    _, processor = tiny
    prompt = pair_prompt("CCO", "O", DDI_QUESTION)
    assert prompt == (
        "</s> [START_I_SMILES]CCO[END_I_SMILES]<mol>.  </s> </s>[START_I_SMILES]O[END_I_SMILES]<mol>.  </s> . "
        "What are the side effects of these two drugs?"
    )
    tokens = processor.tokenizer.convert_ids_to_tokens(processor.encode_prompt(prompt))
    start = tokens.index("[START_I_SMILES]")
    assert tokens[start + 1 : start + 4] == ["C", "C", "O"], "one SMILES character per token"
    assert tokens[start + 4] == "[END_I_SMILES]"
    assert tokens[start + 5 : start + 13] == ["<mol>"] * 8 and tokens[start + 13] != "<mol>"
    assert tokens.count("<mol>") == 16 and tokens.count("</s>") == 4


def test_smiles_text_is_cut_at_128_characters_but_the_graph_keeps_everything(tiny):
    _, processor = tiny
    long_chain = "C" * 200
    prompt = pair_prompt(long_chain, "O", SOLVATION_QUESTION)
    assert "C" * 129 not in prompt and "C" * 128 in prompt
    batch = processor(text=prompt, molecules=(long_chain, "O"))
    assert batch["graphs"][0].num_nodes == 200


def test_smiles_characters_split_with_any_tokenizer():
    # a tokenizer trained on SMILES merges "CC" / "O)" into multi-character tokens in plain text...
    tokenizer = build_tokenizer(corpus=["CCCCOCCC(=O)O CC(=O)OCC " * 20], vocab_size=300)
    processor = MolTCProcessor(tokenizer=tokenizer)
    assert len(tokenizer("CC(=O)O", add_special_tokens=False)["input_ids"]) < 7
    # ...but inside the SMILES tags the processor still gives one token per character
    ids = processor.encode_text("[START_I_SMILES]CC(=O)O[END_I_SMILES]")
    assert len(ids) == 2 + 7


def test_processor_adds_missing_special_tokens_to_a_plain_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({"<unk>": 0, "</s>": 1, "hello": 2}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="</s>", unk_token="<unk>")
    processor = MolTCProcessor(tokenizer=tokenizer, num_query_tokens=4)
    vocab = processor.tokenizer.get_vocab()
    assert {"<mol>", "[START_I_SMILES]", "[END_I_SMILES]"} <= set(vocab)
    assert processor.tokenizer.pad_token == "</s>"
    assert processor.encode_prompt("hello <mol>").count(processor.mol_token_id) == 4


def test_collator_labels_placeholders_and_padding(tiny, freesolv_rows):
    _, processor = tiny
    collator = MolTCDataCollator(processor)
    batch = collator(freesolv_rows)
    num_query = processor.num_query_tokens
    assert int((batch["input_ids"] == processor.mol_token_id).sum()) == 2 * len(freesolv_rows) * num_query
    assert batch["graphs"].num_graphs == 2 * len(freesolv_rows)
    assert batch["mol_roles"].tolist() == [0, 1] * len(freesolv_rows)
    for index, row in enumerate(freesolv_rows):
        prompt_len = len(processor.encode_prompt(row["prompt"]))
        target = processor.encode_text(row["target"]) + [processor.answer_end_token_id]
        labels = batch["labels"][index]
        length = int(batch["attention_mask"][index].sum())
        assert (labels[:prompt_len] == IGNORE_INDEX).all(), "prompt must be masked"
        assert labels[prompt_len:length].tolist() == target, "labels are exactly the target + answer end"
        assert (labels[length:] == IGNORE_INDEX).all(), "padding must be masked"
        assert (batch["input_ids"][index, length:] == processor.tokenizer.pad_token_id).all()
    decoded = processor.tokenizer.decode(batch["labels"][0][batch["labels"][0] != IGNORE_INDEX])
    assert decoded.startswith("The solvation Gibbs free energy") and decoded.endswith(";\n")


def test_left_padding_for_generation(tiny, freesolv_rows):
    _, processor = tiny
    batch = MolTCDataCollator(processor, padding_side="left", include_target=False)(freesolv_rows)
    assert "labels" not in batch
    assert batch["attention_mask"][:, -1].all(), "left padding: every row ends with a real token"
    lengths = batch["attention_mask"].sum(1)
    assert lengths.min() < lengths.max()


def test_truncation_never_cuts_a_run_of_placeholders(tiny, freesolv_rows):
    _, processor = tiny
    row = freesolv_rows[0]
    prompt_ids = processor.encode_prompt(row["prompt"])
    last_mol = max(i for i, t in enumerate(prompt_ids) if t == processor.mol_token_id)
    for max_length in (5, last_mol - 3, last_mol + 1, len(prompt_ids) + 4):
        batch = MolTCDataCollator(processor, max_length=max_length)([row])
        ids = batch["input_ids"][0]
        assert int((ids == processor.mol_token_id).sum()) == 2 * processor.num_query_tokens
        assert len(ids) == max(max_length, last_mol + 1)
        kept_target = int((batch["labels"][0] != IGNORE_INDEX).sum())
        assert kept_target == max(0, len(ids) - len(prompt_ids))


def test_role_routing_in_untied_mode_uses_projector_per_molecule(tiny, freesolv_rows):
    model, processor = tiny
    model.untie_projectors()
    model.eval()
    batch = MolTCDataCollator(processor)(freesolv_rows[:2])
    roles = batch["mol_roles"]
    with torch.no_grad():
        features = model.get_molecule_features(batch["graphs"], roles)
        node_tokens, node_mask = model.graph_encoder(batch["graphs"].to("cpu"))
        for role, projector in enumerate(model.mol_connector.projectors):
            selected = roles == role
            assert torch.equal(features[selected], projector(node_tokens[selected], node_mask[selected]))


def test_bad_smiles_in_a_batch_names_row_and_field(tiny, freesolv_rows):
    _, processor = tiny
    rows = [dict(r) for r in freesolv_rows[:2]]
    rows[1]["smiles_b"] = "C1CC(("
    with pytest.raises(InvalidMoleculeError, match=r"row 1, field 'smiles_b'"):
        MolTCDataCollator(processor)(rows)
    with pytest.raises(KeyError, match="target"):
        MolTCDataCollator(processor)([{k: v for k, v in freesolv_rows[0].items() if k != "target"}])


@pytest.mark.slow
def test_processor_round_trip_in_fresh_process(tiny, tmp_path, freesolv_rows):
    _, processor = tiny
    processor.save_pretrained(tmp_path)
    row = freesolv_rows[0]
    expected = processor(text=row["prompt"], molecules=(row["smiles_a"], row["smiles_b"]))
    reloaded = MolTCProcessor.from_pretrained(tmp_path)
    again = reloaded(text=row["prompt"], molecules=(row["smiles_a"], row["smiles_b"]))
    assert torch.equal(expected["input_ids"], again["input_ids"])
    script = textwrap.dedent(
        f"""
        import sys
        from transformers import AutoProcessor
        processor = AutoProcessor.from_pretrained({str(tmp_path)!r}, trust_remote_code=True)
        assert "moltc_hf" not in sys.modules
        batch = processor(text={row["prompt"]!r}, molecules=({row["smiles_a"]!r}, {row["smiles_b"]!r}))
        print(batch["input_ids"][0].tolist())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert result.stdout.strip() == str(expected["input_ids"][0].tolist()), result.stderr[-2000:]


def test_tokenizer_training_is_deterministic():
    assert build_tokenizer().get_vocab() == build_tokenizer().get_vocab()


def test_graph_only_collation_drops_the_smiles_text_and_keeps_the_molecule_tokens(tiny):
    from moltc_hf import MolTCDataCollator
    from moltc_hf.tasks.registry import get_task
    from moltc_hf.tasks.templates import without_smiles_text

    _, processor = tiny
    spec = get_task("ddi_binary")
    row = {
        "task": "ddi_binary",
        "smiles_a": "CC(=O)Oc1ccccc1C(=O)O",
        "smiles_b": "CCO",
        "prompt": spec.prompt("CC(=O)Oc1ccccc1C(=O)O", "CCO"),
        "target": spec.target(1.0),
    }
    plain, graph_only = (
        MolTCDataCollator(processor)([row]),
        MolTCDataCollator(processor, graph_only=True)([row]),
    )
    masked = processor.encode_prompt(without_smiles_text(row["prompt"]))
    assert graph_only["input_ids"][0][: len(masked)].tolist() == masked
    assert graph_only["input_ids"].shape[1] < plain["input_ids"].shape[1]  # the SMILES text is gone ...
    mol = processor.mol_token_id
    assert (graph_only["input_ids"] == mol).sum() == (
        plain["input_ids"] == mol
    ).sum()  # ... the graphs are not
    assert graph_only["graphs"].num_graphs == 2
    # the answer (and its labels) is the same
    assert (
        graph_only["labels"][graph_only["labels"] != -100].tolist()
        == plain["labels"][plain["labels"] != -100].tolist()
    )
    assert (
        "CCO" not in without_smiles_text(row["prompt"])
        and without_smiles_text(row["prompt"]).count("<mol>") == 2
    )


def test_processor_options_follow_transformers_and_keep_moltc_defaults(tiny):
    """The processor merges its keywords as transformers processors do (`MolTCProcessorKwargs`), pads with
    `tokenizer.pad`, and keeps its own defaults whatever the tokenizer was saved with."""
    _, processor = tiny
    prompt = pair_prompt("CCO", "O", DDI_QUESTION)
    unpadded = processor(text=[prompt, prompt], molecules=[("CCO", "O")] * 2, padding=False)
    assert isinstance(unpadded["input_ids"], torch.Tensor) and unpadded["input_ids"].dtype == torch.long
    assert processor(text=[])["input_ids"].shape == (0, 0)
    # a tokenizer saved for training pads right: the processor (the inference entry point) still pads left
    processor.tokenizer.padding_side = processor.tokenizer.init_kwargs["padding_side"] = "right"
    batch = processor(text=[prompt, prompt + " Briefly."], common_kwargs={"return_tensors": "np"})
    assert batch["attention_mask"][:, -1].all() and not batch["attention_mask"][:, 0].all()
    assert batch["input_ids"].dtype == "int64"


def test_a_graph_only_processor_is_saved_as_such_and_prompts_without_smiles_text(tmp_path):
    """A model fine-tuned on graph-only prompts is asked the same way after loading, also as remote code."""
    from moltc_hf.tasks.registry import get_task
    from moltc_hf.tasks.templates import without_smiles_text

    folder = save_tiny_model(tmp_path / "model")
    processor = MolTCProcessor.from_pretrained(folder)
    prompt = get_task("ddi_binary").prompt("CC(=O)Oc1ccccc1C(=O)O", "CCO")
    assert not processor.graph_only_prompts
    full = processor.encode_prompt(prompt)
    processor.graph_only_prompts = True
    processor.save_pretrained(folder)
    stripped = processor.encode_prompt(without_smiles_text(prompt))
    assert processor.encode_prompt(prompt) == stripped != full
    assert MolTCProcessor.from_pretrained(folder).encode_prompt(prompt) == stripped
    remote = fresh_python(
        "import json, sys; from transformers import AutoProcessor; "
        "p = AutoProcessor.from_pretrained(sys.argv[1], trust_remote_code=True); "
        "print(json.dumps([type(p).__module__, p.graph_only_prompts, p.encode_prompt(sys.argv[2])]))",
        str(folder),
        prompt,
        cwd=tmp_path,
    )
    assert remote[0].startswith("transformers_modules") and remote[1] is True and remote[2] == stripped
