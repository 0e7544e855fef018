"""The frozen, validated model of a scenario: what the engine and the views read."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np

from bpwalk.functions import ACTIVATIONS
from bpwalk.optimizers import SGD, Optimizer


class Connection(NamedTuple):
    param: str  # w5, b1
    layer: int  # 0-based
    source: str | None  # the input or neuron a weight carries; None for a bias
    targets: tuple[str, ...]  # the neuron it feeds (a shared bias: every neuron of the layer)


class Layer(NamedTuple):  # not a dataclass: a tenth of the cost at start-up
    neurons: tuple[str, ...]
    activation: str
    slope: float  # the activation's setting: leaky_relu's slope, elu's alpha (else unused)
    weights: np.ndarray  # (neurons, inputs of this layer), read-only float64
    weight_names: tuple[tuple[str, ...], ...]
    bias: str  # "none" | "shared" | "per_neuron"
    bias_values: np.ndarray  # 0, 1 or len(neurons) values
    bias_names: tuple[str, ...]

    kind = "dense"  # not a field: the layer's kind (model_shaped.py holds the others)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    source: str
    description: str
    path: str  # how the file was named to bpwalk, for messages
    inputs: tuple[str, ...]
    layers: tuple[Layer, ...]
    loss: str
    learning_rate: float
    update_biases: bool
    x: np.ndarray  # (samples, inputs)
    targets: np.ndarray  # (samples, outputs)
    batch: int | None  # None means full batch
    reduction: str
    iterations: int
    param_names: tuple[str, ...] = field(default=())  # every parameter, layer by layer
    # `init:` as given (seed, scheme, decimals) plus "drawn": the parameters it drew; else None
    init: dict[str, Any] | None = None
    optimizer: Optimizer = SGD
    input_gradients: bool = False  # also work out dE/d(input)
    notation: str | None = None  # a profile of bpwalk.notation; None: the default (mazur)
    # a recurrent first layer (scenario/sequence.py): x is (samples, time steps, inputs)
    # and targets (samples, output steps, outputs)
    sequence: bool = False

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.layers[-1].neurons

    @property
    def shape(self) -> str:
        """Layer sizes from the inputs to the outputs, as tutorials write them: 2-2-2."""
        return "-".join(str(len(n)) for n in [self.inputs, *(lay.neurons for lay in self.layers)])

    def steps_per_update(self) -> int:
        """About how many steps the engine explains in one update: per sample, five for each
        neuron (net, out, dout, dact, dnet) and a gradient term per parameter; per update, a
        gradient and a new value per parameter. It sizes a trace before it is built (the
        engine's own count differs by a few per cent)."""
        neurons = sum(len(lay.neurons) for lay in self.layers)
        params = len(self.param_names)
        samples = len(self.x) if self.batch is None else self.batch
        steps = self.x.shape[1] if self.sequence else 1  # a sequence's: each time step's
        return samples * steps * (5 * neurons + params) + 2 * params

    def layer_inputs(self, index: int) -> tuple[str, ...]:
        """Names of what feeds layer `index` (0-based): the inputs or the previous neurons."""
        return self.inputs if index == 0 else self.layers[index - 1].neurons

    @cached_property  # frozen, so computed once; the stepper asks at every key press
    def connections(self) -> tuple[Connection, ...]:
        """What every parameter connects, layer by layer, weights row by row, then biases.

        Tutorials number weights differently; every view shows this, so "w6" is never
        ambiguous.
        """
        out: list[Connection] = []
        for li, lay in enumerate(self.layers):
            feeds = self.layer_inputs(li)
            if lay.kind == "rnn":  # W_h[j,k] carries h_k of the time step before: h1@t-1
                feeds = (*feeds, *(f"{n}@t-1" for n in lay.neurons))
            for j, row in enumerate(lay.weight_names):
                out += [Connection(w, li, feeds[i], (lay.neurons[j],)) for i, w in enumerate(row)]
            for j, b in enumerate(lay.bias_names):
                fed = lay.neurons if lay.bias == "shared" else (lay.neurons[j],)
                out.append(Connection(b, li, None, fed))
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        """The normalised scenario, as written into the JSON trace."""
        return {
            "name": self.name,
            "title": self.title,
            "source": self.source,
            "inputs": list(self.inputs),
            "layers": [
                {
                    **({"kind": "rnn", "name": lay.name, "h0": lay.h0.tolist(),
                        "outputs": "every" if lay.every else "last"}
                       if lay.kind == "rnn" else {}),
                    "neurons": list(lay.neurons),
                    "activation": lay.activation,
                    **({ACTIVATIONS[lay.activation].parameter: lay.slope}
                       if ACTIVATIONS[lay.activation].parameter else {}),
                    "weights": lay.weights.tolist(),
                    "weight_names": [list(r) for r in lay.weight_names],
                    "bias": (
                        None if lay.bias == "none"
                        else float(lay.bias_values[0]) if lay.bias == "shared"
                        else lay.bias_values.tolist()
                    ),
                    "bias_names": list(lay.bias_names),
                }
                for lay in self.layers
            ],
            "loss": self.loss,
            "learning_rate": self.learning_rate,
            "update_biases": self.update_biases,
            "data": [
                {"sequence" if self.sequence else "inputs": x.tolist(), "targets": t.tolist()}
                for x, t in zip(self.x, self.targets)
            ],
            "batch": "full" if self.batch is None else self.batch,
            "reduction": self.reduction,
            "iterations": self.iterations,
            **({"init": self.init} if self.init else {}),
            **({"optimizer": self.optimizer.to_dict()} if self.optimizer != SGD else {}),
            **({"input_gradients": True} if self.input_gradients else {}),
            **({"notation": self.notation} if self.notation else {}),
        }


def frozen(values: Any) -> np.ndarray:
    a = np.array(values, dtype=np.float64)
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class GraphScenario:
    """A ``graph:`` scenario (a circuit): its compiled graph and how it trains.

    The same run, export and check commands read it; the attributes a command asks of any
    scenario (optimizer, input_gradients, shape, steps_per_update) answer as for a
    network with plain gradient descent."""

    name: str
    title: str
    source: str
    description: str
    path: str
    graph: Any  # bpwalk.graph.compile.Graph: frozen NamedTuples
    learning_rate: float | None  # None: the params are not updated
    ascent: bool = False  # new = old + learning_rate * grad (micrograd's lecture)
    iterations: int = 1
    notation: str | None = None
    optimizer: Optimizer = SGD
    input_gradients: bool = False

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(leaf.name for leaf in self.graph.leaves if leaf.kind == "input")

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(leaf.name for leaf in self.graph.leaves if leaf.kind == "param")

    @property
    def shape(self) -> str:
        """What the circuit holds, as `bpwalk validate` says it."""
        n = len(self.graph.nodes)
        return (f"circuit of {n} operation{'s' * (n != 1)}, {len(self.inputs)} input"
                f"{'s' * (len(self.inputs) != 1)}")

    def steps_per_update(self) -> int:
        """Steps of one explained update: a value, a gradient and about two local
        gradients per operation, a value, gradient and new value per leaf."""
        return 4 * len(self.graph.nodes) + 3 * len(self.graph.leaves)

    def to_dict(self) -> dict[str, Any]:
        """The normalised scenario, as written into the JSON trace."""
        g = self.graph
        return {
            "name": self.name, "title": self.title, "source": self.source,
            "graph": {
                "inputs": {leaf.name: leaf.value for leaf in g.leaves if leaf.kind == "input"},
                "params": {leaf.name: leaf.value for leaf in g.leaves if leaf.kind == "param"},
                "nodes": dict(g.written),
                "operations": [{"name": n.name, "op": n.op, "args": list(n.args)}
                               for n in g.nodes],
                "output": g.result,
                **({"loss": g.loss, "target": g.target} if g.loss else {}),
            },
            **({"learning_rate": self.learning_rate} if self.learning_rate else {}),
            **({"ascent": True} if self.ascent else {}),
            "iterations": self.iterations,
            **({"notation": self.notation} if self.notation else {}),
        }


def is_graph(scenario: Any) -> bool:
    """Is `scenario` a graph: scenario (a circuit), rather than a layers: network?"""
    return isinstance(scenario, GraphScenario)
