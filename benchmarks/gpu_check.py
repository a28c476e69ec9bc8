"""One short GPU check: bf16 SFTTrainer steps of MolTC vs the same LLM on text alone, padded vs padding-free.

Per shape (``--shapes``, default galactica-1.3b; random init from hub_configs, no download),
four runs through the same `moltc_hf.training.build_trainer` as `moltc train` (projectors untied, the
fine-tuning LoRA), each on a fresh model and the same fixed in-memory set of real drug SMILES pairs:
  * ``moltc``      the MolTC step (GIN + Q-Former + LLM)
  * ``text-only``  the same PEFT model and tokens, ``<mol>`` placeholders swapped for a plain token and no
                   graphs: the LLM with the same LoRA alone; ``vs text`` = MolTC s/step / text-only s/step
each ``padded`` (recipe default) and ``padding-free`` (recipe key ``padding_free: true``; with
``--attn-implementation flash_attention_2`` rows are packed into one varlen sequence, with sdpa into bins),
for each set of speed levers in ``--levers`` (`moltc_hf.training.speed`; ``all`` = every set below):
  * ``default``      the recipe defaults (sdpa_backends auto, frozen LLM in bf16, no compile)
  * ``off``          every lever off: torch's SDPA choice (cuDNN on Hopper), fp32 frozen weights (the routing's
                     host-sync removal in `modeling_moltc` has no switch: it is in every row)
  * ``cudnn``        the defaults but torch's SDPA choice;  ``fp32-frozen``  the defaults but fp32 frozen weights
  * ``compiled``     the defaults + ``compile_graph_path``;  ``pad64``  the defaults + ``pad_to_multiple_of: 64``
Reports s/step, tokens/s, MFU and peak memory per run, then (``--beams`` > 0) a beam-search generate(), then
(``--screen-library`` > 0) screening: one query against that many drugs with the cached molecule features, the
path of ``moltc predict``, in the inference dtype (``--screen-dtype``, auto: bf16 on CUDA), pairs/s.

MFU formulas (tokens = non-padding tokens per step, N = all parameters, N_t = trainable parameters):
  * ``mfu_6n``  = 6 * N * tokens / s_per_step / peak  (the usual dense-training estimate; overstates LoRA work)
  * ``mfu_lora`` = (4 * N + 2 * N_t) * tokens / s_per_step / peak  (forward 2N + input-gradient 2N; weight
    gradients only for trainable weights). Neither counts activation-checkpointing recomputation.
peak = 989e12 FLOP/s (H100/H200 SXM bf16 dense) unless ``--peak-tflops`` says otherwise.

    python benchmarks/gpu_check.py                                        # on the GPU machine
    python benchmarks/gpu_check.py --levers all --shapes galactica-1.3b   # with and without each lever
    python benchmarks/gpu_check.py --dry-run                              # CPU dry run of the same code (CI)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from datasets import Dataset
from transformers import TrainerCallback

from moltc_hf import MolTCDataCollator, build_model
from moltc_hf.inference.predict import MoleculeFeatureCache, inference_dtype, iter_predictions
from moltc_hf.tasks import templates
from moltc_hf.training import Recipe, build_trainer, merged_model, prepare_stage_model

# Recipe keys per lever set (`moltc_hf.training.speed`); ``default`` is the recipe's own defaults.
LEVER_SETS = {
    "default": {},
    "off": {"sdpa_backends": "all", "frozen_weights_dtype": "float32", "compile_graph_path": False},
    "cudnn": {"sdpa_backends": "all"},
    "fp32-frozen": {"frozen_weights_dtype": "float32"},
    "compiled": {"compile_graph_path": True},
    "pad64": {"pad_to_multiple_of": 64},
}
ROOT = Path(__file__).resolve().parents[1]
# DrugBank's drugs for the screening rows: the shared data beside the checkout, or inside it
DRUG_SMILES = [
    where / "shared/data/raw/DrugBank-DDI/ssi-ddi/drug_smiles.csv" for where in (ROOT.parent, ROOT)
]

# Real molecules (approved drugs + solvents), so the graphs have realistic sizes.
SMILES = [
    "CC(=O)Oc1ccccc1C(=O)O",
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "CC(=O)Nc1ccc(O)cc1",
    "OC(=O)c1ccccc1O",
    "CN(C)C(=N)NC(=N)N",
    "CCOC(=O)C1=C(COCCN)NC(C)=C(C1c1ccccc1Cl)C(=O)OC",
    "COc1ccc2[nH]c(nc2c1)S(=O)Cc1ncc(C)c(OC)c1C",
    "CC12CCC3C(CCC4=CC(=O)CCC34C)C1CCC2O",
    "O=C(O)CC(O)(CC(=O)O)C(=O)O",
    "c1ccc2c(c1)ccc1ccccc12",
    "ClC(Cl)Cl",
    "CCO",
    "O",
    "CCCCCCCC",
    "c1ccncc1",
]


def rows(count: int) -> list[dict]:
    generator = torch.Generator().manual_seed(0)
    pairs = torch.randint(len(SMILES), (count, 2), generator=generator).tolist()
    return [
        {
            "smiles_a": SMILES[i],
            "smiles_b": SMILES[j],
            "prompt": templates.pair_prompt(SMILES[i], SMILES[j], templates.DDI_QUESTION),
            "target": templates.binary_ddi_target((i + j) % 2 == 0),
            "source_row": k,
        }
        for k, (i, j) in enumerate(pairs)
    ]


class StepTimer(TrainerCallback):
    """Wall time of each optimizer step, synchronised so GPU work is inside the step it belongs to."""

    def __init__(self):
        self.times: list[float] = []
        self._start = 0.0

    def _sync(self):
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def on_step_begin(self, args, state, control, **kwargs):
        self._sync()
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self._sync()
        self.times.append(time.perf_counter() - self._start)


class TextOnlyCollator:
    """The MolTC collator's batch with the ``<mol>`` placeholders replaced by a plain token and no graphs."""

    def __init__(self, collator, filler_id: int):
        self.collator, self.filler_id = collator, filler_id

    def __call__(self, rows):
        batch = dict(self.collator(rows))
        mol_id = self.collator.processor.mol_token_id
        batch["input_ids"] = batch["input_ids"].masked_fill(batch["input_ids"] == mol_id, self.filler_id)
        batch.pop("graphs")
        batch.pop("mol_roles")
        return batch


def run_one(
    args, shape: str, variant: str, padding_free: bool, data: Dataset, bf16: bool, levers: str
) -> dict:
    model, processor = build_model(shape, seed=0)
    if args.attn_implementation:
        model.set_attn_implementation(args.attn_implementation)
    recipe = Recipe(
        name="gpu-check",
        stage="finetune",
        model=shape,
        dataset_config="in-memory",
        untie_projectors=True,
        lora={"r": 8, "lora_alpha": 32, "lora_dropout": 0.1},
        max_length=512,
        bf16=bf16,
        gradient_checkpointing=args.gradient_checkpointing,
        padding_free=padding_free,
        **LEVER_SETS[levers],
        training={
            "per_device_train_batch_size": args.batch_size,
            "max_steps": args.warmup + args.steps,
            "warmup_steps": 1,
            "save_strategy": "no",
            "logging_steps": 1,
            "disable_tqdm": True,
            "use_cpu": args.device == "cpu",
            "dataloader_num_workers": args.workers,
        },
    )
    prepare_stage_model(model, recipe)
    n_total = sum(p.numel() for p in model.parameters())  # before PEFT adds its modules_to_save copies
    timer = StepTimer()
    scratch = Path(args.output_dir or tempfile.mkdtemp(prefix="moltc_gpu_check_"))
    trainer = build_trainer(
        recipe,
        model,
        processor,
        data,
        scratch / f"{shape}-{levers}-{variant}-{padding_free}",
        callbacks=[timer],
    )
    if variant == "text-only":
        trainer.data_collator = TextOnlyCollator(
            trainer.data_collator, processor.tokenizer.convert_tokens_to_ids("C")
        )
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    padded = MolTCDataCollator(processor, max_length=recipe.max_length)
    # The sampler shuffles rows, so tokens per step is the mean over all batches of the (fixed) data.
    chunks = [[data[j] for j in range(i, i + args.batch_size)] for i in range(0, len(data), args.batch_size)]
    tokens_per_step = sum(int(padded(chunk)["attention_mask"].sum()) for chunk in chunks) / len(chunks)
    timed = timer.times[args.warmup :]
    s_per_step = sum(timed) / len(timed)
    n_trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    peak = args.peak_tflops * 1e12
    result = {
        "shape": shape,
        "levers": levers,
        "variant": variant,
        "layout": "padding-free" if padding_free else "padded",
        "tokens_per_step": tokens_per_step,
        "params_total": n_total,
        "params_trainable": n_trainable,
        "s_per_step": s_per_step,
        "tokens_per_s": tokens_per_step / s_per_step,
        "mfu_6n": 6 * n_total * tokens_per_step / s_per_step / peak,
        "mfu_lora": (4 * n_total + 2 * n_trainable) * tokens_per_step / s_per_step / peak,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
        "losses": [e["loss"] for e in trainer.state.log_history if "loss" in e],
    }
    return result, trainer, processor


def generate_check(args, trainer, processor, data: Dataset, bf16: bool) -> dict:
    generator = merged_model(trainer).eval()
    batch = MolTCDataCollator(processor, include_target=False, padding_side="left")(
        list(data.select(range(4)))
    )
    batch = {k: (v.to(generator.device) if hasattr(v, "to") else v) for k, v in batch.items()}
    start = time.perf_counter()
    with torch.no_grad(), torch.autocast(args.device, dtype=torch.bfloat16, enabled=bf16):
        generated = generator.generate(
            **batch, num_beams=args.beams, max_new_tokens=args.max_new_tokens, do_sample=False
        )
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return {
        "generate_beams": args.beams,
        "generate_new_tokens": int(generated.shape[1] - batch["input_ids"].shape[1]),
        "generate_s": time.perf_counter() - start,
    }


def host_sync_check() -> dict:
    """Host syncs in one training-mode forward (tiny shape, untied projectors, CUDA), counted with
    `torch.cuda.set_sync_debug_mode`: the molecule path alone (routing, GIN, Q-Former, which should have none) and
    the whole forward (the language model's mask code adds its own)."""
    import warnings

    model, processor = build_model("tiny", seed=0, device="cuda")
    model.untie_projectors()
    model.train()
    batch = MolTCDataCollator(processor)(rows(8))
    graphs = batch.pop("graphs").pin_memory()  # as a CUDA DataLoader hands it over
    batch = {k: (v.to("cuda") if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
    calls = {
        "molecule_path": lambda: model.get_molecule_features(graphs, batch["mol_roles"]),
        "forward": lambda: model(**batch, graphs=graphs).loss,
    }
    counts = {}
    for name, call in calls.items():
        call()  # warm-up
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                call()
            finally:
                torch.cuda.set_sync_debug_mode(0)
        counts[f"host_syncs_{name}"] = sum("synchroniz" in str(w.message) for w in caught)
    return counts


def screening_library(count: int, processor) -> list[str]:
    """``count`` distinct valid molecules: DrugBank's drugs where the shared data is at hand, else the benchmark's
    molecules with alkyl chains of growing length attached (so a fresh clone on a bare GPU machine runs too)."""
    drugs: list[str] = []
    found = next((path for path in DRUG_SMILES if path.is_file()), None)
    if found is not None:
        import pandas as pd

        drugs = list(pd.read_csv(found)["smiles"].dropna())
    chain = "C"
    drugs += [f"{chain * n}{base}{chain * m}" for n in range(50) for m in range(50) for base in SMILES]
    library = []
    for smiles in dict.fromkeys(drugs):
        try:
            processor.featurizer(smiles)
        except ValueError:
            continue
        library.append(smiles)
        if len(library) == count:
            break
    return library


def screening_check(args, shape: str) -> dict:
    """One query drug against ``--screen-library`` drugs, scored like ``moltc predict`` (cached molecule features,
    shared prefix), in the inference dtype; warm-up on the first batch, then the whole library timed."""
    device = args.device
    dtype = inference_dtype(args.screen_dtype, device)
    model, processor = build_model(shape, seed=0, dtype=dtype, device=device)
    model.eval()
    library = screening_library(args.screen_library, processor)
    query = SMILES[0]
    rows = [{"smiles_a": query, "smiles_b": drug} for drug in library]
    for _ in iter_predictions(model, processor, rows[: args.screen_batch_size], "ddi_binary", cache=False):
        pass  # warm-up (kernels, allocator)
    cache = MoleculeFeatureCache(model, processor)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    predicted = 0
    for batch, _ in iter_predictions(
        model, processor, rows, "ddi_binary", batch_size=args.screen_batch_size, cache=cache
    ):
        predicted += len(batch)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {
        "shape": shape,
        "dtype": str(dtype).removeprefix("torch."),
        "pairs": predicted,
        "batch_size": args.screen_batch_size,
        "seconds": seconds,
        "pairs_per_s": predicted / seconds,
    }


def main() -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--shapes",
        "--shape",
        "--config",
        nargs="+",
        default=["galactica-1.3b"],
        help="hub_configs/models names",
    )
    parser.add_argument("--steps", type=int, default=10, help="timed steps (after --warmup)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--attn-implementation", default=None, help="e.g. flash_attention_2 (default: sdpa)")
    parser.add_argument(
        "--workers", type=int, default=2, help="dataloader_num_workers (collation off the main process)"
    )
    parser.add_argument(
        "--variants", nargs="+", default=["moltc", "text-only"], choices=["moltc", "text-only"]
    )
    parser.add_argument(
        "--layouts", nargs="+", default=["padded", "padding-free"], choices=["padded", "padding-free"]
    )
    parser.add_argument(
        "--no-bf16", action="store_true", help="fp32 (the CPU smoke test uses fp32 by default)"
    )
    parser.add_argument("--beams", type=int, default=5, help="beam-search check after the first run; 0: none")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument(
        "--output-dir", default=None, help="trainer scratch folder (default: a temporary one)"
    )
    parser.add_argument(
        "--levers",
        nargs="+",
        default=["default", "off"],
        choices=[*LEVER_SETS, "all"],
        help="lever sets to run",
    )
    parser.add_argument(
        "--screen-library", type=int, default=1000, help="screening: drugs per query (0: none)"
    )
    parser.add_argument("--screen-batch-size", type=int, default=256)
    parser.add_argument("--screen-dtype", default="auto", choices=["auto", "bfloat16", "float32"])
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="CPU, tiny shape, 1+1 steps of batch 4, a 16-drug screen: the whole script in ~a minute (CI)",
    )
    args = parser.parse_args()
    if args.dry_run:
        args.device, args.shapes, args.steps, args.warmup, args.batch_size = "cpu", ["tiny"], 1, 1, 4
        args.workers, args.beams, args.max_new_tokens = 0, 2, 4
        args.screen_library, args.screen_batch_size = min(args.screen_library, 16), 8
    if "all" in args.levers:
        args.levers = list(LEVER_SETS)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda but torch sees no CUDA device")
    if args.device == "cpu":
        torch.set_num_threads(1)
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    bf16 = args.device == "cuda" and not args.no_bf16
    data = Dataset.from_list(rows(args.batch_size * (args.warmup + args.steps)))

    results, extra = [], {}
    for shape in args.shapes:
        for levers in args.levers:
            for layout in args.layouts:
                for variant in args.variants:
                    if variant == "text-only" and levers not in ("default", "off"):
                        continue  # the text-only baseline of the other sets is the default's
                    result, trainer, processor = run_one(
                        args, shape, variant, layout == "padding-free", data, bf16, levers
                    )
                    results.append(result)
                    print(json.dumps({k: v for k, v in result.items() if k != "losses"}), flush=True)
                    if args.beams and not extra and variant == "moltc":
                        extra = generate_check(args, trainer, processor, data, bf16)
                    del trainer
                    if torch.cuda.is_available():
                        torch.cuda.empty_cache()
    if args.device == "cuda":
        extra.update(host_sync_check())
    screening = [screening_check(args, shape) for shape in args.shapes[:1] if args.screen_library > 0]
    for row in screening:
        print(json.dumps(row), flush=True)

    device = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(
        f"\n{device}, bf16 {bf16}, batch {args.batch_size}, {args.steps} timed steps, attention "
        f"{args.attn_implementation or 'sdpa'}, activation checkpointing {args.gradient_checkpointing}"
    )
    header = f"{'shape':<16}{'levers':<13}{'layout':<14}{'variant':<11}{'s/step':>8}{'tokens/s':>10}{'mfu_6n':>8}{'mfu_lora':>9}{'peak GiB':>9}{'vs text':>8}{'vs padded':>10}"
    print(header)
    for r in results:
        text = next(
            (
                x
                for x in results
                if x["shape"] == r["shape"]
                and x["layout"] == r["layout"]
                and x["variant"] == "text-only"
                and x["levers"] == (r["levers"] if r["levers"] == "off" else "default")
            ),
            None,
        )
        pad = next(
            (
                x
                for x in results
                if x["shape"] == r["shape"]
                and x["variant"] == r["variant"]
                and x["levers"] == r["levers"]
                and x["layout"] == "padded"
            ),
            None,
        )
        memory = f"{r['peak_memory_gib']:.1f}" if r["peak_memory_gib"] is not None else "-"
        print(
            f"{r['shape']:<16}{r['levers']:<13}{r['layout']:<14}{r['variant']:<11}{r['s_per_step']:>8.3f}{r['tokens_per_s']:>10.0f}"
            f"{r['mfu_6n']:>8.1%}{r['mfu_lora']:>9.1%}{memory:>9}"
            f"{(r['s_per_step'] / text['s_per_step'] if text else float('nan')):>8.2f}"
            f"{(pad['s_per_step'] / r['s_per_step'] if pad else float('nan')):>9.2f}x"
        )
    if extra:
        print(extra)
    for row in screening:
        print(
            f"screening {row['shape']} {row['dtype']}: 1 query x {row['pairs']} drugs, batch {row['batch_size']}: "
            f"{row['pairs_per_s']:.0f} pairs/s"
        )
    import moltc_hf

    summary = {
        "package": str(
            Path(moltc_hf.__file__).resolve().parent
        ),  # (which tree ran: a clone's src/ or an install)
        "device": device,
        "bf16": bf16,
        "batch_size": args.batch_size,
        "runs": results,
        "screening": screening,
        **extra,
    }
    if os.environ.get("OUT"):
        Path(os.environ["OUT"]).mkdir(parents=True, exist_ok=True)
        Path(os.environ["OUT"], "gpu_check.json").write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
