"""What `edgeopt search` was asked for, validated before any work starts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgeopt.common.errors import EdgeoptError

PRECISIONS = ("float32", "float16", "dynamic", "int8")
# Part of a search's identity: bump it when the same options make different steps or choices (2: the
# fine-tunes decay their rate; 3: widths allocated over all units at once, on plateau tops, chosen on
# images the model never saw), so an older trace is not replayed.
SEARCH_VERSION = 3


class SearchOptions(BaseModel):
    """Everything that decides what a search does; all but `time_limit_min` and the executor are
    part of its identity, so a resumed search continues the same trace."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Path = Field(description="the Keras model to make faster (.keras or .h5)")
    data: str = Field(description="dataset name (`edgeopt datasets`)")
    data_path: Path | None = None
    limit_train: int | None = Field(None, ge=1)
    limit_test: int | None = Field(None, ge=1)
    input_range: tuple[float, float] | None = Field(None, description="[lo, hi] the model takes pixels in "
                                                    "(the data section's input_range; default [0, 1])")
    budget: float = Field(description="accuracy points the result may lose against the model's float32 .tflite")
    objective: Literal["p50", "energy", "size"] = "p50"
    time_limit_min: float = Field(10.0, description="minutes for the whole search")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    threads: int = Field(1, ge=1, le=256)
    precisions: tuple[str, ...] = PRECISIONS
    validation_split: float = Field(0.1, gt=0, lt=0.5, description="training images held out to select on")
    selection: Literal["auto", "validation", "test"] = Field(
        "auto", description="the split candidates are chosen on: the validation split, a seeded half of the test "
        "split (the other half reported), or auto: the test half when the model has seen the validation images")
    finetune_samples: int | None = Field(None, ge=1, description="images each candidate's fine-tune trains on "
                                         "(default: what the time limit allows, at most max_finetune_epochs)")
    max_finetune_epochs: int = Field(2, ge=1, le=1000, description="the longest fine-tune a candidate gets")
    finalists: int = Field(3, ge=0, le=20, description="allocated configurations fine-tuned beside the uniform cuts")
    learning_rate: float = Field(2e-3, gt=0, le=1, description="the fine-tunes' rate, decayed to 0 (cosine)")
    batch_size: int = Field(64, ge=1, le=65536)
    latency_table: Path | None = Field(None, description="a table `edgeopt profile KIT` measured on the target")
    kit_only: bool = Field(False, description="write the latency-table kit for the target and stop")

    @field_validator("budget")
    @classmethod
    def _budget(cls, value: float) -> float:
        if not 0 < value <= 100:
            raise ValueError("must be more than 0 and at most 100 accuracy points (1 = one point)")
        return value

    @field_validator("time_limit_min")
    @classmethod
    def _time_limit(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("must be more than 0 minutes")
        return value

    @field_validator("precisions")
    @classmethod
    def _precisions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [p for p in value if p not in PRECISIONS]
        if unknown or not value:
            raise ValueError(f"must be one or more of {', '.join(PRECISIONS)}; unknown: {', '.join(unknown) or 'none given'}")
        return tuple(dict.fromkeys(value))

    def identity(self) -> str:
        """A digest of what decides the search's choices (not its time limit): resume checks it."""
        keep = {**self.model_dump(mode="json", exclude={"time_limit_min", "kit_only"}), "version": SEARCH_VERSION}
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()


def search_options(**values) -> SearchOptions:
    """Validated options, or one EdgeoptError naming each wrong value and what was received.

    Example:
        >>> search_options(model="m.keras", data="mnist_embedded", budget=0)
        Traceback (most recent call last):
        edgeopt.common.errors.EdgeoptError: --budget must be more than 0 ... Received: --budget 0
    """
    try:
        return SearchOptions(**values)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = "--" + str(err["loc"][0]).replace("_min", "").replace("_", "-")
            message = err["msg"].removeprefix("Value error, ")
            lines.append(f"{key} {message}. Received: {key} {err['input']}")
        raise EdgeoptError("\n".join(lines)) from None
