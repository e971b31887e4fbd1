"""`--help` as a newcomer reads it: `Usage: edgeopt profile [OPTIONS] MODEL...`, options with a
plain value name (`--runs INTEGER`, `--data-path PATH`) and choices spelt out (`--energy
[auto|rapl|…]`), instead of Typer's `{models}...`, `<list[Path]>` and `<int range>`.

The app renders help without rich (`rich_markup_mode=None`): click's formatter re-wraps each
paragraph to the terminal, so no description is broken mid-sentence where its docstring was.
"""

from __future__ import annotations

from typing import Callable, Sequence

from typer.core import TyperCommand

# Value names by annotation, click's classic ones; an option's own metavar wins.
_VALUE_NAMES = {int: "INTEGER", float: "FLOAT", str: "TEXT", bool: "BOOLEAN"}


def argument_name(param) -> str:
    """RECIPE, MODEL... or [NAME]: what the usage line and the Arguments section call an argument."""
    name = param.metavar or param.name.upper()
    if param.nargs != 1 and not name.endswith("..."):
        name += "..."
    return name if param.required else f"[{name}]"


def value_name(param) -> str:
    """INTEGER, FLOAT, TEXT, PATH, or [a|b|c] for an Enum: the value an option takes, for --help."""
    descriptor = param.type_descriptor
    if descriptor.is_choice and descriptor.choices:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in descriptor.choices) + "]"
    if descriptor.is_path:
        return "PATH"
    annotation = descriptor.annotation
    if getattr(annotation, "__origin__", None) is list:
        annotation = annotation.__args__[0]
    return _VALUE_NAMES.get(annotation, "VALUE")


class EdgeoptCommand(TyperCommand):
    """A command whose usage line and help name every value plainly (see the module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.short_help and self.help:  # `edgeopt --help` lists the whole first sentence, not "Validate a…"
            self.short_help = " ".join(self.help.strip().split("\n\n")[0].split())
        for param in self.params:
            if param.param_type_name == "option" and not param.is_flag and param.metavar is None:
                param.metavar = value_name(param)

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                pieces.append(argument_name(param))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def format_options(self, ctx, formatter) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((argument_name(param), (param.help or "").strip()))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def complete_from(choices: Sequence[str]) -> Callable[[str], list[str]]:
    """Shell completion for an option whose value is one of `choices` (checked by edgeopt itself,
    so that a wrong one gets the project's message, with its hints, not click's)."""
    return lambda incomplete: [choice for choice in choices if choice.startswith(incomplete)]
