"""SIGTERM and SIGHUP stop a run the way Ctrl-C does: finished steps kept, the unfinished one removed.

CI runners, `timeout`, systemd and `docker stop` send SIGTERM; closing a terminal sends SIGHUP.
Python's default for both is to die on the spot, skipping every `finally`, so a step's
`.partial` folder stays behind. Inside `stop_signals_interrupt()` they raise `Stopped`, a
`KeyboardInterrupt`, so the cleanup that already serves Ctrl-C runs for them too; the CLI then
exits with 128 + the signal's number, as a shell reports a process killed by it. A signal that
was ignored when edgeopt started (`nohup` ignores SIGHUP) stays ignored.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """Raised in the main thread when a stop signal arrives; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM/SIGHUP raise `Stopped` once; repeats are ignored while it unwinds.

    Example:
        >>> with stop_signals_interrupt():  # doctest: +SKIP
        ...     run_recipe(recipe, out)  # `kill -TERM` now cleans up like Ctrl-C
    """
    stopping = False

    def handler(signum, frame):
        nonlocal stopping
        if stopping:  # the run is already cleaning up; a second TERM must not cut that short
            return
        stopping = True
        raise Stopped(signum)

    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    # A signal the parent set to be ignored stays ignored: `nohup edgeopt run …` must survive a hang-up.
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS if signal.getsignal(sig) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """128 + N for the signal that stopped us (SIGINT for a plain Ctrl-C)."""
    return 128 + getattr(interrupt, "signum", signal.SIGINT)


def signal_name(interrupt: KeyboardInterrupt) -> str:
    return signal.Signals(getattr(interrupt, "signum", signal.SIGINT)).name
