"""Progress for long work: a step logger and rich progress bars (the Keras callback is tf/training.py).

Bars go to stderr through rich and vanish on non-terminals, where one line per epoch is logged.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# soft_wrap: a line is written whole, never broken at the console's width (80 columns when stderr
# is a file or a CI log); the terminal wraps it if it must. markup off: log lines are plain text,
# and a path or a message like "[2/4]" or "[default]" must print as written.
console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


def log(message: str) -> None:
    console.print(message)


def progress_bar(description: str = "") -> Progress:
    """A rich progress bar on stderr; `disable`d when stderr is not a terminal."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=True,
        disable=not sys.stderr.isatty(),
    )
