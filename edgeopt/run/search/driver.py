"""`edgeopt search`: the fastest deployable model within the accuracy budget, chosen by measuring.

1. The model is loaded and converted to every precision deployed; its float32 `.tflite` is the
   reference. Candidates are judged on images the model never saw (`selection.py`): the validation
   split, or half of the test split when the model has seen the validation images; every row is
   reported on the untouched rest.
2. Before anything is trained (`candidates.py`): each unit's cost over its widths, in every
   precision, proxies timed side by side; only plateau tops are searched. Each unit alone at each
   top is scored after a least-squares refit; a knapsack allocates widths over all units for a
   ladder of cost targets, and the uniform cuts are candidates too. All are timed together and
   scored with every unit cut at once (BatchNorm re-estimated).
3. Fine-tunes (`finalists.py`), all the same size, set from the time left (`budget.py`): every
   uniform cut, then the allocations their recovery predicts to stay within budget, fastest first.
4. The fine-tuned candidates are converted to the precisions their proxies favour; every `.tflite`
   is a row, timed together; the best row by the objective within budget on the selection split
   (ties in time to the more accurate) becomes `best.tflite`.

Every model is a recipe step (`steps.py`), so the folder is a run folder with a trace
(`search.json`) and a recipe that rebuilds the choice (`recipe.yaml`).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgeopt.common.atomic import atomic_write_text
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.row import Row
from edgeopt.run.pipeline import StepExecutor
from edgeopt.run.search.choice import choose, margins, why
from edgeopt.run.search.finalists import LONG_SHOT_MARGIN, Candidate, next_finalist
from edgeopt.run.search.options import SearchOptions
from edgeopt.run.search.scoring import test_accuracy_tflite, validation_accuracy_keras, validation_accuracy_tflite
from edgeopt.run.search.steps import SearchSteps
from edgeopt.run.search.trace import TRACE_FILE, Trace
from edgeopt.run.search.units import Unit, grid_unit

RESERVE_SECONDS_PER_ROW, RESERVE_SECONDS = 4.0, 30.0  # a final row's conversion and timing; the timing's fixed part
PLANNED_UNIFORM_FINETUNES = 2  # uniform cuts expected to be tuned (widest first, until one misses the budget)
FINETUNE_OVERHEAD_SECONDS = 15.0  # a candidate's cut, saving, loading and scoring besides its training


@dataclass
class SearchResult:
    out_dir: Path
    rows: list[Row]
    best: Row | None
    document: dict  # results.json
    trace: dict  # search.json


def search(options: SearchOptions, out_dir: str | Path, *, log_fn: Callable[[str], None],
           executor: StepExecutor | None = None, clock: Callable[[], float] = time.monotonic) -> SearchResult:
    """Run (or resume) a search into `out_dir`; see the module's docstring.

    Example:
        >>> from edgeopt.run.search.options import search_options
        >>> options = search_options(model="base.keras", data="fashion_mnist", budget=1, time_limit_min=10)
        >>> search(options, "runs/search", log_fn=print).best.name          # doctest: +SKIP
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return _Search(options, out_dir, log_fn, executor, clock).run()


class _Search:
    def __init__(self, options: SearchOptions, out_dir: Path, log_fn, executor, clock) -> None:
        self.options = options
        self.out_dir = out_dir
        self.log = log_fn
        self.clock = clock
        self.started = clock()
        self.trace = Trace.load(out_dir / TRACE_FILE, options.identity())
        self.steps = SearchSteps(options, out_dir, log_fn, executor)
        self.spent_before = self.trace.seconds
        self.widths_of: dict[str, dict | None] = {}

    # --- time -------------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return self.spent_before + self.clock() - self.started

    def left(self) -> float:
        return self.options.time_limit_min * 60 - self.elapsed()

    def left_text(self) -> str:
        return f"{max(self.left(), 0) / 60:.1f} min left"

    def save(self) -> None:
        self.trace.seconds = self.elapsed()
        self.trace.save(self.out_dir / TRACE_FILE)

    # --- the search -------------------------------------------------------------------------------
    def run(self) -> SearchResult:
        dataset = self.steps.dataset
        if dataset.x_val is None or len(dataset.x_val) == 0:
            raise EdgeoptError(f"the training split of '{dataset.name}' is too small to hold out a validation split "
                               f"({self.options.validation_split:.0%} of {len(dataset.x_train)} images); use more data.")
        self.log(f"search: {self.options.model} on {dataset.name} — {len(dataset.x_train)} train / "
                 f"{len(dataset.x_val)} validation / {len(dataset.x_test)} test images; budget "
                 f"{self.options.budget:g} points, objective {self.options.objective}"
                 + ("; writing the latency kit only" if self.options.kit_only else
                    f", {self.options.time_limit_min:g} min"))
        made = [p for p in self.options.precisions  # a kit times float16 as float32 (same kernels)
                if not (self.options.kit_only and p == "float16" and "float32" in self.options.precisions)]
        bases = {p: a.path for p, a in zip(made, self.steps.run(
            [s for s in self.steps.document["steps"] if s["id"] in {f"base_{p}" for p in made}]))}
        self.reference_row = self.steps.document["baseline"]
        self._choose_selection_split()
        units = self._units()
        if not units and len(self.options.precisions) == 1:
            raise EdgeoptError(f"{self.options.model} has nothing to search: no Conv2D or Dense layer whose channels "
                               f"can be eliminated, and one precision ({self.options.precisions[0]}). Allow more "
                               f"precisions (--precisions float32,int8) or give a model with conv or dense layers.")
        self.bases = {p: Path(path).read_bytes() for p, path in bases.items()
                      # float16 files run float32 kernels (their weights are widened at load): timing
                      # both would only let noise choose between two equal figures.
                      if not (p == "float16" and "float32" in bases)}
        self.widths_of = {f"base_{p}": {u.name: u.width for u in units} for p in self.options.precisions}
        if self.options.kit_only:
            return self._write_kit(units)
        finalists = self._explore(units) if units else []
        return self._finish(self._final_rows(finalists))

    def _choose_selection_split(self) -> None:
        """Choose on images the model never saw (`selection.py`); say which, in the log and the trace."""
        from edgeopt.run.search.selection import selection_split

        options, path = self.options, self.steps.artifacts[self.reference_row].path
        val = validation_accuracy_tflite(path, self.steps.dataset, options.threads)
        test = test_accuracy_tflite(path, self.steps.dataset, options.threads)
        self.steps.dataset, self.trace.selection = selection_split(self.steps.dataset, val, test, options.selection,
                                                                   options.seed)
        self.split = self.trace.selection["split"]
        self.reference_accuracy = val if self.split == "validation" else \
            validation_accuracy_tflite(path, self.steps.dataset, options.threads)
        self.floor = self.reference_accuracy - options.budget
        self.trace.reference = {"row": self.reference_row, "val_accuracy": self.reference_accuracy,
                                "validation_accuracy": val, "test_accuracy": test}
        self.log(f"  choosing on the {self.split} split ({self.trace.selection['images']} images; "
                 f"{self.trace.selection['why']}); every row is reported on "
                 f"{self.trace.selection['reported_images']} test images it never chose on")
        self.log(f"  reference {self.reference_row}: {self.reference_accuracy:.2f} % there; the budget keeps rows "
                 f"at ≥ {self.floor:.2f} %")

    def _costs(self, units: list[Unit]):
        from edgeopt.run.search.costs import ProxyCosts, TableCosts, read_latency_table

        if self.options.latency_table is None:
            return ProxyCosts(self.bases, units, objective=self.options.objective, threads=self.options.threads)
        self.table_costs = TableCosts(read_latency_table(Path(self.options.latency_table), self.bases, self.log), units)
        return self.table_costs

    def _write_kit(self, units: list[Unit]) -> SearchResult:
        from edgeopt.run.search.costs import unit_groups
        from edgeopt.run.search.kit import write_kit

        if not units:
            raise EdgeoptError(f"{self.options.model} has no layer whose channels can be narrowed: a latency kit "
                               "would hold nothing but the model itself. Time the model with `edgeopt profile`.")
        kit = self.out_dir / "kit"
        groups = {precision: unit_groups(data, units) for precision, data in self.bases.items()}
        manifest = write_kit(self.bases, units, groups, kit, threads=self.options.threads)
        count = len(json.loads(manifest.read_text())["entries"])
        self.trace.final = {"kit": str(kit), "files": count + len(self.bases)}
        self.save()
        self.log(f"  wrote the latency kit {kit}: {count} single-op files and {len(self.bases)} models")
        return SearchResult(self.out_dir, [], None, {}, self.trace.__dict__)

    def _units(self) -> list[Unit]:
        """One unit per channel group a Conv2D or Dense writes (residual streams, gates: one group each)."""
        from edgeopt.models.keras_io import load_keras_model
        from edgeopt.techniques.elimination.groups import channel_groups

        self.model = load_keras_model(self.steps.artifacts["base"].path)
        units = []
        for group in channel_groups(self.model):
            if group.fixed:
                self.log(f"  {group.describe()}: not searched (the group {group.fixed})")
            elif group.width >= 4:
                units.append(grid_unit(group.name, group.producers, group.width))
        self.trace.units = [u.__dict__ | {"layers": list(u.layers)} for u in units]
        self.log("  units: " + (", ".join(f"{u.name} ({u.width}{', ' + str(len(u.layers)) + ' layers' if len(u.layers) > 1 else ''})"
                                          for u in units) or "none"))
        return units

    # --- candidates, measured and scored before any training ----------------------------------------
    def _explore(self, units: list[Unit]) -> list[Candidate]:
        from edgeopt.run.search.candidates import CALIBRATION_IMAGES, SENSITIVITY_IMAGES, configurations, curves_of, \
            measured_candidates, sensitivity_of
        from edgeopt.run.search.plateaus import searched_widths
        from edgeopt.run.search.sensitivity import Narrower, configuration_accuracy, top1

        dataset, costs = self.steps.dataset, self._costs(units)
        # A Dense unit's refit needs at least as many images as it keeps neurons.
        calibration = dataset.calibration_samples(max([CALIBRATION_IMAGES] + [u.width for u in units]),
                                                  self.options.seed)
        curves = curves_of(self.trace, units, costs, self.log)
        tops = searched_widths(curves, units)
        if self.options.latency_table is not None:  # the kit measured its own grid: search those widths
            tops = {u: sorted(set(ws) | {g for g in next(t["grid"] for t in costs.table["units"] if t["name"] == u)})
                    for u, ws in tops.items()}
        self.save()
        x, y = dataset.x_val[:SENSITIVITY_IMAGES], dataset.y_val[:SENSITIVITY_IMAGES]
        table = sensitivity_of(self.trace, self.model, units, tops, calibration, x, y, self.log)
        self.save()
        untrained = top1(self.model.predict(x, batch_size=512, verbose=0), y)
        narrower = Narrower(self.model, units, calibration)
        self.log(f"  {self.left_text()}")
        candidates = measured_candidates(
            self.trace, units, configurations(units, curves, table, untrained), costs,
            lambda widths: configuration_accuracy(narrower, widths, dataset.x_train, x, y, seed=self.options.seed),
            self.log)
        self.save()
        return self._finetune_finalists(candidates)

    # --- fine-tunes -------------------------------------------------------------------------------
    def _finetune_finalists(self, candidates: list[Candidate]) -> list[Candidate]:
        by_name = {c.name: c for c in candidates}
        for name in self.trace.finalists:  # a resumed search: what was tuned before, in order
            by_name[name].tuned = self._tuned_accuracy(by_name[name])
        self._plan_finetune(PLANNED_UNIFORM_FINETUNES + self.options.finalists)
        self.log(f"  fine-tunes: {self.trace.finetune['text']}; {self.left_text()}")
        # The uniform cuts widest first: once one misses the budget after the same fine-tune, a deeper
        # one would too (it cuts every unit further), and its fine-tune is better spent on allocations.
        for candidate in (c for c in candidates if c.kind == "uniform"):
            if candidate.tuned is None:
                if self._no_time_for_one_more():
                    break
                self.log(f"  fine-tuning {candidate.name} ({candidate.precision} {candidate.cost:.4g}, "
                         f"{candidate.cheap:.2f} % before); {self.left_text()}")
                self._tune([candidate])
            if candidate.tuned < self.floor:
                break
        ceiling = min(self.trace.reference.get("costs", {}).values() or [float("inf")])
        while sum(c.kind == "allocated" and c.tuned is not None for c in candidates) < self.options.finalists:
            chosen = next_finalist(candidates, self.floor, ceiling) or \
                next_finalist(candidates, self.floor, ceiling, margin=LONG_SHOT_MARGIN)
            if chosen is None:
                self.trace.stop = "no faster allocation left that the fine-tunes so far predict near the budget"
                break
            if chosen.name not in self.trace.finalists and self._no_time_for_one_more():
                break
            self.log(f"  fine-tuning {chosen.name} ({chosen.precision} {chosen.cost:.4g}, "
                     f"{chosen.cheap:.2f} % before); {self.left_text()}")
            self._tune([chosen])
        self.save()
        return [c for c in candidates if c.tuned is not None]

    def _plan_finetune(self, fine_tunes: int) -> None:
        """The size of the one fine-tune every finalist gets, set once from the time left (`budget.py`)."""
        from edgeopt.run.search.budget import finetune_images, training_images_per_second

        if self.trace.finetune:
            return
        dataset, options = self.steps.dataset, self.options
        rate = training_images_per_second(self.model, dataset.x_train, dataset.y_train, options.batch_size)
        seconds = max(self.left() - self._reserve() - FINETUNE_OVERHEAD_SECONDS * fine_tunes, 0.0)
        images = options.finetune_samples or finetune_images(seconds, rate, fine_tunes, len(dataset.x_train),
                                                             options.max_finetune_epochs)
        self.trace.finetune = {"images": images, "images_per_second": rate, "seconds_each": images / rate,
                               "learning_rate": options.learning_rate, "schedule": "cosine",
                               "text": f"{images} images each at {rate:.0f} images/s, cosine from "
                                       f"{options.learning_rate:g}"}
        self.save()

    def _reserve(self) -> float:  # the conversions' and the final timing's time, for the most rows expected
        rows = len(self.options.precisions) + 2 * (4 + self.options.finalists)
        return RESERVE_SECONDS + RESERVE_SECONDS_PER_ROW * rows

    def _steps_of(self, candidate: Candidate) -> list[dict]:
        from edgeopt.run.search.steps import candidate_steps

        return candidate_steps(candidate.name, candidate.widths, {u["name"]: u["width"] for u in self.trace.units},
                               self.trace.finetune["images"], len(self.steps.dataset.x_train), self.options)

    def _no_time_for_one_more(self) -> bool:
        """True (and the stop recorded) when one more fine-tune would eat the conversions' and timing's time."""
        each = self.trace.finetune.get("measured_seconds_each", self.trace.finetune["seconds_each"])
        if self.left() >= self._reserve() + each:
            return False
        self.trace.stop = f"time: {self.left_text()}, kept for the conversions and the final timing"
        return True

    def _tune(self, batch: list[Candidate]) -> None:
        start, fresh = self.clock(), [c for c in batch if c.name not in self.trace.finalists]
        self.steps.run([step for c in batch for step in self._steps_of(c)])
        for candidate in batch:
            candidate.tuned = self._tuned_accuracy(candidate)
            if candidate.name not in self.trace.finalists:
                self.trace.finalists.append(candidate.name)
            verdict = "within budget" if candidate.tuned >= self.floor else "below the floor"
            self.log(f"    {candidate.name}: {candidate.cheap:.2f} % → {candidate.tuned:.2f} % after the fine-tune "
                     f"({verdict})")
        if fresh:  # what one really took, cut and scoring included: the next one must fit in the time left
            self.trace.finetune["measured_seconds_each"] = (self.clock() - start) / len(fresh)
        self.save()

    def _tuned_accuracy(self, candidate: Candidate) -> float:
        """A fine-tuned candidate's selection accuracy, scored once and kept in the trace."""
        step_id = f"{candidate.name}_ft"
        if step_id not in self.trace.accuracy:
            self.trace.accuracy[step_id] = validation_accuracy_keras(self.steps.artifacts[step_id].path,
                                                                     self.steps.dataset)
        return self.trace.accuracy[step_id]

    # --- the end ----------------------------------------------------------------------------------
    def _final_rows(self, finalists: list[Candidate]) -> list[str]:
        """Convert steps of every row: the base in every precision, each finalist in those its proxies favour."""
        rows = [f"base_{p}" for p in self.options.precisions]
        steps = []
        for candidate in finalists:
            self.steps.run(self._steps_of(candidate))  # reused: they ran when it was tuned
            for precision in candidate.precisions_within():
                steps.append({"id": f"{candidate.name}_{precision}", "stage": "convert",
                              "from": f"{candidate.name}_ft", "mode": precision})
                self.widths_of[steps[-1]["id"]] = dict(candidate.widths)
        if steps:
            self.log(f"  final: {len(steps)} conversion(s) of {len(finalists)} fine-tuned candidate(s); "
                     f"{self.left_text()}")
            self.steps.run(steps)
        mixed = self._mixed_precision([c.name for c in finalists if {"float32", "int8"} <= set(c.precisions_within())])
        if mixed:
            self.steps.run(mixed)
        self.kind_of = {f"{c.name}_{p}": c.kind for c in finalists for p in self.options.precisions}
        self.kind_of.update({f"{c.name}_mixed": c.kind for c in finalists})
        return rows + [s["id"] for s in steps + mixed]

    def _mixed_precision(self, models: list[str]) -> list[dict]:
        """An int8 row with float layers, for each model where this CPU runs some layer faster in float."""
        from edgeopt.run.search.mixed import mixed_precision_steps

        if self.options.latency_table:
            return []  # a table cannot say what a mixed graph costs
        steps = mixed_precision_steps(models, self.steps.artifacts, self.trace.mixed, self.options.threads, self.log)
        self.save()
        for step in steps:
            self.widths_of[step["id"]] = self.widths_of.get(step["id"].removesuffix("_mixed") + "_int8")
        return steps

    def _finish(self, row_ids: list[str]) -> SearchResult:
        from edgeopt.report.machines import write_run_report
        from edgeopt.run.pipeline import plan_steps, results_document
        from edgeopt.run.profiling import profile_run
        from edgeopt.rundir.folder import write_test_split

        recipe, dataset = self.steps.recipe, self.steps.dataset
        plan = {p.step.id: p for p in plan_steps(recipe)}
        # Every row timed together in the profiler's interleaved rounds (docs/timing.md), so the
        # choice below compares figures measured side by side; an unchanged set of rows is reused.
        rows = profile_run([plan[step_id] for step_id in row_ids], self.steps.artifacts, recipe, dataset,
                           self.out_dir, False, self.log)
        kinds = getattr(self, "kind_of", {})
        for step_id, row in zip(row_ids, rows):
            row.extra["val_accuracy"] = validation_accuracy_tflite(self.steps.artifacts[step_id].path,
                                                                   dataset, self.options.threads)
            row.extra["selection_split"] = self.split
            row.extra["widths"] = self.widths_of.get(step_id)
            row.extra["candidate"] = "plain" if step_id.startswith("base_") else kinds.get(step_id)
            if getattr(self, "table_costs", None) is not None and row.extra["widths"] is not None:
                timed = row.dtype if row.dtype in self.table_costs.table["models"] else "float32"
                row.extra["target_p50_ms"] = self.table_costs.estimate(timed, row.extra["widths"])
        best = choose(rows, self.floor, self.options.objective)
        self._explain(rows, best)
        test_data = write_test_split(self.out_dir, dataset.x_test, dataset.y_test,
                                     {"name": dataset.name, "source": dataset.source, "selection_split": self.split,
                                      "limit_test": self.options.limit_test, "seed": self.options.seed})
        document = {**results_document(recipe, rows, dataset, test_data), "executor": {"name": "search"}}
        atomic_write_text(self.out_dir / "results.json", json.dumps(document, indent=2) + "\n")
        if best is not None:
            shutil.copyfile(self.steps.artifacts[best.name].path, self.out_dir / ".best.tflite.partial")
            (self.out_dir / ".best.tflite.partial").replace(self.out_dir / "best.tflite")
            atomic_write_text(self.out_dir / "recipe.yaml", self.steps.rebuild_recipe(best.name, "search_best"))
        reference = next(r for r in rows if r.name == self.reference_row)
        self.trace.final = {"rows": row_ids, "best": best.name if best else None,
                            "why": why(best, rows, reference, self.reference_accuracy, self.floor,
                                       self.options.budget, self.options.objective, self.split),
                            **self._against_uniform(rows, best)}
        self.save()
        write_run_report(self.out_dir, document, devices=[])
        return SearchResult(self.out_dir, rows, best, document, self.trace.__dict__)

    def _against_uniform(self, rows: list[Row], best: Row | None) -> dict:
        found = margins(rows, best, self.floor, self.options.objective)
        if found.get("margin_over_uniform"):
            self.log(f"  {best.name} is {found['margin_over_uniform']:.2f}× the best uniform cut within budget "
                     f"({found['best_uniform']}) and {found.get('margin_over_plain', 0):.2f}× the best plain "
                     f"conversion ({found['best_plain']}) by {self.options.objective}")
        return found

    def _explain(self, rows: list[Row], best: Row | None) -> None:
        """Per-op times of the reference and the chosen row: where the time went (docs/where-time-goes.md)."""
        from edgeopt.run.explain import explain_named_rows

        names = [self.reference_row] + ([best.name] if best is not None else [])
        explain_named_rows(rows, list(dict.fromkeys(names)), self.out_dir, self.log, threads=self.options.threads)
