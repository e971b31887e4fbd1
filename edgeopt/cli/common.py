"""What every command shares: the Typer app, the one error style and exit codes, shared options.

User errors (`EdgeoptError`) become one message on stderr and exit code 2; anything else is a
bug and keeps its traceback (exit 1).
"""

from __future__ import annotations

import enum
import functools
import re
import sys
from typing import Callable

import typer

from edgeopt.common.errors import EdgeoptError


SET_HELP = ("change the recipe for this command: a dotted key, a step by its id, the value as YAML, "
            "e.g. steps.base.epochs=1 or data.limit_train=2000; repeatable")


class Executor(str, enum.Enum):  # how `run` runs the steps
    sequential = "sequential"
    ray = "ray"


# rich_markup_mode=None: click's plain help, each paragraph re-wrapped to the terminal (up to 120
# columns), none of rich's boxes, and the value names of cli/help.py.
app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings={"max_content_width": 120})


def user_errors_exit_2(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from edgeopt.common.signals import exit_code, signal_name, stop_signals_interrupt

        try:
            with stop_signals_interrupt():  # SIGTERM/SIGHUP clean up like Ctrl-C
                return fn(*args, **kwargs)
        except EdgeoptError as exc:
            for line in str(exc).splitlines():  # several problems (a recipe's): each line in the one style
                typer.echo(line if line[:1].isspace() else f"edgeopt: error: {line}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt as exc:
            kept = getattr(exc, "kept", None)  # `run` says what its folder keeps
            typer.echo(f"edgeopt: stopped by {signal_name(exc)}" + (f"; {kept}" if kept else "."), err=True)
            raise typer.Exit(exit_code(exc)) from None

    return wrapper


def echo_note(note: str, err: bool = False) -> None:
    """A note a sentence a line ("note: energy is an estimate…", then its reasons indented), not one
    600-character line."""
    first, *rest = re.split(r"(?<=\.) (?=[A-Z])", note)
    typer.echo(f"note: {first}", err=err)
    for sentence in rest:
        typer.echo(f"      {sentence}", err=err)


def counted(number: int, noun: str) -> str:
    """"1 step", "3 steps": a count with its noun, in the right number."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


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


def _print_version(value: bool) -> None:
    if value:
        from edgeopt import __version__

        typer.echo(f"edgeopt {__version__}")
        raise typer.Exit()


@app.callback()
def _edgeopt(version: bool = typer.Option(False, "--version", "-V", is_eager=True, callback=_print_version,
                                          help="print edgeopt's version and exit")) -> None:
    """Optimise CNNs for CPU edge devices and measure accuracy, latency, size and energy."""


def _click_exceptions():
    """click's exception classes: Typer ≥ 0.20 carries its own copy of click, older ones use click's."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - an older Typer
        from click import exceptions
    return exceptions


def main() -> None:
    """The console script. Usage errors (an unknown option, a missing argument) print in the
    project's one style, `edgeopt: error: ...`, exit 2, instead of Typer's box."""
    from edgeopt.cli.completion import named_shell_script

    script = named_shell_script(sys.argv[1:])
    if script is not None:
        typer.echo(script)
        return
    errors = _click_exceptions()
    try:
        # prog_name: the same name in help and completion under `python -m edgeopt` or the script
        code = app(prog_name="edgeopt", standalone_mode=False)
    except getattr(errors, "NoArgsIsHelpError", ()) as exc:  # `edgeopt run` alone: its help, exit 0 as before
        typer.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
        code = 0
    except errors.UsageError as exc:
        message = exc.format_message().removeprefix("Value error, ").rstrip(".")
        command = exc.ctx.command_path if exc.ctx else "edgeopt"
        typer.echo(f"edgeopt: error: {message}. See `{command} --help`.", err=True)
        code = 2
    except errors.ClickException as exc:
        typer.echo(f"edgeopt: error: {exc.format_message()}", err=True)
        code = exc.exit_code
    except typer.Abort:  # Ctrl-C outside a command (inside one, the command says what it kept)
        typer.echo("edgeopt: stopped.", err=True)
        code = 130
    sys.exit(code if isinstance(code, int) else 0)
