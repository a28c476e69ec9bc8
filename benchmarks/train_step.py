"""Training-step cost of MolTC vs the same LLM on text alone (CPU, fp32), with the fine-tuning LoRA setup.

Variants: ``moltc`` = the fine-tuning layout (untied projectors, LoRA r=8 on q/v, GIN + connector trained);
``tied projector`` = the same with one shared projector; ``Q-Former 256x2`` = untied with a small Q-Former.
``params_M`` counts the PEFT model's parameters, including the frozen originals of `modules_to_save`.

One step = forward + backward + AdamW step on a collated batch of real FreeSolv rows (batch 8). The
text-only baseline runs the *same* PEFT model on the *same* tokens with the ``<mol>`` placeholders replaced by
an ordinary token, so only the graph path (GIN + Q-Former + projector) differs. Variants are timed in
interleaved rounds (one step of each per round) and the median per variant is reported.

Padding-free table: the same fine-tuning model (untied, LoRA) on batches of real DrugBank (type sentence
targets, without the description CoT) and ChChMiner (binary) rows, padded to the batch's longest row vs packed
into one sequence (recipe key ``padding_free``; flash attention's layout) and into bins of the longest row
(what `build_trainer` uses with sdpa / eager), interleaved; ``tokens/s`` counts real (non-padding) tokens,
``pad %`` is the padded batch's share of padding, ``loss diff`` the two layouts' loss difference (dropout on).

    python benchmarks/train_step.py                      # tiny + galactica-125m shapes, both tables
    python benchmarks/train_step.py --shapes tiny --rounds 5
    python benchmarks/train_step.py --tables padding-free --batch-size 16
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from peft import get_peft_model

from moltc_hf import MolTCDataCollator, build_model, moltc_lora_config
from moltc_hf.factory import load_model_spec
from moltc_hf.tasks import templates

RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw"
SMALL_QFORMER = {
    "hidden_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 1024,
}


def ddi_rows(source: str, count: int) -> list[dict]:
    """``count`` real DDI pairs: DrugBank (fold-0 train, type sentence) or ChChMiner (train, yes/no)."""
    from moltc_hf.instructions.readers import drugbank_type_sentences

    if source == "drugbank":
        smiles = pd.read_csv(RAW / "DrugBank-DDI" / "ssi-ddi" / "drug_smiles.csv").set_index("drug_id")[
            "smiles"
        ]
        frame = pd.read_csv(RAW / "DrugBank-DDI" / "drugbank_train_fold0.reconstructed.csv")
        frame = frame.sample(n=count, random_state=0)
        types = drugbank_type_sentences(RAW)
        pairs = [
            (smiles[a], smiles[b], types[int(t)]) for a, b, t in zip(frame["d1"], frame["d2"], frame["type"])
        ]
    else:
        frame = pd.read_csv(RAW / "ChChMiner" / "ChChMiner_train.csv").sample(n=count, random_state=0)
        pairs = [
            (a, b, templates.binary_ddi_target(bool(y)))
            for a, b, y in zip(frame["smiles_1"], frame["smiles_2"], frame["label"])
        ]
    return [
        {
            "smiles_a": a,
            "smiles_b": b,
            "prompt": templates.pair_prompt(a, b, templates.DDI_QUESTION),
            "target": t,
        }
        for a, b, t in pairs
    ]


def freesolv_rows(count: int) -> list[dict]:
    frame = pd.read_csv(RAW / "FreeSolv" / "FreeSolv.csv").sample(n=count, random_state=0)
    return [
        {
            "smiles_a": r["0"],
            "smiles_b": r["1"],
            "prompt": templates.pair_prompt(r["0"], r["1"], templates.SOLVATION_QUESTION),
            "target": templates.solvation_target(float(r["dGsolv_avg"])),
        }
        for _, r in frame.iterrows()
    ]


def build_variant(shape: str, qformer: dict | None, workdir: Path, untie: bool = True):
    """The fine-tuning setup: untied projectors + the paper's LoRA, optionally with another Q-Former size.

    ``untie=False`` keeps one shared projector (the pretraining layout): same FLOPs, but half the trainable
    Q-Former weights and one Q-Former call on all molecules instead of two half-size calls.
    """
    name_or_path = shape
    if qformer is not None:
        spec = load_model_spec(shape)
        spec["qformer_config"] = {**spec["qformer_config"], **qformer}
        name_or_path = workdir / f"{shape}-small-qformer.json"
        name_or_path.write_text(json.dumps(spec))
    model, processor = build_model(name_or_path, seed=0)
    if untie:
        model.untie_projectors()
    model = get_peft_model(model, moltc_lora_config()).train()
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.05
    )
    return model, processor, optimizer


def text_only(batch: dict, processor) -> dict:
    """Same tokens and labels, placeholders swapped for a plain token: the LLM alone does the work."""
    filler = processor.tokenizer.convert_tokens_to_ids("C")
    input_ids = batch["input_ids"].masked_fill(batch["input_ids"] == processor.mol_token_id, filler)
    return {"input_ids": input_ids, "attention_mask": batch["attention_mask"], "labels": batch["labels"]}


def pad_to(batch: dict, length: int, pad_id: int) -> dict:
    """Right-pad to a fixed length (masked, no loss) so every shape is timed at the same sequence length."""
    extra = length - batch["input_ids"].shape[1]
    if extra <= 0:
        return batch
    widths = {"input_ids": pad_id, "attention_mask": 0, "labels": -100}
    padded = {k: torch.nn.functional.pad(batch[k], (0, extra), value=v) for k, v in widths.items()}
    return {**batch, **padded}


def step(model, optimizer, inputs: dict) -> float:
    start = time.perf_counter()
    model(**inputs).loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def bench_shape(shape: str, rows: list[dict], rounds: int, small_qformer: bool, seq_len: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        variants = {
            "text-only": build_variant(shape, None, Path(tmp)),
            "moltc": build_variant(shape, None, Path(tmp)),
            "moltc, tied projector": build_variant(shape, None, Path(tmp), untie=False),
        }
        if small_qformer:
            variants["moltc, Q-Former 256x2"] = build_variant(shape, SMALL_QFORMER, Path(tmp))
    batches = {}
    for name, (_model, processor, _) in variants.items():
        batch = pad_to(
            MolTCDataCollator(processor, max_length=seq_len)(rows), seq_len, processor.tokenizer.pad_token_id
        )
        batches[name] = text_only(batch, processor) if name == "text-only" else batch
    times: dict[str, list[float]] = {name: [] for name in variants}
    # Warm-up: allocator, autograd graph, optimizer state.
    for name, (model, _, optimizer) in variants.items():
        step(model, optimizer, batches[name])
    for _ in range(rounds):
        for name, (model, _, optimizer) in variants.items():
            times[name].append(step(model, optimizer, batches[name]))
    base = statistics.median(times["text-only"])
    out = []
    for name, values in times.items():
        seconds = statistics.median(values)
        model = variants[name][0]
        out.append(
            {
                "shape": shape,
                "variant": name,
                "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
                "seq": batches[name]["input_ids"].shape[1],
                "s/step": seconds,
                "samples/s": len(rows) / seconds,
                "vs text-only": seconds / base,
            }
        )
    return out


def bench_padding_free(shape: str, batch_size: int, rounds: int) -> list[dict]:
    """Padded vs padding-free steps of one model on the same rows, interleaved (median s/step)."""
    with tempfile.TemporaryDirectory() as tmp:
        model, processor, optimizer = build_variant(shape, None, Path(tmp))
    out = []
    for source in ("drugbank", "chchminer"):
        rows = ddi_rows(source, batch_size)
        padded = MolTCDataCollator(processor, max_length=512)(rows)
        packed = MolTCDataCollator(processor, max_length=512, padding_free=True)(rows)
        binned = MolTCDataCollator(processor, max_length=512, padding_free=True, pack_length="longest")(rows)
        batches = {"padded": padded, "padding-free, 1 seq": packed, "padding-free, bins": binned}
        tokens = int(padded["attention_mask"].sum())
        assert tokens == packed["input_ids"].shape[1]
        loss_diff = {}
        with torch.no_grad():
            model.eval()
            for name, batch in batches.items():
                loss_diff[name] = abs(float(model(**batch).loss - model(**padded).loss))
            model.train()
        times: dict[str, list[float]] = {name: [] for name in batches}
        for batch in batches.values():  # warm-up
            step(model, optimizer, batch)
        for _ in range(rounds):
            for name, batch in batches.items():
                times[name].append(step(model, optimizer, batch))
        base = statistics.median(times["padded"])
        for name, values in times.items():
            seconds = statistics.median(values)
            out.append(
                {
                    "shape": shape,
                    "rows": source,
                    "layout": name,
                    "tokens": tokens,
                    "shape [B, T]": "x".join(map(str, batches[name]["input_ids"].shape)),
                    "pad %": 100 * (1 - tokens / batches[name]["input_ids"].numel()),
                    "s/step": seconds,
                    "tokens/s": tokens / seconds,
                    "x padded": base / seconds,
                    "loss diff (eval)": loss_diff[name],
                }
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shapes", nargs="+", default=["tiny", "galactica-125m"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=160, help="pad (masked) or cut batches to this length")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="1 is the stable choice on a shared CPU")
    parser.add_argument(
        "--tables", nargs="+", default=["variants", "padding-free"], choices=["variants", "padding-free"]
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    header = f"batch {args.batch_size}, fp32 CPU, {args.threads} thread(s), median of {args.rounds} interleaved rounds"
    if "variants" in args.tables:
        rows = freesolv_rows(args.batch_size)
        results = []
        for shape in args.shapes:
            results += bench_shape(
                shape, rows, args.rounds, small_qformer=shape != "tiny", seq_len=args.seq_len
            )
        print(header)
        print(pd.DataFrame(results).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if "padding-free" in args.tables:
        results = []
        for shape in args.shapes:
            results += bench_padding_free(shape, args.batch_size, args.rounds)
        print(f"\nPadded vs padding-free, real DDI rows, {header}")
        print(pd.DataFrame(results).to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
