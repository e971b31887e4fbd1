"""A Keras 3 model config → one flat tf_keras functional config, and where each layer's weights are.

Keras 3 and tf_keras write a functional graph differently: Keras 3 records each call as
`{"args": [...], "kwargs": {...}}` with `__keras_tensor__` placeholders, tf_keras as lists of
`[layer, node_index, tensor_index, kwargs]`. This module rewires every call into tf_keras's form
and, on the way, makes the graph flat:

- a nested model (an application backbone used as a layer, a Sequential block) is inlined: its
  layers join the outer graph, renamed `<model>_<layer>` only where a name is taken, so every
  stage (prune, eliminate, swap_fc …) sees plain layers. A call with `training=False` (a frozen
  backbone) passes that on to each inner layer that takes `training`;
- Keras 3 *operations* in the graph (`x + 3.0`, `x * y`, as `keras.applications.MobileNetV3`
  writes its hard-sigmoid) become tf_keras's TFOpLambda (`tf.math.add`, …);
- random augmentation layers are identities at inference and are left out.

`layer_sources` maps each tf_keras layer name to the path of Keras 3 layer names its weights come
from, e.g. `("MobileNetV3Small", "conv")`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeopt.models.keras3_layers import Findings, is_augmentation, tf_keras_class, translate_layer

_MODELS = ("Functional", "Sequential", "Model")
_OPS = {"Add": "math.add", "Subtract": "math.subtract", "Multiply": "math.multiply", "Divide": "math.truediv",
        "TrueDivide": "math.truediv"}
Ref = tuple[str, int, int]  # (tf_keras layer, node index, tensor index)


@dataclass
class _Layer:
    name: str
    entry: dict  # {"class_name", "config"} for tf_keras
    source: tuple[str, ...]  # Keras 3 layer-name path of its weights; () for an op
    calls: list[list] = field(default_factory=list)  # tf_keras inbound nodes


@dataclass
class FlatGraph:
    """The translated model: a tf_keras functional config plus facts about the translation."""

    config: dict  # {"class_name": "Functional", "config": {...}} for tf_keras
    layer_sources: dict[str, tuple[str, ...]]
    findings: Findings


def flatten_keras3(model_config: dict, class_name: str) -> FlatGraph:
    """Translate a Keras 3 model (`model.get_config()` and its class name) into one flat graph.

    Problems are collected in `findings.problems` rather than raised, so a model with several
    untranslatable layers is refused once, naming all of them.

    Example:
        >>> graph = flatten_keras3(keras3_model.get_config(), "Functional")  # doctest: +SKIP
        >>> tf_keras.Model.from_config(graph.config["config"])                 # doctest: +SKIP
    """
    builder = _Builder(Findings())
    # The model's own layer names stay as they are (recipes name them); inlined ones give way.
    builder.reserved = {entry.get("name") or entry.get("config", {}).get("name")
                        for entry in model_config.get("layers", [])}
    outputs = builder.model(class_name, model_config, None, (), {})
    inputs = [(layer.name, 0, 0) for layer in builder.layers if layer.entry["class_name"] == "InputLayer"]
    config = {"name": model_config.get("name", "model"), "trainable": True,
              "layers": [{**layer.entry, "name": layer.name, "inbound_nodes": layer.calls} for layer in builder.layers],
              "input_layers": [list(ref) for ref in inputs], "output_layers": [list(ref) for ref in outputs or []]}
    return FlatGraph({"class_name": "Functional", "config": config},
                     {layer.name: layer.source for layer in builder.layers if layer.source}, builder.findings)


class _Builder:
    def __init__(self, findings: Findings):
        self.findings = findings
        self.layers: list[_Layer] = []
        self._by_source: dict[tuple[str, ...], _Layer] = {}
        self.reserved: set[str] = set()

    # --- models --------------------------------------------------------------------------------

    def model(self, class_name: str, config: dict, inputs: list[Ref] | None, path: tuple[str, ...],
              call_kwargs: dict) -> list[Ref] | None:
        if class_name == "Sequential":
            return self._sequential(config, inputs, path, call_kwargs)
        return self._functional(config, inputs, path, call_kwargs)

    def _functional(self, config: dict, inputs: list[Ref] | None, path: tuple[str, ...],
                    call_kwargs: dict) -> list[Ref] | None:
        input_names = [ref[0] for ref in _refs_list(config.get("input_layers"))]
        tensors: dict[tuple[str, int], list[Ref]] = {}
        pending = [(entry, index, node) for entry in config.get("layers", [])
                   for index, node in enumerate(entry.get("inbound_nodes") or [None])]
        while pending:  # Keras writes layers in order; a second pass costs nothing if it did not
            left = []
            for entry, index, node in pending:
                name = entry.get("name") or entry["config"].get("name")
                if entry["class_name"] == "InputLayer" or node is None:
                    if entry["class_name"] != "InputLayer":
                        continue  # a layer the graph never calls
                    tensors[(name, 0)] = ([inputs[input_names.index(name)]] if inputs is not None
                                          else [self._input(entry, path)])
                    continue
                try:
                    args = _resolve(node.get("args", []), tensors)
                    kwargs = _resolve(node.get("kwargs", {}), tensors)
                except KeyError:
                    left.append((entry, index, node))
                    continue
                except _Unmade:  # an input's layer was refused: that problem is already said
                    tensors[(name, index)] = None
                    continue
                tensors[(name, index)] = self._call(entry, args, kwargs, path, call_kwargs) or None
            if len(left) == len(pending):
                names = ", ".join(sorted({e.get("name", "?") for e, _, _ in left}))
                self.findings.problems.append(f"the graph of '{config.get('name')}' does not connect: layer(s) "
                                              f"{names} read tensors no layer makes")
                return None
            pending = left
        try:
            return [tensors[(ref[0], ref[1])][ref[2]] for ref in _refs_list(config.get("output_layers"))]
        except (KeyError, IndexError, TypeError):
            return None  # an earlier problem left an output unmade

    def _sequential(self, config: dict, inputs: list[Ref] | None, path: tuple[str, ...],
                    call_kwargs: dict) -> list[Ref] | None:
        entries = list(config.get("layers", []))
        if entries and entries[0]["class_name"] == "InputLayer":
            first = entries.pop(0)
        else:
            first = {"class_name": "InputLayer", "config": {"batch_shape": config.get("build_input_shape"),
                                                            "name": f"{config.get('name', 'sequential')}_input"}}
        if inputs is not None and not inputs:
            return None
        current = inputs[0] if inputs is not None else self._input(first, path)
        for entry in entries:
            outputs = self._call(entry, [current], {}, path, call_kwargs)
            if not outputs:
                return None
            current = outputs[0]
        return [current]

    # --- calls ---------------------------------------------------------------------------------

    def _input(self, entry: dict, path: tuple[str, ...]) -> Ref:
        config = dict(entry["config"])
        name = config.get("name") or entry.get("name") or "input"
        if config.get("batch_shape") is None and config.get("batch_input_shape") is None:
            self.findings.problems.append(f"input '{name}' has no shape; build the model on an Input before saving")
        entry = {"class_name": "InputLayer", "config": config, "registered_name": None}
        translated = translate_layer(entry, f"input '{name}'", self.findings) or {"class_name": "InputLayer",
                                                                                 "config": {}}
        layer = self._add(name, translated, (), path)
        return (layer.name, 0, 0)

    def _call(self, entry: dict, args: Any, kwargs: dict, path: tuple[str, ...], call_kwargs: dict) -> list[Ref]:
        class_name, name = entry["class_name"], entry.get("name") or entry["config"].get("name")
        label = f"layer '{'/'.join(path + (name,))}' ({class_name})"
        refs = [a for a in _flat(args) if _is_ref(a)]
        module = str(entry.get("module") or "")
        if class_name in _MODELS and (module.startswith("keras.src.models") or module in ("keras", "keras.models")):
            inner_kwargs = {**call_kwargs, **({"training": kwargs["training"]} if "training" in kwargs else {})}
            if any(s[:len(path) + 1] == path + (name,) for s in self._by_source):
                self.findings.problems.append(f"{label} is called more than once (a shared model); edgeopt "
                                              "inlines nested models and cannot share one")
            return self.model(class_name, entry["config"], refs, path + (name,), inner_kwargs) or []
        if is_augmentation(class_name):
            self.findings.note(f"left out {class_name} layer '{name}': random augmentation, an identity at inference")
            return refs[:1]
        if module.startswith("keras.src.ops"):
            return self._op(entry, args, label, path)
        source = path + (name,)
        layer = self._by_source.get(source)
        if layer is None:
            translated = translate_layer(entry, label, self.findings)
            if translated is None:
                return []
            layer = self._add(name, translated, source, path)
        extra = {k: v for k, v in kwargs.items() if v is not None and k != "mask"}
        cls = tf_keras_class(class_name, entry.get("registered_name"))
        if "training" in call_kwargs and cls is not None and _takes_training(cls):
            extra.setdefault("training", call_kwargs["training"])
        if len(refs) != len([a for a in _flat(args)]):
            self.findings.problems.append(f"{label} is called with constants besides tensors; edgeopt carries "
                                          "layers called on tensors only")
            return []
        layer.calls.append([[*ref, extra] for ref in refs])
        return [(layer.name, len(layer.calls) - 1, 0)]

    def _op(self, entry: dict, args: Any, label: str, path: tuple[str, ...]) -> list[Ref]:
        class_name = entry["class_name"]
        operands = list(args) if isinstance(args, (list, tuple)) else [args]
        if class_name not in _OPS or len(operands) != 2 or not any(_is_ref(a) for a in operands) or not all(
                _is_ref(a) or isinstance(a, (int, float)) for a in operands):
            self.findings.problems.append(
                f"{label.replace('layer', 'operation', 1)} is a Keras 3 operation (keras.ops) edgeopt does not "
                f"carry; it carries +, -, *, / between tensors and numbers. Use a layer instead (e.g. "
                "layers.Reshape, layers.GlobalAveragePooling2D)")
            return []
        x, y = operands
        y = list(y) if _is_ref(y) else y
        # One bare [layer, node, tensor, kwargs] (not a list of them): tf_keras then calls the op on the
        # tensor itself; wrapped in a list, TFOpLambda would stack it into a new axis.
        node = [*x, {"y": y}] if _is_ref(x) else ["_CONSTANT_VALUE", -1, x, {"y": y}]
        name = entry.get("name") or class_name.lower()
        config = {"name": name, "trainable": True, "dtype": "float32", "function": _OPS[class_name]}
        layer = self._add(name, {"class_name": "TFOpLambda", "config": config}, (), path)
        layer.calls.append(node)
        return [(layer.name, 0, 0)]

    def _taken(self, name: str, nested: bool) -> bool:
        return (nested and name in self.reserved) or any(layer.name == name for layer in self.layers)

    def _add(self, name: str, translated: dict, source: tuple[str, ...], path: tuple[str, ...]) -> _Layer:
        nested = bool(path)
        if nested and self._taken(name, nested):
            name = "_".join(path + (name,))  # backbone_conv: where it came from
        unique, n = name, 1
        while self._taken(unique, nested):
            unique, n = f"{name}_{n}", n + 1
        translated = {**translated, "config": {**translated["config"], "name": unique}}
        layer = _Layer(unique, translated, source)
        self.layers.append(layer)
        if source:
            self._by_source[source] = layer
        return layer


def _is_ref(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 3 and isinstance(value[0], str)


def _flat(value: Any) -> list:
    if isinstance(value, list):
        return [item for part in value for item in _flat(part)]
    return [value]


class _Unmade(Exception):
    """A tensor whose layer was refused."""


def _resolve(value: Any, tensors: dict[tuple[str, int], list[Ref] | None]) -> Any:
    """Replace Keras 3's `__keras_tensor__` placeholders by refs to the flat graph.

    Raises KeyError for a tensor not made yet, _Unmade for one that never will be.
    """
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        layer, node, tensor = value["config"]["keras_history"]
        made = tensors[(layer, node)]
        if made is None or tensor >= len(made):
            raise _Unmade
        return made[tensor]
    if isinstance(value, dict):
        return {k: _resolve(v, tensors) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve(v, tensors) for v in value]
    return value


def _refs_list(value: Any) -> list[tuple[str, int, int]]:
    """input_layers / output_layers: one [name, node, tensor] or a list of them."""
    if not value:
        return []
    if isinstance(value[0], str):
        return [tuple(value)]
    return [tuple(v) for v in value]


def _takes_training(cls: type) -> bool:
    import inspect

    return "training" in inspect.signature(cls.call).parameters
