"""`moltc` command line: one module per subcommand (chemprop v2 style), each thin over the library.

Each subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only
when their command runs, so one command's heavy imports never slow another; the ``moltc`` script itself is
`moltc_cli` (beside the package), which answers ``moltc --help`` without importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from moltc_cli import SUBCOMMANDS  # the command table, shared with the light `moltc` entry point
from moltc_cli import usage as _usage


class UsageError(Exception):
    """A bad option value, raised by `_Parser.error` so `main` reports it like any other bad input."""


class _Parser(argparse.ArgumentParser):
    """argparse, except that a bad option is one line (``moltc <cmd>: error: ...``, exit 2), not usage + exit."""

    def error(self, message: str):
        raise UsageError(message)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in SUBCOMMANDS:
        print(f"moltc: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, help_text = SUBCOMMANDS[command]
    module = importlib.import_module(f"{__name__}.{module_name}")
    parser = _Parser(prog=f"moltc {command}", description=help_text)
    module.add_arguments(parser)
    try:
        args = parser.parse_args(rest)
        return int(module.run(args) or 0)
    except (UsageError, ValueError, KeyError, OSError) as err:
        # Bad input (bad option, unknown task or source, missing column, unreadable file, full disk...): the
        # message names it; a traceback would only hide it. MOLTC_DEBUG=1 re-raises for debugging.
        if os.environ.get("MOLTC_DEBUG"):
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"moltc {command}: error: {one_line(message)}", file=sys.stderr)
        return 2


def one_line(message: object) -> str:
    """The message on one line (library errors may span lines; the CLI promises one)."""
    return " ".join(str(message).split())


if __name__ == "__main__":
    raise SystemExit(main())
