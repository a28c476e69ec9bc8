"""Progress bars that suit where they are written: live on a terminal, a few plain lines in a log file.

tqdm redraws its bar with a carriage return on every update; in a file those redraws never overwrite each
other, so ``moltc ... > run.log 2>&1`` grows one line per update (a 1,200-step run leaves a ~200 kB line).
Off a terminal the bar redraws at most once a `LOG_INTERVAL_S` -- a periodic plain progress line.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

LOG_INTERVAL_S = 60.0  # seconds between redraws when the bar's stream is a file or a pipe
TERMINAL_INTERVAL_S = 0.1  # tqdm's own default


def is_terminal(stream=None) -> bool:
    """Whether ``stream`` (default: stderr, where tqdm writes) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(*args, file=None, **kwargs) -> tqdm:
    """``tqdm(*args, **kwargs)``, redrawn every `LOG_INTERVAL_S` seconds (not every update) off a terminal."""
    terminal = is_terminal(file)
    kwargs.setdefault("mininterval", TERMINAL_INTERVAL_S if terminal else LOG_INTERVAL_S)
    if not terminal:
        kwargs.setdefault("maxinterval", LOG_INTERVAL_S)  # (the monitor thread must not redraw sooner)
    return tqdm(*args, file=file, **kwargs)


__all__ = ["LOG_INTERVAL_S", "is_terminal", "progress_bar"]
