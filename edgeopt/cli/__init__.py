"""The `edgeopt` command: a thin Typer layer that chains recipe → pipeline → profile → report.

One module per noun (run, search, profile, report, catalog); `common` holds the app and the one
error style. TensorFlow is imported only by commands that train or convert: `profile` runs on
devices that have LiteRT alone.
"""

from edgeopt.cli.common import app, main
# Importing a command module registers its commands; this order is --help's.
from edgeopt.cli import run, search, profile, report, catalog  # noqa: F401,I001

__all__ = ["app", "main"]
