"""Channel groups of a `.tflite` graph, and the same graph with a group made narrower.

A channel group is every tensor axis that must keep the same number of channels: a conv's output
channels, its bias, the weights' output axis, what every elementwise op, pooling or residual ADD
carries on, and the input axis of every conv or dense layer that reads them. Narrowing a group to
`w` channels keeps the first `w` along every one of those axes — constants, quantisation scales
and activation shapes alike — and gives a model of exactly the shape that channel elimination
would make. Its numbers are not the eliminated model's, but its ops, shapes, dtypes and delegate
partitions are, so it runs as fast: a *latency proxy* for a width the search has not built yet,
made in milliseconds without TensorFlow.

Axes that cannot change (model inputs and outputs, anything a RESHAPE, a channel CONCATENATION or
an op this module does not know touches) make their whole group fixed.

Example:
    >>> groups = channel_groups(Path("base_int8.tflite").read_bytes())   # doctest: +SKIP
    >>> narrow = narrowed(data, {groups[0].id: 16})                        # doctest: +SKIP
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from edgeopt.common.errors import EdgeoptError

_OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
_NUMPY_TYPES = {schema.TensorType.FLOAT32: np.float32, schema.TensorType.FLOAT16: np.float16,
                schema.TensorType.INT32: np.int32, schema.TensorType.INT8: np.int8,
                schema.TensorType.UINT8: np.uint8, schema.TensorType.INT16: np.int16,
                schema.TensorType.INT64: np.int64}
# Ops whose every activation input and output carry the same channels on their last axis.
_CHANNELWISE = {
    "ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "RELU", "RELU6",
    "RELU_N1_TO_1", "RELU_0_TO_1", "LOGISTIC", "TANH", "HARD_SWISH", "LEAKY_RELU", "PRELU", "ELU",
    "GELU", "QUANTIZE", "DEQUANTIZE", "MAX_POOL_2D", "AVERAGE_POOL_2D", "L2_POOL_2D", "PAD", "PADV2",
    "MIRROR_PAD", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "ABS", "NEG", "SQRT", "RSQRT",
    "SQUARE", "EXP", "LOG", "CAST",
}
_REDUCERS = {"MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"}  # channel-preserving unless they reduce it


@dataclass(frozen=True)
class ChannelGroup:
    """Axes that share one channel count.

    Attributes:
        id: Stable within one graph: the index of the group's first activation tensor.
        width: Its channels now.
        producers: Output-tensor names of the MAC ops (CONV_2D, FULLY_CONNECTED) that write it:
            they carry the Keras layer names the converter saw.
        fixed: Why it cannot be narrowed (a model output, a reshape, …), or None.
    """

    id: int
    width: int
    producers: tuple[str, ...]
    fixed: str | None


class _Axes:
    """Union-find over (tensor index, axis) pairs, with a reason attached to fixed classes."""

    def __init__(self) -> None:
        self.parent: dict[tuple[int, int], tuple[int, int]] = {}
        self.fixed: dict[tuple[int, int], str] = {}

    def find(self, node: tuple[int, int]) -> tuple[int, int]:
        self.parent.setdefault(node, node)
        while self.parent[node] != node:
            self.parent[node] = self.parent[self.parent[node]]
            node = self.parent[node]
        return node

    def join(self, a: tuple[int, int], b: tuple[int, int]) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra
            if rb in self.fixed:
                self.fixed.setdefault(ra, self.fixed.pop(rb))

    def fix(self, node: tuple[int, int], why: str) -> None:
        self.fixed.setdefault(self.find(node), why)


def _read(data: bytes) -> schema.ModelT:
    """The model with no constant shared between ops or tensors (the converter dedupes equal ones,
    e.g. two all-zero biases): each use gets its own copy, so narrowing one never narrows another."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    graph = model.subgraphs[0]
    seen_tensors: set[int] = set()
    seen_buffers: set[int] = set()
    for op in graph.operators:
        inputs = list(op.inputs)
        for k, index in enumerate(inputs):
            if index < 0 or not _is_const(model, graph.tensors[index]):
                continue
            if index in seen_tensors:
                graph.tensors.append(copy.deepcopy(graph.tensors[index]))
                index = inputs[k] = len(graph.tensors) - 1
            seen_tensors.add(index)
            tensor = graph.tensors[index]
            if tensor.buffer in seen_buffers:
                model.buffers.append(copy.deepcopy(model.buffers[tensor.buffer]))
                tensor.buffer = len(model.buffers) - 1
            seen_buffers.add(tensor.buffer)
        op.inputs = np.array(inputs, dtype=np.int32)
    _unshare_dequantized_constants(model)
    return model


def _unshare_dequantized_constants(model: schema.ModelT) -> None:
    """A DEQUANTIZE of a constant (float16 weights) read by several ops: one copy per reader."""
    graph = model.subgraphs[0]
    made = {}
    for op in graph.operators:
        if _op_name(model, op) == "DEQUANTIZE" and _is_const(model, graph.tensors[op.inputs[0]]):
            made[op.outputs[0]] = op
    seen: set[int] = set()
    for op in list(graph.operators):
        inputs = list(op.inputs)
        for k, index in enumerate(inputs):
            if index not in made:
                continue
            if index in seen:
                original = made[index]
                source = copy.deepcopy(graph.tensors[original.inputs[0]])
                model.buffers.append(copy.deepcopy(model.buffers[source.buffer]))
                source.buffer = len(model.buffers) - 1
                graph.tensors.append(source)
                graph.tensors.append(copy.deepcopy(graph.tensors[index]))
                twin = copy.deepcopy(original)
                twin.inputs = np.array([len(graph.tensors) - 2], dtype=np.int32)
                twin.outputs = np.array([len(graph.tensors) - 1], dtype=np.int32)
                graph.operators.insert(graph.operators.index(original) + 1, twin)
                inputs[k] = len(graph.tensors) - 1
            seen.add(index)
        op.inputs = np.array(inputs, dtype=np.int32)


def _write(model: schema.ModelT) -> bytes:
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _op_name(model: schema.ModelT, op) -> str:
    code = model.operatorCodes[op.opcodeIndex]
    return _OP_NAMES.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")


def _is_const(model: schema.ModelT, tensor) -> bool:
    buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    return buffer is not None and buffer.data is not None and len(buffer.data) > 0


def _axes_of(model: schema.ModelT) -> _Axes:
    graph = model.subgraphs[0]
    axes = _Axes()
    tensors = graph.tensors

    def last(t: int) -> tuple[int, int]:
        return (t, len(tensors[t].shape) - 1)

    for t, tensor in enumerate(tensors):
        if tensor.shape is not None and len(tensor.shape):
            axes.find(last(t))
    for t in list(graph.inputs) + list(graph.outputs):
        axes.fix(last(t), "a model input or output")
    for op in graph.operators:
        name = _op_name(model, op)
        ins = [i for i in op.inputs if i >= 0]
        outs = [o for o in op.outputs if o >= 0]
        data_ins = [i for i in ins if not _is_const(model, tensors[i])]

        def join_bias(op=op, outs=outs) -> None:  # a MAC op's optional bias: one value per output channel
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                axes.join(last(outs[0]), (op.inputs[2], 0))
        if name == "CONV_2D":
            x, w = op.inputs[0], op.inputs[1]
            axes.join(last(x), (w, 3))
            axes.join(last(outs[0]), (w, 0))
            join_bias()
        elif name == "DEPTHWISE_CONV_2D":
            x, w = op.inputs[0], op.inputs[1]
            if tensors[w].shape[3] != tensors[x].shape[-1]:
                axes.fix(last(x), "a depthwise conv with a channel multiplier")
            axes.join(last(x), (w, 3))
            axes.join(last(outs[0]), (w, 3))
            join_bias()
        elif name == "FULLY_CONNECTED":
            x, w = op.inputs[0], op.inputs[1]
            if int(tensors[x].shape[-1]) == int(tensors[w].shape[1]):
                axes.join(last(x), (w, 1))
            else:  # the input is flattened into the features: its channels are not the weights' columns
                axes.fix(last(x), "flattened into a dense layer")
                axes.fix((w, 1), "flattened into a dense layer")
            axes.join(last(outs[0]), (w, 0))
            join_bias()
        elif name in ("DEQUANTIZE", "QUANTIZE") and _is_const(model, tensors[op.inputs[0]]):
            # Float16 (or int8) weights turned float at load time: every axis carries over.
            for a in range(len(tensors[op.inputs[0]].shape)):
                axes.join((op.inputs[0], a), (outs[0], a))
        elif name == "SHAPE":
            continue  # it reads a shape; what it computes follows the narrowed tensor at run time
        elif name == "RESHAPE" and _reshape_keeps_channels(model, op) is not None:
            axes.join(last(op.inputs[0]), last(outs[0]))  # only unit axes change: (1, C) ↔ (1, 1, 1, C)
        elif name in _CHANNELWISE or (name in _REDUCERS and not _reduces_last_axis(model, op)):
            out = outs[0]
            width = int(tensors[out].shape[-1]) if len(tensors[out].shape) else 0
            for i in ins:
                shape = tensors[i].shape
                if shape is None or not len(shape) or i == op.inputs[-1] and name in _REDUCERS:
                    continue
                if name in ("PAD", "PADV2", "MIRROR_PAD") and i == op.inputs[1]:
                    continue  # the paddings operand, not data
                if int(shape[-1]) == width and (i in data_ins or len(shape) >= 1 and width > 1):
                    axes.join(last(out), last(i))
        else:  # an op whose channel semantics are not known here: nothing around it may change
            for t in ins + outs:
                if tensors[t].shape is not None and len(tensors[t].shape):
                    axes.fix(last(t), f"read or written by {name}")
    return axes


def _reshape_keeps_channels(model: schema.ModelT, op) -> list[tuple[int, int]] | None:
    """For a RESHAPE that only adds or drops unit axes around the channels (a squeeze-excite gate's
    (1, C) → (1, 1, 1, C)), the constants that spell C in its target shape, as (tensor, position):
    they change with the channels. None when it mixes channels with other axes."""
    tensors = model.subgraphs[0].tensors
    before, after = tensors[op.inputs[0]].shape, tensors[op.outputs[0]].shape
    if before is None or after is None or not len(before) or not len(after) or before[-1] != after[-1]:
        return None
    if int(np.prod(before[:-1])) != int(np.prod(after[:-1])):
        return None
    if len(op.inputs) < 2 or op.inputs[1] < 0:
        return []  # the target shape sits in the options alone (newShape), fixed up there
    shape = op.inputs[1]
    if _is_const(model, tensors[shape]):
        return [(shape, len(after) - 1)]
    producer = next((o for o in model.subgraphs[0].operators if shape in o.outputs), None)
    if producer is not None and _op_name(model, producer) == "PACK":
        channels = producer.inputs[-1]  # PACK(batch, 1, 1, C): the last element is C
        if _is_const(model, tensors[channels]):
            return [(channels, 0)]
    return None


def _reduces_last_axis(model: schema.ModelT, op) -> bool:
    tensors = model.subgraphs[0].tensors
    axis_tensor = tensors[op.inputs[1]]
    rank = len(tensors[op.inputs[0]].shape)
    values = np.frombuffer(bytes(model.buffers[axis_tensor.buffer].data), dtype=_NUMPY_TYPES[axis_tensor.type])
    return any(int(a) % rank == rank - 1 for a in values)


def channel_groups(data: bytes) -> list[ChannelGroup]:
    """Every channel group of the main subgraph, in tensor order.

    Example:
        >>> [(g.width, g.fixed is None) for g in channel_groups(data)]   # doctest: +SKIP
        [(32, True), (64, True), (64, True), (128, True), (10, False)]
    """
    model = _read(data)
    graph = model.subgraphs[0]
    axes = _axes_of(model)
    members: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for node in axes.parent:
        members.setdefault(axes.find(node), []).append(node)
    groups = []
    for root, nodes in members.items():
        activations = [(t, a) for t, a in nodes
                       if not _is_const(model, graph.tensors[t]) and a == len(graph.tensors[t].shape) - 1]
        if not activations:
            continue  # constants alone (an unused weight axis): nothing runs on them
        widths = {int(graph.tensors[t].shape[a]) for t, a in nodes}
        producers = tuple(_name(graph.tensors[o]) for op in graph.operators
                          if _op_name(model, op) in ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D")
                          for o in op.outputs[:1] if axes.find((o, len(graph.tensors[o].shape) - 1)) == root)
        fixed = axes.fixed.get(root) or (None if len(widths) == 1 else f"axes of different widths {sorted(widths)}")
        groups.append(ChannelGroup(min(t for t, _ in activations), max(widths), producers, fixed))
    return sorted(groups, key=lambda g: g.id)


def op_groups(data: bytes) -> list[tuple[str, tuple[int, ...]]]:
    """For each operator of the main subgraph, in order: its name and the ids of the channel groups
    its activations carry (what its cost can depend on when groups are narrowed).

    Example:
        >>> op_groups(data)[:2]   # doctest: +SKIP
        [('CONV_2D', (0, 9)), ('MAX_POOL_2D', (9,))]
    """
    model = _read(data)
    graph = model.subgraphs[0]
    axes = _axes_of(model)
    root_to_id = {axes.find((g.id, len(graph.tensors[g.id].shape) - 1)): g.id for g in channel_groups(data)}
    found = []
    for op in graph.operators:
        ids = []
        for t in [i for i in list(op.inputs) + list(op.outputs) if i >= 0]:
            tensor = graph.tensors[t]
            if _is_const(model, tensor) or tensor.shape is None or not len(tensor.shape):
                continue
            gid = root_to_id.get(axes.find((t, len(tensor.shape) - 1)))
            if gid is not None and gid not in ids:
                ids.append(gid)
        found.append((_op_name(model, op), tuple(ids)))
    return found


def _name(tensor) -> str:
    name = tensor.name
    return name.decode() if isinstance(name, bytes) else str(name)


def narrowed(data: bytes, widths: dict[int, int]) -> bytes:
    """The graph with each group `id` in `widths` cut to its first `widths[id]` channels.

    Raises:
        EdgeoptError: A group is fixed, unknown, or the width is not in [1, its width].
    """
    model = _read(data)
    graph = model.subgraphs[0]
    axes = _axes_of(model)
    by_id = {g.id: g for g in channel_groups(data)}
    roots = {}
    for gid, width in widths.items():
        group = by_id.get(gid)
        if group is None:
            raise EdgeoptError(f"no channel group {gid} in this model; groups: {sorted(by_id)}")
        if group.fixed:
            raise EdgeoptError(f"channel group {gid} cannot be narrowed: {group.fixed}")
        if not 1 <= width <= group.width:
            raise EdgeoptError(f"channel group {gid} has {group.width} channels; cannot keep {width}")
        roots[axes.find((gid, len(graph.tensors[gid].shape) - 1))] = width
    for node in list(axes.parent):
        width = roots.get(axes.find(node))
        if width is not None:
            _slice_axis(model, node, width)
    for op in graph.operators:  # target shapes that spell a narrowed group's channels
        if _op_name(model, op) != "RESHAPE":
            continue
        width = roots.get(axes.find((op.outputs[0], len(graph.tensors[op.outputs[0]].shape) - 1)))
        if width is None:
            continue
        for tensor_index, position in _reshape_keeps_channels(model, op) or []:
            tensor = graph.tensors[tensor_index]
            values = np.frombuffer(bytes(model.buffers[tensor.buffer].data), dtype=_NUMPY_TYPES[tensor.type]).copy()
            values.reshape(-1)[position] = width
            model.buffers[tensor.buffer].data = np.frombuffer(values.tobytes(), dtype=np.uint8)
        options = op.builtinOptions
        if options is not None and getattr(options, "newShape", None) is not None and len(options.newShape):
            options.newShape = np.array(options.newShape, dtype=np.int32)
            options.newShape[-1] = width
    return _write(model)


def _slice_axis(model: schema.ModelT, node: tuple[int, int], width: int) -> None:
    tensor_index, axis = node
    tensor = model.subgraphs[0].tensors[tensor_index]
    if int(tensor.shape[axis]) == width:
        return
    if _is_const(model, tensor):
        buffer = model.buffers[tensor.buffer]
        values = np.frombuffer(bytes(buffer.data), dtype=_NUMPY_TYPES[tensor.type]).reshape(tuple(tensor.shape))
        kept = np.ascontiguousarray(np.take(values, np.arange(width), axis=axis))
        buffer.data = np.frombuffer(kept.tobytes(), dtype=np.uint8)
    quant = tensor.quantization
    if quant is not None and quant.scale is not None and len(quant.scale) > 1 and quant.quantizedDimension == axis:
        quant.scale = np.asarray(quant.scale)[:width]
        if quant.zeroPoint is not None and len(quant.zeroPoint) > 1:
            quant.zeroPoint = np.asarray(quant.zeroPoint)[:width]
    shape = np.array(tensor.shape, dtype=np.int32)
    shape[axis] = width
    tensor.shape = shape
    if tensor.shapeSignature is not None and len(tensor.shapeSignature):
        signature = np.array(tensor.shapeSignature, dtype=np.int32)
        signature[axis] = width
        tensor.shapeSignature = signature
