"""The front end of `layers:`: a network scenario as a chain of graph nodes.

Each layer of the scenario becomes the node of its kind (bpwalk.graph.layers: Dense, Conv,
Pool, Flatten; NODES) fed by the one before it (the first by the inputs), and the loss a
Loss node fed by the last. The explained engine sweeps the chain forward in this order and
back in reverse; a new layer kind is a new node class in layers.py and one entry in NODES.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from bpwalk.graph.layers import Conv, Dense, Dropout, Flatten, Loss, Norm, Pool
from bpwalk.scenario import Scenario

# a layer's kind -> the node class of its operation
NODES = {"dense": Dense, "conv2d": Conv, "maxpool": Pool, "avgpool": Pool, "flatten": Flatten,
         "dropout": Dropout, "batchnorm": Norm, "layernorm": Norm}


class Network(NamedTuple):
    layers: tuple[Any, ...]  # in topological order: each fed by the one before
    loss: Loss  # fed by the last layer


_MADE: dict[int, tuple[Scenario, Network]] = {}


def network(scenario: Scenario) -> Network:
    """The graph of a `layers:` scenario (a shaped one's made once: its convolutions'
    index tables cost more than an update)."""
    if scenario.sequence:  # a recurrent first layer: bpwalk.graph.recurrent
        return _recurrent(scenario)
    key = id(scenario)
    if key in _MADE and _MADE[key][0] is scenario:
        return _MADE[key][1]
    net = Network(tuple(NODES[lay.kind](i, lay, scenario.layer_inputs(i))
                        for i, lay in enumerate(scenario.layers)),
                  Loss(scenario.loss, scenario.outputs))
    if scenario.shaped:
        if len(_MADE) > 16:  # the scenarios in use, not every one ever seen
            _MADE.clear()
        _MADE[key] = (scenario, net)
    return net


def _recurrent(scenario: Scenario) -> Network:
    """A recurrent layer unrolled in time (or an attention head over the tokens), the dense
    layers after it at each output step, the loss summed over time."""
    from bpwalk.graph.recurrent import Lstm, Rnn, SeqLoss, TimeDense

    head = scenario.layers[0]
    if head.kind == "attention":  # a head over the tokens: graph/attention.py
        from bpwalk.graph.attention import Attention

        first = Attention(0, head, scenario.layer_inputs(0))
    else:
        first = (Lstm if head.kind == "lstm" else Rnn)(0, head, scenario.layer_inputs(0))
    rest = tuple(TimeDense(i, lay, scenario.layer_inputs(i))
                 for i, lay in enumerate(scenario.layers) if i)
    # an lstm's h straight to the loss: its dE/dh gets the loss's term as a step of its own
    # (dloss:h@t2) beside the recurrent path; an attention head's output has no such path
    direct = not rest and scenario.layers[0].kind != "attention"
    return Network((first, *rest), SeqLoss(scenario.loss, scenario.outputs, direct))
