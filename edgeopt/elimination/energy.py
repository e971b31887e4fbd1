"""Seed 003's analytical energy model for one image, priced on a Keras model: a labelled *model*.

Energy = computation + data movement, with Horowitz's 45 nm table (DESIGN.md §4):
  MAC             every multiply-accumulate: fp32 mult 3.7 + add 0.9 pJ; int8 mult 0.2 pJ + int32
                  add 0.1 pJ (TFLite accumulates int8 products in int32)
  SRAM weights    every parameter read once from SRAM, 5 pJ per 32-bit word
  SRAM activations the input and every weighted layer's output written once and read once, 5 pJ/word
  DRAM            every parameter fetched once from DRAM, 640 pJ per 32-bit word
A word holds one fp32 value or four int8 values. With these rules the seed's LeNet-300-100 row
(MAC 1.22 µJ, SRAM weights 1.33 µJ, SRAM activations 11.94 nJ, DRAM 170.51 µJ) is reproduced to
0.1 %. It is deterministic and a lower bound, not a wall-socket figure.

The project's shared energy model (priced on the .tflite graph) replaces `estimate_energy` when it
lands; the sweep only calls `estimate_energy` on a list of `LayerCost`s.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Precision = Literal["float32", "int8"]

MAC_PJ = {"float32": 3.7 + 0.9, "int8": 0.2 + 0.1}
BITS = {"float32": 32, "int8": 8}
SRAM_PJ_PER_WORD = 5.0
DRAM_PJ_PER_WORD = 640.0


@dataclass(frozen=True)
class LayerCost:
    """What one layer costs per image: multiply-accumulates, parameters, activations it writes."""

    name: str
    macs: int
    params: int
    outputs: int


@dataclass(frozen=True)
class EnergyEstimate:
    """Modelled energy of one image, in µJ, split as in the seed's table."""

    mac_uj: float
    sram_weights_uj: float
    sram_activations_uj: float
    dram_uj: float
    precision: str
    source: str = "model"  # never a measurement: DESIGN.md §4 asks for the label

    @property
    def total_uj(self) -> float:
        return self.mac_uj + self.sram_weights_uj + self.sram_activations_uj + self.dram_uj

    def as_dict(self) -> dict:
        return {**asdict(self), "total_uj": self.total_uj}


def dense_cost(name: str, in_features: int, units: int, use_bias: bool = True) -> LayerCost:
    """The cost of a Dense layer of `units` neurons on `in_features` inputs.

    Example:
        >>> dense_cost("fc1", 784, 300)
        LayerCost(name='fc1', macs=235200, params=235500, outputs=300)
    """
    return LayerCost(name, in_features * units, in_features * units + (units if use_bias else 0), units)


def estimate_energy(input_elements: int, costs: list[LayerCost], precision: Precision = "float32") -> EnergyEstimate:
    """Seed 003's energy of one image through layers with these costs.

    Example:
        >>> costs = [dense_cost("fc1", 784, 300), dense_cost("fc2", 300, 100), dense_cost("logits", 100, 10)]
        >>> round(estimate_energy(784, costs).sram_activations_uj * 1000, 2)   # nJ, as in the seed
        11.94
    """
    if precision not in MAC_PJ:
        raise ValueError(f"precision must be one of {', '.join(MAC_PJ)}. Received: precision={precision!r}")
    per_word = BITS[precision] / 32
    macs = sum(c.macs for c in costs)
    weight_words = sum(c.params for c in costs) * per_word
    activation_words = (input_elements + sum(c.outputs for c in costs)) * per_word
    pj_to_uj = 1e-6
    return EnergyEstimate(
        mac_uj=macs * MAC_PJ[precision] * pj_to_uj,
        sram_weights_uj=weight_words * SRAM_PJ_PER_WORD * pj_to_uj,
        sram_activations_uj=2 * activation_words * SRAM_PJ_PER_WORD * pj_to_uj,
        dram_uj=weight_words * DRAM_PJ_PER_WORD * pj_to_uj,
        precision=precision,
    )


def keras_layer_costs(model) -> tuple[int, list[LayerCost]]:
    """(input elements per image, cost of every layer that has weights) of a Keras model."""
    import numpy as np

    from edgeopt.keras_profile import _leaf_layers, layer_macs

    input_elements = int(np.prod([d for d in model.input_shape[1:] if d]))
    costs = []
    for layer in _leaf_layers(model):
        params = int(layer.count_params())
        if params == 0:  # pooling, flatten, activations: no weights to fetch, outputs stay in registers
            continue
        shape = layer.output_shape[0] if isinstance(layer.output_shape, list) else layer.output_shape
        outputs = int(np.prod([d for d in shape[1:] if d]))
        costs.append(LayerCost(layer.name, layer_macs(layer), params, outputs))
    return input_elements, costs


def keras_model_energy(model, precision: Precision = "float32") -> EnergyEstimate:
    """Seed 003's modelled energy of one image through a Keras model.

    Example:
        >>> from edgeopt.models import build_model
        >>> round(keras_model_energy(build_model("lenet_300_100", (28, 28, 1), 10)).total_uj, 1)
        173.2
    """
    input_elements, costs = keras_layer_costs(model)
    return estimate_energy(input_elements, costs, precision)
