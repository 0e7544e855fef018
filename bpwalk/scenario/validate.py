"""Scenario files: YAML text -> a validated, frozen Scenario.

The validator walks the node tree (yamlread), checks what the format table (format) cannot
say on its own, and builds the model. Nothing downstream re-validates a Scenario.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from bpwalk.functions import ACTIVATIONS, LOSSES
from bpwalk.optimizers import ADAMW_WEIGHT_DECAY, DEFAULTS, HYPERPARAMETERS, SGD, Optimizer
from bpwalk.scenario import shaped
from bpwalk.scenario.errors import ScenarioError, choice_hint, did_you_mean, printable
from bpwalk.scenario.format import (
    DEFAULT_LEAKY_SLOPE,
    FORMAT,
    INIT_KEYS,
    LAYER_KEYS,
    LAYER_KINDS,
    MAX_PARAMETERS,
    REDUCTIONS,
    REQUIRED_TOP,
    SAMPLE_KEYS,
    TOP_KEYS,
    hint,
    key_of,
    keys,
    neuron_prefix,
    numbered,
)
from bpwalk.scenario.format import weight_names as default_weight_names
from bpwalk.scenario.model import (
    Conv2d,
    Dropout,
    Flatten,
    Layer,
    Norm,
    Pool,
    Scenario,
    cells,
    frozen,
    size_text,
)
from bpwalk.scenario.sequence import FIRST_KINDS, Sequence, has_rnn
from bpwalk.scenario.yamlread import Expect, Reader, read_text, written

_DRAW: Any = object()  # a layer's weights or biases that init will draw


SCENARIO = Expect(
    what="a scenario",
    missing="check the path, or run 'bpwalk examples' for the bundled scenarios",
    syntax="check the indentation, colons and brackets here",
    empty="the file is empty; a scenario needs at least inputs, layers, loss, learning_rate "
          "and data (see 'bpwalk run mazur' for an example)",
    one="one scenario per file",
    mapping="a scenario must be a mapping of keys (inputs:, layers:, ...), not a {kind}; see "
            "'bpwalk export mazur' or docs/scenario-format.md for the format",
)


def load(path: str | Path, display_name: str | None = None) -> Scenario:
    """Read and validate a scenario file. Raises ScenarioError with every problem found."""
    shown = display_name or str(path)
    return loads(read_text(path, shown, SCENARIO), shown, default_name=printable(Path(path).stem))


def loads(text: str, filename: str = "<scenario>", default_name: str = "scenario") -> Scenario:
    """Validate scenario text; `filename` is used in messages only."""
    v = _Validator(filename)
    root = v.compose(text, SCENARIO)
    scenario = v.scenario(root, default_name) if root is not None else None
    if v.problems or scenario is None:
        raise ScenarioError(v.problems)
    return scenario


class _Validator(Reader):
    """Walks the node tree, collecting every problem rather than stopping at the first."""

    def __init__(self, filename: str):
        super().__init__(filename)
        self.declared: list[tuple[str, str, yaml.Node]] = []  # (name, what it names, where)
        self.batch_layers: list[tuple] = []  # (dropout or batchnorm layer, node, where)

    def scenario(self, root: yaml.Node, default_name: str) -> Scenario | None:
        top = self.mapping(root, "the scenario", TOP_KEYS)
        if top is None:
            return None
        if "graph" in top:  # a circuit: read by its own module
            from bpwalk.scenario import circuit

            return circuit.read(self, top, default_name)
        if "ascent" in top:
            self.err(top["ascent"][0], "ascent is for a graph: scenario; remove it (a "
                                       "network always steps down its gradient)")
        for key in REQUIRED_TOP:
            if key not in top:
                self.err(root, f"missing key '{key}'; {hint('scenario', key)}")
        get = top.get

        def opt_text(key: str, default: str) -> str:
            if key not in top:
                return default
            return self.text(top[key][1], key) or default

        name = opt_text("name", default_name)
        title = opt_text("title", "")
        source = opt_text("source", "")
        description = opt_text("description", "")

        inputs, shape = None, None
        if "inputs" in top and isinstance(get("inputs")[1], yaml.MappingNode):
            shape = shaped.input_shape(self, get("inputs")[1])  # {shape: [C, H, W]}
            inputs = list(cells("x", shape)) if shape else None
            if "init" in top and shape:
                self.err(top["init"][0], "init does not draw kernels yet; remove it and give "
                                         "the kernels and weights")
        elif "inputs" in top:
            inputs = self.names(get("inputs")[1], "inputs", "x")
        if inputs:
            self.declare(inputs, "an input", top["inputs"][1])
        init = self.init(top["init"][1]) if "init" in top else None
        seq = None  # a recurrent layer first: its layer and data read by scenario/sequence.py
        if has_rnn(top):
            seq = Sequence(self)
            seq.refuse(top)
        if seq is not None:
            layers = seq.layers(get("layers")[1], inputs) if inputs else None
        else:
            layers = (self.layers(get("layers")[1], inputs, "init" in top, shape)
                      if "layers" in top and inputs else None)

        loss = None
        if "loss" in top:
            loss = self.text(top["loss"][1], "loss")
            if loss is not None and loss not in LOSSES:
                self.err(top["loss"][1], f"unknown loss '{loss}'{choice_hint(loss, LOSSES)}")
                loss = None
        lr = self.number(top["learning_rate"][1], "learning_rate") if "learning_rate" in top else None
        if lr is not None and lr <= 0:
            self.err(top["learning_rate"][1], f"learning_rate must be above 0, not {lr:g}; "
                                              "a typical value is 0.5 or 0.1")
            lr = None

        update_biases = self.flag(top, "update_biases", True)
        input_gradients = self.flag(top, "input_gradients", False)
        optimizer = self.optimizer(top["optimizer"][1]) if "optimizer" in top else SGD

        n_out = len(layers[-1][0]) if layers else seq.n_out if seq is not None else None
        if seq is not None:
            x, t = (seq.data(top["data"][1], len(inputs) if inputs else None, n_out)
                    if "data" in top else (None, None))
            seq.check_loss(top, loss)
        else:
            shape_lost = shape is None and "inputs" in top and isinstance(get("inputs")[1],
                                                                             yaml.MappingNode)
            x, t = (self.data(top["data"][1], len(inputs) if inputs else None, n_out, shape)
                    if "data" in top and not shape_lost else (None, None))

        batch: int | None = None
        if "batch" in top:
            node = top["batch"][1]
            value = self.scalar(node)
            if value == "full":
                batch = None
            elif isinstance(value, int) and not isinstance(value, bool) and value >= 1:
                batch = value
                if x is not None and value > len(x):
                    self.err(node, f"batch {value} is larger than the {len(x)} samples in data; "
                                   f"use 'full' or a number up to {len(x)}")
                elif x is not None and value == len(x):
                    batch = None
            else:
                self.err(node, f"batch must be 'full' or a whole number of samples per update, "
                               f"not {written(value)}; write 'batch: full' or 'batch: 1'")

        reduction = "mean"
        if "reduction" in top:
            value = self.text(top["reduction"][1], "reduction")
            if value in REDUCTIONS:
                reduction = value
            elif value is not None:
                self.err(top["reduction"][1], f"reduction must be 'mean' or 'sum', not '{value}'"
                         f"{did_you_mean(value, REDUCTIONS) or '; write mean or sum'}")

        iterations = 1
        if "iterations" in top:
            k = key_of("scenario", "iterations")
            iterations = self.integer(top["iterations"][1], "iterations", int(k.minimum or 1),
                                      k.maximum, "bpwalk's limit; see docs/limits.md") or 1

        notation = self.notation(top)

        if layers and loss and seq is None:
            self.compatibility(top, layers, loss, t)
        self.unique_names()

        if self.problems or None in (inputs, layers, loss, lr, x, optimizer) or (
                "init" in top and not init):
            return None
        drawn: dict[str, Any] | None = None
        if init is not None:
            drawn = self.draw(init, layers, len(inputs), top["init"][0])
            if drawn is None:
                return None
        if x is not None and self._batch_layers(len(x), batch, top):
            return None
        # (a sequence's input_gradients is refused by seq.refuse; a dense layer is a tuple here)
        first_kind = getattr(layers[0], "kind", "dense") if layers else None
        if input_gradients and seq is None and first_kind not in shaped.INPUT_GRADIENT_KINDS:
            self.err(top["input_gradients"][0], shaped.NO_INPUT_GRADIENTS)
            return None
        built = self.build(name, title, source, description, inputs, layers, loss, lr,
                           update_biases, x, t, batch, reduction, iterations, drawn)
        if seq is not None:
            built = seq.build(built, x, t)
        return replace(built, optimizer=optimizer, input_gradients=input_gradients,
                       notation=notation, input_shape=shape)

    def _batch_layers(self, samples: int, batch: int | None, top: dict) -> bool:
        """A dropout's mask has one row per sample of data; batchnorm in training mode needs
        more than one value per feature in every batch (torch refuses one: "Expected more
        than 1 value per channel when training"). True when something is wrong."""
        bad = False
        for lay, node, where in self.batch_layers:
            if lay.kind == "dropout" and len(lay.mask) != samples:
                self.err(node, f"{where} ({lay.name}) mask has {len(lay.mask)} row"
                               f"{'s' * (len(lay.mask) != 1)} but data has {samples} "
                               f"sample{'s' * (samples != 1)}; give one row per sample")
                bad = True
            if lay.kind != "batchnorm":
                continue
            size = samples if batch is None else batch
            sizes = {size, samples % size or size}  # the last batch of an epoch may be short
            spatial = len(lay.neurons) // len(lay.bias_names)
            if min(sizes) * spatial == 1:
                how = ("data has one sample: give at least two" if samples == 1 else
                       "a batch holds one sample: use 'batch: full' or a batch size that "
                       "leaves no sample alone")
                self.err(node, f"{where} ({lay.name}) normalises each feature over the batch, "
                               f"and one sample gives one value per feature (x̂ = 0, and torch "
                               f"refuses it in training mode); {how}")
                bad = True
        return bad

    def flag(self, top: dict, key: str, default: bool) -> bool:
        """A true/false key of the scenario."""
        if key not in top:
            return default
        value = self.scalar(top[key][1])
        if isinstance(value, bool):
            return value
        self.err(top[key][1], f"{key} must be true or false, not {written(value)}; write true "
                              "or false")
        return default

    def notation(self, top: dict) -> str | None:
        """The scenario's `notation:`, one of the profiles' names (None: not given or wrong)."""
        if "notation" not in top:
            return None
        notation = self.text(top["notation"][1], "notation")
        profiles = tuple(key_of("scenario", "notation").choices())
        if notation is not None and notation not in profiles:
            self.err(top["notation"][1], f"unknown notation '{notation}'"
                                         f"{choice_hint(notation, profiles)}")
        return notation

    def optimizer(self, node: yaml.Node) -> Optimizer | None:
        """The `optimizer:` mapping: a name, and the settings that optimizer reads."""
        m = self.mapping(node, "optimizer", keys("optimizer"))
        if m is None:
            return None
        if "name" not in m:
            self.err(node, f"optimizer is missing 'name'; {key_of('optimizer', 'name').fix}")
            return None
        name = self.text(m["name"][1], "optimizer name")
        if name not in HYPERPARAMETERS:
            if name is not None:
                self.err(m["name"][1], f"unknown optimizer '{name}'"
                                       f"{choice_hint(name, HYPERPARAMETERS)}")
            return None
        reads = HYPERPARAMETERS[name]
        values: dict[str, float] = {}
        if name == "adamw":
            values["weight_decay"] = ADAMW_WEIGHT_DECAY
        ok = True
        for k in FORMAT["optimizer"][1:]:
            if k.name not in m:
                continue
            knode, vnode = m[k.name]
            if k.name not in reads:
                users = [n for n, r in HYPERPARAMETERS.items() if k.name in r]
                self.err(knode, f"{k.name} applies to {', '.join(users)}, not {name}; remove it "
                                f"(or choose one of those optimizers)")
                ok = False
                continue
            value = self.number(vnode, f"optimizer {k.name}")
            if value is None:
                ok = False
                continue
            low = k.minimum if k.minimum is not None else -math.inf
            high = k.maximum if k.maximum is not None else math.inf
            if (value <= low if k.above else value < low) or (
                    value >= high if k.below else value > high):
                rng = (f"{'above' if k.above else 'at least'} {low:g}"
                       + (f" and {'below' if k.below else 'at most'} {high:g}"
                          if math.isfinite(high) else ""))
                self.err(vnode, f"optimizer {k.name} must be {rng}, not {value:g}; "
                                f"the usual value is {k.default:g}")
                ok = False
                continue
            values[k.name] = value
        if ok and name == "nesterov" and values.get("momentum", DEFAULTS["momentum"]) == 0:
            self.err(m["momentum"][1], "nesterov needs a momentum above 0 (as torch does); "
                                       "write 'momentum: 0.9', or use 'name: sgd'")
            ok = False
        return Optimizer(name, **values) if ok else None

    def init(self, node: yaml.Node) -> dict[str, Any] | None:
        """The `init:` mapping: seed, scheme and decimals of the values to draw."""
        m = self.mapping(node, "init", INIT_KEYS)
        if m is None:
            return None
        ok = True
        out: dict[str, Any] = {k.name: k.default for k in FORMAT["init"]}
        for k in FORMAT["init"]:
            if k.name not in m:
                if k.required:
                    self.err(node, f"init is missing '{k.name}'; {k.fix}")
                    ok = False
                continue
            vnode = m[k.name][1]
            if k.type == "integer":
                value = self.integer(vnode, f"init {k.name}", int(k.minimum or 0), k.maximum)
            else:  # the scheme
                value = self.text(vnode, f"init {k.name}")
                choices = k.choices() if k.choices else ()
                if value is not None and value not in choices:
                    self.err(vnode, f"unknown init scheme '{value}'{choice_hint(value, choices)}")
                    value = None
            if value is None:
                ok = False
            out[k.name] = value
        return out if ok else None

    def draw(self, init: dict[str, Any], layers: list, n_inputs: int,
             where: yaml.Node) -> dict[str, Any] | None:
        """Fill in the weights and biases the layers left out, with numbers drawn from `init`.

        Drawing is arithmetic, so it lives in bpwalk.practice; this only decides what to draw.
        """
        from bpwalk import practice

        rng = practice.generator(init["seed"])
        names: list[str] = []
        fan_in = n_inputs
        for index, layer in enumerate(layers):
            if isinstance(layer, (Dropout, Norm)):  # given (gamma, beta: torch's defaults)
                fan_in = len(layer.neurons)
                continue
            neurons, _, _, weights, wnames, bkind, bvals, bnames = layer
            n = len(neurons)
            if weights is _DRAW:
                weights = practice.init_weights(rng, init["scheme"], fan_in, n, init["decimals"])
                names += [w for row in wnames for w in row]
            if bvals is _DRAW:
                bvals = practice.init_biases(rng, init["scheme"], n, init["decimals"])
                names += list(bnames)
            layers[index] = (neurons, layer[1], layer[2], weights, wnames, bkind, bvals, bnames)
            fan_in = n
        if not names:
            self.err(where, "init has nothing to draw: every layer gives its weights and bias; "
                            "remove 'init', or leave out the weights you want drawn")
            return None
        return {**init, "drawn": names}

    def layers(self, node: yaml.Node, inputs: list[str], has_init: bool = False,
               shape: tuple[int, int, int] | None = None, first: int = 1) -> list | None:
        """The layers of `node`; `shape` the inputs' [C, H, W] when shaped; `first` is the
        number the messages give the first (2 after a recurrent layer)."""
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.err(node, "layers must be a list with one entry per layer, from the first hidden "
                           "layer to the output layer; start each with '- neurons: ...'")
            return None
        out = []
        fan_in = len(inputs)
        n_layers = len(node.value)
        w_counter, b_counter = 0, 0
        ok = True
        for index, lnode in enumerate(node.value):
            where = f"layer {index + first}"
            m = self.mapping(lnode, where, LAYER_KEYS)
            if m is None:
                return None
            kind = self.text(m["kind"][1], f"{where} kind") if "kind" in m else "dense"
            if kind not in LAYER_KINDS:
                if kind is not None:
                    self.err(m["kind"][1], f"unknown layer kind '{kind}'"
                                           f"{choice_hint(kind, (*LAYER_KINDS, *FIRST_KINDS))}")
                return None
            if kind != "dense":  # convolution, pooling, flatten: their own reader
                lay = shaped.layer(self, m, lnode, where, kind, shape,
                                   self._inputs_names(index, inputs, out), out)
                if lay is None:
                    return None
                self.declare(list(lay.neurons) if kind != "flatten" else [],
                             f"a cell of {where}", lnode)
                self.declare([w for row in lay.weight_names for w in row] + list(lay.bias_names),
                             f"a parameter of {where}", lnode)
                if index == n_layers - 1:
                    self.err(lnode, f"{where} is {kind}, but the last layer is the output "
                                    "layer and must be dense; add '- neurons: ...' after it")
                    return None
                if kind in ("dropout", "batchnorm"):  # checked against data: _batch_layers
                    self.batch_layers.append((lay, m.get("mask", (None, lnode))[1], where))
                out.append(lay)
                shape = getattr(lay, "out_shape", None)
                fan_in = len(lay.neurons)
                continue
            if shape is not None:
                prev = f"the {out[-1].name} layer's" if out else "the inputs'"
                self.err(lnode, f"{where} is dense but gets {prev} {size_text(shape)} cells; "
                                "put '- kind: flatten' before it")
                return None
            for k in FORMAT["layer"]:
                if k.required and k.name not in m and not (k.unless == "init" and has_init):
                    self.err(lnode, f"{where} is missing '{k.name}'; {hint('layer', k.name)}")
            if "neurons" not in m:
                return None
            is_output = index == n_layers - 1
            neurons = self.names(m["neurons"][1], f"{where} neurons",
                                 neuron_prefix(index, n_layers))
            if neurons is None:
                return None
            self.declare(neurons, f"a neuron of {where}", m["neurons"][1])
            n = len(neurons)
            if w_counter + b_counter + n * (fan_in + 1) > MAX_PARAMETERS:
                self.err(m["neurons"][1], f"{where} takes the network past {MAX_PARAMETERS:,} "
                                          "weights and biases, bpwalk's limit (see "
                                          "docs/limits.md); a walkthrough is for networks you can follow")
                return None

            activation = None
            if "activation" in m:
                activation = self.text(m["activation"][1], f"{where} activation")
                if activation is not None and activation not in ACTIVATIONS:
                    self.err(m["activation"][1], f"unknown activation '{activation}'"
                             f"{choice_hint(activation, ACTIVATIONS)}")
                    activation = None
                elif activation and ACTIVATIONS[activation].output_only and not is_output:
                    self.err(m["activation"][1], f"{activation} is only for the output layer; "
                                                 f"use sigmoid, tanh or relu in {where}")
                    activation = None
                elif activation == "softmax" and n == 1:
                    self.err(m["activation"][1], "softmax over one neuron always outputs 1 "
                             "(e^net / e^net), so the loss and every gradient stay 0 and "
                             "nothing learns; use sigmoid for one output, or give the layer "
                             "2 or more neurons")
                    activation = None
            # the activation's one setting (leaky_relu's slope, elu's alpha), kept as `slope`
            act = ACTIVATIONS[activation] if activation else None
            slope = act.default if act and act.parameter else DEFAULT_LEAKY_SLOPE
            for key, user in (("slope", "leaky_relu"), ("alpha", "elu")):
                if key not in m:
                    continue
                s = self.number(m[key][1], f"{where} {key}")
                if s is not None:
                    slope = s
                if activation and activation != user:
                    self.err(m[key][0], f"{key} applies to {user} only, not {activation}; "
                                        "remove it or change the activation")

            fed = ""  # where a flattened input's columns come from, for its messages
            if out and getattr(out[-1], "kind", "") == "flatten":
                made = next((lay for lay in reversed(out) if getattr(lay, "kind", "") != "flatten"), None)
                fed = (f" ({made.name} makes {size_text(made.out_shape)}, flatten gives {fan_in})"
                       if made is not None else f" (flatten gives {fan_in})")
            weights = self.matrix(m["weights"][1], f"{where} weights{fed}", n, fan_in,
                                  neurons, self._inputs_names(index, inputs, out)) \
                if "weights" in m else (_DRAW if has_init else None)

            if "weight_names" in m:
                weight_names = self.name_matrix(m["weight_names"][1], f"{where} weight_names", n, fan_in)
            else:
                weight_names = default_weight_names(w_counter, n, fan_in)
            w_counter += n * fan_in
            self.declare([x for row in weight_names or [] for x in row], f"a weight of {where}",
                         m.get("weight_names", m.get("weights", (None, lnode)))[1])

            bias_kind, bias_values = "none", []
            if "bias" not in m and has_init:  # init draws one bias per neuron
                bias_kind, bias_values = "per_neuron", _DRAW
            elif "bias" in m:
                bnode = m["bias"][1]
                if isinstance(bnode, yaml.SequenceNode):
                    vals = self.vector(bnode, f"{where} bias", n)
                    bias_kind, bias_values = "per_neuron", vals
                elif isinstance(bnode, yaml.ScalarNode) and self.scalar(bnode) is None:
                    bias_kind = "none"
                else:
                    v = self.number(bnode, f"{where} bias")
                    bias_kind, bias_values = "shared", [v] if v is not None else None
                if bias_values is None:
                    ok = False
                    bias_values = []
            n_bias = {"none": 0, "shared": 1, "per_neuron": n}[bias_kind]
            if "bias_names" in m:
                bn = m["bias_names"][1]
                if bias_kind == "none":
                    self.err(m["bias_names"][0], f"{where} has bias_names but no bias; add 'bias:'")
                    bias_names = []
                else:
                    bias_names = (self.names(bn, f"{where} bias_names", "b")
                                  if isinstance(bn, yaml.SequenceNode) else
                                  [self.name(bn, f"{where} bias_names")])
                    if bias_names and None not in bias_names and len(bias_names) != n_bias:
                        self.err(bn, f"{where} bias_names has {len(bias_names)} names but the "
                                     f"{'shared bias needs 1' if n_bias == 1 else f'bias has {n_bias} values'}"
                                     "; give one name per bias value")
                        bias_names = None
            else:
                bias_names = numbered("b", n_bias, b_counter)
            b_counter += n_bias
            self.declare(bias_names, f"a bias of {where}",
                         m.get("bias_names", m.get("bias", (None, lnode)))[1])

            if None in (activation, weights, weight_names, bias_names) or not ok:
                ok = False
            out.append((neurons, activation, slope, weights, weight_names, bias_kind,
                        bias_values, bias_names))
            fan_in = n
        return out if ok else None

    def _inputs_names(self, index: int, inputs: list[str], done: list) -> list[str]:
        return inputs if index == 0 else list(done[-1][0])

    def matrix(self, node: yaml.Node, what: str, rows: int, cols: int,
               row_names: list[str], col_names: list[str]) -> list[list[float]] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.err(node, f"{what} must be a list of rows, one per neuron; write {rows} "
                           f"row{'s' * (rows != 1)} of {cols} number{'s' * (cols != 1)}, "
                           "like [[0.1, 0.2], [0.3, 0.4]]")
            return None
        if node.value and all(isinstance(c, yaml.ScalarNode) for c in node.value):
            written = ", ".join(c.value for c in node.value)
            self.err(node, f"{what} is a flat list, but weights are rows, one per neuron, of one "
                           f"number per input, even for a single neuron ({', '.join(row_names)}); "
                           + (f"write [[{written}]]" if rows == 1 and len(node.value) == cols else
                              f"write {rows} row{'s' * (rows != 1)} of {cols} number"
                              f"{'s' * (cols != 1)}, like [[0.1, 0.2], [0.3, 0.4]]"))
            return None
        if len(node.value) != rows:
            self.err(node, f"{what} has {len(node.value)} row{'s' * (len(node.value) != 1)} but the "
                           f"layer has {rows} neuron{'s' * (rows != 1)} ({', '.join(row_names)}); "
                           "give one row per neuron")
            return None
        out = []
        for r, rnode in enumerate(node.value):
            if not isinstance(rnode, yaml.SequenceNode):
                self.err(rnode, f"{what} row {r + 1} ({row_names[r]}) must be a list; write {cols} "
                                f"number{'s' * (cols != 1)} in brackets, one per input "
                                f"({', '.join(col_names)})")
                return None
            if len(rnode.value) != cols:
                self.err(rnode, f"{what} row {r + 1} ({row_names[r]}) has {len(rnode.value)} "
                                f"number{'s' * (len(rnode.value) != 1)} but the layer has {cols} "
                                f"input{'s' * (cols != 1)} ({', '.join(col_names)}); give one per input")
                return None
            row = self.row_numbers(rnode, what, r)
            if row is None:
                return None
            out.append(row)
        return out

    def row_numbers(self, rnode: yaml.SequenceNode, what: str, r: int) -> list[float] | None:
        """Row r (0-based) of matrix `what`, its length already checked: its numbers, or
        None with each bad entry reported (W1 row 2 entry 3)."""
        row = [self.number(c, f"{what} row {r + 1} entry {i + 1}")
               for i, c in enumerate(rnode.value)]
        return None if None in row else row

    def name_matrix(self, node: yaml.Node, what: str, rows: int, cols: int) -> list[list[str]] | None:
        if (not isinstance(node, yaml.SequenceNode) or len(node.value) != rows
                or any(not isinstance(r, yaml.SequenceNode) or len(r.value) != cols
                       for r in node.value)):
            self.err(node, f"{what} must have the same shape as weights; write {rows} row"
                           f"{'s' * (rows != 1)} of {cols} name{'s' * (cols != 1)}")
            return None
        out = [[self.name(c, what) for c in r.value] for r in node.value]
        return None if any(None in r for r in out) else out

    def data(self, node: yaml.Node, n_in: int | None, n_out: int | None,
             shape: tuple[int, int, int] | None = None):
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.err(node, "data must be a list of samples; write each as '- inputs: [...]' "
                           "with 'targets: [...]' below it")
            return None, None
        xs, ts = [], []
        for i, snode in enumerate(node.value):
            where = f"data sample {i + 1}"
            m = self.mapping(snode, where, SAMPLE_KEYS)
            if m is None:
                continue
            for k in FORMAT["sample"]:
                if k.required and k.name not in m:
                    self.err(snode, f"{where} is missing '{k.name}'; {k.fix}")
            if "inputs" in m and shape is not None:
                xs.append(shaped.sample_inputs(self, m["inputs"][1], f"{where} inputs", shape))
            elif "inputs" in m:
                x = self.vector(m["inputs"][1], f"{where} inputs", n_in)
                xs.append(x)
            if "targets" in m:
                t = self.vector(m["targets"][1], f"{where} targets", n_out)
                ts.append(t)
        if self.problems or len(xs) != len(node.value) or len(ts) != len(node.value):
            return None, None
        if None in xs or None in ts:
            return None, None
        return xs, ts

    def compatibility(self, top: dict, layers: list, loss: str, targets) -> None:
        out_activation = layers[-1][1]
        where = top["loss"][1]
        if loss == "cross_entropy" and out_activation != "softmax":
            self.err(where, "cross_entropy needs a softmax output layer; set the last layer's "
                            "activation to softmax, or use binary_cross_entropy with sigmoid")
        if loss == "binary_cross_entropy" and out_activation not in (None, "sigmoid"):
            self.err(where, f"binary_cross_entropy needs sigmoid outputs (values in (0, 1)), not "
                            f"{out_activation}; set the last layer's activation to sigmoid")
        if targets is None or loss not in ("binary_cross_entropy", "cross_entropy"):
            return
        low, high = (0.0, 1.0)
        for i, t in enumerate(targets):
            if any(v < low or v > high for v in t):
                self.err(top["data"][1].value[i],
                         f"{loss} needs targets between 0 and 1, but data sample {i + 1} has "
                         f"{', '.join(f'{v:g}' for v in t)}; use 0/1 labels or probabilities")
            elif loss == "cross_entropy" and not math.isclose(sum(t), 1.0, rel_tol=0, abs_tol=1e-9):
                # softmax outputs add up to 1, so dE/dnet = out - target needs targets that do
                self.err(top["data"][1].value[i],
                         f"cross_entropy needs each sample's targets to add up to 1, but data "
                         f"sample {i + 1}'s add up to {sum(t):g}: softmax outputs add up to 1, "
                         "and the walkthrough's dE/dnet = out - target holds only then; give "
                         "probabilities or one-hot labels like [0, 1, 0]")

    def declare(self, names: list[str] | None, where: str, node: yaml.Node) -> None:
        for n in names or []:
            self.declared.append((n, where, node))

    def unique_names(self) -> None:
        seen: dict[str, str] = {}
        for name, where, node in self.declared:
            if name in seen:
                self.err(node, f"the name '{name}' is used twice ({seen[name]} and {where}); "
                               "every input, neuron, weight and bias needs its own name")
            else:
                seen[name] = where

    def build(self, name, title, source, description, inputs, layers, loss, lr, update_biases,
              x, t, batch, reduction, iterations, init=None) -> Scenario:
        built = []
        params: list[str] = []
        for entry in layers:
            if isinstance(entry, (Conv2d, Pool, Flatten, Dropout, Norm)):  # read by shaped.py
                built.append(entry)
                params += [n for row in entry.weight_names for n in row] + list(entry.bias_names)
                continue
            neurons, activation, slope, weights, wnames, bkind, bvals, bnames = entry
            built.append(Layer(
                neurons=tuple(neurons), activation=activation, slope=slope,
                weights=frozen(weights), weight_names=tuple(tuple(r) for r in wnames),
                bias=bkind, bias_values=frozen(bvals), bias_names=tuple(bnames),
            ))
            params += [n for row in wnames for n in row] + list(bnames)
        return Scenario(
            name=name, title=title, source=source, description=description, path=self.file,
            inputs=tuple(inputs), layers=tuple(built), loss=loss, learning_rate=lr,
            update_biases=update_biases, x=frozen(x), targets=frozen(t), batch=batch,
            reduction=reduction, iterations=iterations, param_names=tuple(params), init=init,
        )

