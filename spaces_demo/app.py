"""Hugging Face Space entry point (``app_file: app.py``) for the MolTC demo.

The page itself is `moltc_hf.demo`, shipped in the moltc-hf wheel that ``requirements.txt`` installs, so the
Space, ``moltc demo`` and an installed package all serve one copy of it; this file only picks the Space's
interface and port (``$GRADIO_SERVER_NAME`` / ``$GRADIO_SERVER_PORT``, all interfaces on 7860 by default).
"""

from __future__ import annotations

import os

from moltc_hf.demo import launch

if __name__ == "__main__":
    launch(
        host=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        port=int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
    )
