"""Any YAML text gives a valid recipe or one RecipeError — never another exception.

Hypothesis generates valid recipes, mutates them (keys dropped, renamed, retyped, values out of
range, wrong nesting) and throws arbitrary YAML documents and text at the parser. The counts of
each outcome are printed at the end of the module, for the record.
"""

from __future__ import annotations

import collections
import json
import string
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeopt.common.errors import RecipeError
from edgeopt.run.recipe import Recipe, parse_recipe
from edgeopt.stages import STAGES

OUTCOMES: collections.Counter = collections.Counter()
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["train", "convert", "int8", "base", "1e-3", "2024-13-45"]))
yaml_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=20)


@st.composite
def valid_recipes(draw) -> dict:
    steps = [{"id": "base", "stage": "train", "architecture": draw(st.sampled_from(["gap_cnn", "cifar_cnn", "small_cnn"])),
              "epochs": draw(st.integers(1, 50)), "batch_size": draw(st.integers(1, 512)),
              "learning_rate": draw(st.floats(1e-6, 1.0))}]
    for i in range(draw(st.integers(0, 3))):
        steps.append({"id": f"tune{i}", "stage": "finetune", "epochs": draw(st.integers(1, 5))})
    for mode in draw(st.lists(st.sampled_from(["float32", "dynamic", "int8"]), max_size=3, unique=True)):
        steps.append({"id": f"c_{mode}", "stage": "convert", "from": "base", "mode": mode,
                      "calibration_samples": draw(st.integers(1, 1000))})
    return {"name": draw(st.text(string.ascii_letters, min_size=1, max_size=10)), "seed": draw(st.integers(0, 2**31 - 1)),
            "data": {"name": draw(st.sampled_from(["mnist_embedded", "digits", "fashion_mnist"]))},
            "profile": {"runs": draw(st.integers(1, 1000)), "warmup": draw(st.integers(0, 100))}, "steps": steps}


def _paths(doc, prefix=()):
    """Every (container, key) place in a nested document, so a mutation can pick one."""
    if isinstance(doc, dict):
        for key in list(doc):
            yield doc, key
            yield from _paths(doc[key], prefix + (key,))
    elif isinstance(doc, list):
        for index in range(len(doc)):
            yield doc, index
            yield from _paths(doc[index], prefix + (index,))


@st.composite
def mutated_recipes(draw) -> dict:
    doc = draw(valid_recipes())
    for _ in range(draw(st.integers(1, 3))):
        places = list(_paths(doc))
        container, key = draw(st.sampled_from(places))
        action = draw(st.sampled_from(["drop", "rename", "retype", "out_of_range", "nest"]))
        if action == "drop":
            del container[key]
        elif action == "rename" and isinstance(container, dict):
            container[draw(st.text(max_size=8)) + str(key)[::-1]] = container.pop(key)
        elif action == "retype":
            container[key] = draw(yaml_values)
        elif action == "out_of_range":
            container[key] = draw(st.sampled_from([-1, 0, 10**12, -0.5, 1.5, float("inf")]))
        else:
            container[key] = {"nested": container[key]}
    return doc


def _outcome(text: str, kind: str) -> None:
    try:
        result = parse_recipe(text, Path("fuzz.yaml"))
    except RecipeError as exc:
        assert str(exc).strip(), "an error must say something"
        OUTCOMES[f"{kind}: clear error"] += 1
        return
    except Exception:
        OUTCOMES["crashed"] += 1  # any other exception is a crash: counted, then it fails the test
        raise
    assert isinstance(result, Recipe) and all(s.stage in STAGES for s in result.steps)
    OUTCOMES[f"{kind}: valid"] += 1


@FUZZ
@given(valid_recipes())
def test_valid_recipes_parse(doc):
    before = sum(OUTCOMES.values())
    _outcome(yaml.safe_dump(doc), "valid")
    assert OUTCOMES["valid: clear error"] == 0, "a valid recipe was refused"
    assert sum(OUTCOMES.values()) == before + 1


@FUZZ
@given(mutated_recipes())
def test_mutated_recipes_are_valid_or_a_clear_error(doc):
    _outcome(yaml.safe_dump(doc), "mutated")


@FUZZ
@given(yaml_values)
def test_arbitrary_yaml_documents_are_valid_or_a_clear_error(doc):
    _outcome(yaml.safe_dump(doc), "arbitrary yaml")


@FUZZ
@given(st.lists(st.sampled_from(list(":-{}[]&*!|>'\"%@`#,? \n\tab01") + ["steps", "stage: train", "\x00", "é", "  - "]),
                max_size=40).map("".join))
def test_arbitrary_text_is_valid_or_a_clear_error(text):
    _outcome(text, "arbitrary text")


def test_zz_record_fuzz_counts(request):
    """Runs last in this module: records what the fuzzing tried (a crash would have failed a test)."""
    from conftest import fuzz_record_folder

    (fuzz_record_folder(request.config) / "recipes.json").write_text(
        json.dumps({"crashed": 0, **dict(sorted(OUTCOMES.items())), "total": sum(OUTCOMES.values())}))
    assert sum(OUTCOMES.values()) >= 4 * 300 or not OUTCOMES  # counts only exist when run as a module
