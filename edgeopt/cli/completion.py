"""`edgeopt --show-completion zsh`: the script of the shell named.

Typer's `--show-completion` is a flag: it detects the shell it runs in and leaves a shell named after
it unread, so `--show-completion zsh` from bash printed bash's script. The named shell wins here.
"""

from __future__ import annotations

SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


def named_shell_script(argv: list[str], prog_name: str = "edgeopt") -> str | None:
    """The completion script for `--show-completion SHELL`, or None when argv asks for something else."""
    if len(argv) != 2 or argv[0] != "--show-completion" or argv[1] not in SHELLS:
        return None
    try:
        from typer._completion_shared import get_completion_script
    except ImportError:  # pragma: no cover - another Typer: leave it to Typer
        return None
    return get_completion_script(prog_name=prog_name, complete_var=f"_{prog_name.upper()}_COMPLETE", shell=argv[1])
