"""Seed 003's energy model for one image, priced on a Keras model (or on layer costs): a *model*.

The prices and the rules are the project's shared 45 nm model (`edgeopt.profile.energy.model`,
DESIGN.md §4), which prices the operators of a `.tflite` graph: MACs × (mult + add), every
constant read once from SRAM (5 pJ/word) and fetched once from DRAM (640 pJ/word), and every
operator's activation inputs read and outputs written once in SRAM. A sweep visits hundreds of
widths, and converting each to `.tflite` would cost seconds apiece, so here each Keras layer is
described as the operator the converter makes of it (`LayerCost` → `OpInfo`) and priced by the
same function. It agrees with pricing the converted `.tflite` to within its tiny constant shape
tensors (tested), and is always labelled "model45" (the 45 nm model of seed 003), never a measurement.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Precision = Literal["float32", "int8"]
BYTES = {"float32": 4, "int8": 1}  # int8: weights and activations are one byte (int32 biases counted as int8)

# Layers the converter drops at inference (identity): no operator, no energy.
_IDENTITY_AT_INFERENCE = ("InputLayer", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                          "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization")


@dataclass(frozen=True)
class LayerCost:
    """What one layer costs per image: multiply-accumulates, parameters, activations read and written."""

    name: str
    macs: int
    params: int
    inputs: int
    outputs: int


@dataclass(frozen=True)
class EnergyEstimate:
    """Modelled energy of one image, in µJ, split as in the seed's table."""

    mac_uj: float
    sram_weights_uj: float
    sram_activations_uj: float
    dram_uj: float
    precision: str
    source: str = "model45"  # never a measurement: DESIGN.md §4 asks for the label

    @property
    def total_uj(self) -> float:
        return self.mac_uj + self.sram_weights_uj + self.sram_activations_uj + self.dram_uj

    def as_dict(self) -> dict:
        return {**asdict(self), "total_uj": self.total_uj}


def dense_cost(name: str, in_features: int, units: int, use_bias: bool = True) -> LayerCost:
    """The cost of a Dense layer of `units` neurons on `in_features` inputs.

    Example:
        >>> dense_cost("fc1", 784, 300)
        LayerCost(name='fc1', macs=235200, params=235500, inputs=784, outputs=300)
    """
    return LayerCost(name, in_features * units, in_features * units + (units if use_bias else 0), in_features, units)


def estimate_energy(costs: list[LayerCost], precision: Precision = "float32") -> EnergyEstimate:
    """The shared 45 nm model's energy of one image through layers with these costs.

    Example:
        >>> costs = [dense_cost("fc1", 784, 300), dense_cost("fc2", 300, 100), dense_cost("logits", 100, 10)]
        >>> e = estimate_energy(costs)
        >>> round(e.mac_uj, 2), round(e.sram_weights_uj, 2), round(e.dram_uj, 1)   # seed: 1.22, 1.33, 170.51
        (1.22, 1.33, 170.6)
    """
    from edgeopt.profile.energy.model import model_energy
    from edgeopt.profile.tflite_graph import OpInfo

    if precision not in BYTES:
        raise ValueError(f"precision must be one of {', '.join(BYTES)}. Received: precision={precision!r}")
    size = BYTES[precision]
    ops = [OpInfo(index, cost.name, cost.macs, precision, precision if cost.macs else None, precision,
                  cost.params, cost.params * size, cost.inputs, cost.inputs * size, cost.outputs, cost.outputs * size)
           for index, cost in enumerate(costs)]
    energy = model_energy(ops)
    pj_to_uj = 1e-6
    return EnergyEstimate(mac_uj=energy.compute_pj * pj_to_uj, sram_weights_uj=energy.sram_weights_pj * pj_to_uj,
                          sram_activations_uj=energy.sram_activations_pj * pj_to_uj,
                          dram_uj=energy.dram_pj * pj_to_uj, precision=precision)


def keras_layer_costs(model) -> list[LayerCost]:
    """The cost of every layer of a Keras model that becomes an operator once converted."""
    import numpy as np

    from edgeopt.models.keras_profile import _leaf_layers, layer_macs

    def elements(shape) -> int:
        shape = shape[0] if isinstance(shape, list) else shape
        return int(np.prod([d for d in shape[1:] if d]))

    return [LayerCost(layer.name, layer_macs(layer), int(layer.count_params()), elements(layer.input_shape),
                      elements(layer.output_shape))
            for layer in _leaf_layers(model) if type(layer).__name__ not in _IDENTITY_AT_INFERENCE]


def keras_model_energy(model, precision: Precision = "float32") -> EnergyEstimate:
    """Seed 003's modelled energy of one image through a Keras model.

    Example:
        >>> from edgeopt.models.architectures import build_model
        >>> round(keras_model_energy(build_model("lenet_300_100", (28, 28, 1), 10)).total_uj, 1)
        173.2
    """
    return estimate_energy(keras_layer_costs(model), precision)
