"""Scenario files: YAML text -> a validated, frozen Scenario.

This is the only module that reads YAML. It works on PyYAML's composed node tree (never on
constructed Python objects) so every problem can be reported as ``FILE:LINE:COL: what is
wrong; how to fix it``. Nothing downstream re-validates a Scenario.

Safety: the tree is composed with the safe loader, a node whose tag is not one of YAML's
plain types (str, int, float, bool, null, seq, map) is refused before anything is built, and
aliases are counted before expansion so an alias bomb is refused in milliseconds.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import yaml

from bpwalk.functions import ACTIVATIONS, LOSSES
from bpwalk.optimizers import ADAMW_WEIGHT_DECAY, DEFAULTS, HYPERPARAMETERS, SGD, Optimizer

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

REDUCTIONS = ("mean", "sum")
INIT_SCHEMES = ("uniform", "xavier", "he")
DEFAULT_LEAKY_SLOPE = 0.01
MAX_NODES = 2_000_000  # expanded size limit: far above any real network, far below a bomb

_FLOAT_TAG = "tag:yaml.org,2002:float"
_PLAIN_FLOAT = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?\Z")  # finite, no "_"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_DRAW: Any = object()  # a layer's weights or biases that init will draw
_PLAIN_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "seq", "map")
}


# ----------------------------------------------------------------------------- the format
#
# One declarative table of every key a scenario may hold: its type, whether it is required,
# its choices and bounds, and the hint a "missing key" message gives. The validator reads its
# key lists, required keys and hints from here (and init's bounds and choices); the other
# choices are the same ACTIVATIONS / LOSSES / REDUCTIONS the table names. json_schema() turns
# the table into a JSON Schema for editors, so the two cannot drift apart. What a table cannot
# say (shapes that depend on other keys, unique names, loss/activation pairs) stays in the
# validator below.


@dataclass(frozen=True)
class Key:
    name: str
    type: str  # text, names, name, names_or_name, choice, number, integer, bool, batch,
    #            vector, bias, matrix, name_matrix, list (of `table` maps), map (a `table`)
    doc: str  # what the key means: the schema's description, an editor's hover text
    required: bool = False
    fix: str = ""  # how to write it, after "missing key ..."
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
        Key("inputs", "names", "Names of the network's inputs, or how many there are.",
            required=True, fix="write 'inputs: [i1, i2]' (names) or 'inputs: 2'"),
        Key("layers", "list", "One entry per layer, first hidden layer to output layer.",
            required=True, table="layer",
            fix="write 'layers:' with one '- neurons: ...' entry per layer"),
        Key("loss", "choice", "The loss E that the backward pass differentiates.",
            required=True, choices=lambda: tuple(LOSSES),
            fix=f"write 'loss: half_squared_error' (or one of {', '.join(LOSSES)})"),
        Key("learning_rate", "number", "Step size: new = old - learning_rate * dE/dparam.",
            required=True, minimum=0, above=True, fix="write 'learning_rate: 0.5'"),
        Key("update_biases", "bool", "Whether biases are updated too.", default=True),
        Key("data", "list", "Training samples, each with inputs and targets.",
            required=True, table="sample",
            fix="write 'data:' with '- inputs: [...]' and 'targets: [...]' per sample"),
        Key("batch", "batch", "Samples per update: 'full' (all of data) or a number; 1 is "
            "stochastic gradient descent.", default="full"),
        Key("reduction", "choice", "How a batch combines per-sample losses and gradients.",
            choices=lambda: REDUCTIONS, default="mean"),
        Key("iterations", "integer", "Number of updates to run.", minimum=1, default=1),
        Key("init", "map", "Draw the weights (and biases) that layers leave out, reproducibly.",
            table="init"),
        Key("optimizer", "map", "The update rule and its settings, as torch.optim computes "
            "them (default: plain SGD).", table="optimizer"),
        Key("input_gradients", "bool", "Also work out dE/d(input) after the backward pass.",
            default=False),
    ),
    "layer": (
        Key("neurons", "names", "Names of the layer's neurons, or how many there are.",
            required=True, fix="write 'neurons: [h1, h2]' or a count like 'neurons: 2'"),
        Key("activation", "choice", "The layer's activation function.", required=True,
            choices=lambda: tuple(ACTIVATIONS),
            fix=f"write 'activation: sigmoid' (or one of {', '.join(ACTIVATIONS)})"),
        Key("weights", "matrix", "One row per neuron, one number per input of the layer.",
            required=True, unless="init",
            fix="write 'weights:' with one row per neuron, one number per input"),
        Key("bias", "bias", "One number shared by the layer's neurons, one per neuron, or "
            "null for none."),
        Key("slope", "number", "leaky_relu's slope below zero.", default=DEFAULT_LEAKY_SLOPE),
        Key("weight_names", "name_matrix", "Names of the weights, in the shape of weights."),
        Key("bias_names", "names_or_name", "Names of the bias values."),
    ),
    "sample": (
        Key("inputs", "vector", "One number per input.", required=True,
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


def keys(table: str) -> tuple[str, ...]:
    return tuple(k.name for k in FORMAT[table])


def key_of(table: str, name: str) -> Key:
    return next(k for k in FORMAT[table] if k.name == name)


TOP_KEYS = keys("scenario")
LAYER_KEYS = keys("layer")
SAMPLE_KEYS = keys("sample")
INIT_KEYS = keys("init")
REQUIRED_TOP = tuple(k.name for k in FORMAT["scenario"] if k.required)


_NAME_SCHEMA = {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$"}


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
        "batch": {"oneOf": [{"const": "full"}, {"type": "integer", "minimum": 1}]},
        "vector": {"oneOf": [number, {"type": "array", "items": number}]},
        "bias": {"oneOf": [number, {"type": "null"}, _list_of(number)]},
        "matrix": _list_of(_list_of(number)),
        "name_matrix": _list_of(_list_of(_NAME_SCHEMA)),
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
    if k.type == "list":
        return _list_of(_table_schema(k.table))
    if k.type == "map":
        return _table_schema(k.table)
    raise ValueError(f"no schema for key type {k.type!r}")  # a new type needs a line above


def _table_schema(table: str) -> dict[str, Any]:
    properties = {}
    for k in FORMAT[table]:
        prop = {"description": k.doc, **_type_schema(k)}
        if k.default is not None:
            prop["default"] = k.default
        properties[k.name] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": [k.name for k in FORMAT[table] if k.required and not k.unless],
        "additionalProperties": False,
    }


def json_schema() -> dict[str, Any]:
    """A JSON Schema (draft 7, what the YAML language server reads) of the scenario format."""
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "bpwalk scenario",
        "description": "A tiny neural network with concrete numbers, for 'bpwalk run'.",
        **_table_schema("scenario"),
    }
    # Keys required unless the scenario has another key (weights, unless init draws them).
    conditions = []
    for k in FORMAT["scenario"]:
        for c in FORMAT.get(k.table, ()):
            if c.required and c.unless:
                need = {"required": [c.name]}
                conditions.append({
                    "if": {"not": {"required": [c.unless]}},
                    "then": {"properties": {k.name: {"items": need} if k.type == "list" else need}},
                })
    if conditions:
        schema["allOf"] = conditions
    return schema


# ----------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None  # 1-based
    column: int | None  # 1-based
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ScenarioError(Exception):
    """One or more problems in a scenario file; str() gives one line per problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""


def choice_hint(word: str, choices: Any) -> str:
    """The end of an 'unknown name' message: the closest choice, and all of them."""
    names = ", ".join(choices)
    close = did_you_mean(word, choices)
    return f"{close} (one of: {names})" if close else f"; choose one of: {names}"


# ----------------------------------------------------------------------------- the model


class Connection(NamedTuple):
    param: str  # w5, b1
    layer: int  # 0-based
    source: str | None  # the input or neuron a weight carries; None for a bias
    targets: tuple[str, ...]  # the neuron it feeds (a shared bias: every neuron of the layer)


@dataclass(frozen=True)
class Layer:
    neurons: tuple[str, ...]
    activation: str
    slope: float  # leaky_relu's slope below zero (unused by other activations)
    weights: np.ndarray  # (neurons, inputs of this layer), read-only float64
    weight_names: tuple[tuple[str, ...], ...]
    bias: str  # "none" | "shared" | "per_neuron"
    bias_values: np.ndarray  # 0, 1 or len(neurons) values
    bias_names: tuple[str, ...]


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

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.layers[-1].neurons

    @property
    def shape(self) -> str:
        """Layer sizes from the inputs to the outputs, as tutorials write them: 2-2-2."""
        return "-".join(str(len(n)) for n in [self.inputs, *(lay.neurons for lay in self.layers)])

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
                    "neurons": list(lay.neurons),
                    "activation": lay.activation,
                    **({"slope": lay.slope} if lay.activation == "leaky_relu" else {}),
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
                {"inputs": x.tolist(), "targets": t.tolist()}
                for x, t in zip(self.x, self.targets)
            ],
            "batch": "full" if self.batch is None else self.batch,
            "reduction": self.reduction,
            "iterations": self.iterations,
            **({"init": self.init} if self.init else {}),
            **({"optimizer": self.optimizer.to_dict()} if self.optimizer != SGD else {}),
            **({"input_gradients": True} if self.input_gradients else {}),
        }


# ----------------------------------------------------------------------------- loading


def bundled_dir() -> Path:
    """The folder of bundled example scenarios (inside the installed package)."""
    from importlib.resources import files

    try:
        return Path(str(files("bpwalk.scenarios")))
    except ModuleNotFoundError:  # running from a source checkout that is not installed
        return Path(__file__).resolve().parent.parent / "scenarios"


def bundled_names() -> list[str]:
    return sorted(p.stem for p in bundled_dir().glob("*.yaml"))


def resolve(name: str) -> tuple[Path, str]:
    """A path as given, or a bundled example's name (``mazur``): (path to read, name to show)."""
    path = Path(name)
    if path.exists() or name.endswith((".yaml", ".yml")) or "/" in name or "\\" in name:
        return path, name
    bundled = bundled_dir() / f"{name}.yaml"
    if bundled.exists():
        return bundled, name
    raise ScenarioError([Problem(name, None, None,
                                 f"no such file or bundled example{did_you_mean(name, bundled_names())}"
                                 "; give a path to a .yaml file, or run 'bpwalk examples'")])


def load(path: str | Path, display_name: str | None = None) -> Scenario:
    """Read and validate a scenario file. Raises ScenarioError with every problem found."""
    shown = display_name or str(path)
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ScenarioError([Problem(shown, None, None,
                                     "no such file; check the path, or run 'bpwalk examples' "
                                     "for the bundled scenarios")]) from None
    except IsADirectoryError:
        raise ScenarioError([Problem(shown, None, None,
                                     "is a folder, not a scenario file; name a .yaml file")]) from None
    except OSError as e:
        raise ScenarioError([Problem(shown, None, None,
                                     f"cannot be read ({e.strerror}); check its permissions")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError([Problem(shown, None, None,
                                     f"is not UTF-8 text (byte {e.start}); save it as UTF-8")]) from None
    return loads(text, shown, default_name=p.stem)


def loads(text: str, filename: str = "<scenario>", default_name: str = "scenario") -> Scenario:
    """Validate scenario text; `filename` is used in messages only."""
    v = _Validator(filename)
    root = v.compose(text)
    scenario = v.scenario(root, default_name) if root is not None else None
    if v.problems or scenario is None:
        raise ScenarioError(v.problems)
    return scenario


class _Validator:
    """Walks the node tree, collecting every problem rather than stopping at the first."""

    def __init__(self, filename: str):
        self.file = filename
        self.problems: list[Problem] = []
        self._constructor = yaml.constructor.SafeConstructor()
        self.declared: list[tuple[str, str, yaml.Node]] = []  # (name, what it names, where)

    # -- reporting

    def err(self, node: yaml.Node | None, message: str) -> None:
        if node is None:
            self.problems.append(Problem(self.file, 1, 1, message))
        else:
            m = node.start_mark
            self.problems.append(Problem(self.file, m.line + 1, m.column + 1, message))

    # -- parsing

    def compose(self, text: str) -> yaml.Node | None:
        try:
            docs = list(yaml.compose_all(text, Loader=_Loader))
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            what = (e.problem or e.context or "invalid YAML").strip()
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            self.problems.append(Problem(
                self.file, line, col,
                f"YAML syntax error: {what}; check the indentation, colons and brackets here"))
            return None
        except yaml.YAMLError as e:
            self.problems.append(Problem(self.file, 1, 1, f"YAML error: {e}; fix the file's syntax"))
            return None
        docs = [d for d in docs if d is not None]
        if not docs:
            self.err(None, "the file is empty; a scenario needs at least inputs, layers, loss, "
                           "learning_rate and data (see 'bpwalk run mazur' for an example)")
            return None
        if len(docs) > 1:
            self.err(docs[1], "the file holds more than one YAML document; keep one scenario per file")
            return None
        root = docs[0]
        if not self._safe(root):
            return None
        if not isinstance(root, yaml.MappingNode):
            self.err(root, "a scenario must be a mapping of keys (inputs:, layers:, ...), "
                           f"not a {_kind(root)}; see 'bpwalk export mazur' or the README for "
                           "the format")
            return None
        return root

    def _safe(self, root: yaml.Node) -> bool:
        """Refuse foreign tags and alias bombs before any value is built."""
        sizes: dict[int, int] = {}
        ok = True

        def size(node: yaml.Node) -> int:
            nonlocal ok
            key = id(node)
            if key in sizes:
                return sizes[key]
            sizes[key] = 1  # guards recursive aliases
            if node.tag not in _PLAIN_TAGS:
                self.err(node, f"YAML tag '{node.tag}' is not allowed; a scenario holds only "
                               "numbers, strings, lists and mappings (remove the tag)")
                ok = False
            total = 1
            if isinstance(node, yaml.SequenceNode):
                for child in node.value:
                    total += size(child)
                    if total > MAX_NODES:
                        break
            elif isinstance(node, yaml.MappingNode):
                for k, child in node.value:
                    total += size(k) + size(child)
                    if total > MAX_NODES:
                        break
            sizes[key] = total
            return total

        try:
            total = size(root)
        except RecursionError:
            self.err(root, "the YAML nests too deeply; a scenario needs only a few levels")
            return False
        if total > MAX_NODES:
            self.err(root, f"the YAML expands to more than {MAX_NODES:,} values (an alias bomb?); "
                           "write the values out, without nested aliases")
            return False
        return ok

    # -- typed readers (each reports its own problem and returns None)

    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...]) -> dict | None:
        if not isinstance(node, yaml.MappingNode):
            self.err(node, f"{what} must be a mapping, not a {_kind(node)}; write it as "
                           "'key: value' lines")
            return None
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            key = self.scalar(k)
            if not isinstance(key, str):
                self.err(k, f"keys in {what} must be words, not {key!r}; check the spelling")
                continue
            if key in out:
                self.err(k, f"'{key}' appears twice in {what}; keep one")
                continue
            if key not in allowed:
                self.err(k, f"unknown key '{key}' in {what}{did_you_mean(key, allowed)}"
                            + ("" if did_you_mean(key, allowed) else
                               f"; allowed keys: {', '.join(allowed)}"))
                continue
            out[key] = (k, v)
        return out

    def scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return node
        return self._constructor.construct_object(node)

    def number(self, node: yaml.Node, what: str) -> float | None:
        if node.tag == _FLOAT_TAG and _PLAIN_FLOAT.match(node.value):
            value = float(node.value)  # the common case: what the constructor would return
            if math.isfinite(value):  # 1.0e400 goes on to the error below
                return value
        value = self.scalar(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, str):
            # YAML 1.1 reads 1e-3 (no dot) as a string; a user means the number.
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            shown = value if isinstance(node, yaml.ScalarNode) else f"a {_kind(node)}"
            self.err(node, f"{what} must be a number, not {shown!r}; write it like 0.25"
                     if isinstance(node, yaml.ScalarNode) else
                     f"{what} must be a number, not {shown}; write it like 0.25")
            return None
        value = float(value)
        if not math.isfinite(value):
            self.err(node, f"{what} is {value}; only finite numbers are allowed")
            return None
        return value

    def integer(self, node: yaml.Node, what: str, minimum: int) -> int | None:
        value = self.scalar(node)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            shown = value if isinstance(node, yaml.ScalarNode) else "a " + _kind(node)
            self.err(node, f"{what} must be a whole number of at least {minimum}, not {shown!r}; "
                           f"write it like {max(minimum, 1)}0")
            return None
        return value

    def text(self, node: yaml.Node, what: str) -> str | None:
        value = self.scalar(node)
        if isinstance(node, yaml.ScalarNode) and value is not None and not isinstance(value, (list, dict)):
            return str(value)
        self.err(node, f"{what} must be text, not a {_kind(node)}; write it on one line")
        return None

    def vector(self, node: yaml.Node, what: str, length: int | None = None) -> list[float] | None:
        """A list of numbers (a lone number counts as a list of one)."""
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if isinstance(node, yaml.MappingNode):
            self.err(node, f"{what} must be a list of numbers, not a mapping; write it like [0.1, 0.2]")
            return None
        values = [self.number(n, f"{what} entry {i + 1}") for i, n in enumerate(items)]
        if any(v is None for v in values):
            return None
        if length is not None and len(values) != length:
            self.err(node, f"{what} has {len(values)} value{'s' * (len(values) != 1)} but "
                           f"needs {length}; give one per {_per(what)}")
            return None
        return values  # type: ignore[return-value]

    def names(self, node: yaml.Node, what: str, default_prefix: str) -> list[str] | None:
        """A list of names, or a count that means prefix1..prefixN."""
        if isinstance(node, yaml.ScalarNode):
            count = self.scalar(node)
            if isinstance(count, int) and not isinstance(count, bool) and count >= 1:
                return [f"{default_prefix}{i + 1}" for i in range(count)]
            self.err(node, f"{what} must be names or a count, not {count!r}; write it like "
                           "[h1, h2] or 2")
            return None
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.err(node, f"{what} must be a non-empty list of names or a count; write it like [h1, h2] or 2")
            return None
        out = []
        for n in node.value:
            name = self.name(n, what)
            if name is None:
                return None
            out.append(name)
        return out

    def name(self, node: yaml.Node, what: str) -> str | None:
        value = self.scalar(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(value, str) or not _NAME.match(value):
            self.err(node, f"{what}: {value if value is not None else _kind(node)!r} is not a "
                           "usable name; use a letter followed by letters, digits or _ (like h1)")
            return None
        return value

    # -- the scenario

    def scenario(self, root: yaml.Node, default_name: str) -> Scenario | None:
        top = self.mapping(root, "the scenario", TOP_KEYS)
        if top is None:
            return None
        for key in REQUIRED_TOP:
            if key not in top:
                self.err(root, f"missing key '{key}'; {_HELP[key]}")
        get = top.get

        def opt_text(key: str, default: str) -> str:
            if key not in top:
                return default
            return self.text(top[key][1], key) or default

        name = opt_text("name", default_name)
        title = opt_text("title", "")
        source = opt_text("source", "")
        description = opt_text("description", "")

        inputs = self.names(get("inputs")[1], "inputs", "x") if "inputs" in top else None
        if inputs:
            self.declare(inputs, "an input", top["inputs"][1])
        init = self.init(top["init"][1]) if "init" in top else None
        layers = (self.layers(get("layers")[1], inputs, "init" in top)
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

        n_out = len(layers[-1][0]) if layers else None
        x, t = (self.data(top["data"][1], len(inputs) if inputs else None, n_out)
                if "data" in top else (None, None))

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
                               f"not {value!r}; write 'batch: full' or 'batch: 1'")

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
            least = int(key_of("scenario", "iterations").minimum or 1)
            iterations = self.integer(top["iterations"][1], "iterations", least) or 1

        if layers and loss:
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
        built = self.build(name, title, source, description, inputs, layers, loss, lr,
                           update_biases, x, t, batch, reduction, iterations, drawn)
        return replace(built, optimizer=optimizer, input_gradients=input_gradients)

    def flag(self, top: dict, key: str, default: bool) -> bool:
        """A true/false key of the scenario."""
        if key not in top:
            return default
        value = self.scalar(top[key][1])
        if isinstance(value, bool):
            return value
        self.err(top[key][1], f"{key} must be true or false, not {value!r}; write true or false")
        return default

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
                value = self.integer(vnode, f"init {k.name}", int(k.minimum or 0))
                if value is not None and k.maximum is not None and value > k.maximum:
                    self.err(vnode, f"init {k.name} must be at most {k.maximum:g}, not {value}")
                    value = None
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

    def layers(self, node: yaml.Node, inputs: list[str], has_init: bool = False) -> list | None:
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
            where = f"layer {index + 1}"
            m = self.mapping(lnode, where, LAYER_KEYS)
            if m is None:
                return None
            for k in FORMAT["layer"]:
                if k.required and k.name not in m and not (k.unless == "init" and has_init):
                    self.err(lnode, f"{where} is missing '{k.name}'; {_HELP[k.name]}")
            if "neurons" not in m:
                return None
            is_output = index == n_layers - 1
            prefix = "o" if is_output else ("h" if n_layers == 2 else f"h{index + 1}_")
            neurons = self.names(m["neurons"][1], f"{where} neurons", prefix)
            if neurons is None:
                return None
            self.declare(neurons, f"a neuron of {where}", m["neurons"][1])
            n = len(neurons)

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
            slope = DEFAULT_LEAKY_SLOPE
            if "slope" in m:
                s = self.number(m["slope"][1], f"{where} slope")
                if s is not None:
                    slope = s
                if activation and activation != "leaky_relu":
                    self.err(m["slope"][0], f"slope applies to leaky_relu only, not {activation}; "
                                            "remove it or change the activation")

            weights = self.matrix(m["weights"][1], f"{where} weights", n, fan_in,
                                  neurons, self._inputs_names(index, inputs, out)) \
                if "weights" in m else (_DRAW if has_init else None)

            if "weight_names" in m:
                weight_names = self.name_matrix(m["weight_names"][1], f"{where} weight_names", n, fan_in)
            else:
                weight_names = [[f"w{w_counter + r * fan_in + c + 1}" for c in range(fan_in)]
                                for r in range(n)]
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
                bias_names = [f"b{b_counter + i + 1}" for i in range(n_bias)]
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
            row = [self.number(c, f"{what} row {r + 1} entry {i + 1}") for i, c in enumerate(rnode.value)]
            if None in row:
                return None
            out.append(row)
        return out

    def name_matrix(self, node: yaml.Node, what: str, rows: int, cols: int) -> list[list[str]] | None:
        if (not isinstance(node, yaml.SequenceNode) or len(node.value) != rows
                or any(not isinstance(r, yaml.SequenceNode) or len(r.value) != cols
                       for r in node.value)):
            self.err(node, f"{what} must have the same shape as weights; write {rows} row"
                           f"{'s' * (rows != 1)} of {cols} name{'s' * (cols != 1)}")
            return None
        out = [[self.name(c, what) for c in r.value] for r in node.value]
        return None if any(None in r for r in out) else out

    def data(self, node: yaml.Node, n_in: int | None, n_out: int | None):
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
            if "inputs" in m:
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
        for neurons, activation, slope, weights, wnames, bkind, bvals, bnames in layers:
            built.append(Layer(
                neurons=tuple(neurons), activation=activation, slope=slope,
                weights=_frozen(weights), weight_names=tuple(tuple(r) for r in wnames),
                bias=bkind, bias_values=_frozen(bvals), bias_names=tuple(bnames),
            ))
            params += [n for row in wnames for n in row] + list(bnames)
        return Scenario(
            name=name, title=title, source=source, description=description, path=self.file,
            inputs=tuple(inputs), layers=tuple(built), loss=loss, learning_rate=lr,
            update_biases=update_biases, x=_frozen(x), targets=_frozen(t), batch=batch,
            reduction=reduction, iterations=iterations, param_names=tuple(params), init=init,
        )


def _frozen(values: Any) -> np.ndarray:
    a = np.array(values, dtype=np.float64)
    a.flags.writeable = False
    return a


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "mapping"
    if isinstance(node, yaml.SequenceNode):
        return "list"
    return "single value"


def _per(what: str) -> str:
    if "targets" in what:
        return "output neuron"
    if "inputs" in what:
        return "input"
    return "neuron"


# "missing key" hints, from the format table (top-level and layer keys share no names)
_HELP = {k.name: k.fix for table in ("scenario", "layer") for k in FORMAT[table] if k.fix}


# ----------------------------------------------------------------------------- answers files


@dataclass(frozen=True)
class Answer:
    """One line of a student's answers file: `key: value`, with where it was written.

    `text` is the number exactly as written (``1.50``, not YAML's 1.5), so the judge knows
    how many decimals the student gave; `value` and `text` are None when left blank.
    """

    key: str
    value: float | None
    text: str | None
    line: int  # 1-based, of the key
    col: int


_BLANK = {"", "~", "null", "Null", "NULL"}


def load_answers(path: str | Path, display_name: str | None = None) -> list[Answer]:
    """Read an answers file (a mapping from step ids to numbers). Raises ScenarioError."""
    shown = display_name or str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ScenarioError([Problem(shown, None, None, "no such file; check the path "
                                     "(an answers file maps step ids to numbers)")]) from None
    except UnicodeDecodeError as e:
        raise ScenarioError([Problem(shown, None, None,
                                     f"is not UTF-8 text (byte {e.start}); save it as UTF-8")]) from None
    except OSError as e:
        raise ScenarioError([Problem(shown, None, None,
                                     f"cannot be read ({e.strerror}); check the path")]) from None
    return loads_answers(text, shown)


def loads_answers(text: str, filename: str = "<answers>") -> list[Answer]:
    """Parse answers text; every problem is reported with its line and column."""
    v = _Validator(filename)
    root = _answers_root(v, text)
    answers: list[Answer] = []
    seen: dict[str, int] = {}
    for knode, vnode in root.value if root is not None else ():
        m = knode.start_mark
        key = knode.value if isinstance(knode, yaml.ScalarNode) else None
        if not key:
            v.err(knode, "each key must be a step id like 'net:h1' or 'grad:w5'")
            continue
        if key in seen:
            v.err(knode, f"'{key}' appears twice (first on line {seen[key]}); keep one")
            continue
        seen[key] = m.line + 1
        written = _answer_text(v, key, vnode)
        if written is not False:
            value = None if written is None else float(written)
            answers.append(Answer(str(key), value, written, m.line + 1, m.column + 1))
    if v.problems:
        raise ScenarioError(v.problems)
    return answers


def _answers_root(v: _Validator, text: str) -> yaml.MappingNode | None:
    try:
        docs = [d for d in yaml.compose_all(text, Loader=_Loader) if d is not None]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = (e.problem or e.context or "invalid YAML").strip()
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        v.problems.append(Problem(v.file, line, col, f"YAML syntax error: {what}; write one "
                                  "'id: number' per line, like 'grad:w5: 0.0822'"))
        raise ScenarioError(v.problems) from None
    except yaml.YAMLError as e:
        raise ScenarioError([Problem(v.file, 1, 1, f"YAML error: {e}; fix the file's syntax")]) from None
    if not docs:
        raise ScenarioError([Problem(v.file, 1, 1, "the answers file is empty; write one "
                                     "'id: number' per line, like 'net:h1: 0.3775'")])
    root = docs[0]
    if len(docs) > 1:
        v.err(docs[1], "the file holds more than one YAML document; keep one set of answers")
    elif not v._safe(root):
        pass
    elif not isinstance(root, yaml.MappingNode):
        v.err(root, f"answers must be a mapping of 'id: number' lines, not a {_kind(root)}; "
                    "write e.g. 'net:h1: 0.3775'")
    if v.problems:
        raise ScenarioError(v.problems)
    return root


def _answer_text(v: _Validator, key: str, node: yaml.Node) -> str | None | bool:
    """The number as written, None for a blank, or False (reported) when it is not a number."""
    if not isinstance(node, yaml.ScalarNode):
        v.err(node, f"the answer for '{key}' must be a number, not a {_kind(node)}; "
                    "write one number after the colon")
        return False
    raw = node.value.strip()
    if not node.style and raw in _BLANK:
        return None  # left blank, as in an answers template
    try:
        number = Decimal(raw.replace("_", ""))
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        v.err(node, f"the answer for '{key}' must be a number, not {raw!r}; write it like 0.5933")
        return False
    if number and not -330 < number.adjusted() < 310:  # beyond float64: no step has that value
        v.err(node, f"the answer for '{key}' is {raw}, beyond what a float64 can hold; "
                    "check the exponent")
        return False
    return raw.replace("_", "")
