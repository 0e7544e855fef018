"""Sequences: a `layers:` scenario whose first layer reads rows, one per time step or token
(`kind: rnn`, an Elman layer; `kind: attention`, one self-attention head), and whose
samples are `sequence:` rows.

The validator (validate.py) hands a scenario here when one of its layers has `kind: rnn`
or `kind: attention`:
this module reads that layer and the sequence data, and the dense layers after it with the
validator's own reader (a dense layer after a recurrent one applies at each time step).

The model: the recurrent layer is an RnnLayer whose `weights` are W_x and W_h side by side
(hidden × (inputs + hidden), the form h_t = act(W·[x_t; h_(t-1)] + b)), so that the
parameter layout, the optimizer and the update steps read it as any layer's weights. A
sequence scenario's `x` is (samples, time steps, inputs) and `targets` (samples, output
steps, outputs).

An attention layer is an AttentionLayer whose `weights` are W_Q, W_K, W_V (and W_O) one
after the other, flattened row by row (a single row of names), for the same reason; its
tokens are the sequence's rows, and every token has an output (targets: one row each).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import yaml

from bpwalk.scenario.errors import choice_hint
from bpwalk.scenario.format import (
    ATTENTION_KEYS,
    FORMAT,
    GATE_KEYS,
    GATES,
    LSTM_KEYS,
    RNN_KEYS,
    SEQUENCE_SAMPLE_KEYS,
    hint,
    key_of,
)

RNN_ACTIVATIONS = key_of("layer:rnn", "activation").choices()  # tanh, relu (nn.RNN)
SEQUENCE_LOSSES = ("half_squared_error", "squared_error", "mean_squared_error")
OUTPUTS = key_of("layer:rnn", "outputs").choices()  # every, last


class RnnLayer(NamedTuple):
    """An Elman layer: h_t = act(W_x·x_t + W_h·h_(t-1) + b), h_0 given (zeros by default)."""

    neurons: tuple[str, ...]  # the hidden units' names
    activation: str  # tanh or relu
    slope: float  # unused (the activations here have no setting)
    weights: np.ndarray  # (hidden, inputs + hidden): W_x then W_h, read-only float64
    weight_names: tuple[tuple[str, ...], ...]  # rnn1.W_x[j,i] ... then rnn1.W_h[j,k] ...
    bias: str  # "none" | "per_neuron"
    bias_values: np.ndarray
    bias_names: tuple[str, ...]  # rnn1.b[j]
    name: str  # the layer's name: rnn1
    n_in: int  # inputs per time step (W_x's columns)
    h0: np.ndarray  # (hidden,)
    every: bool  # outputs: every (the next layer applies at each step), else last

    kind = "rnn"

    @property
    def w_x(self) -> np.ndarray:
        return self.weights[:, :self.n_in]

    @property
    def w_h(self) -> np.ndarray:
        return self.weights[:, self.n_in:]


class AttentionLayer(NamedTuple):
    """One self-attention head over the tokens (the sequence's rows) X, T × d_model:
    Q = X·W_Q, K = X·W_K, V = X·W_V (d_model × d_k each, as x @ W); S = Q·Kᵀ; A = c·S
    (−∞ above the diagonal when causal); P = softmax(A) row by row; out = P·V (H), then
    H·W_O (d_k × d_out) when W_O is given."""

    neurons: tuple[str, ...]  # the output's columns: z1..zn (n = d_k, or d_out with W_O)
    activation: str  # linear: the head has no activation of its own
    slope: float
    weights: np.ndarray  # W_Q, W_K, W_V, W_O flattened row by row, one after the other
    weight_names: tuple[tuple[str, ...], ...]  # one row: att1.W_Q[1,1] ... in that order
    bias: str  # "none"
    bias_values: np.ndarray
    bias_names: tuple[str, ...]
    name: str  # att1
    n_in: int  # d_model: the inputs per token
    d_k: int
    d_out: int  # W_O's columns; 0 without W_O
    scale: float  # c: 1/√d_k (scale: true), 1 (false) or the number given
    scaling: str  # "root" (1/√d_k), "none" or "number"
    causal: bool

    kind = "attention"
    every = True  # every token has an output (the rows after it: rows() in recurrent.py)

    def matrices(self, w: np.ndarray) -> tuple[np.ndarray, ...]:
        """W_Q, W_K, W_V and W_O (None without it) from a flat weights vector `w`."""
        m, d = self.n_in, self.d_k
        size = m * d
        wq, wk, wv = (w[i * size:(i + 1) * size].reshape(m, d) for i in range(3))
        wo = w[3 * size:].reshape(d, self.d_out) if self.d_out else None
        return wq, wk, wv, wo


class LstmLayer(NamedTuple):
    """An LSTM cell (torch's nn.LSTM, one layer): for each gate q of i, f, g, o,
    net_q = W_x[q]·x_t + W_h[q]·h_(t-1) + b[q]; i, f, o = σ(net), g = tanh(net);
    c_t = f⊙c_(t-1) + i⊙g, h_t = o⊙tanh(c_t). Its cells: each gate's (`gates`) and the
    cell's, c (`cells`), whose net is the state c_t and whose out is tanh(c_t)."""

    neurons: tuple[str, ...]  # the hidden units' names: h_t, what the next layer reads
    activation: str  # "tanh" (g's and the cell's), for the views that name one
    slope: float  # unused
    weights: np.ndarray  # (4·hidden, inputs + hidden): W_x then W_h, rows i, f, g, o
    weight_names: tuple[tuple[str, ...], ...]  # lstm1.W_x[r,i] ... lstm1.W_h[r,k] per row
    bias: str  # "none" | "per_neuron"
    bias_values: np.ndarray  # (4·hidden,)
    bias_names: tuple[str, ...]
    name: str
    n_in: int
    h0: np.ndarray  # (hidden,)
    every: bool
    c0: np.ndarray  # (hidden,)
    gates: tuple[tuple[str, ...], ...]  # the cells of gates i, f, g, o: (("i",), ...)
    cells: tuple[str, ...]  # the cell state's cells: ("c",) or ("c_h1", "c_h2")
    named: bool  # given as gates: by name (its parameters then named lstm1.W_xf[1,2])

    kind = "lstm"

    @property
    def w_x(self) -> np.ndarray:
        return self.weights[:, :self.n_in]

    @property
    def w_h(self) -> np.ndarray:
        return self.weights[:, self.n_in:]

    @property
    def rows(self) -> tuple[str, ...]:
        """The gate cell each row of the weights feeds: i's, f's, g's, o's."""
        return tuple(n for q in self.gates for n in q)


def lstm_cells(hidden: list[str]) -> tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]:
    """The gates' cells and the state's of an LSTM with these hidden units: i, f, g, o, c
    for one unit (as Gomez and the books write a scalar cell); i_h1, i_h2, ..., c_h1,
    c_h2 for several (after the units' names: a dense layer's o1 stays free)."""
    sfx = [""] if len(hidden) == 1 else ["_" + h for h in hidden]
    return tuple(tuple(q + s for s in sfx) for q in GATES), tuple("c" + s for s in sfx)


def lstm_param_names(layer: str, named: bool, n: int, n_in: int
                     ) -> tuple[list[list[str]], list[str]]:
    """An LSTM's weight names, row by row (4·n rows: i's, f's, g's, o's), and its bias
    names. torch's layout: lstm1.W_x[r,i], lstm1.W_h[r,k], lstm1.b[r], r = 1..4n. Gates by
    name: lstm1.W_xf[j,i], lstm1.W_hf[j,k], lstm1.b_f[j] (Graves's and d2l's W_xf, W_hf,
    b_f), j = 1..n within the gate."""
    wn, bn = [], []
    for q, gate in enumerate(GATES):
        for j in range(n):
            r = j if named else q * n + j
            wx, wh, b = (("W_x" + gate, "W_h" + gate, "b_" + gate) if named
                         else ("W_x", "W_h", "b"))
            wn.append([param_name(layer, wx, r, i) for i in range(n_in)]
                      + [param_name(layer, wh, r, k) for k in range(n)])
            bn.append(param_name(layer, b, r))
    return wn, bn


RECURRENT = ("rnn", "lstm")
FIRST_KINDS = (*RECURRENT, "attention")  # a layer reading the sequence's rows: comes first


def _kinds(top: dict) -> list[tuple[str, yaml.Node]]:
    """Each layer's `kind:` value and its node."""
    node = top.get("layers", (None, None))[1]
    if not isinstance(node, yaml.SequenceNode):
        return []
    return [(v.value, v) for lay in node.value if isinstance(lay, yaml.MappingNode)
            for k, v in lay.value if k.value == "kind" and isinstance(v, yaml.ScalarNode)]


def has_rnn(top: dict) -> bool:
    """Does the scenario have a layer reading rows (`kind: rnn`, `lstm` or `attention`)?
    Then this module reads it."""
    return any(kind in FIRST_KINDS for kind, _ in _kinds(top))


def param_name(layer: str, what: str, *index: int) -> str:
    """A recurrent parameter's name, 1-based: rnn1.W_h[1,2], rnn1.b[1]."""
    return f"{layer}.{what}[{','.join(str(i + 1) for i in index)}]"


class Sequence:
    """Reads a sequence scenario's recurrent layer and data for the validator `v` (whose
    `err` collects the problems with their line and column)."""

    def __init__(self, v: Any) -> None:
        self.v = v
        self.rnn: dict[str, Any] | None = None
        self.att: dict[str, Any] | None = None  # an attention layer's, when it comes first
        self.steps: int | None = None  # time steps of every sample

    # ---- layers

    def layers(self, node: yaml.SequenceNode, inputs: list[str]) -> list | None:
        """The dense layers after the recurrent one, as the validator's layer tuples (the
        recurrent layer itself is kept in self.rnn); [] when an lstm's h goes straight to
        the loss."""
        v = self.v
        first = node.value[0]
        kind = None
        if isinstance(first, yaml.MappingNode):
            kind = next((v.scalar(val) for k, val in first.value if k.value == "kind"), None)
        if kind == "attention":
            return self._attention_layers(node, first, inputs)
        if kind not in RECURRENT:
            v.err(first, "the recurrent layer (kind: rnn or lstm) or the attention layer "
                         "(kind: attention) must come first; a dense layer after it applies at "
                         "each time step")
            return None
        m = v.mapping(first, "layer 1", LSTM_KEYS if kind == "lstm" else RNN_KEYS)
        if m is None:
            return None
        for lay in node.value[1:]:
            if isinstance(lay, yaml.MappingNode) and any(k.value == "kind" for k, _ in lay.value):
                v.err(lay, f"only the first layer may have kind: (one {kind} layer); write the "
                           "layers after it as '- neurons: ...' (dense, per time step)")
                return None
        if len(node.value) < 2 and kind == "rnn":
            v.err(node, "a recurrent layer needs a dense layer after it (the outputs the "
                        "loss compares); add '- neurons: [y]' with its weights")
            return None
        self.rnn = self._rnn(first, m, len(inputs)) if kind == "rnn" else \
            self._lstm(first, m, len(inputs))
        if self.rnn is None:
            return None
        if len(node.value) < 2:  # an lstm's h_t straight to the loss (Gomez's example)
            return []
        rest = yaml.SequenceNode(node.tag, node.value[1:], node.start_mark, node.end_mark)
        dense = v.layers(rest, list(self.rnn["hidden"]), first=2)
        if dense and any(lay[1] == "softmax" for lay in dense):
            v.err(rest.value[-1], "softmax outputs are not taken after a recurrent layer yet; "
                                  "use linear, sigmoid or tanh")
            return None
        return dense

    def _attention_layers(self, node: yaml.SequenceNode, first: yaml.Node,
                          inputs: list[str]) -> list | None:
        """The attention layer (kept in self.att) and the dense layers after it, if any."""
        v = self.v
        m = v.mapping(first, "layer 1", ATTENTION_KEYS)
        if m is None:
            return None
        for lay in node.value[1:]:
            if isinstance(lay, yaml.MappingNode) and any(k.value == "kind" for k, _ in lay.value):
                v.err(lay, "only the first layer may have kind: (one attention layer); write "
                           "the layers after it as '- neurons: ...' (dense, per token)")
                return None
        self.att = self._attention(first, m, len(inputs))
        if self.att is None:
            return None
        if len(node.value) < 2:
            return []  # its output goes straight to the loss
        rest = yaml.SequenceNode(node.tag, node.value[1:], node.start_mark, node.end_mark)
        dense = v.layers(rest, list(self.att["outputs"]), first=2)
        if dense and any(lay[1] == "softmax" for lay in dense):
            v.err(rest.value[-1], "softmax outputs are not taken after an attention layer yet; "
                                  "use linear, sigmoid or tanh")
            return None
        return dense

    def _attention(self, lnode: yaml.Node, m: dict, d_model: int) -> dict[str, Any] | None:
        v = self.v
        required = [k.name for k in FORMAT["layer:attention"] if k.required]
        for key in required:
            if key not in m:
                v.err(lnode, f"the attention layer is missing '{key}'; "
                             f"{hint('layer:attention', key)}")
        if any(k not in m for k in required):
            return None
        name = v.name(m["name"][1], "the attention layer's name") if "name" in m else "att1"
        w_q = self._projection(m["W_Q"][1], "W_Q", d_model, None)
        if w_q is None or name is None:
            return None
        d_k = len(w_q[0])
        w_k = self._projection(m["W_K"][1], "W_K", d_model, d_k)
        w_v = self._projection(m["W_V"][1], "W_V", d_model, d_k)
        w_o = None
        if "W_O" in m:
            w_o = self._projection(m["W_O"][1], "W_O", d_k, None, rows_are="column of V "
                                   f"(d_k = {d_k})")
            if w_o is None:
                return None
        if w_k is None or w_v is None:
            return None
        scale, scaling = 1.0 / math.sqrt(d_k), "root"
        if "scale" in m:
            given = v.scalar(m["scale"][1])
            if given is False:
                scale, scaling = 1.0, "none"
            elif isinstance(given, (int, float)) and not isinstance(given, bool) \
                    and np.isfinite(given) and given > 0:
                scale, scaling = float(given), "number"
            elif given is not True:
                v.err(m["scale"][1], "scale must be true (1/√d_k), false (not scaled) or a "
                                     f"number above 0, not {given!r}; write 'scale: true'")
                return None
        causal = False
        if "causal" in m:
            causal = v.scalar(m["causal"][1])
            if not isinstance(causal, bool):
                v.err(m["causal"][1], f"causal must be true or false, not {causal!r}; write "
                                      "'causal: false'")
                return None
        width = len(w_o[0]) if w_o else d_k
        outputs = [f"z{j + 1}" for j in range(width)]
        v.declare(outputs, "an output of the attention layer", lnode)
        return {"name": name, "W_Q": w_q, "W_K": w_k, "W_V": w_v, "W_O": w_o, "d_k": d_k,
                "scale": scale, "scaling": scaling, "causal": causal, "outputs": outputs,
                "every": True}

    def _projection(self, node: yaml.Node, what: str, rows: int, cols: int | None,
                    rows_are: str = "input (d_model = {d})") -> list[list[float]] | None:
        """A projection matrix, `rows` × `cols` (cols None: as many as its first row has,
        the same in every row); shapes named with their numbers."""
        v = self.v
        of = rows_are.format(d=rows)
        width = "d_k" if what != "W_O" else "d_out"
        if (not isinstance(node, yaml.SequenceNode) or not node.value
                or not all(isinstance(r, yaml.SequenceNode) for r in node.value)):
            v.err(node, f"{what} must be a list of rows, one per {of}, each with {width} "
                        f"numbers; write it like [[0.5, 0.1], [0.2, 0.3]]")
            return None
        if len(node.value) != rows:
            v.err(node, f"{what} has {len(node.value)} row{'s' * (len(node.value) != 1)} but "
                        f"it needs {rows}, one per {of}; write {rows} "
                        f"row{'s' * (rows != 1)}")
            return None
        want = cols if cols is not None else len(node.value[0].value)
        if want == 0:
            v.err(node.value[0], f"{what} row 1 is empty; give it at least one number "
                                 f"({width} ≥ 1)")
            return None
        out = []
        for r, rnode in enumerate(node.value):
            if len(rnode.value) != want:
                why = (f"W_Q has {want} columns (d_k = {want})" if cols is not None
                       else f"row 1 has {want}")
                v.err(rnode, f"{what} row {r + 1} has {len(rnode.value)} number"
                             f"{'s' * (len(rnode.value) != 1)} but {why}; give every row "
                             f"{want} number{'s' * (want != 1)}")
                return None
            row = v.row_numbers(rnode, what, r)
            if row is None:
                return None
            out.append(row)
        return out

    @property
    def n_out(self) -> int | None:
        """The outputs the loss compares when no dense layer follows: the hidden units."""
        return len(self.rnn["hidden"]) if self.rnn else None

    def _rnn(self, lnode: yaml.Node, m: dict, n_in: int) -> dict[str, Any] | None:
        v = self.v
        required = [k.name for k in FORMAT["layer:rnn"] if k.required]
        for key in required:
            if key not in m:
                v.err(lnode, f"the rnn layer is missing '{key}'; {hint('layer:rnn', key)}")
        if any(k not in m for k in required):
            return None
        name = v.name(m["name"][1], "the rnn layer's name") if "name" in m else "rnn1"
        hidden = v.names(m["hidden"][1], "the rnn layer's hidden", "h")
        activation = v.text(m["activation"][1], "the rnn layer's activation")
        if activation is not None and activation not in RNN_ACTIVATIONS:
            v.err(m["activation"][1], f"an rnn layer's activation is tanh or relu (as torch's "
                  f"nn.RNN), not '{activation}'{choice_hint(activation, RNN_ACTIVATIONS)}")
            activation = None
        if hidden is None or activation is None or name is None:
            return None
        v.declare(hidden, "a hidden unit of the rnn layer", m["hidden"][1])
        n = len(hidden)
        w_x = self._matrix(m["W_x"][1], "W_x", n, n_in, "inputs")
        w_h = self._matrix(m["W_h"][1], "W_h", n, n, "hidden units")
        bias = v.vector(m["bias"][1], "the rnn layer's bias", n) if "bias" in m else None
        h0 = v.vector(m["h0"][1], "the rnn layer's h0", n) if "h0" in m else [0.0] * n
        outputs = "every"
        if "outputs" in m:
            outputs = v.text(m["outputs"][1], "the rnn layer's outputs")
            if outputs not in OUTPUTS:
                v.err(m["outputs"][1], f"outputs must be 'every' (the next layer at each time "
                                       f"step) or 'last' (at the last), not '{outputs}'")
                return None
        if w_x is None or w_h is None or h0 is None or ("bias" in m and bias is None):
            return None
        return {"kind": "rnn", "name": name, "hidden": hidden, "activation": activation, "W_x": w_x,
                "W_h": w_h, "bias": bias, "h0": h0, "every": outputs == "every"}

    def _lstm(self, lnode: yaml.Node, m: dict, n_in: int) -> dict[str, Any] | None:
        """An lstm layer: torch's layout (W_x, W_h, bias: rows i, f, g, o) or `gates:`."""
        v = self.v
        if "hidden" not in m:
            v.err(lnode, f"the lstm layer is missing 'hidden'; {hint('layer:lstm', 'hidden')}")
            return None
        name = v.name(m["name"][1], "the lstm layer's name") if "name" in m else "lstm1"
        hidden = v.names(m["hidden"][1], "the lstm layer's hidden", "h")
        if hidden is None or name is None:
            return None
        v.declare(hidden, "a hidden unit of the lstm layer", m["hidden"][1])
        gates, cells = lstm_cells(hidden)
        for q, cs in zip(GATES, gates):
            v.declare(list(cs), f"a cell of the lstm layer's gate {q}", m["hidden"][1])
        v.declare(list(cells), "a cell of the lstm layer's state c", m["hidden"][1])
        n = len(hidden)
        torch_keys = [k for k in ("W_x", "W_h", "bias") if k in m]
        if "gates" in m and torch_keys:
            v.err(m[torch_keys[0]][0], f"give the lstm layer's weights once: either "
                  f"'gates:' (by name) or W_x, W_h and bias (torch's layout), not both; "
                  f"remove '{torch_keys[0]}'")
            return None
        if "gates" in m:
            spec = self._gates(m["gates"][1], n, n_in)
            if spec is None:
                return None
            w_x, w_h, bias = spec
        else:
            for key in ("W_x", "W_h"):
                if key not in m:
                    v.err(lnode, f"the lstm layer is missing '{key}'; give W_x (4·hidden × "
                                 "inputs, rows i, f, g, o as torch's weight_ih_l0) and W_h "
                                 "(4·hidden × hidden), or the gates by name under 'gates:'")
                    return None
            w_x = self._matrix(m["W_x"][1], "W_x", 4 * n, n_in, "inputs", "lstm")
            w_h = self._matrix(m["W_h"][1], "W_h", 4 * n, n, "hidden units", "lstm")
            bias = (self._vector(m["bias"][1], "the lstm layer's bias (rows i, f, g, o)",
                                 4 * n, "gate and hidden unit") if "bias" in m else None)
            if w_x is None or w_h is None or ("bias" in m and bias is None):
                return None
        h0, c0 = (self._vector(m[k][1], f"the lstm layer's {k}", n, "hidden unit")
                  if k in m else [0.0] * n for k in ("h0", "c0"))
        outputs = self._outputs(m)
        if outputs is None or h0 is None or c0 is None:
            return None
        return {"kind": "lstm", "name": name, "hidden": hidden, "W_x": w_x, "W_h": w_h,
                "bias": bias, "h0": h0, "c0": c0, "every": outputs == "every",
                "named": "gates" in m, "gates": gates, "cells": cells}

    def _gates(self, node: yaml.Node, n: int, n_in: int):
        """`gates: {i: {W_x, W_h, bias}, f: ..., g: ..., o: ...}` as torch's stacked rows
        (W_x, W_h, bias: the gates' rows in the order i, f, g, o); None on a problem."""
        v = self.v
        gm = v.mapping(node, "the lstm layer's gates", GATES)
        if gm is None:
            return None
        missing = [q for q in GATES if q not in gm]
        if missing:
            v.err(node, f"the lstm layer's gates miss {', '.join(missing)}; give all four: "
                        "i (input), f (forget), g (candidate) and o (output), each with "
                        "W_x, W_h and an optional bias")
            return None
        w_x, w_h, bias = [], [], []
        with_bias = []
        for q in GATES:
            what = f"gate {q}"
            qm = v.mapping(gm[q][1], f"the lstm layer's {what}", GATE_KEYS)
            if qm is None:
                return None
            for key in ("W_x", "W_h"):
                if key not in qm:
                    v.err(gm[q][1], f"the lstm layer's {what} is missing '{key}'; "
                                    f"{hint('lstm_gate', key)}")
                    return None
            wx = self._matrix(qm["W_x"][1], f"{what} W_x", n, n_in, "inputs", "lstm")
            wh = self._matrix(qm["W_h"][1], f"{what} W_h", n, n, "hidden units", "lstm")
            b = (self._vector(qm["bias"][1], f"the lstm layer's {what} bias", n,
                              "hidden unit") if "bias" in qm else None)
            if wx is None or wh is None or ("bias" in qm and b is None):
                return None
            w_x += wx
            w_h += wh
            bias += b or [0.0] * n
            with_bias.append("bias" in qm)
        if any(with_bias) and not all(with_bias):
            q = GATES[with_bias.index(False)]
            v.err(gm[q][1], f"gate {q} has no bias but another gate has one; give every "
                            "gate a bias (0 where it has none) or none")
            return None
        return w_x, w_h, (bias if any(with_bias) else None)

    def _vector(self, node: yaml.Node, what: str, n: int, per: str) -> list[float] | None:
        """A list of n numbers, one per `per` (a hidden unit, a gate's row)."""
        values = self.v.vector(node, what)
        if values is not None and len(values) != n:
            self.v.err(node, f"{what} has {len(values)} value{'s' * (len(values) != 1)} but "
                             f"needs {n}; give one per {per}")
            return None
        return values

    def _outputs(self, m: dict) -> str | None:
        v = self.v
        if "outputs" not in m:
            return "every"
        outputs = v.text(m["outputs"][1], "the recurrent layer's outputs")
        if outputs not in OUTPUTS:
            v.err(m["outputs"][1], f"outputs must be 'every' (the next layer at each time "
                                   f"step) or 'last' (at the last), not '{outputs}'")
            return None
        return outputs

    def _matrix(self, node: yaml.Node, what: str, rows: int, cols: int,
                of: str, kind: str = "rnn") -> list[list[float]] | None:
        v = self.v
        per_row = ("one per gate and hidden unit: i's, f's, g's, o's" if kind == "lstm"
                   and rows > 0 and what in ("W_x", "W_h") else "one per hidden unit")
        shape_fix = (f"write {rows} row{'s' * (rows != 1)} ({per_row}) of {cols} "
                     f"number{'s' * (cols != 1)} (one per {of.rstrip('s')})")
        if (not isinstance(node, yaml.SequenceNode)
                or not all(isinstance(r, yaml.SequenceNode) for r in node.value)):
            v.err(node, f"{what} must be a list of rows (hidden × {of}); {shape_fix}, like "
                        f"[[0.5]]")
            return None
        if len(node.value) != rows:
            has = (f"the rnn layer has {rows} hidden unit{'s' * (rows != 1)}" if kind == "rnn"
                   else f"the lstm layer needs {rows} (4 gates × {rows // 4} hidden "
                        f"unit{'s' * (rows != 4)})" if per_row.startswith("one per gate")
                   else f"the lstm layer has {rows} hidden unit{'s' * (rows != 1)}")
            v.err(node, f"{what} has {len(node.value)} row{'s' * (len(node.value) != 1)} but "
                        f"{has}; {shape_fix}")
            return None
        out = []
        for r, rnode in enumerate(node.value):
            if len(rnode.value) != cols:
                are = f"is {cols} {of.rstrip('s')}" if cols == 1 else f"are {cols} {of}"
                v.err(rnode, f"{what} row {r + 1} has {len(rnode.value)} number"
                             f"{'s' * (len(rnode.value) != 1)} but there {are}; "
                             f"{shape_fix}")
                return None
            row = v.row_numbers(rnode, what, r)
            if row is None:
                return None
            out.append(row)
        return out

    # ---- data

    def data(self, node: yaml.Node, n_in: int | None, n_out: int | None):
        """Each sample's sequence (time steps × inputs) and targets (output steps ×
        outputs); every sample as long as the first (as a batch of torch's nn.RNN)."""
        v = self.v
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            v.err(node, "data must be a list of samples; write each as '- sequence: [[...], "
                        "...]' (one row per time step) with 'targets: [[...], ...]' below it")
            return None, None
        every = self.rnn["every"] if self.rnn else True
        if self.att is not None and n_out is None:  # no dense layer after it: its outputs
            n_out = len(self.att["outputs"])
        xs, ts = [], []
        for i, snode in enumerate(node.value):
            where = f"data sample {i + 1}"
            m = v.mapping(snode, where, SEQUENCE_SAMPLE_KEYS)
            if m is None:
                return None, None
            if "sequence" not in m or "targets" not in m:
                v.err(snode, f"{where} needs 'sequence:' (one row per time step) and "
                             "'targets:' (one row per output step)")
                return None, None
            x = self._rows(m["sequence"][1], f"{where} sequence", n_in, "input")
            if x is None:
                return None, None
            if self.steps is None:
                self.steps = len(x)
            elif len(x) != self.steps:
                v.err(m["sequence"][1], f"{where} has {len(x)} time steps but sample 1 has "
                                        f"{self.steps}; give every sample as many time steps")
                return None, None
            want = len(x) if every else 1
            t = self._rows(m["targets"][1], f"{where} targets", n_out, "output")
            if t is None:
                return None, None
            if len(t) != want and self.att is not None:
                v.err(m["targets"][1], f"{where} has {len(t)} target row"
                                       f"{'s' * (len(t) != 1)} but {len(x)} token"
                                       f"{'s' * (len(x) != 1)}; give one row per token (the "
                                       "head's output there)")
                return None, None
            if len(t) != want:
                v.err(m["targets"][1],
                      f"{where} has {len(t)} target row{'s' * (len(t) != 1)} but "
                      + (f"{want} time steps with outputs: every; give one row per time step"
                         if every else "outputs: last has one output step; give one row, "
                                       "like [[1.0]]"))
                return None, None
            xs.append(x)
            ts.append(t)
        return xs, ts

    def _rows(self, node: yaml.Node, what: str, cols: int | None, per: str):
        v = self.v
        if (not isinstance(node, yaml.SequenceNode) or not node.value
                or not all(isinstance(r, yaml.SequenceNode) for r in node.value)):
            v.err(node, f"{what} must be a list of rows, one per time step, each with one "
                        f"number per {per}; write it like [[1.0], [2.0]]")
            return None
        for k, r in enumerate(node.value):
            if cols is not None and len(r.value) != cols:
                v.err(r, f"{what} row {k + 1} has {len(r.value)} number"
                         f"{'s' * (len(r.value) != 1)} but there {'is' if cols == 1 else 'are'}"
                         f" {cols} {per}{'s' * (cols != 1)}; give one number per {per} in "
                         "each row")
                return None
        rows = [v.vector(r, f"{what} row {k + 1}", cols) for k, r in enumerate(node.value)]
        return None if None in rows else rows

    # ---- the model

    def build(self, scenario: Any, x, t) -> Any:
        """The Scenario the validator built for the dense layers, with the recurrent layer
        first and the sequence data."""
        from dataclasses import replace

        from bpwalk.scenario.model import frozen

        if self.att is not None:
            return self._build_attention(scenario, x, t)
        spec = self.rnn
        name, hidden = spec["name"], tuple(spec["hidden"])
        n, n_in = len(hidden), len(scenario.inputs)
        if spec["kind"] == "lstm":
            return self._build_lstm(scenario, x, t)
        wx_names = [[param_name(name, "W_x", j, i) for i in range(n_in)] for j in range(n)]
        wh_names = [[param_name(name, "W_h", j, k) for k in range(n)] for j in range(n)]
        weights = np.hstack([np.array(spec["W_x"], float).reshape(n, n_in),
                             np.array(spec["W_h"], float).reshape(n, n)])
        has_bias = spec["bias"] is not None
        rnn = RnnLayer(hidden, spec["activation"], 0.0, frozen(weights),
                       tuple(tuple(a + b) for a, b in zip(wx_names, wh_names)),
                       "per_neuron" if has_bias else "none",
                       frozen(spec["bias"] if has_bias else []),
                       tuple(param_name(name, "b", j) for j in range(n)) if has_bias else (),
                       name, n_in, frozen(spec["h0"]), spec["every"])
        params = [w for row in rnn.weight_names for w in row] + list(rnn.bias_names)
        return replace(scenario, layers=(rnn, *scenario.layers),
                       param_names=(*params, *scenario.param_names),
                       x=frozen(x), targets=frozen(t), sequence=True)

    def _build_attention(self, scenario: Any, x, t) -> Any:
        from dataclasses import replace

        from bpwalk.scenario.model import frozen

        spec = self.att
        name, d_k = spec["name"], spec["d_k"]
        mats = [("W_Q", spec["W_Q"]), ("W_K", spec["W_K"]), ("W_V", spec["W_V"])]
        if spec["W_O"] is not None:
            mats.append(("W_O", spec["W_O"]))
        names = tuple(param_name(name, what, i, j) for what, m in mats
                      for i in range(len(m)) for j in range(len(m[0])))
        flat = [c for _, m in mats for row in m for c in row]
        att = AttentionLayer(tuple(spec["outputs"]), "linear", 0.0, frozen(flat), (names,),
                             "none", frozen([]), (), name, len(scenario.inputs), d_k,
                             len(spec["W_O"][0]) if spec["W_O"] is not None else 0,
                             spec["scale"], spec["scaling"], spec["causal"])
        return replace(scenario, layers=(att, *scenario.layers),
                       param_names=(*names, *scenario.param_names),
                       x=frozen(x), targets=frozen(t), sequence=True)

    def _build_lstm(self, scenario: Any, x, t) -> Any:
        from dataclasses import replace

        from bpwalk.scenario.model import frozen

        spec = self.rnn
        name, hidden = spec["name"], tuple(spec["hidden"])
        n, n_in = len(hidden), len(scenario.inputs)
        wn, bn = lstm_param_names(name, spec["named"], n, n_in)
        weights = np.hstack([np.array(spec["W_x"], float).reshape(4 * n, n_in),
                             np.array(spec["W_h"], float).reshape(4 * n, n)])
        has_bias = spec["bias"] is not None
        lstm = LstmLayer(hidden, "tanh", 0.0, frozen(weights), tuple(map(tuple, wn)),
                         "per_neuron" if has_bias else "none",
                         frozen(spec["bias"] if has_bias else []),
                         tuple(bn) if has_bias else (), name, n_in, frozen(spec["h0"]),
                         spec["every"], frozen(spec["c0"]), spec["gates"], spec["cells"],
                         spec["named"])
        params = [w for row in lstm.weight_names for w in row] + list(lstm.bias_names)
        return replace(scenario, layers=(lstm, *scenario.layers),
                       param_names=(*params, *scenario.param_names),
                       x=frozen(x), targets=frozen(t), sequence=True)

    def check_loss(self, top: dict, loss: str | None) -> None:
        kind = self.rnn["kind"] if self.rnn else "rnn"
        if loss is not None and loss not in SEQUENCE_LOSSES:
            what = "an attention layer" if self.att is not None else f"an {kind} layer"
            self.v.err(top["loss"][1], f"a sequence's loss is summed over time steps; "
                       f"{loss} is not taken with {what} yet; use "
                       f"{', '.join(SEQUENCE_LOSSES[:-1])} or {SEQUENCE_LOSSES[-1]}")

    def refuse(self, top: dict) -> None:
        """Keys a sequence scenario does not take yet, each in one clear line."""
        first = [k for k, _ in _kinds(top) if k in FIRST_KINDS]
        what = f"an {first[0]} layer" if first else "a recurrent layer"
        for key, why in (("init", (f"init: does not draw {what}'s weights yet; give "
                                   "its matrices and the dense weights")),
                         ("input_gradients", ("input_gradients is not worked out through "
                                              f"{what} yet; remove it"))):
            if key in top:
                self.v.err(top[key][0], why)


