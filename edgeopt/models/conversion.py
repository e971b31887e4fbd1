"""Keras model → .tflite flatbuffer: float32, float16 weights, dynamic-range int8 weights, or full int8.

The `convert` stage writes what this returns; elimination's sweep and the benchmarks convert
candidates in memory with the same function, so every .tflite edgeopt makes is made one way.
"""

from __future__ import annotations


def tflite_bytes(model, mode: str, calibration, lean_float_ops: bool | None = None,
                 float_layers: tuple[str, ...] = ()) -> bytes:
    """The converted flatbuffer. Full int8 is int8 in, int8 out, builtins only (TFLITE_BUILTINS_INT8).

    `float16` stores float16 weights that the runtime turns back into float32 when it loads them
    (half the file, float32 speed on a CPU). With `float_layers` an int8 model keeps those Keras
    layers' ops in float, between a DEQUANTIZE and a QUANTIZE: for a layer that this CPU runs faster
    in float than in int8 (`edgeopt search` measures which).

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
    if mode in ("dynamic", "int8", "float16"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        def representative_dataset():
            for sample in calibration:
                yield [sample[None, ...].astype("float32")]

        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        lean = bool(lean_float_ops or (lean_float_ops is None and _has_lean(model)))
        if lean or float_layers:
            return _int8_keeping_float(converter, lean, tuple(float_layers))
    with native_output_captured():  # the converter prints MLIR diagnostics from C++
        return converter.convert()


def _has_lean(model) -> bool:
    from edgeopt.layers import LEAN

    return any(isinstance(layer, LEAN) for layer in model._flatten_layers(include_self=False))


def _int8_keeping_float(converter, lean: bool, float_layers: tuple[str, ...]) -> bytes:
    """Full int8 except the nodes LEAN names float and those of `float_layers`: calibrate, then
    quantise with those denylisted.

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
        nodes = (lean_float_nodes(calibrated) if lean else []) + layer_nodes(calibrated, float_layers)
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


def layer_nodes(flatbuffer: bytes, layers: tuple[str, ...]) -> list[str]:
    """Output-tensor names of the ops that Keras layers `layers` became (the converter names them
    `<model>/<layer>/<op>`, joined by ';' when ops were fused).

    Raises:
        EdgeoptError: A layer left no op with its name in the graph (a typo, or a layer the
            converter folded away, like a BatchNormalization into its conv).
    """
    if not layers:
        return []
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from edgeopt.common.errors import EdgeoptError

    interpreter = Interpreter(model_content=flatbuffer,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    outputs = [names[op["outputs"][0]] for op in interpreter._get_ops_details()]  # noqa: SLF001
    found = []
    for layer in layers:
        mine = [name for name in outputs if any(part.split("/")[-2:-1] == [layer] for part in name.split(";"))]
        if not mine:
            raise EdgeoptError(f"`float_layers` names layer '{layer}', but no op of the converted model comes from it. "
                               "Name a Conv2D, DepthwiseConv2D or Dense layer of the model.")
        found += mine
    return found
