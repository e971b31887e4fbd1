"""The search's steps: a recipe that grows as the search decides, run by the pipeline's own step
machinery (fingerprints, `.partial` folders, resume), so a search folder is a run folder.

The search never trains or converts by itself: every model it makes is a recipe step — `load`,
`convert`, `eliminate`, `finetune` — appended to `search.yaml` and run (or reused) like any step of
`edgeopt run`. The recipe that rebuilds the chosen model is that recipe's steps along its lineage.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

import yaml

from edgeopt.common.atomic import atomic_write_text
from edgeopt.data.datasets import Dataset, load_dataset
from edgeopt.run.pipeline import StepExecutor, plan_steps, run_or_reuse_step
from edgeopt.run.recipe import Recipe, parse_recipe
from edgeopt.run.search.options import SearchOptions
from edgeopt.stages import Artifact


def search_recipe(options: SearchOptions) -> dict:
    """The recipe every search starts from: load the model, convert it to every precision deployed."""
    data = {"name": options.data, "validation_split": options.validation_split}
    if options.input_range is not None:
        data["input_range"] = list(options.input_range)
    if options.data_path:
        data["path"] = str(Path(options.data_path).expanduser().resolve())
    for key in ("limit_train", "limit_test"):
        if getattr(options, key):
            data[key] = getattr(options, key)
    steps = [{"id": "base", "stage": "load", "path": str(Path(options.model).expanduser().resolve()),
              "profile": False}]
    steps += [{"id": f"base_{p}", "stage": "convert", "from": "base", "mode": p} for p in options.precisions]
    return {"name": "search", "seed": options.seed, "data": data,
            "profile": {"threads": options.threads, "runs": 200, "warmup": 20},
            "baseline": f"base_{options.precisions[0]}" if "float32" not in options.precisions else "base_float32",
            "accuracy_budget": options.budget, "steps": steps}


class SearchSteps:
    """The growing recipe of one search and the artifacts of its steps."""

    def __init__(self, options: SearchOptions, out_dir: Path, log_fn: Callable[[str], None],
                 executor: StepExecutor | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.log = log_fn
        self.executor = executor
        self.document = search_recipe(options)
        self.recipe = self._parse()
        data = self.recipe.data  # what `edgeopt run recipe.yaml` will load: the same split and scaling
        self.dataset: Dataset = load_dataset(data.name, data.path, limit_train=data.limit_train,
                                             limit_test=data.limit_test, seed=options.seed,
                                             scaling=data.scaling(), validation_split=data.validation_split)
        self.artifacts: dict[str, Artifact] = {}

    def _parse(self) -> Recipe:
        text = yaml.safe_dump(self.document, sort_keys=False)
        return parse_recipe(text, self.out_dir / "search.yaml")

    def has(self, step_id: str) -> bool:
        return any(s["id"] == step_id for s in self.document["steps"])

    def run(self, steps: list[dict]) -> list[Artifact]:
        """Append `steps` (those not in the recipe yet) and run or reuse them, in order."""
        self.document["steps"] += [copy.deepcopy(s) for s in steps if not self.has(s["id"])]
        self.recipe = self._parse()
        atomic_write_text(self.out_dir / "search.yaml", yaml.safe_dump(self.document, sort_keys=False))
        wanted = [s["id"] for s in steps]
        plan = plan_steps(self.recipe)
        if self.executor is not None and len([p for p in plan if p.step.id in wanted]) > 1:
            done = self.executor.run_steps(plan, self.recipe, self.dataset, self.out_dir, force=False, log_fn=self.log)
            self.artifacts.update(done)
        else:
            for planned in plan:
                if planned.step.id not in self.artifacts:
                    self.artifacts[planned.step.id] = run_or_reuse_step(
                        planned, f"[{planned.step.id}] {_stage_and_mode(planned.step)}"
                        + (f" ← {planned.step.source}" if planned.step.source else ""),
                        self.recipe, self.dataset, self.artifacts, self.out_dir, False, self.log)
        return [self.artifacts[i] for i in wanted]

    def lineage(self, step_id: str) -> list[dict]:
        """The steps that make `step_id`, from the first, as the recipe holds them."""
        by_id = {s["id"]: s for s in self.document["steps"]}
        chain = []
        while step_id is not None:
            chain.append(by_id[step_id])
            step_id = by_id[step_id].get("from")
        return list(reversed(chain))

    def rebuild_recipe(self, step_id: str, name: str) -> str:
        """YAML of a recipe that rebuilds `step_id` with `edgeopt run` (its lineage, same data and seed)."""
        document = {**self.document, "name": name, "baseline": self.document["baseline"],
                    "steps": [dict(s, profile=s["id"] in (step_id, self.document["baseline"]))
                              for s in self.lineage(step_id)]}
        baseline = self.document["baseline"]
        if not any(s["id"] == baseline for s in document["steps"]):
            document["steps"].insert(1, dict(next(s for s in self.document["steps"] if s["id"] == baseline)))
        header = ("# Rebuilds the model `edgeopt search` chose, with the same data, seed and steps:\n"
                  f"#   edgeopt run recipe.yaml --out runs/{name}\n")
        return header + yaml.safe_dump(document, sort_keys=False)


def _stage_and_mode(step) -> str:
    """"convert (int8)": a conversion says which precision it makes, or four lines read alike."""
    mode = getattr(step.params, "mode", None)
    return f"{step.stage} ({mode})" if mode else step.stage



def candidate_steps(name: str, widths: dict[str, int], full: dict[str, int], images: int, train_images: int,
                    options: SearchOptions) -> list[dict]:
    """A candidate's steps: its cut (every unit narrower than full, refit, as `eliminate` does) and its
    fine-tune (`images` images, cosine from the search's rate: the same for every candidate).

    Example:
        >>> from edgeopt.run.search.options import search_options
        >>> o = search_options(model="m.keras", data="mnist_embedded", budget=1)
        >>> [s["id"] for s in candidate_steps("uniform50", {"a": 8, "b": 16}, {"a": 16, "b": 16}, 500, 1000, o)]
        ['uniform50_cut', 'uniform50_ft']
    """
    from edgeopt.run.search.budget import finetune_shape

    cut = [unit for unit in full if widths[unit] < full[unit]]
    return [{"id": f"{name}_cut", "stage": "eliminate", "from": "base", "layers": cut,
             "keep": {unit: widths[unit] for unit in cut}, "profile": False},
            {"id": f"{name}_ft", "stage": "finetune", "from": f"{name}_cut", **finetune_shape(images, train_images),
             "learning_rate": options.learning_rate, "learning_rate_schedule": "cosine",
             "batch_size": options.batch_size, "profile": False}]
