"""The front end of `layers:`: a network scenario as a chain of graph nodes.

Each layer of the scenario becomes a Dense node (bpwalk.graph.layers) fed by the one before
it (the first by the inputs), and the loss a Loss node fed by the last. The explained engine
sweeps the chain forward in this order and back in reverse; a new layer kind is a new node
class in layers.py and one line here.
"""

from __future__ import annotations

from typing import NamedTuple

from bpwalk.graph.layers import Dense, Loss
from bpwalk.scenario import Scenario


class Network(NamedTuple):
    layers: tuple[Dense, ...]  # in topological order: each fed by the one before
    loss: Loss  # fed by the last layer


def network(scenario: Scenario) -> Network:
    """The graph of a `layers:` scenario."""
    if scenario.sequence:  # a recurrent first layer: bpwalk.graph.recurrent
        return _recurrent(scenario)
    return Network(tuple(Dense(i, lay, scenario.layer_inputs(i))
                         for i, lay in enumerate(scenario.layers)),
                   Loss(scenario.loss, scenario.outputs))


def _recurrent(scenario: Scenario) -> Network:
    """A recurrent layer unrolled in time, the dense layers after it at each output step,
    the loss summed over time."""
    from bpwalk.graph.recurrent import Rnn, SeqLoss, TimeDense

    first = Rnn(0, scenario.layers[0], scenario.layer_inputs(0))
    rest = tuple(TimeDense(i, lay, scenario.layer_inputs(i))
                 for i, lay in enumerate(scenario.layers) if i)
    return Network((first, *rest), SeqLoss(scenario.loss, scenario.outputs))
