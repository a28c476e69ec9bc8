"""`moltc demo`: launch the Gradio Space (`spaces_demo/app.py`) locally."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from ..factory import HUB_CONFIGS_DIR

APP_PATH = HUB_CONFIGS_DIR.parent / "spaces_demo" / "app.py"


def load_app(path: Path = APP_PATH):
    """Import the Space's ``app.py`` as a module: the same file a Space runs, not a copy."""
    if not path.is_file():
        raise FileNotFoundError(f"No demo app at {path}; the demo ships with the repository (spaces_demo/).")
    name = "moltc_spaces_demo_app"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve annotations through sys.modules while the file runs
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=None,
        help="hub id or model folder (default: $MOLTC_MODEL, else runs/quickstart/model)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 to share on a LAN)"
    )
    parser.add_argument(
        "--port", type=int, default=None, help="port (default: Gradio's, 7860 or the next free)"
    )


def run(args: argparse.Namespace) -> int:
    load_app().launch(model=args.model, host=args.host, port=args.port)
    return 0
