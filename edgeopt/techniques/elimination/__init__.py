"""Neuron elimination without retraining (seed 003: Zhang, Davoodi, Hu), for Dense neurons and
Conv2D output channels (Chee et al., arXiv 2108.00065; `channels.py`).

    from edgeopt.techniques.elimination import eliminate_neurons, sweep_layer
    smaller, plan = eliminate_neurons(model, "fc1", 100, calibration_x)
    smaller, plan = eliminate_neurons(model, "conv2", 32, calibration_x)   # channels of a conv

Importing this package does not load TensorFlow; the functions that touch a Keras model do.
"""

from edgeopt.techniques.elimination.energy import EnergyEstimate, LayerCost, estimate_energy, keras_model_energy
from edgeopt.techniques.elimination.linalg import (fold_into_next, gram_spectrum, largest_outgoing_norms, reconstruction,
                                                   representative_rows, spectrum)
from edgeopt.techniques.elimination.surgery import EliminationError, Site, find_site, shrink_model
from edgeopt.techniques.elimination.sweep import (LayerEliminator, Plan, TradeoffPoint, choose_point, eliminate_neurons,
                                                  sweep_layer, tradeoff_csv, tradeoff_plot)

__all__ = [
    "EliminationError", "EnergyEstimate", "LayerCost", "LayerEliminator", "Plan", "Site", "TradeoffPoint",
    "choose_point", "eliminate_neurons", "estimate_energy", "find_site", "fold_into_next", "gram_spectrum",
    "keras_model_energy", "largest_outgoing_norms", "reconstruction", "representative_rows", "shrink_model",
    "spectrum", "sweep_layer", "tradeoff_csv", "tradeoff_plot",
]
