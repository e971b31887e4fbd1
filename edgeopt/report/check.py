"""`edgeopt check`: a CI gate over a finished run — thresholds on accuracy, latency, size, energy.

A check compares one figure of one row with a limit. The rows are those named (`--row`, or
`rows:` in the recipe's `checks:` section), by default the rows the report names best within the
accuracy budget. A figure that was not measured fails its check: a gate that cannot see a value
must not let it through. The verdicts are plain data, rendered as lines for people and as JUnit
XML for CI systems.

    checks:                    # in a recipe; `edgeopt check RUN_DIR` options override each key
      rows: [base_int8]
      min_accuracy: 95         # percent, as the table prints it
      max_accuracy_drop: 1.0   # points below the recipe's baseline row
      max_p50_ms: 0.5
      max_size_kib: 100
      max_energy_mj: 0.05

Nothing here imports TensorFlow: the gate runs wherever the run folder is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from xml.etree import ElementTree

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edgeopt.common.errors import EdgeoptError, did_you_mean
from edgeopt.common.row import SCHEMA_VERSION, Row
from edgeopt.report.table import baseline_row, best_rows


class ChecksSpec(BaseModel):
    """The thresholds of a gate; every one is optional, at least one must be set to check anything."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # a limit of inf checks nothing

    rows: list[str] | None = Field(None, min_length=1, description="rows to check (default: the best within budget)")
    min_accuracy: float | None = Field(None, ge=0, le=100, description="lowest accuracy, in percent")
    max_accuracy_drop: float | None = Field(None, ge=-100, le=100,
                                            description="largest accuracy drop below the baseline row, in points")
    max_p50_ms: float | None = Field(None, gt=0, description="largest p50 latency, in ms")
    max_size_kib: float | None = Field(None, gt=0, description="largest file size, in KiB (1024 bytes)")
    max_energy_mj: float | None = Field(None, gt=0, description="largest energy per inference, in mJ")

    @field_validator("min_accuracy")
    @classmethod
    def _percent_not_fraction(cls, value: float | None) -> float | None:
        if value is not None and 0 < value <= 1:
            raise ValueError("min_accuracy is in percent, as the table prints it (95 means 95 %), "
                             "so a value in (0, 1] would let almost any model through. Write e.g. 95")
        return value

    def thresholds(self) -> dict[str, float]:
        return {name: value for name, value in self.model_dump().items() if name != "rows" and value is not None}


@dataclass(frozen=True)
class Threshold:
    label: str  # what is measured, for people
    unit: str
    upper: bool  # True: the value must stay at or below the limit
    value: Callable[[Row, Row | None], float | None]


def _drop(row: Row, base: Row | None) -> float | None:
    if base is None or base.accuracy is None or row.accuracy is None:
        return None
    return 100 * (base.accuracy - row.accuracy)


THRESHOLDS: dict[str, Threshold] = {
    "min_accuracy": Threshold("accuracy", "%", False,
                              lambda r, _: None if r.accuracy is None else 100 * r.accuracy),
    "max_accuracy_drop": Threshold("accuracy drop below the baseline", "pts", True, _drop),
    "max_p50_ms": Threshold("p50 latency", "ms", True, lambda r, _: r.latency_ms_p50),
    "max_size_kib": Threshold("size", "KiB", True, lambda r, _: None if r.size_bytes is None else r.size_bytes / 1024),
    "max_energy_mj": Threshold("energy per inference", "mJ", True, lambda r, _: r.energy_mj),
}


@dataclass(frozen=True)
class CheckResult:
    row: str
    check: str  # a key of THRESHOLDS, or "within_budget"
    label: str
    value: float | None
    limit: float | None
    unit: str
    passed: bool
    note: str = ""

    def line(self) -> str:
        """One line for the terminal, e.g. `FAIL  base_int8  p50 latency 0.014 ms > 0.01 ms`."""
        if self.check not in THRESHOLDS:
            return f"{'PASS' if self.passed else 'FAIL'}  {self.row}  {self.label}: {self.note}"
        upper = THRESHOLDS[self.check].upper
        sign = ("≤" if upper else "≥") if self.passed else (">" if upper else "<")
        value = "n/a" if self.value is None else f"{self.value:.4g} {self.unit}"
        text = f"{'PASS' if self.passed else 'FAIL'}  {self.row}  {self.label} {value} {sign} {self.limit:g} {self.unit}"
        return text + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class RunFigures:
    """The rows a gate judges and what judging them needs from the run."""

    name: str
    rows: list[Row]
    baseline: str | None
    accuracy_budget: float | None
    checks: ChecksSpec | None  # the recipe's `checks:` section, if it had one
    source: Path  # the file the rows came from




def read_run(run_dir: str | Path, device: str | None = None) -> RunFigures:
    """Read RUN_DIR/results.json, and the rows of RUN_DIR/devices/HOST.json when `device` is given.

    Example:
        >>> figures = read_run("runs/quickstart")
        >>> [row.name for row in figures.rows]
        ['base', 'base_float32', 'base_int8']
    """
    from edgeopt.report.machines import device_table_rows
    from edgeopt.rundir.device_profile import device_file, read_device_document
    from edgeopt.rundir.folder import RESULTS_FILE, read_results

    run_dir = Path(run_dir)
    results = run_dir / RESULTS_FILE
    document = read_results(run_dir)
    recipe = document.get("recipe") if isinstance(document.get("recipe"), dict) else {}
    source, rows = results, _rows_of(document, results)
    if device is not None:
        source = device_file(run_dir, device)  # refuses a name that cannot name a file
        if not source.is_file():
            known = sorted(p.stem for p in source.parent.glob("*.json")) if source.parent.is_dir() else []
            raise EdgeoptError(f"no device file {source}: profile the run on '{device}' first (`edgeopt profile "
                               f"{run_dir}` there, then copy devices/ back). Device files in this run: "
                               f"{', '.join(known) or 'none'}.")
        rows = device_table_rows(document, read_device_document(source, document, run_dir))
    try:
        checks = ChecksSpec.model_validate(recipe["checks"]) if recipe.get("checks") else None
    except ValueError as exc:
        raise EdgeoptError(f"{results}: its recipe's `checks:` section is not valid: {exc}") from None
    return RunFigures(recipe.get("name") or run_dir.name, rows, recipe.get("baseline"),
                      recipe.get("accuracy_budget"), checks, source)


def _rows_of(document: dict, path: Path) -> list[Row]:
    raw = document.get("rows")
    if not isinstance(raw, list) or not raw:
        raise EdgeoptError(f"{path} holds no rows to check. Re-run the run (or profile) that wrote it.")
    try:
        return [Row.from_dict(r) for r in raw]
    except (TypeError, AttributeError) as exc:
        raise EdgeoptError(f"{path}: a row is malformed ({exc}). Re-run the run (or profile) that wrote it.") from None


def merge_checks(recipe_checks: ChecksSpec | None, cli: dict) -> ChecksSpec:
    """The recipe's checks with each option given on the command line replacing its key.

    Raises:
        EdgeoptError: An option's value is out of range (the message names the option).
    """
    given = {key: value for key, value in cli.items() if value not in (None, [], ())}
    merged = {**(recipe_checks.model_dump(exclude_none=True) if recipe_checks else {}), **given}
    try:
        return ChecksSpec.model_validate(merged)
    except ValueError as exc:
        lines = []
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else ""
            option = f"--{key.replace('_', '-')}" if key in given else f"checks.{key} in the recipe"
            lines.append(f"{option}: {err['msg'].removeprefix('Value error, ')}. Received: {err['input']!r}")
        raise EdgeoptError("\n".join(lines)) from None


def run_checks(figures: RunFigures, checks: ChecksSpec) -> list[CheckResult]:
    """Judge each selected row against each threshold; a figure not measured fails.

    Raises:
        EdgeoptError: No threshold is set, a named row is not in the run, or no row is named and
            the run has no accuracy budget to pick the best rows by.
    """
    thresholds = checks.thresholds()
    if not thresholds:
        raise EdgeoptError("nothing to check: give a threshold (--min-accuracy, --max-accuracy-drop, --max-p50-ms, "
                           "--max-size-kib, --max-energy-mj) or a `checks:` section in the recipe.")
    by_name = {row.name: row for row in figures.rows}
    needs_base = [what for what, needed in (("--max-accuracy-drop", "max_accuracy_drop" in thresholds),
                                             ("picking the best rows (no --row)", not checks.rows)) if needed]
    if needs_base and figures.baseline not in by_name:
        raise EdgeoptError(f"{' and '.join(needs_base)} need{'s' if len(needs_base) == 1 else ''} the baseline row '{figures.baseline}', which is "
                           f"not in {figures.source}. Rows: {', '.join(by_name)}. Profile the baseline there too, "
                           "or name the rows with --row and use --min-accuracy.")
    if checks.rows:
        unknown = [name for name in checks.rows if name not in by_name]
        if unknown:
            raise EdgeoptError(f"no row named {unknown[0]!r} in {figures.source}.{did_you_mean(unknown[0], by_name)} "
                               f"Rows: {', '.join(by_name)}.")
        selected = [by_name[name] for name in dict.fromkeys(checks.rows)]
    else:
        if figures.accuracy_budget is None:
            raise EdgeoptError(f"the recipe of {figures.name} has no accuracy_budget, so no row is named best within "
                               f"it. Name the rows to check with --row (rows: {', '.join(by_name)}) or `rows:` "
                               "under `checks:`.")
        best = best_rows(figures.rows, figures.baseline, figures.accuracy_budget)
        selected = list({row.name: row for row in best.values()}.values())
        if not selected:
            return [CheckResult("(best within budget)", "within_budget", "a row within the accuracy budget",
                                None, figures.accuracy_budget, "pts", False,
                                f"no row is within {figures.accuracy_budget:g} points of "
                                f"'{figures.baseline}' with its figures measured")]
    base = baseline_row(figures.rows, figures.baseline)
    results = []
    for row in selected:
        for key, limit in thresholds.items():
            spec = THRESHOLDS[key]
            value = spec.value(row, base)
            if value is None:
                note = "not measured" if key != "max_accuracy_drop" or row.accuracy is None \
                    else f"baseline '{figures.baseline}' has no accuracy"
                results.append(CheckResult(row.name, key, spec.label, None, limit, spec.unit, False, note))
                continue
            passed = value <= limit + 1e-9 if spec.upper else value >= limit - 1e-9
            label = spec.label + (f" '{base.name}'" if key == "max_accuracy_drop" and base else "")
            results.append(CheckResult(row.name, key, label, value, limit, spec.unit, passed))
    return results


def junit_xml(results: list[CheckResult], suite: str) -> str:
    """JUnit XML with one testcase per check, as CI systems (GitLab, Jenkins, GitHub actions) read it.

    Example:
        >>> print(junit_xml([CheckResult("int8", "max_p50_ms", "p50 latency", 2.0, 1.0, "ms", False)], "qs")[:39])
        <?xml version="1.0" encoding="utf-8"?>
    """
    failures = sum(not r.passed for r in results)
    root = ElementTree.Element("testsuites", name="edgeopt check", tests=str(len(results)), failures=str(failures))
    testsuite = ElementTree.SubElement(root, "testsuite", name=f"edgeopt check {suite}", tests=str(len(results)),
                                       failures=str(failures), errors="0", skipped="0")
    for result in results:
        case = ElementTree.SubElement(testsuite, "testcase", classname=f"edgeopt.check.{suite}.{result.row}",
                                      name=f"{result.check}", time="0")
        if not result.passed:
            ElementTree.SubElement(case, "failure", message=result.line(), type="threshold").text = result.line()
        ElementTree.SubElement(case, "system-out").text = result.line()
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=False).join(
        ['<?xml version="1.0" encoding="utf-8"?>\n', "\n"])
