"""Keras model → .tflite flatbuffer: float32, dynamic-range int8 weights, or full int8.

The `convert` stage writes what this returns; elimination's sweep and the benchmarks convert
candidates in memory with the same function, so every .tflite edgeopt makes is made one way.
"""

from __future__ import annotations


def tflite_bytes(model, mode: str, calibration, lean_float_ops: bool | None = None) -> bytes:
    """The converted flatbuffer. Full int8 follows DESIGN.md §5: int8 in, int8 out, builtins only.

    In int8, a model with LEAN layers keeps the ops LEAN names `lean_float_*` (its C'-wide
    divisions and their floors) in float: XNNPACK has no int8 DIV, MAXIMUM or ABS, so quantised
    they would run in TFLite's reference kernels and split the graph into delegate partitions; in
    float they run inside XNNPACK's one partition, between a DEQUANTIZE and a QUANTIZE the
    quantiser inserts (docs/lean.md, "The int8 graph"). `lean_float_ops` forces that on (True, for
    models that spell LEAN's ops out, as benchmarks/lean_figures.py does) or off (False); None
    decides by whether the model has LEAN layers.
    """
    from edgeopt.common.quiet import native_output_captured
    from edgeopt.tf.runtime import tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode in ("dynamic", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "int8":
        def representative_dataset():
            for sample in calibration:
                yield [sample[None, ...].astype("float32")]

        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        if lean_float_ops or (lean_float_ops is None and _has_lean(model)):
            return _int8_keeping_lean_divisions_float(converter)
    with native_output_captured():  # the converter prints MLIR diagnostics from C++
        return converter.convert()


def _has_lean(model) -> bool:
    from edgeopt.layers import LEAN

    return any(isinstance(layer, LEAN) for layer in model._flatten_layers(include_self=False))


def _int8_keeping_lean_divisions_float(converter) -> bytes:
    """Full int8 except the nodes LEAN names float: calibrate, then quantise with those denylisted.

    The two steps TensorFlow's public `QuantizationDebugger` uses for selective quantisation
    (calibrate-only conversion, then `mlir_quantize` with a denylist), here with int8 input and
    output, as the plain int8 conversion has.
    """
    from tensorflow.lite.python import convert as tflite_convert

    from edgeopt.common.quiet import native_output_captured
    from edgeopt.tf.runtime import tf

    converter.experimental_mlir_quantizer = True
    converter._experimental_calibrate_only = True  # noqa: SLF001 — the debugger's own switch
    with native_output_captured():
        calibrated = converter.convert()
        nodes = lean_float_nodes(calibrated)
        return tflite_convert.mlir_quantize(calibrated, fully_quantize=True, input_data_type=tf.int8,
                                            output_data_type=tf.int8, denylisted_nodes=nodes)


# Ops XNNPACK's TFLite delegate has no int8 kernel for (docs/lean.md, "The int8 graph").
_FLOAT_ONLY_IN_XNNPACK = {"DIV", "MAXIMUM", "MINIMUM", "ABS", "RSQRT", "SQRT", "RELU"}


def lean_float_nodes(flatbuffer: bytes) -> list[str]:
    """Output-tensor names of the ops a LEAN layer marked float (`lean_float_*`).

    The converter renames a graph output's tensor, so an op whose output is a model output counts
    when every non-constant input it has comes from a marked op, or when it is an op XNNPACK runs
    only in float (a DIV, say) with an input from a marked op (LEAN as the last layer).
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from edgeopt.layers.lean import FLOAT_OP_PREFIX

    interpreter = Interpreter(model_content=flatbuffer,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    outputs = {d["index"] for d in interpreter.get_output_details()}
    ops = interpreter._get_ops_details()  # noqa: SLF001 — LiteRT's only per-op listing
    produced = {out for op in ops for out in op["outputs"]}
    marked: set[int] = set()
    for op in ops:
        out = op["outputs"][0]
        inputs = [i for i in op["inputs"] if i in produced]
        from_marked = bool(inputs) and (set(inputs) <= marked or (op["op_name"] in _FLOAT_ONLY_IN_XNNPACK
                                                                  and bool(set(inputs) & marked)))
        if FLOAT_OP_PREFIX in names[out] or (out in outputs and from_marked):
            marked.add(out)
    return [names[t] for t in sorted(marked)]
