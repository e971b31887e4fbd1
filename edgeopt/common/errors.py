"""One error hierarchy: the CLI maps every `EdgeoptError` to exit code 2.

Anything else escaping to the CLI is a bug and keeps its traceback (exit 1).
"""

import difflib


def did_you_mean(word: str, choices) -> str:
    """" Did you mean 'x'?" for the closest of `choices`, or "" — the tail of an error message."""
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


class EdgeoptError(Exception):
    """The user's input was wrong; the message says what and what to do."""


class RecipeError(EdgeoptError, ValueError):
    """A recipe file is missing, does not parse, or does not validate."""


class ModelFileError(EdgeoptError):
    """A model file is missing, truncated, or not the format it claims to be."""


class DataError(EdgeoptError):
    """A dataset cannot be found, read, or does not fit the model."""


class MissingExtraError(EdgeoptError):
    """A command needs a part of edgeopt that is not installed (e.g. the `train` extra)."""


class RunFolderError(EdgeoptError):
    """A run folder (results.json, its models, data/test.npz, devices/) is missing, stale or damaged."""


class OutputWriteError(EdgeoptError):
    """The output folder cannot take a file: disk full, read-only, over quota, no permission."""


class RunFolderLockedError(EdgeoptError):
    """Another edgeopt run is writing into the same output folder."""
