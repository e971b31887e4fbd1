"""Neuron elimination without retraining (seed 003: Zhang, Davoodi, Hu), for Dense neurons and
Conv2D output channels (Chee et al., arXiv 2108.00065; `channels.py`), the latter per coupled
channel group across residual Adds, squeeze-excite gates and concatenations (`groups.py`).

    from edgeopt.techniques.elimination import eliminate_neurons, channel_groups, eliminate_group
    smaller, plan = eliminate_neurons(model, "fc1", 100, calibration_x)
    smaller, plan = eliminate_neurons(model, "conv2", 32, calibration_x)   # conv2's whole channel group
    for group in channel_groups(model):                                    # what a search iterates over
        print(group.name, group.width, group.macs, group.fixed)
    smaller, plan = eliminate_group(model, group, 8, calibration_x)

Importing this package does not load TensorFlow; the functions that touch a Keras model do.
"""

from edgeopt.techniques.elimination.energy import EnergyEstimate, LayerCost, estimate_energy, keras_model_energy
from edgeopt.techniques.elimination.group_eliminator import GroupEliminator, GroupPlan, eliminate_group, group_macs
from edgeopt.techniques.elimination.groups import ChannelGroup, ReadPoint, channel_groups, group_of
from edgeopt.techniques.elimination.linalg import (fold_into_next, gram_spectrum, largest_outgoing_norms, reconstruction,
                                                   representative_rows, spectrum)
from edgeopt.techniques.elimination.surgery import EliminationError, Site, find_site, shrink_model
from edgeopt.techniques.elimination.sweep import LayerEliminator, Plan, eliminate_neurons, eliminator_for, sweep_layer
from edgeopt.techniques.elimination.tradeoff import TradeoffPoint, choose_point, tradeoff_csv, tradeoff_plot

__all__ = [
    "ChannelGroup", "EliminationError", "EnergyEstimate", "GroupEliminator", "GroupPlan", "LayerCost", "LayerEliminator",
    "Plan", "ReadPoint", "Site", "TradeoffPoint", "channel_groups", "choose_point", "eliminate_group",
    "eliminate_neurons", "eliminator_for", "estimate_energy", "find_site", "fold_into_next", "gram_spectrum",
    "group_macs", "group_of", "keras_model_energy", "largest_outgoing_norms", "reconstruction", "representative_rows",
    "shrink_model", "spectrum", "sweep_layer", "tradeoff_csv", "tradeoff_plot",
]
