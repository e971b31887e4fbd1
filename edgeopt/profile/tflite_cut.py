"""One operator of a `.tflite` graph as a model of its own, for timing it alone (TensorFlow-free).

The op keeps its options, constants and quantisation; its activation inputs become the model's
inputs and its outputs the model's outputs. Run on random inputs, it costs what the op costs in
the full graph, minus what the graph shares between ops (caches, one delegate partition).
"""

from __future__ import annotations

import copy

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema


def op_model(data: bytes, op_index: int) -> bytes:
    """A model holding only operator `op_index` of `data`'s main subgraph.

    Example:
        >>> conv = op_model(Path("model.tflite").read_bytes(), 0)   # doctest: +SKIP
    """
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    graph = model.subgraphs[0]
    op = copy.deepcopy(graph.operators[op_index])
    used = [i for i in list(op.inputs) + list(op.outputs) if i >= 0]
    remap = {old: new for new, old in enumerate(dict.fromkeys(used))}
    buffers = [schema.BufferT()]  # buffer 0 is the empty buffer by convention
    tensors = []
    inputs = []
    for old in remap:
        tensor = copy.deepcopy(graph.tensors[old])
        source = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
        if source is not None and source.data is not None and len(source.data):
            buffers.append(copy.deepcopy(source))
            tensor.buffer = len(buffers) - 1
        else:
            tensor.buffer = 0
            if old in op.inputs:
                inputs.append(remap[old])
        tensors.append(tensor)
    op.inputs = np.array([remap[i] if i >= 0 else -1 for i in op.inputs], dtype=np.int32)
    op.outputs = np.array([remap[i] for i in op.outputs], dtype=np.int32)
    code = copy.deepcopy(model.operatorCodes[op.opcodeIndex])
    op.opcodeIndex = 0
    sub = schema.SubGraphT()
    sub.tensors, sub.operators = tensors, [op]
    sub.inputs = np.array(inputs, dtype=np.int32)
    sub.outputs = np.array([remap[i] for i in graph.operators[op_index].outputs], dtype=np.int32)
    sub.name = b"op"
    out = schema.ModelT()
    out.version, out.description = model.version, b"edgeopt: one op"
    out.operatorCodes, out.subgraphs, out.buffers = [code], [sub], buffers
    builder = flatbuffers.Builder(1024)
    builder.Finish(out.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
