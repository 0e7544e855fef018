"""The layers of a network whose inputs have a shape: `inputs: {shape: [C, H, W]}` and
`layers:` entries with a `kind:` (conv2d, maxpool, avgpool, flatten), read into the model's
Conv2d, Pool and Flatten (bpwalk.scenario.model). Layouts are PyTorch's, so that a user
can copy a model's state_dict: kernels as Conv2d.weight [out][in][kh][kw], cells
channel-major as torch.flatten, parameters named conv1.K[1,1,2,1] and conv1.b[1]
(1-based). The validator (validate.py) calls these for each such entry.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import yaml

from bpwalk.functions import ACTIVATIONS
from bpwalk.scenario.errors import choice_hint
from bpwalk.scenario.format import DEFAULT_LEAKY_SLOPE, DEFAULT_NORM_EPS, MAX_CELLS, SHAPED_KEYS
from bpwalk.scenario.model import (
    Conv2d,
    Dropout,
    Flatten,
    Norm,
    Pool,
    cells,
    frozen,
    no_params,
    size_text,
)

Shape = tuple[int, int, int]
NO_INPUT_GRADIENTS = ("input gradients are worked out through a first layer that is "
                      "conv2d or dense (or dropout); remove input_gradients")
INPUT_GRADIENT_KINDS = ("conv2d", "dense", "dropout")  # (an rnn's are refused on their own)


def input_shape(v: Any, node: yaml.Node) -> Shape | None:
    """`inputs: {shape: [C, H, W]}`: the channels, height and width of each sample."""
    m = v.mapping(node, "inputs", ("shape",))
    if m is None:
        return None
    if "shape" not in m:
        v.err(node, "inputs has no 'shape'; write 'inputs: {shape: [1, 3, 3]}' (channels, "
                    "height, width) or a list of names")
        return None
    return _shape(v, m["shape"][1], "inputs shape")


def _shape(v: Any, node: yaml.Node, what: str) -> Shape | None:
    if not isinstance(node, yaml.SequenceNode) or len(node.value) != 3:
        v.err(node, f"{what} must be three whole numbers, channels, height and width, as "
                    "torch writes a sample's shape; write it like [1, 3, 3]")
        return None
    dims = [v.integer(n, f"{what} entry {i + 1}", 1) for i, n in enumerate(node.value)]
    if None in dims:
        return None
    c, h, w = dims
    if c * h * w > MAX_CELLS:
        v.err(node, f"{what} {c}x{h}x{w} has {c * h * w:,} values, more than bpwalk's limit "
                    f"of {MAX_CELLS:,} for a shaped input (see docs/limits.md); a walkthrough "
                    "is for inputs you can follow")
        return None
    return (c, h, w)


def _pair(v: Any, m: dict, key: str, what: str, minimum: int,
          default: tuple[int, int]) -> tuple[int, int] | None:
    """stride, padding, size: one whole number for both sides, or [height, width]."""
    if key not in m:
        return default
    node = m[key][1]
    if isinstance(node, yaml.SequenceNode):
        if len(node.value) != 2:
            v.err(node, f"{what} {key} must be one number or two, [height, width]; write it "
                        f"like {max(minimum, 1)} or [{max(minimum, 1)}, {max(minimum, 1)}]")
            return None
        a, b = (v.integer(n, f"{what} {key}", minimum) for n in node.value)
        return None if a is None or b is None else (a, b)
    n = v.integer(node, f"{what} {key}", minimum)
    return None if n is None else (n, n)


def _tensor(v: Any, node: yaml.Node, what: str, axes: tuple[str, ...],
            fixed: dict[int, int], fixed_why: str) -> np.ndarray | None:
    """Nested lists of numbers, as deep as `axes` (their names, for messages), every list of
    one depth as long as the others and as `fixed` says where it says."""
    lengths: dict[int, int] = {}

    def read(n: yaml.Node, depth: int, where: str) -> list | None:
        name = axes[depth]
        if not isinstance(n, yaml.SequenceNode):
            v.err(n, f"{what}{where} must be a list (one entry per {name}), not a single "
                     f"value; {what} nests {len(axes)} lists: {', '.join(axes)}")
            return None
        want = fixed.get(depth, lengths.get(depth))
        if want is not None and len(n.value) != want:
            why = f" ({fixed_why})" if depth in fixed else ", as the others have"
            v.err(n, f"{what}{where} has {len(n.value)} {name}{'s' * (len(n.value) != 1)} but "
                     f"needs {want}{why}; give {want} {name}{'s' * (want != 1)}")
            return None
        if not n.value:
            v.err(n, f"{what}{where} is empty; give at least one {name}")
            return None
        lengths[depth] = len(n.value)
        if depth == len(axes) - 1:
            out = [v.number(c, f"{what}{where} entry {k + 1}") for k, c in enumerate(n.value)]
            return None if None in out else out
        out = []
        for k, c in enumerate(n.value):
            inner = read(c, depth + 1, f"{where}[{k + 1}]")
            if inner is None:
                return None
            out.append(inner)
        return out

    values = read(node, 0, "")
    return None if values is None else np.array(values, dtype=np.float64)


def sample_inputs(v: Any, node: yaml.Node, what: str, shape: Shape) -> list[float] | None:
    """A sample's inputs, nested as inputs.shape: [channels][rows][columns]; flattened."""
    x = _tensor(v, node, what, ("channel", "row", "column"), dict(enumerate(shape)),
                f"inputs shape is {size_text(shape)}")
    return None if x is None else x.ravel().tolist()


_PREFIX = {"conv2d": "conv", "maxpool": "pool", "avgpool": "pool", "flatten": "flatten",
           "dropout": "drop", "batchnorm": "bn", "layernorm": "ln"}
# the kinds that take a vector (after a dense layer or flatten) as well as a shaped input
ANY_SHAPE = ("dropout", "batchnorm", "layernorm")


def layer(v: Any, m: dict, lnode: yaml.Node, where: str, kind: str, shape: Shape | None,
          names_in: list[str], made: list) -> Any:
    """One conv2d, maxpool, avgpool or flatten entry of `layers:`, fed cells of `shape`
    (None: a vector) named `names_in`; `made` is the layers read before it."""
    for key, (knode, _) in m.items():
        if key not in SHAPED_KEYS[kind]:
            v.err(knode, f"'{key}' is not a key of a {kind} layer; {kind} takes "
                         f"{', '.join(SHAPED_KEYS[kind])}")
            return None
    if shape is None and kind not in ANY_SHAPE:
        v.err(lnode, f"{where} is {kind} but gets {len(names_in)} values without a shape "
                     "(after a flatten or dense layer, or from inputs given as names); "
                     f"{kind} needs channels, height and width: give 'inputs: {{shape: "
                     "[C, H, W]}' and put it before any flatten or dense layer")
        return None
    prefix = _PREFIX[kind]
    count = 1 + sum(1 for lay in made if _PREFIX.get(getattr(lay, "kind", "dense")) == prefix)
    name = v.name(m["name"][1], f"{where} name") if "name" in m else f"{prefix}{count}"
    if name is None:
        return None
    if kind == "flatten":
        return Flatten(neurons=tuple(names_in), **{**no_params(), "name": name,
                                                   "in_shape": shape})
    what = f"{where} ({name})"
    if kind == "dropout":
        return _dropout(v, m, lnode, what, name, shape, names_in)
    if kind in ("batchnorm", "layernorm"):
        return _norm(v, m, what, name, shape, names_in, kind)
    if kind == "conv2d":
        return _conv(v, m, lnode, what, name, shape)
    size = _pair(v, m, "size", what, 1, (0, 0))
    if size == (0, 0):
        v.err(lnode, f"{what} is missing 'size', the pooling window; write 'size: 2'")
        return None
    stride = _pair(v, m, "stride", what, 1, size) if size else None
    if size is None or stride is None:
        return None
    out = _out_shape(v, m.get("size", (None, lnode))[1], what, shape, size, stride, (0, 0),
                     "window")
    if out is None:
        return None
    return Pool(neurons=cells(name, out), **{**no_params(), "name": name, "in_shape": shape,
                                              "out_shape": out, "size": size,
                                              "stride": stride, "mode": kind[:3]})


def _out_shape(v: Any, node: yaml.Node, what: str, shape: Shape, size: tuple[int, int],
               stride: tuple[int, int], padding: tuple[int, int], thing: str) -> Shape | None:
    c, h, w = shape
    hh, ww = h + 2 * padding[0], w + 2 * padding[1]
    if size[0] > hh or size[1] > ww:
        v.err(node, f"{what}'s {thing} {size_text(size)} is larger than its input {h}x{w}"
                    + (f" padded to {hh}x{ww}" if padding != (0, 0) else "")
                    + f"; use a {thing} of at most {hh}x{ww}")
        return None
    return (c, (hh - size[0]) // stride[0] + 1, (ww - size[1]) // stride[1] + 1)


def _conv(v: Any, m: dict, lnode: yaml.Node, what: str, name: str, shape: Shape) -> Conv2d | None:
    if "kernels" not in m:
        v.err(lnode, f"{what} is missing 'kernels'; write them as torch's Conv2d.weight, "
                     "[out channels][in channels][height][width], like [[[[0, 1], [2, 3]]]]")
        return None
    k = _tensor(v, m["kernels"][1], f"{what} kernels",
                ("out channel", "in channel", "row", "column"), {1: shape[0]},
                f"what feeds it has {shape[0]} channel{'s' * (shape[0] != 1)}")
    stride = _pair(v, m, "stride", what, 1, (1, 1))
    padding = _pair(v, m, "padding", what, 0, (0, 0))
    activation = v.text(m["activation"][1], f"{what} activation") if "activation" in m \
        else "linear"
    if activation is not None and activation not in ACTIVATIONS:
        v.err(m["activation"][1], f"unknown activation '{activation}'"
                                  f"{choice_hint(activation, ACTIVATIONS)}")
        return None
    if activation and ACTIVATIONS[activation].output_only:
        v.err(m["activation"][1], f"{activation} is only for the output layer; use linear, "
                                  f"relu, sigmoid or tanh in {what}")
        return None
    if k is None or stride is None or padding is None or activation is None:
        return None
    act = ACTIVATIONS[activation]
    slope = act.default if act.parameter else DEFAULT_LEAKY_SLOPE
    for key in ("slope", "alpha"):
        if key in m:
            if act.parameter != key:
                v.err(m[key][0], f"{key} does not apply to {activation}; remove it")
                return None
            slope = v.number(m[key][1], f"{what} {key}")
            if slope is None:
                return None
    out = _out_shape(v, m["kernels"][1], what, shape, k.shape[2:], stride, padding, "kernel")
    if out is None:
        return None
    out = (k.shape[0], out[1], out[2])
    if out[0] * out[1] * out[2] > MAX_CELLS:
        v.err(m["kernels"][1], f"{what} makes {size_text(out)} values, more than bpwalk's "
                               f"limit of {MAX_CELLS:,} (see docs/limits.md)")
        return None
    bias, bias_values = "none", []
    if "bias" in m and not (isinstance(m["bias"][1], yaml.ScalarNode)
                            and v.scalar(m["bias"][1]) is None):
        bias_values = v.vector(m["bias"][1], f"{what} bias", k.shape[0])
        if bias_values is None:
            return None
        bias = "per_channel"
    wnames = tuple(tuple(f"{name}.K[{o + 1},{i + 1},{y + 1},{x + 1}]"
                         for i, y, x in np.ndindex(*k.shape[1:])) for o in range(k.shape[0]))
    bnames = tuple(f"{name}.b[{o + 1}]" for o in range(k.shape[0])) if bias != "none" else ()
    return Conv2d(neurons=cells(name, out), activation=activation, slope=slope,
                  weights=frozen(k), weight_names=wnames, bias=bias,
                  bias_values=frozen(bias_values), bias_names=bnames, name=name,
                  in_shape=shape, out_shape=out, stride=stride, padding=padding)


def _cells_of(name: str, shape: Shape | None, names_in: list[str]) -> tuple[str, ...]:
    """The cells of a layer that keeps the shape of what feeds it: drop1[1] .. (a vector),
    bn1[1,2,2] .. (a shaped input)."""
    return cells(name, shape) if shape is not None else cells(name, (len(names_in),))


def _dropout(v: Any, m: dict, lnode: yaml.Node, what: str, name: str, shape: Shape | None,
             names_in: list[str]) -> Dropout | None:
    """p and the mask: one row per sample, one 0 or 1 per value (checked against the
    samples of data once they are read: validate.py, masks)."""
    if "p" not in m:
        v.err(lnode, f"{what} is missing 'p', the probability of dropping a value; write "
                     "'p: 0.5'")
        return None
    p = v.number(m["p"][1], f"{what} p")
    if p is None:
        return None
    if not 0 <= p < 1:
        v.err(m["p"][1], f"{what} p must be at least 0 and below 1, not {p:g}: the kept "
                         "values are scaled by 1/(1 - p); write it like 0.5")
        return None
    n = len(names_in)
    if "mask" not in m:
        v.err(lnode, f"{what} is missing 'mask', which values each sample keeps (1) or drops "
                     f"(0); write one row of {n} per sample, like [{', '.join(['1', '0'] * (n // 2) + ['1'] * (n % 2))}]")
        return None
    node = m["mask"][1]
    rows = node.value if isinstance(node, yaml.SequenceNode) else None
    if not rows or not all(isinstance(r, yaml.SequenceNode) for r in rows):
        v.err(node, f"{what} mask must be a list of rows, one per sample of data, each with "
                    f"{n} zeros and ones; write it like [[{', '.join(['1'] * min(n, 4))}{', ...' * (n > 4)}]]")
        return None
    mask = []
    kind = "channel-major, as flatten orders them" if shape is not None else "one per value"
    for i, r in enumerate(rows):
        row = v.vector(r, f"{what} mask row {i + 1}")
        if row is None:
            return None
        if len(row) != n:
            fed = f" ({size_text(shape)})" if shape is not None else ""
            v.err(r, f"{what} mask row {i + 1} has {len(row)} value{'s' * (len(row) != 1)} "
                     f"but {name} gets {n}{fed}; give {n} zeros and ones ({kind})")
            return None
        bad = next((x for x in row if x not in (0.0, 1.0)), None)
        if bad is not None:
            v.err(r, f"{what} mask row {i + 1} holds {bad:g}; a mask holds only 0 (dropped) "
                     "and 1 (kept): the scaling by 1/(1 - p) is bpwalk's to apply")
            return None
        mask.append(row)
    return Dropout(neurons=_cells_of(name, shape, names_in),
                   **{**no_params(), "name": name, "in_shape": shape, "p": p,
                      "mask": frozen(mask)})


def _norm(v: Any, m: dict, what: str, name: str, shape: Shape | None,
          names_in: list[str], kind: str) -> Norm | None:
    """gamma, beta (one per feature; batchnorm after a convolution: one per channel) and
    eps, with torch's defaults: ones, zeros, 1e-5."""
    per_channel = kind == "batchnorm" and shape is not None
    size = shape[0] if per_channel else len(names_in)
    per = ("channel" if per_channel else "feature")
    fed = (f"{size_text(shape)}: {size} channel{'s' * (size != 1)}" if per_channel
           else f"{size} value{'s' * (size != 1)}")
    values = {}
    for key, default in (("gamma", 1.0), ("beta", 0.0)):
        if key in m:
            got = v.vector(m[key][1], f"{what} {key}")
            if got is None:
                return None
            if len(got) != size:
                v.err(m[key][1], f"{what} {key} has {len(got)} value{'s' * (len(got) != 1)} "
                                 f"but {name} gets {fed}; give one per {per} ({size})")
                return None
            values[key] = got
        else:
            values[key] = [default] * size
    eps = DEFAULT_NORM_EPS
    if "eps" in m:
        eps = v.number(m["eps"][1], f"{what} eps")
        if eps is None:
            return None
        if eps < 0:
            v.err(m["eps"][1], f"{what} eps must be at least 0, not {eps:g}; torch's default "
                               "is 0.00001")
            return None
    gamma = (tuple(f"{name}.gamma[{j + 1}]" for j in range(size)),)
    beta = tuple(f"{name}.beta[{j + 1}]" for j in range(size))
    return Norm(neurons=_cells_of(name, shape, names_in), activation="linear", slope=0.0,
                weights=frozen(values["gamma"]), weight_names=gamma, bias="per_feature",
                bias_values=frozen(values["beta"]), bias_names=beta, name=name,
                in_shape=shape, mode=kind[:-4], eps=eps)
