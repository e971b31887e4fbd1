"""Progress for long work: a Keras callback that draws one bar per epoch, and a step logger.

Bars go to stderr through rich and vanish on non-terminals, where one line per epoch is logged.
"""

from __future__ import annotations

import sys
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True, highlight=False)


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


def keras_progress(epochs: int, steps_per_epoch: int, label: str, log_fn: Callable[[str], None] = log):
    """A Keras callback showing batches of each epoch as a bar and logging each finished epoch."""
    from edgeopt._keras import keras

    class _Bar(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = progress_bar()
            self.bar.start()

        def on_epoch_begin(self, epoch, logs=None):
            self.task = self.bar.add_task(f"{label} epoch {epoch + 1}/{epochs}", total=steps_per_epoch, status="")

        def on_train_batch_end(self, batch, logs=None):
            status = f"loss {logs.get('loss', float('nan')):.4f}" if logs else ""
            self.bar.update(self.task, completed=batch + 1, status=status)

        def on_epoch_end(self, epoch, logs=None):
            self.bar.remove_task(self.task)
            shown = ", ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items())
            log_fn(f"  {label} epoch {epoch + 1}/{epochs}: {shown}")

        def on_train_end(self, logs=None):
            self.bar.stop()

    return _Bar()
