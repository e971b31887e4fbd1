"""What every command shares: the Typer app, the one error style and exit codes, shared options.

User errors (`EdgeoptError`) become one message on stderr and exit code 2; anything else is a
bug and keeps its traceback (exit 1).
"""

from __future__ import annotations

import enum
import functools
from typing import Callable

import typer

from edgeopt.common.errors import EdgeoptError


SET_HELP = ("change the recipe for this command: a dotted key, a step by its id, the value as YAML, "
            "e.g. steps.base.epochs=1 or data.limit_train=2000; repeatable")


class Executor(str, enum.Enum):  # how `run` runs the steps
    sequential = "sequential"
    ray = "ray"


app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Optimise CNNs for CPU edge devices and measure accuracy, latency, size and energy.")


def user_errors_exit_2(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from edgeopt.common.signals import exit_code, signal_name, stop_signals_interrupt

        try:
            with stop_signals_interrupt():  # SIGTERM/SIGHUP clean up like Ctrl-C
                return fn(*args, **kwargs)
        except EdgeoptError as exc:
            typer.echo(f"edgeopt: error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt as exc:
            kept = getattr(exc, "kept", None)  # `run` says what its folder keeps
            typer.echo(f"edgeopt: stopped by {signal_name(exc)}" + (f"; {kept}" if kept else "."), err=True)
            raise typer.Exit(exit_code(exc)) from None

    return wrapper


def scaling_option(value: str | None):
    """`--input-range LO,HI` as an InputScaling (None: the default [0, 1])."""
    from edgeopt.data.scaling import InputScaling

    if value is None:
        return None
    try:
        lo, hi = (float(part) for part in value.split(","))
    except ValueError:
        raise EdgeoptError(f"--input-range must be two numbers LO,HI, e.g. 0,255 or -1,1. Received: {value!r}") from None
    return InputScaling((lo, hi))


def main() -> None:
    app(prog_name="edgeopt")  # the same name in help and completion under `python -m edgeopt` or the script
