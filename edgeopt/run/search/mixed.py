"""Per-layer precision: the layers this CPU runs faster in float than in int8.

On some CPUs an int8 conv costs the same whatever its input channels while its float twin grows
with them (measured on an AMX Xeon, docs/search.md): a model can be fastest int8 except for a
layer or two. Each MAC layer's ops are cut out of the float32 and the int8 model
(`profile/tflite_cut.py`) and timed side by side; the layers whose float ops are clearly faster are kept float inside the int8 graph (the
`convert` stage's `float_layers`). Whether that pays, after the QUANTIZE/DEQUANTIZE it adds, is
then measured on the whole model like every other row.
"""

from __future__ import annotations

from edgeopt.profile.side_by_side import interleaved_quiet_ms
from edgeopt.profile.tflite_cut import op_model
from edgeopt.run.search.costs import layer_of

_MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
MARGIN = 0.8  # float must take under 80 % of int8's time: the boundary ops cost something too


def _layer_ops(data: bytes, layer_names: set[str]) -> dict[str, list[int]]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=data,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    found: dict[str, list[int]] = {}
    for op in interpreter._get_ops_details():  # noqa: SLF001 — LiteRT's only per-op listing
        if op["op_name"] in _MAC_OPS:
            layer = layer_of(names[op["outputs"][0]], layer_names)
            if layer is not None:
                found.setdefault(layer, []).append(op["index"])
    return found


def float_faster_layers(float_model: bytes, int8_model: bytes, layer_names: set[str], *,
                        threads: int = 1) -> tuple[list[str], dict[str, dict[str, float]]]:
    """The layers whose ops run clearly faster in float32 than in int8 here, and every layer's times.

    Returns:
        (layers, times): `times[layer] = {"float32_ms": …, "int8_ms": …}` for each MAC layer found
        in both models (a model output's op is renamed by the converter and not found: it stays int8).
    """
    in_float, in_int8 = _layer_ops(float_model, layer_names), _layer_ops(int8_model, layer_names)
    layers = sorted(set(in_float) & set(in_int8))
    pieces = [op_model(float_model, i) for layer in layers for i in in_float[layer]]
    pieces += [op_model(int8_model, i) for layer in layers for i in in_int8[layer]]
    p50 = iter(interleaved_quiet_ms(pieces, threads=threads)) if pieces else iter(())
    times = {layer: {"float32_ms": sum(next(p50) for _ in in_float[layer])} for layer in layers}
    for layer in layers:
        times[layer]["int8_ms"] = sum(next(p50) for _ in in_int8[layer])
    chosen = [layer for layer in layers if times[layer]["float32_ms"] < MARGIN * times[layer]["int8_ms"]]
    return chosen, times


def mixed_precision_steps(models: list[str], artifacts: dict, known: dict[str, dict], threads: int, log) -> list[dict]:
    """`convert` steps of `<model>_mixed` (int8, the layers faster in float kept float) for each model
    of `models` (step-id prefixes with `_ft`, `_float32` and `_int8` artifacts) where some layer is;
    what was measured goes into `known` (the trace's `mixed`), and is read from it when there."""
    from edgeopt.models.keras_io import load_keras_model

    steps = []
    for model in models:
        if model not in known:
            layers = {layer.name for layer in load_keras_model(artifacts[f"{model}_ft"].path).layers}
            chosen, times = float_faster_layers(artifacts[f"{model}_float32"].path.read_bytes(),
                                                artifacts[f"{model}_int8"].path.read_bytes(), layers, threads=threads)
            known[model] = {"float_layers": chosen, "times_ms": times}
        chosen = known[model]["float_layers"]
        if chosen:
            log(f"  {model}: {', '.join(chosen)} faster in float32 than in int8 here → {model}_mixed")
            steps.append({"id": f"{model}_mixed", "stage": "convert", "from": f"{model}_ft", "mode": "int8",
                          "float_layers": chosen})
    return steps
