"""The ``moltc`` console script: the command table and the top-level help, without importing ``moltc_hf``.

``import moltc_hf`` registers MolTC with the transformers Auto classes, which imports torch, torch_geometric
and transformers' model code (seconds). A module inside the package cannot answer ``moltc --help`` without
paying that (Python imports a package before its submodules), so the entry point lives beside the package:
``moltc``, ``moltc --help`` and an unknown command answer from this table alone, and only a real command
imports `moltc_hf.cli`, which dispatches it (``python -m moltc_hf.cli`` is the same CLI).
"""

from __future__ import annotations

import sys

# command -> (module in moltc_hf.cli, one-line help). `moltc_hf.cli.SUBCOMMANDS` is this table.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "build-dataset": (
        "build_dataset",
        "build MoT-instructions (parquet + dataset card) from raw or embedded data",
    ),
    "pretrain-graph": (
        "pretrain_graph",
        "self-supervised GIN pretraining on the MOSES molecules (attribute masking + GraphCL)",
    ),
    "train": ("train", "train with TRL SFTTrainer from a recipe (pretrain / finetune / pipeline)"),
    "evaluate": ("evaluate", "score a model on a dataset split: metrics.json + plots"),
    "predict": ("predict", "screen pairs from CSV/parquet with cached molecule embeddings"),
    "push": ("push", "upload a model, dataset or Space folder to the Hugging Face Hub"),
    "convert-original": ("convert_original", "convert an original MolTC Lightning checkpoint"),
    "quickstart": ("quickstart", "build data, pretrain, fine-tune and evaluate on the embedded default"),
    "demo": ("demo", "launch the Gradio demo locally"),
}


def usage() -> str:
    lines = ["usage: moltc <command> [options]", "", "commands:"]
    lines += [f"  {name:<18}{help_text}" for name, (_, help_text) in SUBCOMMANDS.items()]
    lines += ["", "Run `moltc <command> --help` for the options of one command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] not in SUBCOMMANDS:
        print(f"moltc: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    from moltc_hf.cli import main as run_command

    return run_command(argv)


if __name__ == "__main__":
    raise SystemExit(main())
