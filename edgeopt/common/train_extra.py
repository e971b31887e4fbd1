"""The `train` extra: which commands need it, and the one message that says how to get it.

`pip install edgeopt` is the device part (profile, report); training, conversion and the
package-shipped datasets need `pip install 'edgeopt[train]'`. A command that lacks it stops with
that sentence and exit code 2 instead of an ImportError deep inside TensorFlow's absence.
"""

from __future__ import annotations

import importlib.util

from edgeopt.common.errors import MissingExtraError

# import name → distribution, as listed under [project.optional-dependencies] train.
TRAIN_MODULES = {
    "tensorflow": "tensorflow",
    "tf_keras": "tf-keras",
    "keras": "keras",
    "tensorflow_model_optimization": "tensorflow-model-optimization",
    "scipy": "scipy",
    "threadpoolctl": "threadpoolctl",
    "sklearn": "scikit-learn",
    "mlxtend": "mlxtend",
}
INSTALL_HINT = ("install edgeopt[train]: pip install 'edgeopt[train]' (from a checkout: "
                "pip install '.[train]', or `make install`)")


def missing_train_modules(modules: dict[str, str] | None = None) -> list[str]:
    """Distributions of the train extra that are not installed (found without importing them)."""
    return [dist for module, dist in (modules or TRAIN_MODULES).items()
            if importlib.util.find_spec(module) is None]


def require_train(what: str, modules: dict[str, str] | None = None) -> None:
    """Raise MissingExtraError naming `what` when any of `modules` is not installed.

    Example:
        >>> require_train("`edgeopt run`")  # doctest: +SKIP
        MissingExtraError: `edgeopt run` needs the train part of edgeopt (missing: tensorflow, ...)
    """
    missing = missing_train_modules(modules)
    if missing:
        raise missing_extra(what, missing)


def missing_extra(what: str, missing: list[str]) -> MissingExtraError:
    return MissingExtraError(f"{what} needs the train part of edgeopt, which is not installed here "
                             f"(missing: {', '.join(missing)}). To train and convert, {INSTALL_HINT}. "
                             "`edgeopt profile` and `edgeopt report` work without it.")
