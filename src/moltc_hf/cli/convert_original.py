"""`moltc convert-original`: an original MolTC/MolCA Lightning checkpoint -> an Auto-loadable folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", required=True, help="original .ckpt (state_dict with blip2opt.* keys)"
    )
    parser.add_argument("--out", required=True, help="output folder (save_pretrained layout)")
    parser.add_argument(
        "--model-config",
        default="galactica-1.3b",
        help="hub_configs/models name or JSON the checkpoint was trained with",
    )
    parser.add_argument(
        "--tokenizer",
        default=None,
        help="tokenizer of the checkpoint's vocabulary (Galactica folder/id); default: moltc's",
    )
    parser.add_argument(
        "--peft-dir", default=None, help="the original run's PEFT adapter folder (lora_epoch_N)"
    )
    parser.add_argument(
        "--base-model", default=None, help="causal LM folder/id for LLM weights absent from the ckpt"
    )
    parser.add_argument("--lora-r", type=int, default=None, help="LoRA rank of in-checkpoint LoRA keys")
    parser.add_argument(
        "--lora-alpha", type=float, default=None, help="LoRA alpha of in-checkpoint LoRA keys"
    )
    parser.add_argument(
        "--peft-config",
        default=None,
        help="the original run's --peft_config JSON (lora_config.json), if it had one: its r / lora_alpha "
        "set the in-checkpoint LoRA scale (the hyper-parameters then hold unused defaults)",
    )


def run(args: argparse.Namespace) -> int:
    tokenizer = None
    if args.tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    # A refused checkpoint (CheckpointConversionError, a ValueError) becomes `moltc convert-original: error: ...`
    # with exit code 2 in the `moltc` entry point, like every other command's bad input.
    from ..conversion import convert_original_checkpoint  # (torch: not for `--help`)

    model, processor, report = convert_original_checkpoint(
        args.checkpoint,
        model_config=args.model_config,
        tokenizer=tokenizer,
        peft_dir=args.peft_dir,
        base_model=args.base_model,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        peft_config=args.peft_config,
    )
    out = Path(args.out)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "conversion_report.json").write_text(json.dumps(report.__dict__, indent=1))
    print(report.summary())
    print(f"saved to {out} (report: {out / 'conversion_report.json'})")
    return 0
