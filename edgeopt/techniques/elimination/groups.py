"""Coupled channel groups of a Keras model: channels that must disappear together.

A *channel group* is one channel axis shared by several tensors. A Conv2D (or Dense) writes it;
every layer that treats channels one by one (BatchNormalization, activations, pooling, padding,
dropout, a DepthwiseConv2D with depth multiplier 1, a Reshape that keeps the last axis) carries
it on; a residual Add, and any other element-wise merge (Multiply, Subtract, Average, Maximum,
Minimum), *ties* the axes of its inputs into one — channel j of the sum is channel j of every
branch, so the 1×1 shortcut conv, the block's last conv and every earlier writer of the stream
are one group, and so are a squeeze-excite gate's last conv and the channels it gates. A
Concatenate places each input's group at its own offset of the output's channel axis. The
group ends at its *readers*: the Conv2D or Dense layers that take it as input (directly, after a
global pooling, or after a Flatten), which mix channels and can absorb a least-squares
reconstruction of the channels removed (`group_eliminator.py`).

This is the dependency-graph idea of Torch-Pruning (Fang et al., DepGraph, CVPR 2023: layers
whose input and output channels are bound propagate a removal, merges bind their inputs, concat
maps indices by offset) written for Keras' layer graph, with the readers kept apart because
they are where seed 003's update goes.

A group cannot be narrowed (its `fixed` says why) when its channels are the model's input or
output, or reach a layer that does not keep channels apart (LayerNormalization, a Reshape of the
channel axis, softmax over channels, a grouped or separable conv, a layer called twice, …).

Example:
    >>> groups = channel_groups(model)                                   # doctest: +SKIP
    >>> [(g.name, g.width, g.producers) for g in groups if g.fixed is None]   # doctest: +SKIP
    [('conv1', 16, ('conv1', 'block1_conv2')), ...]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeopt.techniques.elimination.channels import (ELEMENT_WISE, GLOBAL_POOLING, PER_CHANNEL, SLICED, channel_problem,
                                                     reader_problem)
from edgeopt.techniques.elimination.errors import EliminationError

# Merges whose output channel j is a function of channel j of each input only.
TYING_MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")


@dataclass(frozen=True)
class ReadPoint:
    """One place where a reader takes the group's channels in.

    Attributes:
        reader: the Conv2D or Dense layer whose kernel absorbs the reconstruction.
        source: the layer whose output is the tensor the reconstruction is fitted on (what the
            reader sees; for a Dense after Flatten, the maps before the Flatten).
        offset: where the group's channels start on that tensor's channel axis (0 unless a
            Concatenate put other channels before them).
        positions: a Dense after Flatten: the H·W positions its rows run over (1 otherwise).
    """

    reader: str
    source: str
    offset: int
    positions: int = 1


@dataclass(frozen=True)
class ChannelGroup:
    """Channels that are removed together, and every layer a removal touches.

    Attributes:
        name: the first layer (in graph order) that writes the group: how logs and recipes refer to it.
        width: its number of channels.
        producers: the Conv2D / Dense layers whose output channels are the group's, each sliced.
        sliced: per-channel layers with per-channel weights (BatchNormalization, DepthwiseConv2D,
            PReLU) sliced in lockstep, as (layer, offset of the group on its channel axis).
        readers: where the group is read (see ReadPoint); each gets its own reconstruction.
        merges: the Add / Multiply / Concatenate layers that tie or place its channels.
        reshapes: Reshape layers whose target shape names the channel count.
        layers: every layer whose output carries the group's channels.
        macs: multiply-accumulates per image of the layers whose cost follows the group's width
            (producers, readers, depthwise convs in it).
        fixed: why it cannot be narrowed, or None.
    """

    name: str
    width: int
    producers: tuple[str, ...]
    sliced: tuple[tuple[str, int], ...]
    readers: tuple[ReadPoint, ...]
    merges: tuple[str, ...]
    reshapes: tuple[str, ...]
    layers: tuple[str, ...]
    macs: int
    fixed: str | None = None
    unit = "channels"  # what `width` counts (a Site counts neurons or channels)

    def describe(self) -> str:
        """'conv1' or 'conv1 (+ block1_conv2; tied by add_1)', for logs and messages."""
        others = [p for p in self.producers if p != self.name]
        if not others and not self.merges:
            return f"'{self.name}'"
        parts = [f"+ {', '.join(others)}"] if others else []
        parts += [f"tied by {', '.join(self.merges)}"] if self.merges else []
        return f"'{self.name}' ({'; '.join(parts)})"


@dataclass
class _Segment:
    group: int
    width: int


@dataclass
class _Layout:
    """The channel axis of one layer's output: its segments in order; after a Flatten, the maps it
    came from (`flat_from`) and their H·W positions."""

    segments: list[_Segment]
    positions: int = 1
    flat_from: str | None = None

    def offsets(self):
        offset = 0
        for segment in self.segments:
            yield segment, offset
            offset += segment.width


@dataclass
class _Record:
    producers: list[str] = field(default_factory=list)
    sliced: list[tuple[str, int]] = field(default_factory=list)
    readers: list[ReadPoint] = field(default_factory=list)
    merges: list[str] = field(default_factory=list)
    reshapes: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)


class _Analysis:
    """One pass over the layer graph in order, building layouts and tying groups (union-find)."""

    def __init__(self, model):
        self.model = model
        self.parent: list[int] = []
        self.records: list[_Record] = []
        self.layouts: dict[str, _Layout] = {}
        self.widths: list[int] = []

    # union-find over group ids
    def new_group(self, width: int, fixed: str | None = None) -> int:
        self.parent.append(len(self.parent))
        self.records.append(_Record(fixed=[fixed] if fixed else []))
        self.widths.append(int(width))
        return len(self.parent) - 1

    def find(self, g: int) -> int:
        while self.parent[g] != g:
            self.parent[g] = self.parent[self.parent[g]]
            g = self.parent[g]
        return g

    def tie(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[b] = a
            keep, other = self.records[a], self.records[b]
            for name in ("producers", "sliced", "readers", "merges", "reshapes", "layers", "fixed"):
                getattr(keep, name).extend(getattr(other, name))

    def record(self, g: int) -> _Record:
        return self.records[self.find(g)]

    def fix(self, layout: _Layout | None, reason: str) -> None:
        for segment in (layout.segments if layout else []):
            self.record(segment.group).fixed.append(reason)

    def fresh(self, layer, fixed: str | None = None) -> _Layout:
        width = _channels(layer.output_shape)
        return _Layout([_Segment(self.new_group(width, fixed), width)])

    def run(self) -> None:
        network = getattr(self.model, "_network_nodes", None)
        inputs = list(getattr(self.model, "_input_layers", []))  # a Sequential's `layers` leaves its InputLayer out
        for layer in inputs + [layer for layer in self.model.layers if layer not in inputs]:
            nodes = [n for i, n in enumerate(layer._inbound_nodes)
                     if network is None or f"{layer.name}_ib-{i}" in network]
            inputs = [self.layouts.get(inbound.name) for node in nodes[:1]
                      for inbound, _, _, _ in node.iterate_inbound()]
            sources = [inbound.name for node in nodes[:1] for inbound, _, _, _ in node.iterate_inbound()]
            if not nodes and type(layer).__name__ != "InputLayer":  # not part of this model's graph
                continue
            several = isinstance(layer.output_shape, list) and len(layer.output_shape) != 1
            if len(nodes) > 1 or several:
                why = (f"'{layer.name}' is called {len(nodes)} times (a shared layer)" if len(nodes) > 1
                       else f"'{layer.name}' ({type(layer).__name__}) has several outputs")
                for layout in inputs:
                    self.fix(layout, why)
                self.layouts[layer.name] = None if several else self.fresh(layer, why)
                continue
            self.layouts[layer.name] = self.visit(layer, inputs, sources)
            if self.layouts[layer.name] is not None:
                for segment in self.layouts[layer.name].segments:
                    self.record(segment.group).layers.append(layer.name)
        for tensor in self.model.outputs:
            name = tensor._keras_history.layer.name
            self.fix(self.layouts.get(name), f"reaches the model's output '{name}' (its channels are the predictions)")

    def visit(self, layer, inputs: list[_Layout | None], sources: list[str]) -> _Layout | None:
        from edgeopt.tf.runtime import keras

        kind = type(layer).__name__
        if kind == "InputLayer":
            return self.fresh(layer, "is the model's input (its channels come from the data)")
        if any(layout is None for layout in inputs):
            return self.fresh(layer, f"comes from a layer edgeopt cannot follow ('{layer.name}')")
        if type(layer) in (keras.layers.Conv2D, keras.layers.Dense):
            return self.mac_layer(layer, inputs[0], sources[0])
        if kind in TYING_MERGES:
            return self.merge(layer, inputs)
        if kind == "Concatenate":
            return self.concatenate(layer, inputs)
        (layout,) = inputs if len(inputs) == 1 else (None,)
        if layout is None:
            self.unknown(layer, inputs)
            return self.fresh(layer)
        flat = layout.flat_from is not None
        if kind == "Flatten" and not flat:
            spatial = layer.input_shape[1:-1]
            if any(d is None for d in spatial):
                return self.unknown(layer, inputs, f"Flatten '{layer.name}' has an unknown spatial size")
            return _Layout(layout.segments, int(np.prod(spatial)) if spatial else 1, sources[0])
        if kind == "Reshape" and not flat and _keeps_channels(layer):
            for segment in layout.segments:
                self.record(segment.group).reshapes.append(layer.name)
            return layout
        problem = channel_problem(layer, after_flatten=flat)
        if problem:
            return self.unknown(layer, inputs, problem)
        for segment, offset in layout.offsets():
            if kind in SLICED:
                self.record(segment.group).sliced.append((layer.name, offset))
        if kind in GLOBAL_POOLING or kind in PER_CHANNEL or kind in ELEMENT_WISE:
            return layout
        return self.unknown(layer, inputs)

    def mac_layer(self, layer, layout: _Layout, source: str) -> _Layout:
        flat = layout.flat_from is not None
        problem = reader_problem(layer, flat)
        if problem is None and len(layer.input_shape) > 2 and flat:
            problem = "a layer on a flattened tensor that is not 2-D"
        if problem:
            self.fix(layout, f"is read by '{layer.name}', {problem}")
        else:
            tap = layout.flat_from if flat else source
            for segment, offset in layout.offsets():
                self.record(segment.group).readers.append(ReadPoint(layer.name, tap, offset, layout.positions))
        output = self.fresh(layer)
        group = output.segments[0].group
        self.records[group].producers.append(layer.name)
        activation = getattr(layer.activation, "__name__", str(layer.activation))
        if activation in ("softmax", "log_softmax"):
            self.records[group].fixed.append(f"'{layer.name}' has activation '{activation}', which mixes the channels")
        if type(layer).__name__ == "Conv2D" and (int(layer.groups) != 1 or layer.data_format != "channels_last"):
            self.records[group].fixed.append(f"'{layer.name}' has groups={layer.groups}, data_format="
                                             f"'{layer.data_format}' (plain channels_last convs only)")
        return output

    def merge(self, layer, inputs: list[_Layout]) -> _Layout:
        width = _channels(layer.output_shape)
        tied = [layout for layout in inputs if sum(s.width for s in layout.segments) == width]
        shapes = {tuple(s.width for s in layout.segments) for layout in tied}
        if any(layout.flat_from for layout in tied) or len(shapes) != 1:
            return self.unknown(layer, inputs, "its inputs' channels are laid out differently (a concatenation on one "
                                "side only, or flattened maps)")
        first = tied[0]
        for other in tied[1:]:
            for a, b in zip(first.segments, other.segments):
                self.tie(a.group, b.group)
        for segment in first.segments:
            self.record(segment.group).merges.append(layer.name)
        return _Layout([_Segment(s.group, s.width) for s in first.segments])

    def concatenate(self, layer, inputs: list[_Layout]) -> _Layout:
        rank = len(layer.output_shape)
        if int(layer.axis) % rank != rank - 1 or any(layout.flat_from for layout in inputs):
            return self.unknown(layer, inputs, f"it concatenates along axis {layer.axis}, not the channel axis of "
                                "unflattened maps")
        segments = [s for layout in inputs for s in layout.segments]
        for segment in segments:
            self.record(segment.group).merges.append(layer.name)
        return _Layout(segments)

    def unknown(self, layer, inputs: list[_Layout], problem: str | None = None) -> _Layout:
        why = problem or (f"{type(layer).__name__} is not a layer channel elimination can see through (per-channel "
                          "layers, merges, Concatenate, global pooling, Flatten, Conv2D and Dense are)")
        for layout in inputs:
            self.fix(layout, f"reaches '{layer.name}' ({type(layer).__name__}): {why}")
        return self.fresh(layer)

    def groups(self) -> list[ChannelGroup]:
        from edgeopt.models.keras_profile import layer_macs

        found = []
        order = {layer.name: i for i, layer in enumerate(self.model.layers)}
        for g in sorted({self.find(g) for g in range(len(self.parent))}):
            record = self.records[g]
            if not record.producers:
                continue
            if not record.readers:
                record.fixed.append("has no Conv2D or Dense reader to absorb the removed channels")
            producers = tuple(sorted(set(record.producers), key=order.__getitem__))
            costed = set(producers) | {r.reader for r in record.readers} | {
                name for name, _ in record.sliced if type(self.model.get_layer(name)).__name__ == "DepthwiseConv2D"}
            found.append(ChannelGroup(
                name=producers[0], width=self.widths[g], producers=producers,
                sliced=tuple(dict.fromkeys(record.sliced)), readers=tuple(dict.fromkeys(record.readers)),
                merges=tuple(dict.fromkeys(record.merges)), reshapes=tuple(dict.fromkeys(record.reshapes)),
                layers=tuple(dict.fromkeys(record.layers)),
                macs=sum(layer_macs(self.model.get_layer(name)) for name in costed),
                fixed=record.fixed[0] if record.fixed else None))
        return sorted(found, key=lambda grp: order[grp.name])


def _channels(shape) -> int:
    shape = shape[0] if isinstance(shape, list) else shape  # an InputLayer's output_shape is a list of one
    return int(shape[-1]) if shape[-1] is not None else 0


def _keeps_channels(layer) -> bool:
    """A Reshape that leaves the channel axis alone (e.g. squeeze-excite's (C,) → (1, 1, C))."""
    return len(layer.input_shape) >= 2 and layer.input_shape[-1] == layer.output_shape[-1] is not None


def channel_groups(model) -> list[ChannelGroup]:
    """Every channel group of `model` that a Conv2D or Dense writes, in graph order, the fixed ones
    included (their `fixed` says why).

    Example:
        >>> from edgeopt.models.architectures import build_model
        >>> [(g.name, g.width, g.producers) for g in channel_groups(build_model("resnet8", (32, 32, 3), 10))][:2]
        [('conv1', 16, ('conv1', 'stack1_conv2')), ('stack1_conv1', 16, ('stack1_conv1',))]
    """
    analysis = _Analysis(model)
    analysis.run()
    return analysis.groups()


def group_of(model, layer_name: str, groups: list[ChannelGroup] | None = None) -> ChannelGroup:
    """The group whose channels Conv2D (or Dense) `layer_name` writes, checked to be narrowable.

    Raises:
        EliminationError: no such layer, neither Conv2D nor Dense, or its group cannot be narrowed
            (naming the group and why).
    """
    from edgeopt.tf.runtime import keras

    names = [layer.name for layer in model.layers]
    convs = [layer.name for layer in model.layers if type(layer) is keras.layers.Conv2D]
    if layer_name not in names:
        raise EliminationError(f"the model has no layer named '{layer_name}'. Conv2D layers: {', '.join(convs) or 'none'}")
    kind = type(model.get_layer(layer_name))
    if kind not in (keras.layers.Conv2D, keras.layers.Dense):
        raise EliminationError(f"layer '{layer_name}' is a {kind.__name__}, not a Conv2D or Dense layer. "
                               f"Conv2D layers: {', '.join(convs) or 'none'}")
    groups = channel_groups(model) if groups is None else groups
    group = next((g for g in groups if layer_name in g.producers), None)
    if group is None:  # not reached from the model's inputs
        raise EliminationError(f"{kind.__name__} '{layer_name}' is not connected to the model's inputs")
    if group.fixed:
        shared = f", whose channels are also written by {', '.join(p for p in group.producers if p != layer_name)}" \
            if len(group.producers) > 1 else ""
        raise EliminationError(f"cannot eliminate channels of {kind.__name__} '{layer_name}'{shared}: the group "
                               f"{group.describe()} {group.fixed}, so none of its channels can be removed")
    return group
