"""One error hierarchy: the CLI maps every `EdgeoptError` to exit code 2.

Anything else escaping to the CLI is a bug and keeps its traceback (exit 1).
"""


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
