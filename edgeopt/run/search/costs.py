"""What a width configuration costs on the target, without building it: latency proxies.

A configuration's proxy is the deployed `.tflite` of the model the search started from with each
unit's channel group cut to its width (`profile/tflite_channels.py`): the same ops, shapes,
dtypes and XNNPACK partitions as the eliminated model, made in milliseconds. All proxies of one
NetAdapt iteration are timed side by side, in interleaved rounds, in every precision the search
deploys; a configuration costs its fastest precision's time. With objective `size` a
configuration costs its smallest file instead, which needs no timing at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgeopt.common.errors import EdgeoptError
from edgeopt.profile.tflite_channels import ChannelGroup, channel_groups, narrowed
from edgeopt.run.search.netadapt import Unit, Widths


def layer_of(tensor_name: str, layer_names: set[str]) -> str | None:
    """The Keras layer a converted op came from: the innermost path part of its output name that
    is a layer of the model ('gap_cnn/conv2/Relu;gap_cnn/conv2/Conv2D' → 'conv2').

    Example:
        >>> layer_of("gap_cnn/conv2/Relu;gap_cnn/conv2/Conv2D", {"conv1", "conv2"})
        'conv2'
    """
    for part in tensor_name.split(";"):
        for piece in reversed(part.split("/")[:-1]):
            if piece in layer_names:
                return piece
    return None


def unit_groups(flatbuffer: bytes, units: list[Unit]) -> dict[str, int]:
    """Each unit's channel group in a converted model (unit name → group id).

    Raises:
        EdgeoptError: A unit's layers write no group of the graph, or a fixed one.
    """
    layer_names = {layer for unit in units for layer in unit.layers}
    found: dict[str, ChannelGroup] = {}
    for group in channel_groups(flatbuffer):
        for producer in group.producers:
            layer = layer_of(producer, layer_names)
            unit = next((u for u in units if layer in u.layers), None)
            if unit is not None:
                found.setdefault(unit.name, group)
    missing = [u.name for u in units if u.name not in found]
    fixed = [f"{name} ({group.fixed})" for name, group in found.items() if group.fixed]
    if missing or fixed:
        raise EdgeoptError("the converted model does not show these units as channels that can be cut: "
                           + "; ".join([f"{m} (no op of the .tflite comes from its layers)" for m in missing] + fixed))
    return {name: group.id for name, group in found.items()}


def interleaved_p50_ms(models: list[bytes], *, rounds: int = 5, invokes: int = 40, warmup: int = 10,
                       threads: int = 1, seed: int = 0) -> list[float]:
    """p50 latency of each in-memory model, timed in `rounds` rounds of a fresh random order.

    Every model's interpreter is made once; each round gives every model a short warm-up and then
    `invokes` timed invokes, so a busy second on a shared machine lands on all models alike.
    """
    import time

    from ai_edge_litert.interpreter import Interpreter

    from edgeopt.common.quiet import native_output_captured
    from edgeopt.profile.runner import fill_random_inputs

    interpreters = []
    with native_output_captured():
        for data in models:
            interpreter = Interpreter(model_content=data, num_threads=threads)
            interpreter.allocate_tensors()
            fill_random_inputs(interpreter)
            interpreters.append(interpreter)
    samples: list[list[float]] = [[] for _ in models]
    rng = np.random.default_rng(seed)
    clock = time.perf_counter
    for _ in range(rounds):
        for index in rng.permutation(len(models)):
            invoke = interpreters[index].invoke
            for _ in range(warmup):
                invoke()
            for _ in range(invokes):
                start = clock()
                invoke()
                samples[index].append((clock() - start) * 1e3)
    return [float(np.median(s)) for s in samples]


@dataclass
class ProxyCosts:
    """Costs of width configurations from latency proxies of the deployed models.

    Attributes:
        bases: Precision → the deployed `.tflite` of the model the search started from.
        units: The units, as the search narrows them.
        objective: "p50" or "energy" (time the proxies) or "size" (their bytes).
        threads: Interpreter threads, as the models will run.
        measure: Times a list of flatbuffers side by side (injectable for tests).
    """

    bases: dict[str, bytes]
    units: list[Unit]
    objective: str = "p50"
    threads: int = 1
    measure: Callable[..., list[float]] = interleaved_p50_ms

    def __post_init__(self) -> None:
        self.groups = {precision: unit_groups(data, self.units) for precision, data in self.bases.items()}
        self.full = {unit.name: unit.width for unit in self.units}

    def proxy(self, precision: str, widths: Widths) -> bytes:
        cut = {self.groups[precision][name]: w for name, w in widths.items() if w != self.full[name]}
        return narrowed(self.bases[precision], cut) if cut else self.bases[precision]

    def __call__(self, configurations: list[Widths]) -> list[tuple[float, str]]:
        precisions = list(self.bases)
        models = [self.proxy(p, widths) for widths in configurations for p in precisions]
        if self.objective == "size":
            figures = [float(len(m)) for m in models]
        else:
            figures = self.measure(models, threads=self.threads)
        per_config = np.array(figures).reshape(len(configurations), len(precisions))
        return [(float(row.min()), precisions[int(row.argmin())]) for row in per_config]
