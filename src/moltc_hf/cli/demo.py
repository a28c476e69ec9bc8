"""`moltc demo`: serve the Gradio demo (`moltc_hf.demo`, the page the Space runs) locally.

The page is a package module, so this works from any install with the ``demo`` extra, not only a checkout.
gradio is imported when the command runs, never when `moltc` starts, so the other commands do without it.
"""

from __future__ import annotations

import argparse
import importlib


def load_app():
    """The demo module, `moltc_hf.demo` (`default_model`, `predict`, `build_demo`, `launch`, ...)."""
    return importlib.import_module("moltc_hf.demo")


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
    parser.add_argument(
        "--dtype",
        choices=["auto", "bfloat16", "float16", "float32"],
        default="auto",
        help="weights' dtype (default auto: bfloat16 on CUDA, float32 on CPU)",
    )


def run(args: argparse.Namespace) -> int:
    load_app().launch(model=args.model, host=args.host, port=args.port, dtype=args.dtype)
    return 0
