"""Hand-built .tflite flatbuffers (no TensorFlow): a float32 vector through a chain of ops.

For tests that need a graph shape the converter would not make on demand, e.g. an op XNNPACK does
not take (CUMSUM) between two it does, which splits the graph into two XNNPACK partitions.
"""

from __future__ import annotations

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema


def chain_model(ops: list[str], width: int = 8) -> bytes:
    """float32 [1, width] -> ops[0] -> ops[1] -> ... -> output.

    ADD and MUL take a constant vector (seeded) as their second input, CUMSUM a constant axis 1,
    RELU and SOFTMAX nothing more.

    Example:
        >>> len(chain_model(["ADD", "CUMSUM", "ADD"])) > 0
        True
    """
    rng = np.random.default_rng(0)
    model = schema.ModelT()
    model.version = 3
    model.buffers = [schema.BufferT()]  # buffer 0: the empty sentinel
    graph = schema.SubGraphT()
    graph.tensors, graph.operators = [], []
    codes: dict[str, int] = {}
    model.operatorCodes = []

    def tensor(shape, dtype=schema.TensorType.FLOAT32, data: bytes | None = None) -> int:
        t = schema.TensorT()
        t.shape, t.type, t.name = list(shape), dtype, f"t{len(graph.tensors)}".encode()
        t.buffer = 0
        if data is not None:
            buffer = schema.BufferT()
            buffer.data = list(data)
            model.buffers.append(buffer)
            t.buffer = len(model.buffers) - 1
        graph.tensors.append(t)
        return len(graph.tensors) - 1

    current = tensor((1, width))
    graph.inputs = [current]
    for name in ops:
        if name not in codes:
            code = schema.OperatorCodeT()
            builtin = getattr(schema.BuiltinOperator, name)
            code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
            model.operatorCodes.append(code)
            codes[name] = len(model.operatorCodes) - 1
        op = schema.OperatorT()
        op.opcodeIndex = codes[name]
        inputs = [current]
        if name in ("ADD", "MUL"):
            inputs.append(tensor((width,), data=rng.random(width, dtype=np.float32).tobytes()))
            op.builtinOptionsType = getattr(schema.BuiltinOptions, f"{name.title()}Options")
            op.builtinOptions = getattr(schema, f"{name.title()}OptionsT")()
        elif name == "CUMSUM":
            inputs.append(tensor((), schema.TensorType.INT32, np.int32(1).tobytes()))
            op.builtinOptionsType = schema.BuiltinOptions.CumsumOptions
            op.builtinOptions = schema.CumsumOptionsT()
        elif name == "SOFTMAX":
            op.builtinOptionsType = schema.BuiltinOptions.SoftmaxOptions
            op.builtinOptions = schema.SoftmaxOptionsT()
            op.builtinOptions.beta = 1.0
        current = tensor((1, width))
        op.inputs, op.outputs = inputs, [current]
        graph.operators.append(op)
    graph.outputs = [current]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
