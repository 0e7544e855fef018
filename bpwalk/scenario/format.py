"""The scenario format: one declarative table of every key a scenario may hold.

Its type, whether it is required, its choices and bounds, and the hint a "missing key" message
gives. The validator reads its key lists, required keys and hints from here (and init's bounds
and choices); json_schema() turns the table into a JSON Schema for editors, so the two cannot
drift apart. What a table cannot say (shapes that depend on other keys, unique names,
loss/activation pairs) stays in the validator (validate.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from bpwalk.optimizers import ADAMW_WEIGHT_DECAY, DEFAULTS, HYPERPARAMETERS

REDUCTIONS = ("mean", "sum")
INIT_SCHEMES = ("uniform", "xavier", "he")
DEFAULT_LEAKY_SLOPE = 0.01

# Limits (docs/limits.md, "Limits"): far above a network anyone works through, low enough that a
# careless or hostile file is refused with its line instead of eating the machine's memory.
MAX_ITERATIONS = 10**8  # updates: a run of 1e8 updates on a tiny network takes hours already
MAX_LAYER_SIZE = 10_000  # inputs or neurons of one layer
MAX_PARAMETERS = 1_000_000  # weights and biases in all: 8 MB a copy, a few copies in flight
# values of a shaped input (C x H x W) or of a convolution's output: the engine multiplies
# by the convolution as a matrix of its outputs by its inputs (8 MB at this limit)
MAX_CELLS = 1024
LAYER_KINDS = ("dense", "conv2d", "maxpool", "avgpool", "flatten", "dropout", "batchnorm",
               "layernorm")
DEFAULT_NORM_EPS = 1e-5  # torch's BatchNorm and LayerNorm
# `bpwalk new --decimals` (and a `source:` line that records it, which `check` redraws):
# hand-friendly numbers, and 10**decimals stays small
MAX_DRAWN_DECIMALS = 4


def _losses() -> tuple[str, ...]:
    from bpwalk.functions import LOSSES  # imports NumPy: only when the names are needed

    return tuple(LOSSES)


def _activations() -> tuple[str, ...]:
    from bpwalk.functions import ACTIVATIONS

    return tuple(ACTIVATIONS)


class Key(NamedTuple):  # NamedTuples here and there: a tenth of a dataclass's start-up cost
    name: str
    type: str  # text, names, name, names_or_name, choice, number, integer, bool, batch,
    #            vector, bias, matrix, name_matrix, list (of `table` maps), map (a `table`)
    doc: str  # what the key means: the schema's description, an editor's hover text
    required: bool = False
    fix: str = ""  # how to write it, after "missing key ..."; {choices} lists the choices
    choices: Callable[[], tuple[str, ...]] | None = None
    minimum: float | None = None
    maximum: float | None = None
    above: bool = False  # the minimum itself is not allowed (learning_rate > 0)
    below: bool = False  # the maximum itself is not allowed (beta1 < 1)
    default: Any = None
    table: str = ""
    unless: str = ""  # required, unless the scenario has this top-level key


FORMAT: dict[str, tuple[Key, ...]] = {
    "scenario": (
        Key("name", "text", "Short name of the scenario (default: the file name)."),
        Key("title", "text", "Title shown above the walkthrough."),
        Key("source", "text", "Where the example comes from: author, year, link."),
        Key("description", "text", "One line describing the example ('bpwalk examples')."),
        Key("inputs", "inputs", "Names of the network's inputs, or how many there are; or "
            "{shape: [C, H, W]} (channels, height, width) for convolution layers.",
            required=True, fix="write 'inputs: [i1, i2]' (names) or 'inputs: 2'",
            unless="graph"),
        Key("layers", "list", "One entry per layer, first hidden layer to output layer.",
            required=True, table="layer",
            fix="write 'layers:' with one '- neurons: ...' entry per layer", unless="graph"),
        Key("loss", "choice", "The loss E that the backward pass differentiates.",
            required=True, choices=_losses,
            fix="write 'loss: half_squared_error' (or one of {choices})", unless="graph"),
        Key("learning_rate", "number", "Step size: new = old - learning_rate * dE/dparam "
            "(optional in a graph: scenario, whose params then stay as given).",
            required=True, minimum=0, above=True, fix="write 'learning_rate: 0.5'",
            unless="graph"),
        Key("update_biases", "bool", "Whether biases are updated too.", default=True),
        Key("data", "list", "Training samples, each with inputs and targets.",
            required=True, table="sample",
            fix="write 'data:' with '- inputs: [...]' and 'targets: [...]' per sample",
            unless="graph"),
        Key("batch", "batch", "Samples per update: 'full' (all of data) or a number; 1 is "
            "stochastic gradient descent.", default="full"),
        Key("reduction", "choice", "How a batch combines per-sample losses and gradients.",
            choices=lambda: REDUCTIONS, default="mean"),
        Key("iterations", "integer", "Number of updates to run.", minimum=1,
            maximum=MAX_ITERATIONS, default=1),
        Key("init", "map", "Draw the weights (and biases) that layers leave out, reproducibly.",
            table="init"),
        Key("optimizer", "map", "The update rule and its settings, as torch.optim computes "
            "them (default: plain SGD).", table="optimizer"),
        Key("input_gradients", "bool", "Also work out dE/d(input) after the backward pass.",
            default=False),
        Key("notation", "choice", "Whose symbols the walkthrough uses (bpwalk's --notation "
            "wins): mazur, nielsen, ng, han-kamber, mitchell or cs231n.",
            choices=lambda: tuple(_profiles()), default="mazur"),
        Key("graph", "map", "A computational graph (a circuit) instead of layers: inputs, "
            "params, nodes written as expressions, and the output.", table="graph"),
        Key("ascent", "bool", "graph: step each param up its gradient (new = old + "
            "learning_rate * grad), as micrograd's lecture does; default: down.",
            default=False),
    ),
    "graph": (
        Key("inputs", "number_map", "Values that are not learned, by name: {x: -2, y: 5}.",
            fix="write 'inputs: {x: -2, y: 5}'"),
        Key("params", "number_map", "Values a learning_rate step updates, by name (may be "
            "empty)."),
        Key("nodes", "expression_map", "Each node's name and its expression over inputs, "
            "params and other nodes (any order): + - * / ** ( ), numbers, exp log sqrt abs "
            "tanh sigmoid relu max min.", required=True, fix="write 'nodes:' with lines like "
            "'q: x + y'"),
        Key("output", "name", "The node whose gradient is seeded with 1 (with loss: the "
            "node the loss compares with target).", required=True,
            fix="write 'output: f', naming one of the nodes"),
        Key("loss", "choice", "A loss after the output: the output is then compared with "
            "target and the loss's gradient seeded with 1.", choices=lambda: _graph_losses(),
            fix="write 'loss: half_squared_error' (or one of {choices})"),
        Key("target", "number", "What the loss compares the output with (needs loss:)."),
    ),
    "layer": (
        Key("neurons", "names", "Names of the layer's neurons, or how many there are.",
            required=True, unless="kind",
            fix="write 'neurons: [h1, h2]' or a count like 'neurons: 2'"),
        Key("activation", "choice", "The layer's activation function (conv2d: default "
            "linear).", required=True, unless="kind", choices=_activations,
            fix="write 'activation: sigmoid' (or one of {choices})"),
        Key("weights", "matrix", "One row per neuron, one number per input of the layer.",
            required=True, unless="init",
            fix="write 'weights:' with one row per neuron, one number per input"),
        Key("bias", "bias", "One number shared by the layer's neurons, one per neuron, or "
            "null for none (conv2d: one per out channel)."),
        Key("kind", "choice", "dense (the default), conv2d, maxpool, avgpool, flatten "
            "(channel-major, as torch.flatten), dropout, batchnorm (training mode) or "
            "layernorm.", choices=lambda: LAYER_KINDS,
            default="dense"),
        Key("name", "name", "conv2d, maxpool, avgpool, flatten, dropout, batchnorm, "
            "layernorm: the layer's name, which names its cells and parameters "
            "(conv1[1,2,2], conv1.K[1,1,2,1], bn1.gamma[2]); default conv1, pool1, drop1, "
            "bn1, ln1, ... by kind and position."),
        Key("kernels", "tensor4", "conv2d: the kernels as torch's Conv2d.weight, "
            "[out channels][in channels][height][width]."),
        Key("stride", "pair", "conv2d, maxpool, avgpool: the step between windows, one "
            "number or [height, width] (default 1; pooling: its size)."),
        Key("padding", "pair", "conv2d: zeros added on each side, one number or [height, "
            "width] (default 0)."),
        Key("size", "pair", "maxpool, avgpool: the window, one number or [height, width]."),
        Key("p", "number", "dropout: the probability of dropping a value; the kept ones are "
            "scaled by 1/(1 - p), as torch does.", minimum=0, maximum=1, below=True),
        Key("mask", "matrix", "dropout: one row per sample of data, one 0 or 1 per value it "
            "gets (channel-major after a convolution): 1 keeps the value, 0 drops it."),
        Key("gamma", "vector", "batchnorm, layernorm: the scale, one per feature (batchnorm "
            "after a convolution: one per channel; default ones)."),
        Key("beta", "vector", "batchnorm, layernorm: the shift, one per feature as gamma "
            "(default zeros)."),
        Key("eps", "number", "batchnorm, layernorm: added to the variance under the square "
            "root.", default=DEFAULT_NORM_EPS, minimum=0),
        Key("slope", "number", "leaky_relu's slope below zero.", default=DEFAULT_LEAKY_SLOPE),
        Key("alpha", "number", "elu's alpha: out = alpha (e^net - 1) below zero.", default=1.0),
        Key("weight_names", "name_matrix", "Names of the weights, in the shape of weights."),
        Key("bias_names", "names_or_name", "Names of the bias values."),
    ),
    # a layer of another kind, one of the `layers:` entries (its `kind:` says which) and
    # the sample a sequence's data holds (bpwalk/scenario/sequence.py reads both)
    "layer:rnn": (
        Key("kind", "choice", "rnn: an Elman layer, h_t = act(W_x·x_t + W_h·h_(t-1) + b), "
            "unrolled in time (it comes first; dense layers after it apply at each step).",
            required=True, choices=lambda: ("rnn",), fix="write 'kind: rnn'"),
        Key("name", "name", "The layer's name, which its parameters carry: rnn1.W_h[1,1].",
            default="rnn1"),
        Key("hidden", "names", "Names of the hidden units, or how many there are.",
            required=True, fix="write 'hidden: [h1]' or a count like 'hidden: 2'"),
        Key("activation", "choice", "tanh or relu, as torch's nn.RNN.", required=True,
            choices=lambda: ("tanh", "relu"), fix="write 'activation: tanh'"),
        Key("W_x", "matrix", "hidden × inputs: one row per hidden unit, one number per "
            "input (torch's weight_ih_l0).", required=True,
            fix="write 'W_x:' with one row per hidden unit, one number per input"),
        Key("W_h", "matrix", "hidden × hidden: one row per hidden unit, one number per "
            "hidden unit (torch's weight_hh_l0).", required=True,
            fix="write 'W_h:' with one row per hidden unit, one number per hidden unit"),
        Key("bias", "vector", "One number per hidden unit (torch's bias_ih_l0 + "
            "bias_hh_l0 as one); none when left out."),
        Key("h0", "vector", "h at time step 0, one number per hidden unit (default zeros)."),
        Key("outputs", "choice", "every: the next layer applies at each time step; last: "
            "at the last only.", choices=lambda: ("every", "last"), default="every"),
    ),
    "layer:attention": (
        Key("kind", "choice", "attention: one self-attention head over the sample's rows "
            "(its tokens): Q = X·W_Q, K = X·W_K, V = X·W_V, P = softmax(Q·Kᵀ/√d_k) row by "
            "row, out = P·V (then ·W_O). It comes first; dense layers after it apply at "
            "each token.", required=True, choices=lambda: ("attention",),
            fix="write 'kind: attention'"),
        Key("name", "name", "The layer's name, which its parameters carry: att1.W_Q[2,1].",
            default="att1"),
        Key("W_Q", "matrix", "d_model × d_k: one row per input, one number per query "
            "column (as x @ W_Q).", required=True,
            fix="write 'W_Q:' with one row per input, one number per column of Q"),
        Key("W_K", "matrix", "d_model × d_k: one row per input, one number per key column.",
            required=True, fix="write 'W_K:' with one row per input, d_k numbers each"),
        Key("W_V", "matrix", "d_model × d_k: one row per input, one number per value column.",
            required=True, fix="write 'W_V:' with one row per input, d_k numbers each"),
        Key("W_O", "matrix", "d_k × d_out: the output projection (none when left out: the "
            "output is P·V)."),
        Key("scale", "scale", "true: the scores times 1/√d_k (the default); false: not "
            "scaled; a number: the scores times it.", default=True),
        Key("causal", "bool", "true: a token attends to itself and the tokens before it "
            "(the scores above the diagonal are −∞).", default=False),
    ),
    "layer:lstm": (
        Key("kind", "choice", "lstm: an LSTM cell unrolled in time (torch's nn.LSTM): i, f, o "
            "= σ(...), g = tanh(...), c_t = f⊙c_(t-1) + i⊙g, h_t = o⊙tanh(c_t) (it comes "
            "first; dense layers after it apply at each step, or h goes to the loss).",
            required=True, choices=lambda: ("lstm",), fix="write 'kind: lstm'"),
        Key("name", "name", "The layer's name, which its parameters carry: lstm1.W_x[1,1].",
            default="lstm1"),
        Key("hidden", "names", "Names of the hidden units, or how many there are.",
            required=True, fix="write 'hidden: [h]' or a count like 'hidden: 2'"),
        Key("W_x", "matrix", "4·hidden × inputs, torch's weight_ih_l0: the rows of gate i, "
            "then f, g, o (or give gates:)."),
        Key("W_h", "matrix", "4·hidden × hidden, torch's weight_hh_l0: rows i, f, g, o."),
        Key("bias", "vector", "4·hidden numbers, rows i, f, g, o (torch's bias_ih_l0 + "
            "bias_hh_l0 as one); none when left out."),
        Key("gates", "map", "The gates by name instead of W_x, W_h, bias: i, f, g, o, each "
            "with its W_x (hidden × inputs), W_h (hidden × hidden) and optional bias.",
            table="lstm_gates"),
        Key("h0", "vector", "h at time step 0, one number per hidden unit (default zeros)."),
        Key("c0", "vector", "c at time step 0, one number per hidden unit (default zeros)."),
        Key("outputs", "choice", "every: the next layer (or the loss) at each time step; "
            "last: at the last only.", choices=lambda: ("every", "last"), default="every"),
    ),
    "lstm_gates": tuple(
        Key(q, "map", f"Gate {q} ({what}).", required=True, table="lstm_gate",
            fix=f"write '{q}: {{W_x: [[...]], W_h: [[...]], bias: [...]}}'")
        for q, what in (("i", "input, σ"), ("f", "forget, σ"), ("g", "candidate, tanh"),
                        ("o", "output, σ"))),
    "lstm_gate": (
        Key("W_x", "matrix", "hidden × inputs.", required=True,
            fix="write 'W_x:' with one row per hidden unit, one number per input"),
        Key("W_h", "matrix", "hidden × hidden.", required=True,
            fix="write 'W_h:' with one row per hidden unit, one number per hidden unit"),
        Key("bias", "vector", "One number per hidden unit; none when left out."),
    ),
    "sample:sequence": (
        Key("sequence", "matrix", "One row per time step, one number per input.",
            required=True, fix="write 'sequence: [[...], [...]]'"),
        Key("targets", "matrix", "One row per output step (every time step, or one with "
            "outputs: last), one number per output.", required=True,
            fix="write 'targets: [[...], [...]]'"),
    ),
    "sample": (
        Key("inputs", "sample_inputs", "One number per input (shaped inputs: nested as "
            "inputs.shape, [channels][rows][columns]).", required=True,
            fix="write 'inputs: [...]'"),
        Key("targets", "vector", "One number per output neuron.", required=True,
            fix="write 'targets: [...]'"),
    ),
    "optimizer": (
        Key("name", "choice", "sgd, momentum (SGD with momentum), nesterov, rmsprop, adam or "
            "adamw.", required=True, choices=lambda: tuple(HYPERPARAMETERS),
            fix="write 'optimizer: {name: adam}'"),
        Key("momentum", "number", "momentum, nesterov: the velocity's decay mu.", minimum=0,
            maximum=1, below=True, default=DEFAULTS["momentum"]),
        Key("alpha", "number", "rmsprop: decay of the running mean of squared gradients.",
            minimum=0, maximum=1, below=True, default=DEFAULTS["alpha"]),
        Key("beta1", "number", "adam, adamw: decay of the running mean of gradients.",
            minimum=0, maximum=1, below=True, default=DEFAULTS["beta1"]),
        Key("beta2", "number", "adam, adamw: decay of the running mean of squared gradients.",
            minimum=0, maximum=1, below=True, default=DEFAULTS["beta2"]),
        Key("eps", "number", "rmsprop, adam, adamw: added to the root in the denominator.",
            minimum=0, above=True, default=DEFAULTS["eps"]),
        Key("weight_decay", "number", "L2 added to the gradient (lambda * p); adamw decays "
            f"the weights instead, p * (1 - lr * lambda), default {ADAMW_WEIGHT_DECAY} there.",
            minimum=0, default=DEFAULTS["weight_decay"]),
    ),
    "init": (
        Key("seed", "integer", "Seed of the random numbers: the same seed draws the same "
            "values.", required=True, minimum=0, maximum=2**32 - 1,
            fix="write 'init: {seed: 1, scheme: uniform}'"),
        Key("scheme", "choice", "uniform: between -1 and 1; xavier: Glorot & Bengio (2010), "
            "biases 0; he: He et al. (2015), biases 0.", choices=lambda: INIT_SCHEMES,
            default="uniform"),
        Key("decimals", "integer", "Decimals the drawn values are rounded to.", minimum=1,
            maximum=9, default=2),
    ),
}


def _graph_losses() -> tuple[str, ...]:
    from bpwalk.graph.ops import GRAPH_LOSSES

    return GRAPH_LOSSES


def _profiles() -> dict:
    from bpwalk.notation import PROFILES  # the notations' one table

    return PROFILES


def keys(table: str) -> tuple[str, ...]:
    return tuple(k.name for k in FORMAT[table])


def key_of(table: str, name: str) -> Key:
    return next(k for k in FORMAT[table] if k.name == name)


TOP_KEYS = keys("scenario")
LAYER_KEYS = keys("layer")
# the keys each kind of layer other than dense takes (dense: the others, but these)
SHAPED_KEYS = {
    "conv2d": ("kind", "name", "kernels", "bias", "stride", "padding", "activation", "slope",
               "alpha"),
    "maxpool": ("kind", "name", "size", "stride"),
    "avgpool": ("kind", "name", "size", "stride"),
    "flatten": ("kind", "name"),
    "dropout": ("kind", "name", "p", "mask"),
    "batchnorm": ("kind", "name", "gamma", "beta", "eps"),
    "layernorm": ("kind", "name", "gamma", "beta", "eps"),
}
SAMPLE_KEYS = keys("sample")
RNN_KEYS = keys("layer:rnn")
ATTENTION_KEYS = keys("layer:attention")
LSTM_KEYS = keys("layer:lstm")
GATES = ("i", "f", "g", "o")  # torch's order of the gates' rows in W_x, W_h and bias
GATE_KEYS = keys("lstm_gate")
SEQUENCE_SAMPLE_KEYS = keys("sample:sequence")
INIT_KEYS = keys("init")
REQUIRED_TOP = tuple(k.name for k in FORMAT["scenario"] if k.required)


NAME_PATTERN = "^[A-Za-z][A-Za-z0-9_]*$"  # a usable name: h1, w_in, o2 (the validator's test too)
# (JSON Schema's $ is the end of the text; the validator fullmatches it, as Python's $ also
# matches before a last line break)
_NAME_SCHEMA = {"type": "string", "pattern": NAME_PATTERN}


def _list_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "minItems": 1, "items": item}


def _type_schema(k: Key) -> dict[str, Any]:
    """The JSON Schema of one key's value. It accepts what the loader accepts (the loader
    then checks what a schema cannot: shapes against other keys, unique names)."""
    number = {"type": "number"}
    simple: dict[str, dict[str, Any]] = {
        "text": {"type": ["string", "number", "boolean"]},
        "name": _NAME_SCHEMA,
        "names": {"oneOf": [{"type": "integer", "minimum": 1}, _list_of(_NAME_SCHEMA)]},
        "names_or_name": {"oneOf": [_NAME_SCHEMA, _list_of(_NAME_SCHEMA)]},
        "bool": {"type": "boolean"},
        "scale": {"oneOf": [{"type": "boolean"}, {"type": "number", "exclusiveMinimum": 0}]},
        "batch": {"oneOf": [{"const": "full"}, {"type": "integer", "minimum": 1}]},
        "vector": {"oneOf": [number, {"type": "array", "items": number}]},
        "sample_inputs": {"oneOf": [number, {"type": "array", "items": number},
                                    _list_of(_list_of(_list_of(number)))]},
        "inputs": {"oneOf": [{"type": "integer", "minimum": 1}, _list_of(_NAME_SCHEMA),
                             {"type": "object", "required": ["shape"],
                              "additionalProperties": False,
                              "properties": {"shape": {"type": "array", "minItems": 3,
                                                       "maxItems": 3, "items": {
                                                           "type": "integer",
                                                           "minimum": 1}}}}]},
        "tensor4": _list_of(_list_of(_list_of(_list_of(number)))),
        "pair": {"oneOf": [{"type": "integer", "minimum": 0},
                           {"type": "array", "minItems": 2, "maxItems": 2,
                            "items": {"type": "integer", "minimum": 0}}]},
        "bias": {"oneOf": [number, {"type": "null"}, _list_of(number)]},
        "matrix": _list_of(_list_of(number)),
        "name_matrix": _list_of(_list_of(_NAME_SCHEMA)),
        "number_map": {"type": "object", "propertyNames": _NAME_SCHEMA,
                       "additionalProperties": number},
        "expression_map": {"type": "object", "minProperties": 1,
                           "propertyNames": _NAME_SCHEMA,
                           "additionalProperties": {"type": ["string", "number"]}},
    }
    if k.type in simple:
        return dict(simple[k.type])
    if k.type == "choice":
        return {"enum": list(k.choices() if k.choices else ())}
    if k.type in ("number", "integer"):
        out: dict[str, Any] = {"type": k.type}
        if k.minimum is not None:
            out["exclusiveMinimum" if k.above else "minimum"] = k.minimum
        if k.maximum is not None:
            out["exclusiveMaximum" if k.below else "maximum"] = k.maximum
        return out
    if k.type == "list" and variants(k.table):  # entries of other kinds: one of them
        return _list_of({"oneOf": [_table_schema(t) for t in (k.table, *variants(k.table))]})
    if k.type == "list":
        return _list_of(_table_schema(k.table))
    if k.type == "map":
        return _table_schema(k.table)
    raise ValueError(f"no schema for key type {k.type!r}")  # a new type needs a line above


def variants(table: str) -> tuple[str, ...]:
    """The tables of the other kinds of a list's entries: layer -> (layer:rnn,)."""
    return tuple(t for t in FORMAT if t.startswith(table + ":"))


def _table_schema(table: str) -> dict[str, Any]:
    properties = {}
    for k in FORMAT[table]:
        prop = {"description": k.doc, **_type_schema(k)}
        if k.default is not None:
            prop["default"] = k.default
        properties[k.name] = prop
    out = {
        "type": "object",
        "properties": properties,
        "required": [k.name for k in FORMAT[table] if k.required and not k.unless],
        "additionalProperties": False,
    }
    # keys required unless the entry itself has another (a layer's neurons, unless kind:)
    inner = [k.name for k in FORMAT[table] if k.required and k.unless == "kind"]
    if inner:
        out["if"] = {"not": {"required": ["kind"]}}
        out["then"] = {"required": inner}
    return out


def json_schema() -> dict[str, Any]:
    """A JSON Schema (draft 7, what the YAML language server reads) of the scenario format."""
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "bpwalk scenario",
        "description": "A tiny neural network with concrete numbers, for 'bpwalk run'.",
        **_table_schema("scenario"),
    }
    # Keys required unless the scenario has another key (weights, unless init draws them;
    # a layers: scenario's keys, unless it is a graph: scenario).
    conditions: list[dict[str, Any]] = []
    unless = {}
    for k in FORMAT["scenario"]:
        if k.required and k.unless:
            unless.setdefault(k.unless, []).append(k.name)
    for other, names in unless.items():
        conditions.append({"if": {"not": {"required": [other]}}, "then": {"required": names}})
    for k in FORMAT["scenario"]:
        for c in FORMAT.get(k.table, ()):
            if c.required and c.unless and c.unless not in keys(k.table):
                need: dict[str, Any] = {"required": [c.name]}
                if "kind" in keys(k.table) or variants(k.table):  # another kind: no weights
                    need = {"if": {"not": {"required": ["kind"]}}, "then": need}
                conditions.append({
                    "if": {"not": {"required": [c.unless]}},
                    "then": {"properties": {k.name: {"items": need} if k.type == "list" else need}},
                })
    if conditions:
        schema["allOf"] = conditions
    return schema



def schema_text() -> str:
    """json_schema() as the file bpwalk ships (scenarios/bpwalk.schema.json) and prints."""
    import json

    return json.dumps(json_schema(), indent=2) + "\n"


# ----------------------------------------------------------------------------- default names
#
# What a scenario leaves unnamed is named here, and only here: the validator names inputs,
# neurons, weights and biases with these, and `bpwalk new` writes its comments with them, so
# the "w6" of a comment is the w6 that `bpwalk run` shows.


def numbered(prefix: str, count: int, first: int = 0) -> list[str]:
    """prefix1..prefixN, counting on from `first` (weights and biases number across layers)."""
    return [f"{prefix}{first + k + 1}" for k in range(count)]


def neuron_prefix(index: int, n_layers: int) -> str:
    """o for the output layer; h for a lone hidden layer, else h1_, h2_, ... per layer."""
    if index == n_layers - 1:
        return "o"
    return "h" if n_layers == 2 else f"h{index + 1}_"


def weight_names(first: int, rows: int, cols: int) -> list[list[str]]:
    """One row per neuron, one name per input, numbered row by row after w{first}."""
    return [numbered("w", cols, first + r * cols) for r in range(rows)]


def hint(table: str, name: str) -> str:
    """How to write a missing key, from the table."""
    k = key_of(table, name)
    return k.fix.format(choices=", ".join(k.choices() if k.choices else ()))


# What people write for the format's words, from other tools and courses: "unknown key 'lr'"
# then suggests learning_rate, where spelling alone would not find it.
ALIASES = {
    **dict.fromkeys(("lr", "eta", "alpha", "step_size", "learningrate", "rate"), "learning_rate"),
    **dict.fromkeys(("epochs", "epoch", "steps", "updates", "n_iter", "iters"), "iterations"),
    **dict.fromkeys(("batch_size", "minibatch", "mini_batch"), "batch"),
    **dict.fromkeys(("units", "nodes", "size", "width", "neuron"), "neurons"),
    **dict.fromkeys(("activation_function", "act", "fn", "function"), "activation"),
    **dict.fromkeys(("weight", "w", "kernel"), "weights"),
    **dict.fromkeys(("biases", "b", "bias_values"), "bias"),
    **dict.fromkeys(("x", "input", "features"), "inputs"),
    **dict.fromkeys(("y", "target", "labels", "label", "outputs", "output"), "targets"),
    **dict.fromkeys(("samples", "dataset", "examples", "training"), "data"),
    **dict.fromkeys(("cost", "loss_function", "objective", "criterion"), "loss"),
    "mse": "mean_squared_error", "l2": "squared_error", "sse": "squared_error",
    "half_mse": "half_squared_error", "bce": "binary_cross_entropy",
    **dict.fromkeys(("ce", "categorical_cross_entropy", "cce", "log_loss", "nll",
                     "softmax_cross_entropy", "crossentropy"), "cross_entropy"),
    **dict.fromkeys(("logistic", "sigma", "logit"), "sigmoid"),
    **dict.fromkeys(("identity", "none", "linear_activation"), "linear"),
    **dict.fromkeys(("lrelu", "leakyrelu", "leaky"), "leaky_relu"),
    "rectifier": "relu", "hyperbolic_tangent": "tanh", "glorot": "xavier", "kaiming": "he",
}


if __name__ == "__main__":  # regenerate the shipped file: see tests/test_schema.py
    sys.stdout.write(schema_text())
