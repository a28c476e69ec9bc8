"""``moltc predict --model DIR --input FILE --output FILE [--task T] [--smiles-columns A B]``: screen pairs.

Streams the input in batches with a progress bar, encodes each unique molecule once, keeps the input's row
ids, and writes invalid rows to ``<output>.rejects.parquet`` with the reason. Finished parts survive a kill:
``--resume`` continues from them; the output appears (by rename) only when the run is complete. Run it under
``accelerate launch -m moltc_hf.cli predict ...`` to split the input across processes/GPUs.
"""

from __future__ import annotations

import argparse
import json

from ._checks import add_inference_arguments, device_name, input_file, load_model, output_file, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="saved model folder (or hub id)")
    parser.add_argument(
        "--input", required=True, help="CSV or parquet of pairs (SMILES columns: --smiles-columns)"
    )
    parser.add_argument(
        "--smiles-columns",
        nargs=2,
        metavar=("A", "B"),
        default=["smiles_a", "smiles_b"],
        help="the columns holding molecule A and molecule B (default: smiles_a smiles_b)",
    )
    parser.add_argument(
        "--output",
        required=True,
        help="predictions file; the format follows the suffix: .parquet, .csv or .jsonl "
        "(rejects go beside it as <name>.rejects.parquet)",
    )
    parser.add_argument(
        "--task",
        default=None,
        help="ddi_binary, ddi_type, solvation, ... (default: the task the model records it was trained on)",
    )
    parser.add_argument(
        "--allow-untrained-task",
        action="store_true",
        help="answer a --task the model records it was not trained on (with a warning) instead of refusing",
    )
    parser.add_argument(
        "--mode", choices=["score", "generate"], default="score", help="classification readout"
    )
    parser.add_argument(
        "--candidates", default=None, help="JSON list or text file (one sentence per line) of class answers"
    )
    parser.add_argument(
        "--cot", action=argparse.BooleanOptionalAction, default=None, help="score after descriptions"
    )
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--limit", type=positive_int, default=None, help="only the first N rows (N >= 1)")
    parser.add_argument("--max-new-tokens", type=positive_int, default=None)
    parser.add_argument("--num-beams", type=positive_int, default=1)
    parser.add_argument("--no-cache", action="store_true", help="re-encode molecules for every pair (slow)")
    parser.add_argument(
        "--device", type=device_name, default=None, help="cpu / cuda / cuda:N (default: cuda when available)"
    )
    add_inference_arguments(parser)
    parser.add_argument(
        "--part-size",
        type=positive_int,
        default=8192,
        help="rows per part file (the unit that --resume keeps; default 8192)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run into the same --output from its last complete part",
    )


def _read_candidates(path: str | None) -> list[str] | None:
    if path is None:
        return None
    text = input_file(path, "--candidates").read_text()
    return (
        json.loads(text) if path.endswith(".json") else [line for line in text.splitlines() if line.strip()]
    )


def run(args: argparse.Namespace) -> int:
    from ..inference.screening import PairsFile, output_format, screen_file
    from ..pipeline import resolve_task, task_candidates
    from ..tasks.registry import get_task

    # a bad file is refused before the model loads
    pairs = PairsFile(input_file(args.input), smiles_columns=args.smiles_columns)
    output_file(args.output, args.input)
    output_format(args.output)  # .parquet / .csv / .jsonl: the bytes follow the name, or it is refused now
    model, processor = load_model(args.model, args.device, args.dtype)
    # A task the model was not trained on is refused with the tasks it knows (unless --allow-untrained-task).
    task = resolve_task(model.config, args.task, allow_untrained_task=args.allow_untrained_task)
    candidates = task_candidates(model.config, get_task(task), _read_candidates(args.candidates)) or None
    report = screen_file(
        model,
        processor,
        pairs,
        args.output,
        task,
        batch_size=args.batch_size,
        limit=args.limit,
        mode=args.mode,
        candidates=candidates,
        cot=args.cot,
        cache=not args.no_cache,
        max_new_tokens=args.max_new_tokens,
        num_beams=args.num_beams,
        constrain_value=not args.no_constrain_value,
        resume=args.resume,
        write_every=args.part_size,
    )
    if report.output is None:  # a non-main process of a multi-process run
        return 0
    print(
        f"task {task}: {report.num_rows} rows, {report.num_predicted} predicted, {report.num_rejected} rejected, "
        f"{report.num_unparseable} unparseable, {report.molecules_encoded} molecules encoded"
    )
    print(f"wrote {report.output} and {report.rejects}")
    return 0
