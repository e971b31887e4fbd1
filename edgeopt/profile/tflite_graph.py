"""Read a `.tflite` flatbuffer without TensorFlow: its ops, tensors, params, MACs and dtype.

The flatbuffer is read with the `flatbuffers` package and the TFLite schema module that
`ai_edge_litert` itself ships (`ai_edge_litert.schema_py_generated`), so inspection needs nothing
beyond what the interpreter already needs — in particular no TensorFlow. Checking the file itself
(exists, regular, TFLite identifier) is `tflite_file.py`'s job; this module reads what is inside.
"""

from __future__ import annotations

import gzip
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from edgeopt.common.errors import ModelFileError

FIX_HINT = "Re-export it with `edgeopt run` or copy it again from the device."
# Reverse maps of the schema's enums: number -> name ("CONV_2D", "INT8", ...).
_OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
_TYPE_NAMES = {
    v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")
}
# Bits per element; used for activation bytes (constants use their real buffer length).
_TYPE_BITS = {
    "float32": 32, "float16": 16, "bfloat16": 16, "float64": 64, "int32": 32, "uint32": 32,
    "int64": 64, "uint64": 64, "int16": 16, "uint16": 16, "int8": 8, "uint8": 8, "bool": 8,
    "int4": 4, "int2": 2, "complex64": 64, "complex128": 128,
}
# Positions of the weight tensor in each MAC op's inputs (TFLite op definitions).
_MAC_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL", "TRANSPOSE_CONV"}
_WEIGHT_INPUT = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "BATCH_MATMUL": 1,
                 "TRANSPOSE_CONV": 1}
_DATA_INPUT = {"TRANSPOSE_CONV": 2}  # TRANSPOSE_CONV's input 0 is the output-shape vector
_BIAS_INPUT = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2, "TRANSPOSE_CONV": 3}


@dataclass(frozen=True)
class OpInfo:
    """One operator of the main subgraph, with what an energy model needs to price it.

    Attributes:
        index: Position in the subgraph's execution order.
        op_name: Builtin name ("CONV_2D", ...) or the custom op's code.
        macs: Multiply-accumulates for one inference (0 for ops that are not MAC ops).
        input_dtype: Dtype of the op's data (activation) input, None if it has none.
        weight_dtype: Dtype of the MAC op's weight tensor, None for other ops.
        output_dtype: Dtype of the first output.
        weight_elems: Elements in the op's constant inputs (weights, bias, axes, ...).
        weight_bytes: Bytes those constants occupy in the file.
        activation_in_elems: Elements in the op's non-constant inputs.
        activation_in_bytes: Bytes of those inputs at their dtype.
        activation_out_elems: Elements in the op's outputs.
        activation_out_bytes: Bytes of the outputs at their dtype.
        output_shape: Shape of the first output, batch included; () if it has none.
    """

    index: int
    op_name: str
    macs: int
    input_dtype: str | None
    weight_dtype: str | None
    output_dtype: str | None
    weight_elems: int
    weight_bytes: int
    activation_in_elems: int
    activation_in_bytes: int
    activation_out_elems: int
    activation_out_bytes: int
    output_shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class TfliteInfo:
    """What a `.tflite` file holds, read from its flatbuffer without running it.

    Attributes:
        path: The file inspected.
        size_bytes: File size.
        gzip_bytes: Size after gzip level 9 (the pruning guide's measure: pruned zeros compress).
        params: Elements of weight tensors (constants other than int32/int64 shape and axis
            operands; int32 biases of quantized ops do count), comparable to Keras' count_params.
        const_elems: Elements of every tensor that has buffer data, axes and shapes included.
        macs: Multiply-accumulates of one inference, summed over `ops`.
        dtype: "int8" (full-integer), "dynamic" (int8 weights, float activations), "float16"
            (float16 weights dequantized at run time), "uint8"/"int16" for those quantized
            inputs, else "float32".
        input_shape: Shape of the first input, batch included (as stored, usually 1).
        input_dtype: Its dtype ("float32", "int8", ...).
        input_scale: Its quantization scale, None when it is not quantized.
        input_zero_point: Its quantization zero point, None when it is not quantized.
        output_shape: Shape of the first output.
        output_dtype: Its dtype.
        output_scale: Its quantization scale, None when it is not quantized.
        output_zero_point: Its quantization zero point, None when it is not quantized.
        num_classes: Last dimension of the first output, None if it has no dimensions.
        num_inputs: Inputs of the main subgraph.
        num_outputs: Outputs of the main subgraph.
        num_subgraphs: Subgraphs in the model; only the main one (0) is counted in `ops`.
        ops: Per-operator details of the main subgraph, in execution order.
    """

    path: str
    size_bytes: int
    gzip_bytes: int
    params: int
    const_elems: int
    macs: int
    dtype: str
    input_shape: tuple[int, ...]
    input_dtype: str
    input_scale: float | None
    input_zero_point: int | None
    output_shape: tuple[int, ...]
    output_dtype: str
    output_scale: float | None
    output_zero_point: int | None
    num_classes: int | None
    num_inputs: int
    num_outputs: int
    num_subgraphs: int
    ops: tuple[OpInfo, ...]


@dataclass(frozen=True)
class _Tensor:
    shape: tuple[int, ...]
    dtype: str
    is_const: bool
    data_bytes: int  # bytes of buffer data, 0 for activations
    scale: float | None
    zero_point: int | None

    @property
    def elems(self) -> int:
        # Dynamic dimensions are stored as -1 in shape_signature, but `shape` holds 1 for them.
        return math.prod(max(d, 1) for d in self.shape)

    @property
    def nbytes(self) -> int:
        return math.ceil(self.elems * _TYPE_BITS.get(self.dtype, 32) / 8)


def gzip_size(data: bytes) -> int:
    """Bytes after gzip level 9, the size column's compressed measure: pruned zeros show here only.

    Example:
        >>> gzip_size(bytes(1000)) < 100
        True
    """
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def _truncated(path: Path, data: bytes, detail: str) -> ModelFileError:
    return ModelFileError(
        f"{path} is truncated or corrupt ({len(data)} bytes; {detail}). It starts like a TFLite "
        f"model but its contents do not fit in the file. {FIX_HINT}"
    )


def parse_tflite(path: Path, data: bytes) -> TfliteInfo:
    """Read the flatbuffer; any read past the end of `data` means the file was cut short."""
    try:
        return _parse_unchecked(path, data)
    except ModelFileError:
        raise
    except (struct.error, IndexError, ValueError, TypeError, OverflowError) as err:
        # The Python flatbuffers reader has no verifier: an offset pointing past the end shows
        # up as a struct/numpy error on access. That is exactly a truncated or corrupt file.
        raise _truncated(path, data, f"reading its flatbuffer failed: {err}") from err


def _parse_unchecked(path: Path, data: bytes) -> TfliteInfo:
    (root,) = struct.unpack_from("<I", data, 0)
    if root + 4 > len(data):
        raise _truncated(path, data, f"root table offset {root} is past the end")
    model = schema.Model.GetRootAs(data, 0)
    if model.SubgraphsLength() < 1:
        raise _truncated(path, data, "it has no subgraphs")

    buffers = [model.Buffers(i) for i in range(model.BuffersLength())]
    buffer_bytes = [_buffer_bytes(path, data, i, b) for i, b in enumerate(buffers)]
    op_names = [_op_name(model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]

    graph = model.Subgraphs(0)
    tensors = [_read_tensor(graph.Tensors(i), buffer_bytes) for i in range(graph.TensorsLength())]
    inputs = [int(i) for i in _int_vector(graph.InputsAsNumpy())]
    outputs = [int(i) for i in _int_vector(graph.OutputsAsNumpy())]
    if not inputs or not outputs:
        raise _truncated(path, data, "its main subgraph has no inputs or outputs")
    for i in inputs + outputs:
        if not 0 <= i < len(tensors):
            raise _truncated(path, data, f"input/output tensor index {i} out of range")

    ops: list[OpInfo] = []
    bias_tensors: set[int] = set()
    mac_kinds: list[tuple[str | None, str | None]] = []  # (activation dtype, weight dtype)
    has_f16_dequantize = False
    for op_index in range(graph.OperatorsLength()):
        op = graph.Operators(op_index)
        code = op.OpcodeIndex()
        if code >= len(op_names):
            raise _truncated(path, data, f"operator {op_index} uses unknown opcode {code}")
        name = op_names[code]
        ins = [int(i) for i in _int_vector(op.InputsAsNumpy())]
        outs = [int(i) for i in _int_vector(op.OutputsAsNumpy())]
        for t in ins + outs:
            if t >= len(tensors):
                raise _truncated(path, data, f"operator {op_index} names tensor {t} of "
                                             f"{len(tensors)}")
        info = _op_info(op_index, name, op, ins, outs, tensors)
        ops.append(info)
        if name in _MAC_OPS:
            mac_kinds.append((info.input_dtype, info.weight_dtype))
            bias = _BIAS_INPUT.get(name)
            if bias is not None and bias < len(ins) and ins[bias] >= 0:
                bias_tensors.add(ins[bias])
        if name == "DEQUANTIZE" and any(
            t >= 0 and tensors[t].is_const and tensors[t].dtype == "float16" for t in ins
        ):
            has_f16_dequantize = True
    # Parameters are the stored weights: every constant except integer operands that only
    # describe shapes, axes or paddings; int32/int64 biases of quantized MAC ops are weights.
    params = sum(
        t.elems for i, t in enumerate(tensors)
        if t.is_const and (t.dtype not in ("int32", "int64") or i in bias_tensors)
    )

    first_in, first_out = tensors[inputs[0]], tensors[outputs[0]]
    return TfliteInfo(
        path=str(path),
        size_bytes=len(data),
        gzip_bytes=gzip_size(data),
        params=params,
        const_elems=sum(t.elems for t in tensors if t.is_const),
        macs=sum(op.macs for op in ops),
        dtype=_model_dtype(first_in, mac_kinds, has_f16_dequantize),
        input_shape=first_in.shape,
        input_dtype=first_in.dtype,
        input_scale=first_in.scale,
        input_zero_point=first_in.zero_point,
        output_shape=first_out.shape,
        output_dtype=first_out.dtype,
        output_scale=first_out.scale,
        output_zero_point=first_out.zero_point,
        num_classes=first_out.shape[-1] if first_out.shape else None,
        num_inputs=len(inputs),
        num_outputs=len(outputs),
        num_subgraphs=model.SubgraphsLength(),
        ops=tuple(ops),
    )


def _int_vector(vec) -> np.ndarray:
    # The generated accessors return the int 0, not an empty array, for an absent vector.
    return vec if isinstance(vec, np.ndarray) else np.zeros(0, dtype=np.int32)


def _buffer_bytes(path: Path, data: bytes, index: int, buffer) -> int:
    """Bytes of data a buffer holds, checking that they lie inside the file."""
    if buffer is None:
        return 0
    n = buffer.DataLength()
    if n:
        start = buffer._tab.Vector(buffer._tab.Offset(4))  # where the data vector begins
        if start + n > len(data):
            raise _truncated(path, data, f"buffer {index} ends at byte {start + n}")
        return n
    # Models over 2 GB keep buffers after the flatbuffer, addressed by (offset, size) from the
    # start of the file; offset 1 is the converter's placeholder for "no data".
    offset, size = buffer.Offset(), buffer.Size()
    if offset > 1 and size > 0:
        if offset + size > len(data):
            raise _truncated(path, data, f"buffer {index} ends at byte {offset + size}")
        return size
    return 0


def _op_name(code) -> str:
    # Builtin codes above 127 live in `builtin_code`; older files only fill the deprecated
    # int8 field. The schema's rule is to take the larger of the two.
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    name = _OP_NAMES.get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM":
        custom = code.CustomCode()
        return custom.decode("utf-8", "replace") if custom else "CUSTOM"
    return name


def _read_tensor(tensor, buffer_bytes: list[int]) -> _Tensor:
    shape = tuple(int(d) for d in _int_vector(tensor.ShapeAsNumpy()))
    dtype = _TYPE_NAMES.get(tensor.Type(), f"type{tensor.Type()}")
    buf = tensor.Buffer()
    data_bytes = buffer_bytes[buf] if 0 < buf < len(buffer_bytes) else 0
    external = tensor.ExternalBuffer() != 0  # data in a side file the model refers to
    scale = zero_point = None
    quant = tensor.Quantization()
    if quant is not None and quant.ScaleLength() > 0:
        # Per-tensor for inputs/outputs; per-channel weights keep their first channel's here.
        scale = float(quant.Scale(0))
        zero_point = int(quant.ZeroPoint(0)) if quant.ZeroPointLength() > 0 else 0
    return _Tensor(shape=shape, dtype=dtype, is_const=data_bytes > 0 or external,
                   data_bytes=data_bytes, scale=scale, zero_point=zero_point)


def _op_info(index: int, name: str, op, ins: list[int], outs: list[int],
             tensors: list[_Tensor]) -> OpInfo:
    present_ins = [t for t in ins if t >= 0]  # -1 marks an omitted optional input (no bias)
    consts = [tensors[t] for t in present_ins if tensors[t].is_const]
    acts = [tensors[t] for t in present_ins if not tensors[t].is_const]
    out_tensors = [tensors[t] for t in outs if t >= 0]
    out_elems = sum(t.elems for t in out_tensors)

    data_pos = _DATA_INPUT.get(name, 0)
    data_in = tensors[ins[data_pos]] if data_pos < len(ins) and ins[data_pos] >= 0 else None
    if data_in is None and acts:
        data_in = acts[0]
    weight = None
    if name in _MAC_OPS and _WEIGHT_INPUT[name] < len(ins) and ins[_WEIGHT_INPUT[name]] >= 0:
        weight = tensors[ins[_WEIGHT_INPUT[name]]]

    return OpInfo(
        index=index,
        op_name=name,
        macs=_macs(name, op, data_in, weight, out_tensors[0] if out_tensors else None),
        input_dtype=data_in.dtype if data_in is not None else None,
        weight_dtype=weight.dtype if weight is not None else None,
        output_dtype=out_tensors[0].dtype if out_tensors else None,
        weight_elems=sum(t.elems for t in consts),
        weight_bytes=sum(t.data_bytes or t.nbytes for t in consts),
        activation_in_elems=sum(t.elems for t in acts),
        activation_in_bytes=sum(t.nbytes for t in acts),
        activation_out_elems=out_elems,
        activation_out_bytes=sum(t.nbytes for t in out_tensors),
        output_shape=out_tensors[0].shape if out_tensors else (),
    )


def _macs(name: str, op, data_in: _Tensor | None, weight: _Tensor | None,
          out: _Tensor | None) -> int:
    if weight is None or out is None or not weight.shape:
        return 0
    w = weight.shape
    if name == "CONV_2D" and len(w) == 4:  # filter [cout, kh, kw, cin / groups]
        return out.elems * w[1] * w[2] * w[3]
    if name == "DEPTHWISE_CONV_2D" and len(w) == 4:  # filter [1, kh, kw, cin * multiplier]
        return out.elems * w[1] * w[2]
    if name == "FULLY_CONNECTED":  # weights [units, in_features]
        return out.elems * w[-1]
    if name == "TRANSPOSE_CONV" and len(w) == 4 and data_in is not None:
        return data_in.elems * w[1] * w[2] * w[0]  # every input pixel scatters a kh*kw*cout tile
    if name == "BATCH_MATMUL" and data_in is not None and len(data_in.shape) >= 2:
        adj_x = False
        if op.BuiltinOptionsType() == schema.BuiltinOptions.BatchMatMulOptions:
            table = op.BuiltinOptions()
            options = schema.BatchMatMulOptions()
            options.Init(table.Bytes, table.Pos)
            adj_x = bool(options.AdjX())
        k = data_in.shape[-2] if adj_x else data_in.shape[-1]
        return out.elems * max(k, 1)
    return 0


def _model_dtype(first_in: _Tensor, mac_kinds: list[tuple[str | None, str | None]],
                 has_f16_dequantize: bool) -> str:
    if first_in.dtype == "int8" or (mac_kinds and all(a == "int8" for a, _ in mac_kinds)):
        return "int8"
    if first_in.dtype in ("uint8", "int16") and first_in.scale is not None:
        return first_in.dtype
    if any(a in ("float32", "float16") and w == "int8" for a, w in mac_kinds):
        return "dynamic"
    if has_f16_dequantize:
        return "float16"
    return "float32"
