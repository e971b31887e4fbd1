"""Channel groups of a .tflite graph and latency proxies: the graph narrowed without TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

from edgeopt.common.errors import EdgeoptError
from edgeopt.profile.tflite_channels import channel_groups, narrowed


@pytest.fixture(scope="module")
def chain_models():
    """A plain chain and a residual block, untrained (so biases are zero and the converter shares
    them between layers: the proxies must not narrow one layer through another's bias)."""
    from edgeopt.models.conversion import tflite_bytes
    from edgeopt.tf.runtime import keras

    keras.utils.set_random_seed(0)
    chain = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(8, 3, activation="relu", name="c1"),
                              keras.layers.MaxPooling2D(2, name="p1"),
                              keras.layers.Conv2D(8, 3, activation="relu", name="c2"),
                              keras.layers.GlobalAveragePooling2D(name="gap"),
                              keras.layers.Dense(6, activation="relu", name="fc1"), keras.layers.Dense(3, name="out")])
    x = keras.Input((12, 12, 1))
    stem = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(x)
    branch = keras.layers.Conv2D(8, 3, padding="same", name="branch")(stem)
    joined = keras.layers.Add(name="add")([stem, branch])
    head = keras.layers.Dense(3, name="out")(keras.layers.GlobalAveragePooling2D(name="gap")(joined))
    residual = keras.Model(x, head)
    flat = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(4, 3, name="c1"),
                             keras.layers.Flatten(name="flat"), keras.layers.Dense(3, name="out")])
    calibration = np.random.default_rng(0).random((20, 12, 12, 1), np.float32)
    models = {f"chain_{mode}": tflite_bytes(chain, mode, calibration) for mode in ("float32", "float16", "int8")}
    models["residual_int8"] = tflite_bytes(residual, "int8", calibration)
    models["flat_float32"] = tflite_bytes(flat, "float32", calibration[:, :6, :6])
    return models


def _run(data: bytes) -> list[tuple[str, tuple[int, ...]]]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=data,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    interpreter.invoke()
    details = interpreter.get_tensor_details()
    return [(op["op_name"], tuple(details[op["outputs"][0]]["shape"])) for op in interpreter._get_ops_details()]


@pytest.mark.parametrize("name", ["chain_float32", "chain_float16", "chain_int8"])
def test_each_layer_is_its_own_group_even_where_the_converter_shares_zero_biases(chain_models, name):
    from edgeopt.run.search.costs import layer_of

    groups = [g for g in channel_groups(chain_models[name]) if g.fixed is None]
    assert [len(g.producers) for g in groups] == [1, 1, 1]
    widths = {layer_of(g.producers[0], {"c1", "c2", "fc1"}): g.width for g in groups}
    assert widths == {"c1": 8, "c2": 8, "fc1": 6}


@pytest.mark.parametrize("name", ["chain_float32", "chain_float16", "chain_int8"])
def test_a_narrowed_chain_runs_with_every_shape_cut_and_only_the_groups_asked(chain_models, name):
    from edgeopt.run.search.costs import layer_of

    by_layer = {layer_of(g.producers[0], {"c1", "c2", "fc1"}): g for g in channel_groups(chain_models[name])
                if g.fixed is None}
    first, hidden = by_layer["c1"], by_layer["fc1"]
    ops = _run(narrowed(chain_models[name], {first.id: 3, hidden.id: 2}))
    shapes = [shape for op, shape in ops if op in ("CONV_2D", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED")]
    assert shapes == [(1, 10, 10, 3), (1, 5, 5, 3), (1, 3, 3, 8), (1, 8), (1, 2), (1, 3)]
    assert len(narrowed(chain_models[name], {first.id: 3})) < len(chain_models[name])


def test_a_residual_add_makes_one_group_of_both_convs(chain_models):
    free = [g for g in channel_groups(chain_models["residual_int8"]) if g.fixed is None]
    assert len(free) == 1 and len(free[0].producers) == 2
    ops = _run(narrowed(chain_models["residual_int8"], {free[0].id: 5}))
    assert ("ADD", (1, 12, 12, 5)) in ops


def test_fixed_groups_say_why_and_cannot_be_narrowed(chain_models):
    groups = channel_groups(chain_models["flat_float32"])
    flattened = next(g for g in groups if g.width == 4)
    assert flattened.fixed == "read or written by RESHAPE"  # Flatten: its channels are not a dense layer's
    with pytest.raises(EdgeoptError, match="cannot be narrowed: read or written by RESHAPE"):
        narrowed(chain_models["flat_float32"], {flattened.id: 2})
    output = next(g for g in groups if g.width == 3)
    assert output.fixed == "a model input or output"


def test_an_impossible_width_or_unknown_group_is_refused(chain_models):
    group = next(g for g in channel_groups(chain_models["chain_int8"]) if g.fixed is None)
    for width in (0, group.width + 1):
        with pytest.raises(EdgeoptError, match=f"cannot keep {width}"):
            narrowed(chain_models["chain_int8"], {group.id: width})
    with pytest.raises(EdgeoptError, match="no channel group 9999"):
        narrowed(chain_models["chain_int8"], {9999: 1})


def test_a_squeeze_excite_gate_narrows_with_the_channels_it_gates():
    """GAP → Reshape(1, 1, C) → conv → sigmoid → Multiply: the converter spells C in a PACK'd
    shape; narrowing the gated channels must narrow the gate and that constant too."""
    from edgeopt.models.conversion import tflite_bytes
    from edgeopt.tf.runtime import keras

    x = keras.Input((8, 8, 3))
    features = keras.layers.Conv2D(6, 3, padding="same", name="c1")(x)
    gate = keras.layers.Reshape((1, 1, 6), name="r")(keras.layers.GlobalAveragePooling2D(name="gap")(features))
    gate = keras.layers.Conv2D(6, 1, activation="sigmoid", name="excite")(gate)
    gated = keras.layers.Multiply(name="mul")([features, gate])
    model = keras.Model(x, keras.layers.Conv2D(3, 1, name="out")(keras.layers.ReLU()(gated)))
    data = tflite_bytes(model, "float32", None)
    gated_group = next(g for g in channel_groups(data) if g.fixed is None and g.width == 6)
    assert len(gated_group.producers) == 2  # c1 and the excite conv write the same channels
    ops = _run(narrowed(data, {gated_group.id: 4}))
    assert ("RESHAPE", (1, 1, 1, 4)) in ops and ("MUL", (1, 8, 8, 4)) in ops


def test_search_units_are_the_keras_channel_groups_and_map_to_one_graph_group_each():
    """The search narrows what `eliminate` narrows: a residual stream (stem + the conv added to it)
    is one unit, and the converted graph shows it as one group in every precision."""
    from edgeopt.models.conversion import tflite_bytes
    from edgeopt.run.search.costs import unit_groups
    from edgeopt.run.search.units import grid_unit
    from edgeopt.techniques.elimination.groups import channel_groups as keras_groups
    from edgeopt.tf.runtime import keras

    keras.utils.set_random_seed(0)
    x = keras.Input((12, 12, 1))
    stem = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(x)
    inner = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="inner")(stem)
    branch = keras.layers.Conv2D(8, 3, padding="same", name="branch")(inner)
    joined = keras.layers.Add(name="add")([stem, branch])
    model = keras.Model(x, keras.layers.Dense(3, name="out")(keras.layers.GlobalAveragePooling2D(name="gap")(joined)))
    units = [grid_unit(g.name, g.producers, g.width) for g in keras_groups(model) if not g.fixed]
    assert {u.name: set(u.layers) for u in units} == {"stem": {"stem", "branch"}, "inner": {"inner"}}
    calibration = np.random.default_rng(0).random((20, 12, 12, 1), np.float32)
    for mode in ("float32", "int8"):
        data = tflite_bytes(model, mode, calibration)
        ids = unit_groups(data, units)
        assert set(ids) == {"stem", "inner"} and ids["stem"] != ids["inner"]
        smaller = narrowed(data, {ids["stem"]: 4, ids["inner"]: 2})
        assert ("CONV_2D", (1, 12, 12, 4)) in _run(smaller) and ("CONV_2D", (1, 12, 12, 2)) in _run(smaller)
