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

    kind = "dense"  # not a field: the layer's kind (Conv2d, Pool and Flatten below are others)


# Layers of a network whose inputs have a shape (inputs: {shape: [C, H, W]}). Each answers
# the attributes a view asks of a Layer (neurons: its cells' names, channel-major as torch
# flattens them; activation; weight_names; bias, bias_values, bias_names), so a view that
# lists names or parameters needs no case of its own; `kind` says which it is.


def cells(name: str, shape: tuple[int, ...]) -> tuple[str, ...]:
    """The names of a shaped quantity's cells, channel-major, 1-based: conv1[1,2,2]."""
    return tuple(f"{name}[{','.join(str(i + 1) for i in at)}]" for at in np.ndindex(*shape))


class Conv2d(NamedTuple):
    """net = the cross-correlation of the input with each kernel, plus its bias; out = f(net).
    Kernels as torch's Conv2d.weight: (out channels, in channels, kh, kw)."""

    neurons: tuple[str, ...]  # its out cells: conv1[c,i,j], channel-major
    activation: str
    slope: float
    weights: np.ndarray  # the kernels (out, in, kh, kw), read-only float64
    weight_names: tuple[tuple[str, ...], ...]  # per out channel: conv1.K[o,i,y,x] row-major
    bias: str  # "per_channel" | "none"
    bias_values: np.ndarray  # one per out channel, or none
    bias_names: tuple[str, ...]  # conv1.b[o]
    name: str  # conv1
    in_shape: tuple[int, int, int]  # (C, H, W)
    out_shape: tuple[int, int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]  # zeros on each side

    kind = "conv2d"


class Pool(NamedTuple):
    """out = the max (maxpool) or the mean (avgpool) of each window of each channel."""

    neurons: tuple[str, ...]
    activation: str  # "linear": none of its own
    slope: float
    weights: np.ndarray  # none: (0,)
    weight_names: tuple[tuple[str, ...], ...]  # ()
    bias: str  # "none"
    bias_values: np.ndarray
    bias_names: tuple[str, ...]
    name: str
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    size: tuple[int, int]  # the window
    stride: tuple[int, int]
    mode: str  # "max" | "avg"

    @property
    def kind(self) -> str:
        return self.mode + "pool"


class Flatten(NamedTuple):
    """A reshape, channel-major as torch.flatten: its cells are those of what feeds it."""

    neurons: tuple[str, ...]  # the cells of what feeds it, in that order
    activation: str
    slope: float
    weights: np.ndarray
    weight_names: tuple[tuple[str, ...], ...]
    bias: str
    bias_values: np.ndarray
    bias_names: tuple[str, ...]
    name: str
    in_shape: tuple[int, int, int]

    kind = "flatten"


class Dropout(NamedTuple):
    """out = a·mask/(1 − p) (inverted dropout, as torch): the mask given, one row per sample
    of data, so that the numbers are reproducible. Its cells keep the shape of what feeds it."""

    neurons: tuple[str, ...]  # drop1[1] .. (a vector) or drop1[c,i,j] (a shaped input)
    activation: str
    slope: float
    weights: np.ndarray
    weight_names: tuple[tuple[str, ...], ...]
    bias: str
    bias_values: np.ndarray
    bias_names: tuple[str, ...]
    name: str
    in_shape: tuple[int, ...] | None  # (C, H, W), or None after a dense layer or flatten
    p: float
    mask: np.ndarray  # (samples of data, cells): 0 or 1, read-only

    kind = "dropout"

    @property
    def out_shape(self) -> tuple[int, ...] | None:
        return self.in_shape


class Norm(NamedTuple):
    """Batch normalisation (training mode: the batch's mean and biased variance per feature,
    or per channel of a shaped input) or layer normalisation (per sample over its
    features): x̂ = (x − μ)/√(σ² + ε), out = γ·x̂ + β. γ is the layer's `weights`
    (weight_names one row), β its bias values, so that the optimizer and every view list
    them as any layer's parameters."""

    neurons: tuple[str, ...]  # bn1[1] .. or bn1[c,i,j]
    activation: str
    slope: float
    weights: np.ndarray  # gamma: one per feature (batchnorm: per channel)
    weight_names: tuple[tuple[str, ...], ...]  # ((bn1.gamma[1], ...),)
    bias: str  # "per_feature"
    bias_values: np.ndarray  # beta
    bias_names: tuple[str, ...]  # bn1.beta[1] ..
    name: str
    in_shape: tuple[int, ...] | None
    mode: str  # "batch" | "layer"
    eps: float

    @property
    def kind(self) -> str:
        return self.mode + "norm"

    @property
    def out_shape(self) -> tuple[int, ...] | None:
        return self.in_shape


def no_params() -> dict[str, Any]:
    """A layer's parameter fields when it has none (pooling, flatten)."""
    return {"activation": "linear", "slope": 0.0, "weights": frozen(np.zeros(0)),
            "weight_names": (), "bias": "none", "bias_values": frozen(np.zeros(0)),
            "bias_names": ()}


def size_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape)


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
    input_shape: tuple[int, ...] | None = None  # inputs: {shape: [C, H, W]}; None: a vector

    @property
    def shaped(self) -> bool:
        """Has layers other than dense ones (convolution, pooling, flatten, dropout,
        normalisation)?"""
        return self.input_shape is not None or any(
            lay.kind not in ("dense", "rnn", "lstm", "attention") for lay in self.layers)

    @property
    def shaped_words(self) -> str:
        """The layers that make it shaped, in words for a refusal: "convolution or pooling
        layers", "dropout or normalisation layers" or all four."""
        kinds = {lay.kind for lay in self.layers}
        conv = bool(kinds & {"conv2d", "maxpool", "avgpool"}) or self.input_shape is not None
        norm = bool(kinds & {"dropout", "batchnorm", "layernorm"})
        if conv and norm:
            return "convolution, pooling, dropout or normalisation layers"
        return "dropout or normalisation layers" if norm else "convolution or pooling layers"

    # a recurrent first layer (scenario/sequence.py): x is (samples, time steps, inputs)
    # and targets (samples, output steps, outputs)
    sequence: bool = False

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.layers[-1].neurons

    @property
    def shape(self) -> str:
        """Layer sizes from the inputs to the outputs, as tutorials write them: 2-2-2 (a
        shaped network: 1x4x4 > conv1 1x3x3 > pool1 1x1x1 > flatten 1 > 1)."""
        if self.shaped:
            first = size_text(self.input_shape) if self.input_shape else str(len(self.inputs))
            return " > ".join([first, *(_size(lay) for lay in self.layers)])
        if self.sequence and self.layers[0].kind == "attention":  # 2 > att1 2 > 1, per token
            return " > ".join([str(len(self.inputs)), *(
                f"{lay.name} {len(lay.neurons)}" if lay.kind == "attention"
                else str(len(lay.neurons)) for lay in self.layers)])
        return "-".join(str(len(n)) for n in [self.inputs, *(lay.neurons for lay in self.layers)])

    def steps_per_update(self) -> int:
        """About how many steps the engine explains in one update: per sample, five for each
        neuron (net, out, dout, dact, dnet) and a gradient term per parameter; per update, a
        gradient and a new value per parameter. It sizes a trace before it is built (the
        engine's own count differs by a few per cent)."""
        # (an lstm's unit writes its four gates, its cell c and its h)
        neurons = sum(len(lay.neurons) * (6 if lay.kind == "lstm" else 1) for lay in self.layers)
        params = len(self.param_names)
        samples = len(self.x) if self.batch is None else self.batch
        steps = self.x.shape[1] if self.sequence else 1  # a sequence's: each time step's
        if self.sequence and self.layers[0].kind == "attention":  # its matrices' entries,
            att = self.layers[0]  # forward and back: Q, K, V, H (T × d_k), S, A, P (T × T)
            return (samples * (2 * steps * (4 * att.d_k + 3 * steps + att.d_out)
                               + steps * 5 * sum(len(lay.neurons) for lay in self.layers[1:])
                               + params) + 2 * params)
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
            if lay.kind == "conv2d":  # a kernel's entry: from an in channel to an out channel
                src = feeds[0].partition("[")[0]
                per = len(lay.weight_names[0]) // lay.in_shape[0]
                for j, row in enumerate(lay.weight_names):
                    fed = (f"{lay.name}[{j + 1},:,:]",)
                    out += [Connection(w, li, f"{src}[{i // per + 1},:,:]", fed)
                            for i, w in enumerate(row)]
                    if lay.bias_names:
                        out.append(Connection(lay.bias_names[j], li, None, fed))
                continue
            if lay.kind == "attention":  # W_Q[m,i]: from input m to column i of Q
                out += _attention_connections(lay, feeds, li)
                continue
            if lay.kind in ("batchnorm", "layernorm"):  # gamma_j, beta_j scale and shift cells
                per = len(lay.neurons) // len(lay.weight_names[0])
                for names, src in ((lay.weight_names[0], "x-hat"), (lay.bias_names, None)):
                    out += [Connection(g, li, src, lay.neurons[j * per:(j + 1) * per])
                            for j, g in enumerate(names)]
                continue
            fed_by = lay.rows if lay.kind == "lstm" else lay.neurons  # an lstm's: its gates
            if lay.kind in ("rnn", "lstm"):  # W_h[j,k] carries h_k of the step before: h1@t-1
                feeds = (*feeds, *(f"{n}@t-1" for n in lay.neurons))
            for j, row in enumerate(lay.weight_names):
                out += [Connection(w, li, feeds[i], (fed_by[j],)) for i, w in enumerate(row)]
            for j, b in enumerate(lay.bias_names):
                fed = lay.neurons if lay.bias == "shared" else (fed_by[j],)
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
                _attention_dict(lay) if lay.kind == "attention" else
                _shaped_dict(lay) if lay.kind not in ("dense", "rnn", "lstm") else {
                    **({"kind": lay.kind, "name": lay.name, "h0": lay.h0.tolist(),
                        **({"c0": lay.c0.tolist(), "gates": [list(q) for q in lay.gates],
                            "cells": list(lay.cells)} if lay.kind == "lstm" else {}),
                        "outputs": "every" if lay.every else "last"}
                       if lay.kind in ("rnn", "lstm") else {}),
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
            **({"input_shape": list(self.input_shape)} if self.input_shape else {}),
            "data": [
                {"sequence" if self.sequence else "inputs":
                     (x.reshape(self.input_shape) if self.input_shape else x).tolist(),
                 "targets": t.tolist()}
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


def _attention_connections(lay: Any, feeds: tuple[str, ...], li: int) -> list[Connection]:
    """An attention head's parameters: W_Q[m,i] from input m to column i of Q (likewise
    K, V); W_O[c,d] from column c of H = P·V to the output z_d."""
    names = lay.weight_names[0]
    out, at = [], 0
    for what, letter in (("W_Q", "Q"), ("W_K", "K"), ("W_V", "V")):
        for m in range(lay.n_in):
            for i in range(lay.d_k):
                out.append(Connection(names[at], li, feeds[m], (f"{letter}{i + 1}",)))
                at += 1
    for c in range(lay.d_k if lay.d_out else 0):
        for d in range(lay.d_out):
            out.append(Connection(names[at], li, f"H{c + 1}", (lay.neurons[d],)))
            at += 1
    return out


def _attention_dict(lay: Any) -> dict[str, Any]:
    """An attention layer as the JSON trace writes it."""
    wq, wk, wv, wo = lay.matrices(lay.weights)
    return {"kind": "attention", "name": lay.name, "neurons": list(lay.neurons),
            "W_Q": wq.tolist(), "W_K": wk.tolist(), "W_V": wv.tolist(),
            **({"W_O": wo.tolist()} if wo is not None else {}),
            "scale": {"root": True, "none": False}.get(lay.scaling, lay.scale),
            "causal": lay.causal, "weight_names": [list(lay.weight_names[0])]}


def _size(lay: Any) -> str:
    """A layer in a shaped network's shape: 2 (dense), flatten 4, conv1 1x2x2, bn1 4."""
    if lay.kind == "dense":
        return str(len(lay.neurons))
    if lay.kind == "flatten":
        return f"flatten {len(lay.neurons)}"
    if lay.out_shape is None:  # dropout or a normalisation of a vector
        return f"{lay.name} {len(lay.neurons)}"
    return f"{lay.name} {size_text(lay.out_shape)}"


def _shaped_dict(lay: Any) -> dict[str, Any]:
    """A convolution, pooling or flatten layer as the JSON trace writes it."""
    out: dict[str, Any] = {"kind": lay.kind, "name": lay.name,
                           "in_shape": list(lay.in_shape) if lay.in_shape else None}
    if lay.kind == "dropout":
        out.update(p=lay.p, mask=lay.mask.tolist())
    elif lay.kind in ("batchnorm", "layernorm"):
        out.update(gamma=lay.weights.tolist(), beta=lay.bias_values.tolist(), eps=lay.eps,
                   weight_names=[list(r) for r in lay.weight_names],
                   bias_names=list(lay.bias_names))
    elif lay.kind == "conv2d":
        out.update(kernels=lay.weights.tolist(),
                   bias=lay.bias_values.tolist() if lay.bias != "none" else None,
                   stride=list(lay.stride), padding=list(lay.padding),
                   activation=lay.activation,
                   **({ACTIVATIONS[lay.activation].parameter: lay.slope}
                      if ACTIVATIONS[lay.activation].parameter else {}),
                   weight_names=[list(r) for r in lay.weight_names],
                   bias_names=list(lay.bias_names))
    elif lay.kind != "flatten":
        out.update(size=list(lay.size), stride=list(lay.stride))
    if lay.kind != "flatten" and lay.out_shape is not None:
        out["out_shape"] = list(lay.out_shape)
    out["neurons"] = list(lay.neurons)
    return out


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
