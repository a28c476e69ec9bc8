"""The ``moltc`` console script: the command table and the top-level help, without importing ``moltc_hf``.

``import moltc_hf`` registers MolTC with the transformers Auto classes, which imports torch, torch_geometric
and transformers' model code (seconds). A module inside the package cannot answer ``moltc --help`` without
paying that (Python imports a package before its submodules), so the entry point lives beside the package:
``moltc``, ``moltc --help``, ``moltc --version`` and an unknown command answer from this table alone;
``moltc <command> --help`` and a bad option are answered by the command's own parser loaded without the
package's ``__init__`` (`parse_without_the_package`), and only a command that will run imports `moltc_hf.cli`,
which dispatches it (``python -m moltc_hf.cli`` is the same CLI).
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


def version() -> str:
    """The installed distribution's version (its metadata, not the package: no import of torch)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("moltc-hf")
    except PackageNotFoundError:  # a source tree on PYTHONPATH without an install
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        print(f"moltc-hf {version()}")
        return 0
    if argv[0] not in SUBCOMMANDS:
        print(f"moltc: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    answered = parse_without_the_package(argv[0], argv[1:])
    if answered is not None:  # --help, or an option error: answered without importing torch
        return answered
    from moltc_hf.cli import main as run_command

    return run_command(argv)


def parse_without_the_package(command: str, rest: list[str]) -> int | None:
    """Parse ``moltc <command> ...`` with the command's own parser, with ``moltc_hf/__init__`` skipped.

    ``import moltc_hf.cli.<module>`` would first run the package's ``__init__`` (torch, transformers: 15-30 s on
    a busy machine) just to print ``--help`` or refuse ``--limit 0``. The command modules import only argparse
    and `moltc_hf.cli._checks` at the top, so they are loaded here under a stand-in ``moltc_hf`` package object
    (its ``__path__`` only). Returns the exit code when parsing ends the command (``--help``: 0, a bad
    option: 2, printed as `moltc_hf.cli.main` prints it), else ``None``: the stand-ins are removed and the real
    package runs the command (parsing again, at no cost).
    """
    import importlib
    import importlib.util
    import types

    spec = importlib.util.find_spec("moltc_hf")
    if spec is None or not spec.submodule_search_locations or "moltc_hf" in sys.modules:
        return None
    stand_in = types.ModuleType("moltc_hf")
    stand_in.__path__ = list(spec.submodule_search_locations)
    sys.modules["moltc_hf"] = stand_in
    try:
        cli = importlib.import_module("moltc_hf.cli")
        module_name, help_text = SUBCOMMANDS[command]
        module = importlib.import_module(f"moltc_hf.cli.{module_name}")
        parser = cli._Parser(prog=f"moltc {command}", description=help_text)
        module.add_arguments(parser)
        try:
            parser.parse_args(rest)
        except SystemExit as done:  # --help printed its text
            return int(done.code or 0)
        except cli.UsageError as err:
            print(f"moltc {command}: error: {cli.one_line(err)}", file=sys.stderr)
            return 2
        return None
    finally:
        for name in [n for n in sys.modules if n == "moltc_hf" or n.startswith("moltc_hf.")]:
            del sys.modules[name]


if __name__ == "__main__":
    raise SystemExit(main())
