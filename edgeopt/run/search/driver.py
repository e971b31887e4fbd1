"""`edgeopt search`: the fastest deployable model within the accuracy budget, chosen by measuring.

1. The model is loaded and converted to every precision deployed; its float32 `.tflite` is the
   reference, scored on a validation split carved from the training data (the test split is only
   reported).
2. NetAdapt over the model's channel units (`netadapt.py`): each iteration times latency proxies
   of every candidate width side by side on this CPU (`costs.py`; or reads the target's latency
   table), narrows each unit to the widest width that reaches the iteration's target, fine-tunes
   each briefly, and keeps the one that loses least validation accuracy. When even that one falls
   below the floor, it gets the final fine-tune first, and the search stops only if it still misses
   the budget (the short fine-tune understates what fine-tuning recovers).
3. The narrowest iterations still near the budget get a longer fine-tune and are converted to every
   precision; every `.tflite` made is a row, timed together; the best row by the objective whose
   validation accuracy is within budget becomes `best.tflite`.

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

import numpy as np

from edgeopt.common.atomic import atomic_write_text
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.row import Row
from edgeopt.run.pipeline import StepExecutor
from edgeopt.run.search.choice import choose, why
from edgeopt.run.search.netadapt import Iteration, Proposal, Unit, Widths, grid_unit, next_iteration
from edgeopt.run.search.options import SearchOptions
from edgeopt.run.search.scoring import validation_accuracy_keras, validation_accuracy_tflite, validation_seen_warning
from edgeopt.run.search.steps import SearchSteps
from edgeopt.run.search.trace import TRACE_FILE, Trace

FINAL_SHARE = 0.3  # of the time limit, kept for the final fine-tunes, conversions and timing


@dataclass
class SearchResult:
    out_dir: Path
    rows: list[Row]
    best: Row | None
    document: dict  # results.json
    trace: dict  # search.json


def _key(widths: Widths) -> str:
    return json.dumps(widths, sort_keys=True)


def search(options: SearchOptions, out_dir: str | Path, *, log_fn: Callable[[str], None],
           executor: StepExecutor | None = None, clock: Callable[[], float] = time.monotonic) -> SearchResult:
    """Run (or resume) a search into `out_dir`; see the module's docstring.

    Example:
        >>> from edgeopt.run.search.options import search_options
        >>> options = search_options(model="base.keras", data="fashion_mnist", budget=1, time_limit_min=20)
        >>> result = search(options, "runs/search", log_fn=print)          # doctest: +SKIP
        >>> result.best.name, result.best.latency_ms_p50                    # doctest: +SKIP
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

    # --- time -------------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return self.spent_before + self.clock() - self.started

    def left(self) -> float:
        return self.options.time_limit_min * 60 - self.elapsed()

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
                 f"{self.options.budget:g} points, objective {self.options.objective}, "
                 f"{self.options.time_limit_min:g} min")
        bases = {p: a.path for p, a in zip(self.options.precisions, self.steps.run(
            [s for s in self.steps.document["steps"] if s["id"] != "base"]))}
        reference = self.steps.document["baseline"]
        self.reference_accuracy = validation_accuracy_tflite(self.steps.artifacts[reference].path,
                                                             self.steps.dataset, self.options.threads)
        self.floor = self.reference_accuracy - self.options.budget
        self.trace.reference = {"row": reference, "val_accuracy": self.reference_accuracy}
        self.log(f"  reference {reference}: {self.reference_accuracy:.2f} % on the validation split; "
                 f"the budget keeps rows at ≥ {self.floor:.2f} %")
        self.trace.reference["test_accuracy"], warning = validation_seen_warning(
            self.steps.artifacts[reference].path, self.reference_accuracy, self.steps.dataset, self.options)
        if warning:
            self.log(f"  warning: {warning}")
        units = self._units()
        if not units and len(self.options.precisions) == 1:
            raise EdgeoptError(f"{self.options.model} has nothing to search: no Conv2D or Dense layer whose channels "
                               f"can be eliminated, and one precision ({self.options.precisions[0]}). Allow more "
                               f"precisions (--precisions float32,int8) or give a model with conv or dense layers.")
        self.bases = {p: Path(path).read_bytes() for p, path in bases.items()
                      # float16 files run float32 kernels (their weights are widened at load): timing
                      # both would only let noise choose between two equal figures.
                      if not (p == "float16" and "float32" in bases)}
        self.full = {u.name: u.width for u in units}
        self.widths_of = {f"base_{p}": dict(self.full) for p in self.options.precisions}
        if self.options.kit_only:
            return self._write_kit(units)
        costs = self._costs(units) if units else None
        accepted = self._netadapt(units, costs) if units else []
        rows = self._final(accepted)
        return self._finish(rows)

    def _costs(self, units: list[Unit]):
        from edgeopt.run.search.costs import ProxyCosts, TableCosts
        from edgeopt.run.search.kit import check_table_matches

        if self.options.latency_table is None:
            return ProxyCosts(self.bases, units, objective=self.options.objective, threads=self.options.threads)
        path = Path(self.options.latency_table)
        try:
            table = json.loads(path.read_text())
            table["models"], table["entries"], table["units"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EdgeoptError(f"--latency-table {path} is not a latency table made by `edgeopt profile KIT` "
                               f"({exc.__class__.__name__}: {exc}).") from None
        check_table_matches(table, self.bases, path)
        machine = table.get("machine") or {}
        self.log(f"  costs: the latency table {path}, measured on {machine.get('hostname', '?')} "
                 f"({machine.get('cpu_model', '?')})")
        self.table_costs = TableCosts(table, units)
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

        model = load_keras_model(self.steps.artifacts["base"].path)
        units = []
        for group in channel_groups(model):
            if group.fixed:
                self.log(f"  {group.describe()}: not searched (the group {group.fixed})")
            elif group.width >= 4:
                units.append(grid_unit(group.name, group.producers, group.width))
        self.trace.units = [u.__dict__ | {"layers": list(u.layers)} for u in units]
        self.log("  units: " + (", ".join(f"{u.name} ({u.width}{', ' + str(len(u.layers)) + ' layers' if len(u.layers) > 1 else ''})"
                                          for u in units) or "none"))
        return units

    # --- NetAdapt ---------------------------------------------------------------------------------
    def _netadapt(self, units: list[Unit], costs) -> list[Iteration]:
        widths = {u.name: u.width for u in units}
        source = "base"
        accepted: list[Iteration] = []
        iteration_seconds = None
        number = 0
        while True:
            number += 1
            replay = number <= len(self.trace.iterations)
            reserve = FINAL_SHARE * self.options.time_limit_min * 60
            if not replay and self.left() - (iteration_seconds or 0) < reserve:
                self.trace.stop = f"time: {max(self.left(), 0) / 60:.1f} min left, kept for the final fine-tunes"
                break
            start = self.clock()
            iteration = next_iteration(number, units, widths, costs=self._cached_costs(costs, number),
                                       accuracy=self._accuracy_of(source), cut=self.options.cut,
                                       floor=self.floor - self.options.budget,
                                       recover=self._recovered_accuracy, budget_floor=self.floor)
            if replay:
                iteration_seconds = self.trace.iterations[number - 1].get("seconds", iteration_seconds)
            else:
                iteration_seconds = self.clock() - start
                self.trace.iterations.append({**iteration.to_dict(), "seconds": iteration_seconds})
            self.save()
            kept = iteration.kept
            if kept is None:
                self.trace.stop = iteration.note
                self.log(f"  iteration {number}: stop — {iteration.note}")
                break
            widths = {**widths, kept.unit: kept.width}
            # A kept proposal that needed the final fine-tune goes on from it: later cuts start recovered.
            source = self._ft_id(number, kept) if kept.recovered is None else self._final_finetune(number, kept)["id"]
            accepted.append(iteration)
            # Batches are timed minutes apart: chain each batch's own ratio, never compare across them.
            speedup = float(np.prod([it.cost_before / it.kept.cost for it in accepted]))
            self.log(f"  iteration {number}: {kept.unit} → {kept.width} channels, {kept.precision} "
                     f"{_cost_text(kept.cost, self.options.objective)} (was {_cost_text(iteration.cost_before, self.options.objective)}), "
                     f"validation {kept.accuracy:.2f} %"
                     + (f" ({kept.recovered:.2f} % after the final fine-tune)" if kept.recovered is not None else "")
                     + f"; best so far {speedup:.2f}× the start by its proxies; "
                     f"{max(self.left(), 0) / 60:.1f} min left")
        self.save()
        return accepted

    def _cached_costs(self, costs, number: int):
        """Costs measured together once per iteration; a resumed search reads them from the trace.

        Keyed by iteration: one configuration is timed again in later batches (the kept proposal is
        the next iteration's starting point), and a batch's figures are only comparable with each other.
        """
        def measure(configurations: list[Widths]) -> list[tuple[float, str]]:
            keys = [f"{number} {_key(w)}" for w in configurations]
            if not all(k in self.trace.costs for k in keys):
                for key, figure in zip(keys, costs(configurations)):
                    self.trace.costs[key] = list(figure)
            return [tuple(self.trace.costs[k]) for k in keys]

        return measure

    def _eliminate_id(self, number: int, proposal: Proposal) -> str:
        return f"it{number}_{proposal.unit}_{proposal.width}"

    def _ft_id(self, number: int, proposal: Proposal) -> str:
        return self._eliminate_id(number, proposal) + "_ft"

    def _accuracy_of(self, source: str):
        options = self.options

        def accuracy(number: int, widths: Widths, proposals: list[Proposal]) -> list[float]:
            steps = []
            samples = options.short_finetune_samples or max(1, len(self.steps.dataset.x_train) // 4)
            for p in proposals:
                layers = next(u["layers"] for u in self.trace.units if u["name"] == p.unit)
                steps.append({"id": self._eliminate_id(number, p), "stage": "eliminate", "from": source,
                              "layers": layers, "keep": p.width, "profile": False})
                steps.append({"id": self._ft_id(number, p), "stage": "finetune", "from": self._eliminate_id(number, p),
                              "epochs": 1, "samples_per_epoch": samples, "learning_rate": options.learning_rate,
                              "learning_rate_schedule": "cosine", "batch_size": options.batch_size, "profile": False})
            self.steps.run(steps)  # a resumed search reuses them: later steps start from them
            return [self._validation_accuracy(self._ft_id(number, p)) for p in proposals]

        return accuracy

    def _final_finetune(self, number: int, proposal: Proposal) -> dict:
        """The longer fine-tune of an iteration's kept proposal: a final candidate, or a stop's second opinion."""
        return {"id": f"final{number}", "stage": "finetune", "from": self._ft_id(number, proposal),
                "epochs": self.options.final_epochs, "learning_rate": self.options.learning_rate,
                # Decayed to 0: on a ResNet-8 cut, 2 epochs ended 1.3 points higher than at a constant rate.
                "learning_rate_schedule": "cosine", "batch_size": self.options.batch_size, "profile": False}

    def _recovered_accuracy(self, number: int, widths: Widths, proposal: Proposal) -> float:
        """Validation accuracy of `proposal` after the final fine-tune (the same step `_final` would run)."""
        step = self._final_finetune(number, proposal)
        self.log(f"  iteration {number}: the best proposal ({proposal.unit} → {proposal.width}) scores "
                 f"{proposal.accuracy:.2f} % after the short fine-tune, under the floor; giving it the final "
                 f"{self.options.final_epochs}-epoch fine-tune before stopping")
        self.steps.run([step])  # its eliminate and short fine-tune steps ran when it was scored
        return self._validation_accuracy(step["id"])

    def _validation_accuracy(self, step_id: str) -> float:
        """A Keras step's validation accuracy, scored once and kept in the trace (a resumed search reads it)."""
        if step_id not in self.trace.accuracy:
            path = self.steps.artifacts[step_id].path
            self.trace.accuracy[step_id] = validation_accuracy_keras(path, self.steps.dataset)
        return self.trace.accuracy[step_id]

    # --- the end ----------------------------------------------------------------------------------
    def _final(self, accepted: list[Iteration]) -> list[str]:
        """Convert steps of every row: the base, each kept iteration, and the final fine-tunes."""
        rows = [f"base_{p}" for p in self.options.precisions]
        finals = accepted[-self.options.final_candidates:]
        steps = []
        for it in accepted:
            steps.append({"id": f"it{it.number}_{it.kept.precision}", "stage": "convert",
                          "from": self._ft_id(it.number, it.kept), "mode": it.kept.precision})
            self.widths_of[steps[-1]["id"]] = {**it.widths_before, it.kept.unit: it.kept.width}
        for it in finals:
            final = f"final{it.number}"
            self.widths_of.update({f"{final}_{p}": {**it.widths_before, it.kept.unit: it.kept.width}
                                   for p in self.options.precisions})
            steps.append(self._final_finetune(it.number, it.kept))  # reused where a stop's second opinion made it
            steps += [{"id": f"{final}_{p}", "stage": "convert", "from": final, "mode": p}
                      for p in self.options.precisions]
        if steps:
            self.log(f"  final: {len(finals)} fine-tune(s) of {self.options.final_epochs} epochs "
                     f"({', '.join(f'iteration {it.number}' for it in finals) or 'none'}), then conversions")
            self.steps.run(steps)
        mixed = self._mixed_precision([f"final{it.number}" for it in finals] or ["base"])
        if mixed:
            self.steps.run(mixed)
        return rows + [s["id"] for s in steps + mixed if s["stage"] == "convert"]

    def _mixed_precision(self, models: list[str]) -> list[dict]:
        """An int8 row with float layers, for each model where this CPU runs some layer faster in float."""
        from edgeopt.models.keras_io import load_keras_model
        from edgeopt.run.search.mixed import float_faster_layers

        if not {"float32", "int8"} <= set(self.options.precisions) or self.options.latency_table:
            return []  # needs both precisions, timed here (a table cannot say what a mixed graph costs)
        steps = []
        for model in models:
            if model not in self.trace.mixed:
                layers = {layer.name for layer in load_keras_model(self.steps.artifacts[model].path).layers}
                chosen, times = float_faster_layers(self.steps.artifacts[f"{model}_float32"].path.read_bytes(),
                                                    self.steps.artifacts[f"{model}_int8"].path.read_bytes(),
                                                    layers, threads=self.options.threads)
                self.trace.mixed[model] = {"float_layers": chosen, "times_ms": times}
                self.save()
            chosen = self.trace.mixed[model]["float_layers"]
            if chosen:
                self.log(f"  {model}: {', '.join(chosen)} faster in float32 than in int8 here → {model}_mixed")
                steps.append({"id": f"{model}_mixed", "stage": "convert", "from": model, "mode": "int8",
                              "float_layers": chosen})
                self.widths_of[f"{model}_mixed"] = self.widths_of.get(f"{model}_int8")
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
        for step_id, row in zip(row_ids, rows):
            row.extra["val_accuracy"] = validation_accuracy_tflite(self.steps.artifacts[step_id].path,
                                                                   self.steps.dataset, self.options.threads)
            row.extra["widths"] = self.widths_of.get(step_id)
            if getattr(self, "table_costs", None) is not None and row.extra["widths"] is not None:
                timed = row.dtype if row.dtype in self.table_costs.table["models"] else "float32"
                row.extra["target_p50_ms"] = self.table_costs.estimate(timed, row.extra["widths"])
        best = choose(rows, self.floor, self.options.objective)
        self._explain(rows, best)
        test_data = write_test_split(self.out_dir, dataset.x_test, dataset.y_test,
                                     {"name": dataset.name, "source": dataset.source,
                                      "limit_test": self.options.limit_test, "seed": self.options.seed})
        document = {**results_document(recipe, rows, dataset, test_data), "executor": {"name": "search"}}
        atomic_write_text(self.out_dir / "results.json", json.dumps(document, indent=2) + "\n")
        if best is not None:
            shutil.copyfile(self.steps.artifacts[best.name].path, self.out_dir / ".best.tflite.partial")
            (self.out_dir / ".best.tflite.partial").replace(self.out_dir / "best.tflite")
            atomic_write_text(self.out_dir / "recipe.yaml", self.steps.rebuild_recipe(best.name, "search_best"))
        self.trace.final = {"rows": row_ids, "best": best.name if best else None,
                            "why": why(best, next(r for r in rows if r.name == self.trace.reference["row"]),
                                       self.reference_accuracy, self.options.budget, self.options.objective)}
        self.save()
        write_run_report(self.out_dir, document, devices=[])
        return SearchResult(self.out_dir, rows, best, document, self.trace.__dict__)

    def _explain(self, rows: list[Row], best: Row | None) -> None:
        """Per-op times of the reference and the chosen row: where the time went (docs/where-time-goes.md)."""
        from edgeopt.run.explain import explain_named_rows

        names = [self.trace.reference["row"]] + ([best.name] if best is not None else [])
        explain_named_rows(rows, list(dict.fromkeys(names)), self.out_dir, self.log, threads=self.options.threads)


def _cost_text(cost: float, objective: str) -> str:
    return f"{cost / 1024:.1f} KiB" if objective == "size" else f"{cost:.4f} ms"
