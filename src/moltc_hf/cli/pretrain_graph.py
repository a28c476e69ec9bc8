"""`moltc pretrain-graph`: self-supervised pretraining of the GIN on the MOSES molecules (no labels).

    moltc pretrain-graph --raw-dir ../shared/data/raw --out runs/gin                  # the tiny GIN, defaults
    moltc pretrain-graph --raw-dir ~/wheels --out runs/gin --max-steps 4000 --resume  # molsets wheel; continue
    moltc pretrain-graph --out runs/gin-1.3b --model-config galactica-1.3b --device cuda

``--raw-dir`` (default ``$MOLTC_RAW_DIR``, else ``../shared/data/raw``) holds ``MOSES/train.csv.gz`` or the
molsets wheel (``pip download molsets==0.3.1 --no-deps``). The result, ``<out>/final``, is what
``build_model(..., graph_encoder=...)`` and the recipe key ``graph_encoder`` start a model from.
"""

from __future__ import annotations

import argparse
import sys

from ._checks import positive_float, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (final/ is the pretrained GIN)")
    parser.add_argument("--raw-dir", default=None, help="folder with MOSES/train.csv.gz or molsets-*.whl")
    parser.add_argument(
        "--model-config",
        default="tiny",
        help="hub_configs/models name or JSON whose graph_config is pretrained",
    )
    parser.add_argument(
        "--max-steps",
        type=positive_int,
        default=1500,
        help="optimizer steps (default 1500: the tiny-gin-pretrain recipe)",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=256, help="molecules per step (default 256)"
    )
    parser.add_argument("--learning-rate", type=positive_float, default=1e-3)
    parser.add_argument(
        "--objectives",
        default="attr_mask,graphcl",
        help="comma-separated: attr_mask (pretrain-gnns attribute masking), graphcl (contrastive)",
    )
    parser.add_argument(
        "--corpus-limit", type=positive_int, default=None, help="use the first N molecules only"
    )
    parser.add_argument("--eval-every", type=positive_int, default=250)
    parser.add_argument("--save-every", type=positive_int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA + bf16 when present), cpu, cuda, cuda:1")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no per-evaluation lines")


def run(args: argparse.Namespace) -> int:
    from moltc_hf.corpus import find_moses_file
    from moltc_hf.training.graph_pretrain import GraphPretrainingArguments, pretrain_graph_encoder

    from .build_dataset import default_raw_dir

    raw_dir = args.raw_dir or default_raw_dir()
    settings = GraphPretrainingArguments(
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        objectives=tuple(o.strip() for o in args.objectives.split(",") if o.strip()),
        corpus_limit=args.corpus_limit,
        eval_every=args.eval_every,
        save_every=args.save_every,
        seed=args.seed,
        device=args.device,
    )
    corpus, heldout = find_moses_file("train", raw_dir), find_moses_file("test", raw_dir)

    def show(point: dict) -> None:
        if not args.no_progress:
            shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in point.items()}
            print(" ".join(f"{k}={v}" for k, v in shown.items()), file=sys.stderr, flush=True)

    result = pretrain_graph_encoder(
        corpus,
        args.out,
        graph_config=args.model_config,
        args=settings,
        heldout=heldout,
        resume=args.resume,
        progress=show,
    )
    last = result.curve[-1] if result.curve else {}
    print(
        f"pretrained GIN: {result.output_dir / 'final'} ({result.global_step} steps, {result.seconds:.0f} s; "
        f"held-out masked-atom accuracy {last.get('heldout_accuracy', float('nan')):.3f}, "
        f"always-carbon {last.get('heldout_carbon_rate', float('nan')):.3f})"
    )
    return 0
