"""A PyTorch model as a bpwalk scenario: ``bpwalk.from_torch(model, x, y)``.

The model's modules are read one by one into the scenario format's layers (docs/python.md,
"From PyTorch"), whose layouts are PyTorch's, so each weight is copied as state_dict holds
it. The scenario is written as YAML text (every float as the repr of its float64, which reads
back to the same number) and read back by the scenario reader, so a model and a file are
checked by the same rules and ``.to_yaml()`` is the very text that was read.

torch is optional: this module imports it only inside ``from_torch``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from bpwalk.api import Problem

# torch's activation modules: each folds into the Linear or Conv2d before it (_activation)
ACTIVATION_MODULES = ("Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "SELU", "Softplus",
                      "Softsign", "SiLU", "GELU", "Mish", "Softmax", "Identity")
EXPLAINED = ("Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Dropout", "BatchNorm1d",
             "BatchNorm2d", "LayerNorm", "RNN", "LSTM", "MultiheadAttention",
             *ACTIVATION_MODULES)
RECURRENT = ("RNN", "LSTM", "MultiheadAttention", "attention")  # read x as (samples, steps, in)
WIDTH = 88  # a flow list longer than this is written one item per line


class TorchModelError(ValueError):
    """A model, x, y or option that from_torch cannot write as a scenario; one line (and
    the reader's own lines for a scenario it refuses, whose text is then `.yaml`)."""

    yaml: str | None = None


def from_torch(model: Any, x: Any, y: Any, loss: str = "half_squared_error", lr: float = 0.1,
               optimizer: Any = "sgd", iterations: int = 1,
               batch: int | str = "full", reduction: str = "mean",
               name: str = "from_torch") -> Problem:
    """The walk of `model` (an nn.Sequential, a list of modules, or one module) on inputs `x`
    and targets `y`, as bpwalk.load gives it: a Problem, whose .run() explains it and whose
    .to_yaml() is its scenario file. x with a batch dimension holds several samples.

    loss, lr (learning_rate), optimizer (a name, {"name": "adam", "beta1": ...}, or a
    torch.optim optimizer, whose lr is then the learning_rate), iterations, batch and
    reduction are the scenario's keys. Raises TorchModelError for a
    module or shape it cannot explain, ImportError without torch."""
    try:
        import torch
    except ImportError:
        raise ImportError("bpwalk.from_torch needs PyTorch, which is not installed; "
                          "install it with 'pip install torch'") from None
    modules = list(_flattened(torch, model, "model"))
    if not modules:
        raise TorchModelError("from_torch: the model has no modules; give an nn.Sequential "
                              "of at least one nn.Linear")
    with torch.no_grad():
        writer = _Writer(torch, modules)
        doc = writer.scenario(_array(torch, x, "x"), _array(torch, y, "y"))
    doc = {"name": name, "source": "written by bpwalk.from_torch from a PyTorch model",
           **doc, "loss": loss, "learning_rate": float(lr), **_optimizer(optimizer),
           **({"batch": batch} if batch != "full" else {}),
           **({"reduction": reduction} if reduction != "mean" else {}),
           **({"iterations": iterations} if iterations != 1 else {})}
    text = to_yaml(doc)
    from bpwalk.scenario import ScenarioError, loads

    try:
        scenario = loads(text, "<from_torch>", default_name=name)
    except ScenarioError as e:
        err = TorchModelError(f"from_torch: bpwalk does not take the scenario it wrote: {e}"
                              "\n(its text is this error's .yaml)")
        err.yaml = text
        raise err from None
    return Problem(scenario, text)


def _flattened(torch: Any, model: Any, path: str) -> Any:
    """(where, module) in order, nested nn.Sequentials opened: ("model[1][0]", Linear)."""
    if isinstance(model, (torch.nn.Sequential, torch.nn.ModuleList, list, tuple)):
        for k, m in enumerate(model):
            yield from _flattened(torch, m, f"{path}[{k}]")
    else:
        yield path, model


def _array(torch: Any, value: Any, what: str) -> Any:
    """x or y as a float64 NumPy array (a tensor, an array or nested lists)."""
    import numpy as np

    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().double().numpy()
    try:
        out = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TorchModelError(f"from_torch: {what} is not an array of numbers; give a tensor "
                              "or nested lists") from None
    if not np.isfinite(out).all():
        raise TorchModelError(f"from_torch: {what} holds nan or inf; give finite numbers")
    return out


def _optimizer(optimizer: Any) -> dict[str, Any]:
    """The scenario's optimizer: key (none for plain SGD): from a name, a dict of the
    scenario's optimizer keys, or a torch.optim optimizer (then learning_rate too)."""
    if hasattr(optimizer, "param_groups"):
        return _torch_optimizer(optimizer)
    spec = {"name": optimizer} if isinstance(optimizer, str) else dict(optimizer)
    return {} if spec == {"name": "sgd"} else {"optimizer": spec}


def _torch_optimizer(opt: Any) -> dict[str, Any]:
    """torch.optim's SGD (momentum, nesterov), RMSprop, Adam and AdamW as the scenario's
    optimizer and learning_rate; the settings bpwalk's rules do not have are refused."""
    group, kind = opt.param_groups[0], type(opt).__name__
    unlike = [k for k, plain in (("dampening", 0), ("maximize", False), ("centered", False),
                                 ("amsgrad", False), ("momentum", 0))
              if k in group and group[k] != plain and not (k == "momentum" and kind == "SGD")]
    if kind not in ("SGD", "RMSprop", "Adam", "AdamW") or unlike:
        raise TorchModelError(f"from_torch: torch.optim.{kind}"
                              + (f" with {', '.join(unlike)}" if unlike else "")
                              + " is not an optimizer bpwalk explains; it explains SGD (with "
                                "momentum, nesterov), RMSprop, Adam and AdamW with torch's "
                                "other settings at their defaults")
    spec: dict[str, Any] = {"weight_decay": float(group["weight_decay"])}
    if kind == "SGD":
        name = "nesterov" if group["nesterov"] else "momentum" if group["momentum"] else "sgd"
        if name != "sgd":
            spec["momentum"] = float(group["momentum"])
    elif kind == "RMSprop":
        name = "rmsprop"
        spec.update(alpha=float(group["alpha"]), eps=float(group["eps"]))
    else:  # Adam with decoupled_weight_decay is AdamW (torch 2.6 on)
        name = "adamw" if kind == "AdamW" or group.get("decoupled_weight_decay") else "adam"
        spec.update(beta1=float(group["betas"][0]), beta2=float(group["betas"][1]),
                    eps=float(group["eps"]))
    plain = name == "sgd" and not spec["weight_decay"]
    return {"learning_rate": float(group["lr"]),
            **({} if plain else {"optimizer": {"name": name, **spec}})}


def torch_name(module: Any) -> str:
    """nn.Linear for torch's own modules, the class's name for others."""
    cls = type(module)
    return f"nn.{cls.__name__}" if cls.__module__.startswith("torch.nn") else cls.__name__


def _kind(module: Any) -> str:
    """The module's torch class name when from_torch explains it, "attention" for a plain
    module with W_Q, W_K and W_V, else ""."""
    cls = type(module)
    if cls.__module__.startswith("torch.nn") and cls.__name__ in EXPLAINED:
        return cls.__name__
    if all(hasattr(module, w) for w in ("W_Q", "W_K", "W_V")):
        return "attention"
    return ""


class _Writer:
    """Reads the modules in order, keeping what each hands on: a vector of n features, a
    shaped (C, H, W) grid, or a sequence (one vector per time step or token)."""

    def __init__(self, torch: Any, modules: list[tuple[str, Any]]) -> None:
        self.torch = torch
        self.paths = [p for p, _ in modules]  # where each is in the model: model[2]
        self.modules = [m for _, m in modules]
        self.layers: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self.samples = 0
        self.unbatched = False  # x was one sample without its batch axis (so is y)

    def where(self, i: int) -> str:
        return f"{torch_name(self.modules[i])} at {self.paths[i]}"

    def fail(self, i: int, why: str) -> TorchModelError:
        return TorchModelError(f"from_torch: {self.where(i)} {why}")

    def name(self, prefix: str) -> str:
        """conv1, pool1, ...: numbered by prefix, as the scenario reader names them."""
        self.counts[prefix] = self.counts.get(prefix, 0) + 1
        return f"{prefix}{self.counts[prefix]}"

    # ---- the scenario

    def scenario(self, x: Any, y: Any) -> dict[str, Any]:
        first = _kind(self.modules[0])
        for i, m in enumerate(self.modules):
            if not _kind(m):
                raise self.fail(i, "is not one bpwalk can explain; it explains: "
                                + ", ".join(f"nn.{k}" for k in EXPLAINED)
                                + ", and a module with W_Q, W_K, W_V (one attention head)")
        if first in RECURRENT:
            x = self._batched(x, 2, "x", "(samples, time steps, inputs)")
            self.samples, _, n = x.shape
            feeds: Any = ("sequence", n)
            inputs: Any = n
        elif first in ("Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "BatchNorm2d"):
            x = self._batched(x, 3, "x", "(samples, channels, height, width)")
            self.samples = len(x)
            feeds = ("shaped", tuple(x.shape[1:]))
            inputs = {"shape": list(x.shape[1:])}
        else:
            x = self._batched(x, 1, "x", "(samples, inputs)")
            self.samples, n = x.shape
            feeds = ("vector", n)
            inputs = n
        for i, m in enumerate(self.modules):
            feeds = self.module(i, m, feeds)
        out = feeds[1] if feeds[0] != "shaped" else math.prod(feeds[1])
        data = self._data(x, y, first in RECURRENT, out)
        return {"inputs": inputs, "layers": self.layers, "data": data}

    def _batched(self, a: Any, dims: int, what: str, shape: str) -> Any:
        """`a` with its batch axis: one sample is given without it, as torch allows."""
        if a.ndim == dims:
            a = a[None]
            self.unbatched = True
        if a.ndim != dims + 1 or not a.size:
            raise TorchModelError(f"from_torch: {what} has shape {list(a.shape)}; this model "
                                  f"reads {shape}, or one sample without its first axis")
        return a

    def _data(self, x: Any, y: Any, sequence: bool, n_out: int) -> list[dict[str, Any]]:
        """The samples; a recurrent layer's outputs: every time step when y has one row per
        step (samples, steps, outputs), the last when y has one (samples, outputs)."""
        y = y[None] if self.unbatched else y
        want: tuple[int, ...] = (len(x), n_out)
        if sequence:
            first = self.layers[0]
            if first["kind"] in ("rnn", "lstm") and y.ndim == 2:
                first["outputs"] = "last"
                y = y[:, None]
            want = (len(x), x.shape[1] if first.get("outputs") != "last" else 1, n_out)
        elif y.ndim == 1 and n_out == 1 and len(y) == len(x):  # (samples,): one output
            y = y[:, None]
        if y.shape != want:
            given = want[1:] if self.unbatched else want
            raise TorchModelError(f"from_torch: y has shape {list(y.shape[self.unbatched:])}"
                                  f" but the model makes {list(given)} from x; give one "
                                  "target per output")
        key = "sequence" if sequence else "inputs"
        return [{key: xs.tolist(), "targets": ts.tolist()} for xs, ts in zip(x, y)]

    # ---- the modules

    def module(self, i: int, m: Any, feeds: tuple[str, Any]) -> tuple[str, Any]:
        kind = _kind(m)
        if kind in ACTIVATION_MODULES:
            return self.activation(i, m, kind, feeds)
        if kind in RECURRENT and i != 0:
            raise self.fail(i, "comes after another module; a recurrent layer or attention "
                               "head reads the inputs: put it first")
        reader = getattr(self, "_" + kind.lower())
        return reader(i, m, feeds)

    def _need(self, i: int, feeds: tuple[str, Any], form: str, what: str) -> None:
        if feeds[0] != form and not (form == "vector" and feeds[0] == "sequence"):
            raise self.fail(i, f"gets {_described(feeds)}; it needs {what}")

    def _linear(self, i: int, m: Any, feeds: tuple[str, Any]) -> tuple[str, Any]:
        self._need(i, feeds, "vector", "a vector: put nn.Flatten before it")
        if m.in_features != feeds[1]:
            raise self.fail(i, f"takes {m.in_features} inputs but gets {feeds[1]}")
        self.layers.append({"neurons": m.out_features, "activation": "linear",
                            "weights": _list(m.weight), "bias": _list(m.bias)})
        return (feeds[0], m.out_features)

    def _conv2d(self, i: int, m: Any, feeds: tuple[str, Any]) -> tuple[str, Any]:
        self._need(i, feeds, "shaped", "channels, height and width")
        c, h, w = feeds[1]
        if m.groups != 1 or tuple(m.dilation) != (1, 1) or m.padding_mode != "zeros":
            raise self.fail(i, "has groups, dilation or a padding mode other than torch's "
                               "defaults; bpwalk's conv2d has groups=1, dilation=1 and zeros")
        if m.in_channels != c:
            raise self.fail(i, f"takes {m.in_channels} channels but gets {c}")
        kh, kw = m.kernel_size
        padding = m.padding
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if kh % 2 == 0 or kw % 2 == 0:
                raise self.fail(i, "has padding='same' with an even kernel, which pads one "
                                   "side more; give the padding as numbers")
            padding = (kh // 2, kw // 2)
        stride = tuple(m.stride)
        hh, ww = h + 2 * padding[0] - kh, w + 2 * padding[1] - kw
        if hh < 0 or ww < 0:
            raise self.fail(i, f"has a {kh}x{kw} kernel, larger than its input {h}x{w}")
        layer = {"kind": "conv2d", "name": self.name("conv"), "kernels": _list(m.weight),
                 "bias": _list(m.bias), "stride": _pair(stride), "padding": _pair(padding),
                 "activation": "linear"}
        self.layers.append(layer)
        return ("shaped", (m.out_channels, hh // stride[0] + 1, ww // stride[1] + 1))

    def _pool(self, i: int, m: Any, feeds: tuple[str, Any], kind: str) -> tuple[str, Any]:
        self._need(i, feeds, "shaped", "channels, height and width")
        if _pair(m.padding) != 0 or m.ceil_mode or getattr(m, "dilation", 1) not in (1, (1, 1)) \
                or getattr(m, "return_indices", False) \
                or getattr(m, "divisor_override", None) is not None:
            raise self.fail(i, "has padding, ceil_mode, dilation, return_indices or "
                               "divisor_override; bpwalk's pooling has none of them")
        size = _twice(m.kernel_size)
        stride = _twice(m.stride if m.stride is not None else m.kernel_size)
        c, h, w = feeds[1]
        if size[0] > h or size[1] > w:
            raise self.fail(i, f"has a {size[0]}x{size[1]} window, larger than its input "
                               f"{h}x{w}")
        self.layers.append({"kind": kind, "name": self.name("pool"), "size": _pair(size),
                            "stride": _pair(stride)})
        return ("shaped", (c, (h - size[0]) // stride[0] + 1, (w - size[1]) // stride[1] + 1))

    def _maxpool2d(self, i: int, m: Any, feeds: tuple[str, Any]) -> tuple[str, Any]:
        return self._pool(i, m, feeds, "maxpool")

    def _avgpool2d(self, i: int, m: Any, feeds: tuple[str, Any]) -> tuple[str, Any]:
        return self._pool(i, m, feeds, "avgpool")

    def _flatten(self, i: int, m: Any, feeds: tuple[str, Any]) -> tuple[str, Any]:
        self._need(i, feeds, "shaped", "channels, height and width")
        if m.start_dim != 1 or m.end_dim != -1:
            raise self.fail(i, "flattens other axes than a sample's; bpwalk's flatten is "
                               "nn.Flatten() (start_dim=1, end_dim=-1)")
        self.layers.append({"kind": "flatten", "name": self.name("flatten")})
        return ("vector", math.prod(feeds[1]))

    def _dropout(self, i: int, m: Any, feeds: tuple[str, Any]) -> tuple[str, Any]:
        # the mask is drawn once, here, from torch's random numbers (torch.manual_seed
        # repeats it): one row per sample over its values, channel-major as flatten
        if feeds[0] == "sequence":
            raise self.fail(i, "comes after a recurrent layer; bpwalk's dropout takes "
                               "samples, not time steps")
        if m.p >= 1:
            raise self.fail(i, "has p=1, which drops every value (and divides by 1 - p = 0); "
                               "use a p below 1")
        n = feeds[1] if feeds[0] == "vector" else math.prod(feeds[1])
        keep = self.torch.full((self.samples, n), 1.0 - m.p, dtype=self.torch.float64)
        mask = self.torch.bernoulli(keep).to(self.torch.int64)
        # (no name: it has no parameters for a name to carry)
        self.layers.append({"kind": "dropout", "p": float(m.p), "mask": mask.tolist()})
        return feeds

    def _norm(self, i: int, m: Any, kind: str, prefix: str, n: int) -> None:
        if m.weight is None or m.bias is None:
            raise self.fail(i, "has no weight or bias (affine=False, elementwise_affine="
                               f"False or bias=False); bpwalk's {kind} learns gamma and beta: "
                               "make it with them")
        if m.weight.numel() != n:
            raise self.fail(i, f"normalises {m.weight.numel()} features but gets {n}")
        self.layers.append({"kind": kind, "name": self.name(prefix),
                            "gamma": _list(m.weight.reshape(-1)),
                            "beta": _list(m.bias.reshape(-1)), "eps": float(m.eps)})

    def _batchnorm1d(self, i: int, m: Any, feeds: tuple[str, Any]) -> tuple[str, Any]:
        self._need(i, feeds, "vector", "a vector of features (BatchNorm2d takes channels)")
        self._norm(i, m, "batchnorm", "bn", feeds[1])
        return feeds

    def _batchnorm2d(self, i: int, m: Any, feeds: tuple[str, Any]) -> tuple[str, Any]:
        self._need(i, feeds, "shaped", "channels, height and width (BatchNorm1d takes "
                                       "features)")
        self._norm(i, m, "batchnorm", "bn", feeds[1][0])
        return feeds

    def _layernorm(self, i: int, m: Any, feeds: tuple[str, Any]) -> tuple[str, Any]:
        self._need(i, feeds, "vector", "a vector of features: put nn.Flatten before it")
        if tuple(m.normalized_shape) != (feeds[1],):
            raise self.fail(i, f"normalises over {list(m.normalized_shape)} but gets "
                               f"{feeds[1]} features; bpwalk normalises a sample's features")
        self._norm(i, m, "layernorm", "ln", feeds[1])
        return feeds

    def _recurrent(self, i: int, m: Any, kind: str) -> dict[str, Any]:
        if m.num_layers != 1 or m.bidirectional or getattr(m, "proj_size", 0):
            raise self.fail(i, "has more than one layer, two directions or a projection; "
                               "bpwalk unrolls one layer forward in time")
        if not m.batch_first:
            raise self.fail(i, "is not batch_first; make it with batch_first=True "
                               "(from_torch reads x as (samples, time steps, inputs))")
        # bpwalk's one bias is torch's bias_ih + bias_hh: the same net, one parameter
        bias = (m.bias_ih_l0 + m.bias_hh_l0) if m.bias else None
        return {"kind": kind, "name": self.name(kind), "hidden": m.hidden_size,
                **({"activation": m.nonlinearity} if kind == "rnn" else {}),
                "W_x": _list(m.weight_ih_l0), "W_h": _list(m.weight_hh_l0),
                "bias": _list(bias), "outputs": "every"}

    def _rnn(self, i: int, m: Any, feeds: tuple[str, Any]) -> tuple[str, Any]:
        self.layers.append(self._recurrent(i, m, "rnn"))
        return ("sequence", m.hidden_size)

    def _lstm(self, i: int, m: Any, feeds: tuple[str, Any]) -> tuple[str, Any]:
        self.layers.append(self._recurrent(i, m, "lstm"))
        return ("sequence", m.hidden_size)

    def _multiheadattention(self, i: int, m: Any, feeds: tuple[str, Any]) -> tuple[str, Any]:
        if m.num_heads != 1:
            raise self.fail(i, f"has {m.num_heads} heads; bpwalk explains one head: make it "
                               "with num_heads=1")
        if m.in_proj_bias is not None or m.out_proj.bias is not None or m.bias_k is not None \
                or m.add_zero_attn or not m._qkv_same_embed_dim:
            raise self.fail(i, "has biases, kdim/vdim or add_zero_attn; bpwalk's head is "
                               "x @ W_Q, x @ W_K, x @ W_V: make it with bias=False")
        if not m.batch_first:
            raise self.fail(i, "is not batch_first; make it with batch_first=True "
                               "(from_torch reads x as (samples, tokens, features))")
        d = m.embed_dim
        w = m.in_proj_weight  # rows: W_q, W_k, W_v, each (d, d) for x @ W.T
        layer = {"kind": "attention", "name": self.name("att"),
                 "W_Q": _list(w[:d].T), "W_K": _list(w[d:2 * d].T),
                 "W_V": _list(w[2 * d:].T), "scale": True,
                 "causal": bool(getattr(m, "causal", False)),
                 "W_O": _list(m.out_proj.weight.T)}
        self.layers.append(layer)
        return ("sequence", d)

    def _attention(self, i: int, m: Any, feeds: tuple[str, Any]) -> tuple[str, Any]:
        w = {k: getattr(m, k) for k in ("W_Q", "W_K", "W_V", "W_O") if hasattr(m, k)}
        d_model, d_k = w["W_Q"].shape
        if w["W_K"].shape != (d_model, d_k) or w["W_V"].shape[0] != d_model:
            raise self.fail(i, "has W_Q, W_K, W_V of different shapes; each is d_model x d_k "
                               "for x @ W")
        if feeds[1] != d_model:
            raise self.fail(i, f"takes {d_model} features per token but x has {feeds[1]}")
        scale = getattr(m, "scale", True)
        layer = {"kind": "attention", "name": self.name("att"),
                 **{k: _list(v) for k, v in w.items() if k != "W_O"},
                 "scale": scale if isinstance(scale, bool) else float(scale),
                 "causal": bool(getattr(m, "causal", False)),
                 **({"W_O": _list(w["W_O"])} if "W_O" in w else {})}
        self.layers.append(layer)
        return ("sequence", (w["W_O"] if "W_O" in w else w["W_V"]).shape[1])

    # ---- activations

    def activation(self, i: int, m: Any, kind: str, feeds: tuple[str, Any]) -> tuple[str, Any]:
        if kind == "Identity":
            return feeds
        last = self.layers[-1] if self.layers else None
        if last is None or last.get("kind", "dense") not in ("dense", "conv2d") \
                or last["activation"] != "linear" or self.folded(i):
            raise self.fail(i, "does not follow an nn.Linear or nn.Conv2d; bpwalk applies "
                               "an activation as part of one: put it right after one")
        name, setting = _activation(self.torch, m, kind, feeds)
        if name is None:
            raise self.fail(i, setting)
        last["activation"] = name
        if isinstance(setting, dict):
            last.update(setting)
        return feeds

    def folded(self, i: int) -> bool:
        """Is the module before model[i] an activation (already folded into its layer)?"""
        return _kind(self.modules[i - 1]) in ACTIVATION_MODULES


def _activation(torch: Any, m: Any, kind: str, feeds: tuple[str, Any]) -> tuple[Any, Any]:
    """(the scenario's activation, its setting {slope: ...} or None); (None, why) when
    the module's settings are not bpwalk's."""
    plain = {"Sigmoid": "sigmoid", "Tanh": "tanh", "ReLU": "relu", "SELU": "selu",
             "Softsign": "softsign", "SiLU": "silu", "Mish": "mish"}
    if kind in plain:
        return plain[kind], None
    if kind == "LeakyReLU":
        return "leaky_relu", {"slope": float(m.negative_slope)}
    if kind == "ELU":
        return "elu", {"alpha": float(m.alpha)}
    if kind == "Softplus":
        if m.beta != 1:  # torch's threshold (net > 20 taken as net) differs by < e^-20
            return None, f"has beta={m.beta}; bpwalk's softplus is ln(1 + e^net), beta=1"
        return "softplus", None
    if kind == "GELU":
        return ("gelu" if m.approximate == "none" else "gelu_tanh"), None
    # Softmax: over a sample's outputs (the last axis)
    last_axis = 2 if feeds[0] == "sequence" else 1
    if m.dim not in (None, -1, last_axis):
        return None, (f"takes the softmax over dim={m.dim}; bpwalk's is over the outputs "
                      "(dim=-1)")
    return "softmax", None


def _described(feeds: tuple[str, Any]) -> str:
    form, size = feeds
    if form == "shaped":
        return "channels, height and width " + "x".join(str(n) for n in size)
    return f"a {form} of {size} values"


def _twice(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _pair(v: Any) -> Any:
    """One number when both sides are the same, else [height, width]."""
    a, b = _twice(v)
    return a if a == b else [a, b]


def _list(t: Any) -> Any:
    """A tensor's values as nested lists of float64 (None for no tensor)."""
    return None if t is None else t.detach().cpu().double().tolist()


# ----------------------------------------------------------------------------- YAML


_PLAIN = re.compile(r"[A-Za-z_][\w.-]*( [\w.-]+)*")
_YAML_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise TorchModelError(f"from_torch: the model holds {v}; bpwalk takes finite "
                                  "numbers")
        text = repr(v)  # the shortest text that reads back as the same float64
        # YAML 1.1 reads 1e-05 as text: a float needs its point (1.0e-05)
        return text.replace("e", ".0e") if "e" in text and "." not in text else text
    text = str(v)
    # kinds, activations, a name of words: plain; anything else (a colon, a quote, a word
    # YAML 1.1 reads as a boolean or null) as a JSON string, which YAML reads as written
    if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text)


def _flow(v: Any) -> str:
    if isinstance(v, Sequence) and not isinstance(v, str):
        return "[" + ", ".join(_flow(i) for i in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_flow(i)}" for k, i in v.items()) + "}"
    return _scalar(v)


def _entry(key: str, v: Any, pad: str) -> list[str]:
    """`key: value`, a long list of lists one item per line below it."""
    text = _flow(v)
    if len(pad) + len(key) + 2 + len(text) <= WIDTH or not isinstance(v, list) \
            or not all(isinstance(i, list) for i in v):
        return [f"{pad}{key}: {text}"]
    return [f"{pad}{key}:", *(f"{pad}  - {_flow(i)}" for i in v)]


def to_yaml(doc: dict[str, Any]) -> str:
    """A scenario as YAML text: top-level keys in block style, each layer and sample a block
    mapping, every value in flow style."""
    lines: list[str] = []
    for key, v in doc.items():
        if key in ("layers", "data"):
            lines.append(f"{key}:")
            for item in v:
                block = [line for name, value in item.items() if value is not None
                         for line in _entry(name, value, "    ")]
                lines += ["  - " + block[0][4:], *block[1:]]
        else:
            lines += _entry(key, v, "")
    return "\n".join(lines) + "\n"
