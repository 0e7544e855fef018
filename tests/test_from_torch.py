"""bpwalk.from_torch: a PyTorch model as a scenario, checked against torch itself.

Random small models (torch.float64) of each kind from_torch writes: the walk's gradient of
every parameter in the first update and every parameter after two updates equal torch's
(loss.backward and a plain SGD step) to 1e-12 relative; the YAML it writes reads back to the
same walk. The kinds whose scenario reader is being built elsewhere (dropout, batchnorm,
layernorm, lstm, attention) skip, with the reader's refusal as the reason, until a tiny
scenario of the contract's format reads. Without torch only the light tests run.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import subprocess
import sys

import numpy as np
import pytest
import yaml

import bpwalk
from bpwalk.fromtorch import TorchModelError, to_yaml
from bpwalk.scenario import ScenarioError, loads
from tests.conftest import ROOT

# ----------------------------------------------------------------------------- without torch


def test_import_bpwalk_does_not_import_torch():
    code = "import sys, bpwalk; bpwalk.from_torch; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out.split() == ["False"]


def test_without_torch_one_clear_error():
    code = ("import sys; sys.modules['torch'] = None\nimport bpwalk\n"
            "try:\n    bpwalk.from_torch([], [1.0], [1.0])\n"
            "except ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out == ("bpwalk.from_torch needs PyTorch, which is not installed; install it "
                   "with 'pip install torch'\n")


def test_floats_are_written_to_read_back_exactly():
    """repr of each float64, with a point before an exponent (YAML 1.1 reads 1e-05 as
    text): the scenario reader gets the very numbers back."""
    values = [0.1, 1 / 3, -2 / 7, 1e-05, 2.5e-300, 5e-324, 1e300, -0.0, 123456789.125, 1e22]
    doc = {"inputs": len(values),
           "layers": [{"neurons": 1, "activation": "linear", "weights": [values]}],
           "data": [{"inputs": values, "targets": [0.5]}], "loss": "half_squared_error",
           "learning_rate": 0.1}
    sc = loads(to_yaml(doc))
    assert sc.layers[0].weights[0].tolist() == values
    assert [math.copysign(1, v) for v in sc.x[0]] == [math.copysign(1, v) for v in values]


def test_text_is_written_to_read_back_as_written():
    doc = {"name": "a: b # c", "title": "yes", "inputs": 1,
           "layers": [{"neurons": 1, "activation": "linear", "weights": [[1.0]]}],
           "data": [{"inputs": [1.0], "targets": [1.0]}], "loss": "half_squared_error",
           "learning_rate": 0.1}
    sc = loads(to_yaml(doc))
    assert (sc.name, sc.title) == ("a: b # c", "yes")


def test_loaded_problem_gives_its_file(mazur_path):
    assert bpwalk.load(mazur_path).to_yaml() == mazur_path.read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- torch's side


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(old)


def loss_of(torch, out, t, loss: str, reduction: str):
    """bpwalk's losses, per sample summed over its outputs (and time steps), then reduced."""
    dims = tuple(range(1, out.dim()))
    if loss == "half_squared_error":
        per = (0.5 * (t - out) ** 2).sum(dims)
    elif loss == "mean_squared_error":
        per = ((t - out) ** 2).mean(dims)
    else:
        assert loss == "cross_entropy", loss
        per = -(t * torch.log(out)).sum(dims)
    return per.mean() if reduction == "mean" else per.sum()


ACTIVATIONS = ("Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "SELU", "Softplus", "Softsign",
               "SiLU", "GELU", "Mish", "Softmax", "Identity")


def forward(torch, modules, doc: dict, x):
    """The model as torch runs it; dropout with the mask the scenario holds, a recurrent
    layer's outputs as the scenario takes them (every step, or the last)."""
    layers = iter(lay for lay in doc["layers"])
    a = x
    for m in modules:
        name = type(m).__name__
        if name in ACTIVATIONS:
            a = m(a)
            continue
        lay = next(layers)
        if name == "Dropout":
            mask = torch.tensor(lay["mask"], dtype=torch.float64).reshape(a.shape)
            a = a * mask / (1 - lay["p"])
        elif name in ("RNN", "LSTM"):
            a = m(a)[0]
            if lay.get("outputs") == "last":
                a = a[:, -1:]
        elif name == "MultiheadAttention":
            n = a.shape[1]
            causal = torch.triu(torch.ones(n, n, dtype=torch.bool), 1) if lay["causal"] \
                else None
            a = m(a, a, a, need_weights=False, attn_mask=causal)[0]
        else:
            a = m(a)
    return a


def in_bpwalk_layout(m, param: str, grad: bool):
    """A parameter of module m (or its gradient) as the scenario lays it out: conv1.K,
    rnn1.W_x, bn1.gamma, att1.W_Q (x @ W: the transpose of torch's in_proj rows) ..."""
    def leaf(t):
        return (t.grad if grad else t).detach()

    if hasattr(m, "W_Q"):
        return leaf(getattr(m, param))
    if type(m).__name__ == "MultiheadAttention":
        d, w = m.embed_dim, leaf(m.in_proj_weight)
        return {"W_Q": w[:d].T, "W_K": w[d:2 * d].T, "W_V": w[2 * d:].T,
                "W_O": leaf(m.out_proj.weight).T}[param]
    if type(m).__name__ in ("RNN", "LSTM"):  # bias_hh stays zero: the one bias is bias_ih
        return leaf(getattr(m, {"W_x": "weight_ih_l0", "W_h": "weight_hh_l0",
                                "b": "bias_ih_l0"}[param]))
    return leaf(getattr(m, {"K": "weight", "gamma": "weight", "b": "bias", "beta": "bias"}[param]))


def by_name(modules, problem, doc: dict, grad: bool) -> dict[str, float]:
    """Every parameter of the scenario, named as bpwalk names it, from torch's tensors (or
    their gradients)."""
    layered = [m for m in modules if type(m).__name__ not in ACTIVATIONS]
    named = {lay["name"]: m for lay, m in zip(doc["layers"], layered) if "name" in lay}
    dense = [m for lay, m in zip(doc["layers"], layered) if "kind" not in lay]
    out: dict[str, float] = {}
    for lay, m in zip([lay for lay in problem.scenario.layers if lay.kind == "dense"], dense):
        for names, row in zip(lay.weight_names, in_bpwalk_layout(m, "K", grad)):
            out.update(zip(names, row.tolist()))
        if lay.bias_names:
            out.update(zip(lay.bias_names, in_bpwalk_layout(m, "b", grad).tolist()))
    for name in problem.scenario.param_names:
        if "." in name:  # LAYER.PARAM[i,j], 1-based
            layer, rest = name.split(".", 1)
            param, index = rest[:-1].split("[")
            t = in_bpwalk_layout(named[layer], param, grad)
            out[name] = float(t[tuple(int(i) - 1 for i in index.split(","))])
    return out


def first_gradients(trace) -> dict[str, float]:
    """The update's gradient of each parameter (the batch's: ids without a sample or time)."""
    return {s.id[5:]: s.value for s in trace.iterations[0].steps
            if s.kind == "grad" and "@" not in s.id}


def close(got: dict[str, float], want: dict[str, float]) -> None:
    assert set(got) == set(want)
    scale = max(1.0, *(abs(v) for v in want.values()))
    for name, value in want.items():
        assert got[name] == pytest.approx(value, rel=1e-12, abs=1e-12 * scale), name


def against_torch(torch, modules, x, y, loss: str = "half_squared_error",
                  reduction: str = "mean", lr: float = 0.1, given=None):
    """from_torch's walk against torch: the first update's gradients and the parameters
    after two plain SGD updates; returns the problem. `given`: x and y as from_torch gets
    them, when not as torch does (one sample without its batch axis)."""
    problem = bpwalk.from_torch(modules, *(given or (x, y)), loss=loss, lr=lr, reduction=reduction,
                                iterations=2)
    doc = yaml.safe_load(problem.to_yaml())
    trace = problem.run(show="first").trace
    params = [p for m in modules for p in m.parameters() if p.requires_grad] + [
        t for m in modules if hasattr(m, "W_Q")
        for t in (getattr(m, k) for k in ("W_Q", "W_K", "W_V", "W_O") if hasattr(m, k))
        if not isinstance(t, torch.nn.Parameter)]
    t = torch.tensor(np.array(y, dtype=float))
    xs = torch.tensor(np.array(x, dtype=float))
    for update in range(2):
        for p in params:
            p.grad = None
        out = forward(torch, modules, doc, xs)
        loss_of(torch, out, t.reshape(out.shape), loss, reduction).backward()
        if update == 0:
            close(first_gradients(trace), by_name(modules, problem, doc, grad=True))
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
    close(trace.params_final, by_name(modules, problem, doc, grad=False))
    return problem


# ----------------------------------------------------------------------------- what bpwalk reads


ACTS = ("Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "SiLU", "GELU", "Softplus",
        "Softsign", "Mish", None)


def activation(torch, g: random.Random):
    name = g.choice(ACTS)
    if name is None:
        return []
    if name == "LeakyReLU":
        return [torch.nn.LeakyReLU(g.choice([0.01, 0.2]))]
    if name == "GELU":
        return [torch.nn.GELU(approximate=g.choice(["none", "tanh"]))]
    return [getattr(torch.nn, name)()]


@pytest.mark.parametrize("seed", range(6))
def test_linear_stacks_match_torch(torch, seed):
    g = random.Random(seed)
    torch.manual_seed(seed)
    sizes = [g.randint(1, 4) for _ in range(g.randint(2, 4))]
    modules: list = []
    for a, b in itertools.pairwise(sizes):
        modules += [torch.nn.Linear(a, b, bias=g.random() < 0.8), *activation(torch, g)]
    batch = g.randint(1, 4)
    loss = g.choice(["half_squared_error", "mean_squared_error"])
    if seed % 3 == 0:  # a softmax output with cross-entropy
        modules = [*(m for m in modules if type(m).__name__ != "Softmax"),
                   torch.nn.Linear(sizes[-1], 3), torch.nn.Softmax(dim=-1)]
        loss = "cross_entropy"
        y = np.eye(3)[[g.randrange(3) for _ in range(batch)]]
    else:
        y = np.random.default_rng(seed).uniform(-1, 1, (batch, sizes[-1]))
    x = np.random.default_rng(seed + 100).uniform(-2, 2, (batch, sizes[0]))
    against_torch(torch, modules, x, y, loss, g.choice(["mean", "sum"]))


@pytest.mark.parametrize("seed", range(6))
def test_convolutions_match_torch(torch, seed):
    g = random.Random(seed)
    torch.manual_seed(seed)
    c, h, w = g.randint(1, 2), g.randint(4, 6), g.randint(4, 6)
    k, co, stride, pad = g.randint(1, 3), g.randint(1, 3), g.randint(1, 2), g.randint(0, 1)
    modules = [torch.nn.Conv2d(c, co, k, stride=stride, padding=pad, bias=g.random() < 0.7),
               *activation(torch, g)]
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    size = g.randint(1, min(2, oh, ow))
    pool = g.choice([torch.nn.MaxPool2d, torch.nn.AvgPool2d])
    modules += [pool(size), torch.nn.Flatten()]
    n = co * (oh // size) * (ow // size)
    modules += [torch.nn.Linear(n, 2), torch.nn.Sigmoid()]
    batch = g.randint(1, 3)
    x = np.random.default_rng(seed).uniform(-2, 2, (batch, c, h, w))
    y = np.random.default_rng(seed + 1).uniform(0, 1, (batch, 2))
    given = (x[0], y[0]) if batch == 1 else None  # one sample, without its batch axis
    against_torch(torch, modules, x, y, reduction=g.choice(["mean", "sum"]), given=given)


def rnn(torch, g: random.Random, n_in: int, hidden: int, cls=None):
    """An nn.RNN (or LSTM) with bpwalk's one bias: bias_hh stays zero, untrained (torch
    trains two biases whose sum is bpwalk's one; from_torch writes the sum)."""
    if cls is None:
        m = torch.nn.RNN(n_in, hidden, nonlinearity=g.choice(["tanh", "relu"]),
                         batch_first=True, bias=g.random() < 0.7)
    else:
        m = cls(n_in, hidden, batch_first=True, bias=g.random() < 0.7)
    if m.bias:
        with torch.no_grad():
            m.bias_hh_l0.zero_()
        m.bias_hh_l0.requires_grad_(False)
    return m


@pytest.mark.parametrize("seed", range(6))
def test_rnn_then_linear_matches_torch(torch, seed):
    g = random.Random(seed)
    torch.manual_seed(seed)
    n_in, hidden, steps, batch, n_out = (g.randint(1, 3), g.randint(1, 3), g.randint(1, 4),
                                         g.randint(1, 3), g.randint(1, 2))
    modules = [rnn(torch, g, n_in, hidden), torch.nn.Linear(hidden, n_out),
               *activation(torch, g)[:1]]
    every = g.random() < 0.5
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (batch, steps, n_in))
    y = rng.uniform(-1, 1, (batch, steps, n_out) if every else (batch, n_out))
    problem = against_torch(torch, modules, x, y, reduction=g.choice(["mean", "sum"]))
    assert problem.scenario.layers[0].every == every


def test_the_yaml_reads_back_to_the_same_walk(torch, tmp_path):
    torch.manual_seed(1)
    g = random.Random(1)
    models = [
        ([torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)],
         np.array([[0.5, -1.0], [1.5, 2.0]]), np.array([[1.0], [0.0]])),
        ([torch.nn.Conv2d(1, 2, 2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
          torch.nn.Flatten(), torch.nn.Linear(2, 1)],
         np.arange(9.0).reshape(1, 1, 3, 3) / 9, np.array([[0.5]])),
        ([rnn(torch, g, 2, 2), torch.nn.Linear(2, 1)],
         np.array([[[1.0, 0.0], [2.0, 1.0]]]), np.array([[[1.0], [2.0]]])),
    ]
    for i, (modules, x, y) in enumerate(models):
        problem = bpwalk.from_torch(modules, x, y, lr=0.5, iterations=3)
        path = tmp_path / f"model{i}.yaml"
        path.write_text(problem.to_yaml(), encoding="utf-8")
        again = bpwalk.load(path)
        assert again.to_yaml() == problem.to_yaml()
        a, b = problem.run(show="all"), again.run(show="all")
        assert a.to_json() == b.to_json()
        assert json.loads(a.to_json())["scenario"]["name"] == "from_torch"


def test_options_as_the_scenario_has_them(torch):
    model = torch.nn.Sequential(torch.nn.Linear(2, 1))
    problem = bpwalk.from_torch(model, [[1.0, 2.0], [0.0, 1.0]], [[1.0], [0.0]],
                                loss="squared_error", lr=0.25, optimizer={"name": "adam",
                                                                         "beta1": 0.8},
                                iterations=5, batch=1, reduction="sum", name="tiny")
    sc = problem.scenario
    assert (sc.name, sc.loss, sc.learning_rate, sc.iterations, sc.batch, sc.reduction) == (
        "tiny", "squared_error", 0.25, 5, 1, "sum")
    assert (sc.optimizer.name, sc.optimizer.beta1) == ("adam", 0.8)
    assert problem.run().trace.total_iterations == 5


@pytest.mark.parametrize("make", [
    lambda o, p: o.SGD(p, lr=0.2, momentum=0.9, nesterov=True),
    lambda o, p: o.SGD(p, lr=0.2, momentum=0.5, weight_decay=0.1),
    lambda o, p: o.RMSprop(p, lr=0.01, alpha=0.9),
    lambda o, p: o.Adam(p, lr=0.05, betas=(0.8, 0.99)),
    lambda o, p: o.AdamW(p, lr=0.05),
    lambda o, p: o.Adam(p, lr=0.05, weight_decay=0.1, decoupled_weight_decay=True),
], ids=["nesterov", "momentum", "rmsprop", "adam", "adamw", "adam-decoupled"])
def test_a_torch_optimizer_trains_as_torch_does(torch, make):
    torch.manual_seed(0)
    modules = [torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)]
    opt = make(torch.optim, [p for m in modules for p in m.parameters()])
    x, y = np.array([[0.5, -1.0], [1.0, 2.0]]), np.array([[1.0], [0.0]])
    problem = bpwalk.from_torch(modules, x, y, optimizer=opt, iterations=3)
    doc = yaml.safe_load(problem.to_yaml())
    for _ in range(3):
        opt.zero_grad()
        out = forward(torch, modules, doc, torch.tensor(x))
        loss_of(torch, out, torch.tensor(y), "half_squared_error", "mean").backward()
        opt.step()
    close(problem.run(show="none").trace.params_final,
          by_name(modules, problem, doc, grad=False))


def test_a_torch_optimizer_bpwalk_does_not_have_is_refused(torch):
    p = list(torch.nn.Linear(1, 1).parameters())
    for opt, words in ((torch.optim.Adagrad(p), "torch.optim.Adagrad is not"),
                       (torch.optim.Adam(p, amsgrad=True), "torch.optim.Adam with amsgrad is")):
        with pytest.raises(TorchModelError, match=words):
            bpwalk.from_torch([torch.nn.Linear(1, 1)], [[1.0]], [[1.0]], optimizer=opt)


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("make, x, y, words", [
    (lambda nn: [nn.Linear(2, 2), nn.GRU(2, 2), nn.Linear(2, 1)], [[1.0, 2.0]], [[1.0]],
     ("from_torch: nn.GRU at model[1] is not one bpwalk can explain; it explains: nn.Linear, "
     "nn.Conv2d")),
    (lambda nn: [nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Tanh())], [[1.0, 2.0]],
     [[1.0, 0.0]], "nn.Tanh at model[1][1] does not follow an nn.Linear or nn.Conv2d"),
    (lambda nn: [nn.Linear(2, 2), nn.Dropout(1.0)], [[1.0, 2.0]], [[1.0, 0.0]],
     "nn.Dropout at model[1] has p=1, which drops every value"),
    (lambda nn: [nn.Linear(3, 1)], [[1.0, 2.0]], [[1.0]],
     "nn.Linear at model[0] takes 3 inputs but gets 2"),
    (lambda nn: [nn.Linear(2, 1)], [[1.0, 2.0]], [[1.0, 2.0]],
     "y has shape [1, 2] but the model makes [1, 1] from x"),
    (lambda nn: [nn.Conv2d(1, 1, 2), nn.Linear(4, 1)], [[[[1.0] * 3] * 3]], [[1.0]],
     ("nn.Linear at model[1] gets channels, height and width 1x2x2; it needs a vector: put "
     "nn.Flatten before it")),
    (lambda nn: [nn.RNN(1, 1), nn.Linear(1, 1)], [[[1.0]]], [[1.0]],
     "nn.RNN at model[0] is not batch_first; make it with batch_first=True"),
    (lambda nn: [nn.MultiheadAttention(2, 2, bias=False, batch_first=True)],
     [[[1.0, 2.0]]], [[[1.0, 2.0]]], "has 2 heads; bpwalk explains one head"),
    (lambda nn: [nn.Linear(2, 2), nn.Softplus(beta=2)], [[1.0, 2.0]], [[1.0, 2.0]],
     "has beta=2; bpwalk's softplus is ln(1 + e^net), beta=1"),
])
def test_what_it_cannot_explain_is_named_in_one_line(torch, make, x, y, words):
    with pytest.raises(TorchModelError) as e:
        bpwalk.from_torch(make(torch.nn), x, y)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_what_the_reader_refuses_comes_with_the_text(torch):
    with pytest.raises(TorchModelError, match="bpwalk does not take the scenario it wrote: "
                                              "<from_torch>:"):
        bpwalk.from_torch([torch.nn.Linear(1, 1)], [[1.0]], [[1.0]], loss="no_such_loss")


# ----------------------------------------------------------------------------- kinds being built

TINY = {  # one tiny scenario of each kind in the format issues 23 and 24 fix (a contract)
    "dropout": {"inputs": 2, "layers": [
        {"neurons": 2, "activation": "linear", "weights": [[1, 0], [0, 1]]},
        {"kind": "dropout", "p": 0.5, "mask": [[1, 0]]},
        {"neurons": 1, "activation": "linear", "weights": [[1, 1]]}],
        "data": [{"inputs": [1, 2], "targets": [1]}]},
    "batchnorm": {"inputs": 2, "layers": [
        {"neurons": 2, "activation": "linear", "weights": [[1, 0], [0, 1]]},
        {"kind": "batchnorm", "gamma": [1, 1], "beta": [0, 0], "eps": 1e-5},
        {"neurons": 1, "activation": "linear", "weights": [[1, 1]]}],
        "data": [{"inputs": [1, 2], "targets": [1]}, {"inputs": [0, 1], "targets": [0]}]},
    "layernorm": {"inputs": 2, "layers": [
        {"neurons": 2, "activation": "linear", "weights": [[1, 0], [0, 1]]},
        {"kind": "layernorm", "gamma": [1, 1], "beta": [0, 0], "eps": 1e-5},
        {"neurons": 1, "activation": "linear", "weights": [[1, 1]]}],
        "data": [{"inputs": [1, 2], "targets": [1]}]},
    "lstm": {"inputs": 1, "layers": [
        {"kind": "lstm", "hidden": 1, "W_x": [[0.1], [0.2], [0.3], [0.4]],
         "W_h": [[0.1], [0.2], [0.3], [0.4]]},
        {"neurons": 1, "activation": "linear", "weights": [[1]]}],
        "data": [{"sequence": [[1], [2]], "targets": [[1], [2]]}]},
    "attention": {"inputs": 2, "layers": [
        {"kind": "attention", "W_Q": [[1, 0], [0, 1]], "W_K": [[1, 0], [0, 1]],
         "W_V": [[1, 0], [0, 1]]}],
        "data": [{"sequence": [[1, 0], [0, 1]], "targets": [[1, 0], [0, 1]]}]},
}


def reader_takes(kind: str) -> None:
    """Skip, with the reader's refusal as the reason, while the scenario reader does not
    read a tiny scenario of `kind` (so the test runs once that reader lands)."""
    doc = {**TINY[kind], "loss": "half_squared_error", "learning_rate": 0.1}
    try:
        loads(yaml.safe_dump(doc, sort_keys=False))
    except ScenarioError as e:
        pytest.skip(f"the scenario reader does not take kind: {kind} yet ({e})")


@pytest.mark.parametrize("seed", range(3))
def test_dropout_matches_torch_with_its_mask(torch, seed):
    reader_takes("dropout")
    g = random.Random(seed)
    torch.manual_seed(seed)
    batch = g.randint(1, 4)
    modules = [torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Dropout(g.choice([0.25, 0.5])),
               torch.nn.Linear(4, 2)]
    rng = np.random.default_rng(seed)
    against_torch(torch, modules, rng.uniform(-1, 1, (batch, 3)),
                  rng.uniform(-1, 1, (batch, 2)))


def written(modules, x, y) -> dict:
    """The scenario from_torch writes, read by the reader or not (the kinds being built)."""
    try:
        return yaml.safe_load(bpwalk.from_torch(modules, x, y).to_yaml())
    except TorchModelError as e:
        assert e.yaml, e
        return yaml.safe_load(e.yaml)


def test_dropout_mask_is_drawn_once_from_torchs_random_numbers(torch):
    model = [torch.nn.Linear(2, 4), torch.nn.Dropout(0.5), torch.nn.Linear(4, 1)]
    torch.manual_seed(3)
    first = written(model, [[1.0, 2.0]] * 3, [[1.0]] * 3)
    torch.manual_seed(3)
    assert written(model, [[1.0, 2.0]] * 3, [[1.0]] * 3) == first
    drop = first["layers"][1]
    assert (drop["kind"], drop["p"]) == ("dropout", 0.5)
    assert len(drop["mask"]) == 3 and all(len(row) == 4 and set(row) <= {0, 1}
                                          for row in drop["mask"])
    assert len({tuple(r) for r in drop["mask"]}) > 1  # a row per sample, each its own draw
    after_conv = written([torch.nn.Conv2d(1, 2, 2), torch.nn.Dropout(0.25)],
                         np.zeros((2, 1, 3, 3)), np.zeros((2, 8)))["layers"][1]
    assert np.array(after_conv["mask"]).shape == (2, 8)  # channel-major, as flatten


def test_the_kinds_being_built_are_written_in_the_contracts_format(torch):
    """What issues 23 and 24 fix for batchnorm, layernorm, lstm and attention, from the
    module's own tensors (whether or not the reader takes them yet)."""
    nn = torch.nn
    torch.manual_seed(0)
    bn, ln = nn.BatchNorm1d(2, eps=1e-3), nn.LayerNorm(2)
    doc = written([nn.Linear(2, 2), bn, nn.Linear(2, 2), ln, nn.Linear(2, 1)],
                  np.ones((2, 2)), np.ones((2, 1)))
    assert doc["layers"][1] == {"kind": "batchnorm", "name": "bn1", "gamma": [1.0, 1.0],
                                "beta": [0.0, 0.0], "eps": 0.001}
    assert doc["layers"][3] == {"kind": "layernorm", "name": "ln1", "gamma": [1.0, 1.0],
                                "beta": [0.0, 0.0], "eps": 1e-05}
    assert written([nn.Conv2d(1, 3, 2), nn.BatchNorm2d(3)], np.ones((2, 1, 3, 3)),
                   np.ones((2, 12)))["layers"][1]["gamma"] == [1.0, 1.0, 1.0]  # per channel

    lstm = nn.LSTM(2, 3, batch_first=True)
    lay = written([lstm, nn.Linear(3, 1)], np.ones((1, 2, 2)), np.ones((1, 1)))["layers"][0]
    assert (lay["kind"], lay["name"], lay["hidden"], lay["outputs"]) == ("lstm", "lstm1", 3,
                                                                          "last")
    assert lay["W_x"] == lstm.weight_ih_l0.tolist()  # 4·hidden x inputs, rows i, f, g, o
    assert lay["W_h"] == lstm.weight_hh_l0.tolist()
    assert lay["bias"] == (lstm.bias_ih_l0 + lstm.bias_hh_l0).tolist()

    mha = nn.MultiheadAttention(2, 1, bias=False, batch_first=True)
    lay = written([mha], np.ones((1, 3, 2)), np.ones((1, 3, 2)))["layers"][0]
    w = mha.in_proj_weight
    assert lay == {"kind": "attention", "name": "att1", "W_Q": w[:2].T.tolist(),
                   "W_K": w[2:4].T.tolist(), "W_V": w[4:].T.tolist(), "scale": True,
                   "causal": False, "W_O": mha.out_proj.weight.T.tolist()}
    head = Head(torch, 2, 1, causal=True)
    head.scale = 0.5
    lay = written([head], np.ones((1, 3, 2)), np.ones((1, 3, 1)))["layers"][0]
    assert lay == {"kind": "attention", "name": "att1", "W_Q": head.W_Q.tolist(),
                   "W_K": head.W_K.tolist(), "W_V": head.W_V.tolist(), "scale": 0.5,
                   "causal": True}


@pytest.mark.parametrize("seed", range(3))
def test_batchnorm_matches_torch_in_training_mode(torch, seed):
    reader_takes("batchnorm")
    g = random.Random(seed)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    batch = g.randint(2, 4)
    if seed % 2:
        modules = [torch.nn.Conv2d(1, 2, 2), torch.nn.BatchNorm2d(2), torch.nn.Flatten(),
                   torch.nn.Linear(8, 1)]
        x = rng.uniform(-1, 1, (batch, 1, 3, 3))
    else:
        modules = [torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2), torch.nn.Linear(2, 1)]
        x = rng.uniform(-1, 1, (batch, 3))
    with torch.no_grad():  # gamma and beta away from 1 and 0
        modules[1].weight.uniform_(0.5, 1.5)
        modules[1].bias.uniform_(-0.5, 0.5)
    against_torch(torch, modules, x, rng.uniform(-1, 1, (batch, 1)))


@pytest.mark.parametrize("seed", range(2))
def test_layernorm_matches_torch(torch, seed):
    reader_takes("layernorm")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    modules = [torch.nn.Linear(3, 3), torch.nn.LayerNorm(3), torch.nn.ReLU(),
               torch.nn.Linear(3, 2)]
    with torch.no_grad():
        modules[1].weight.uniform_(0.5, 1.5)
        modules[1].bias.uniform_(-0.5, 0.5)
    against_torch(torch, [modules[0], modules[1], modules[3]], rng.uniform(-1, 1, (2, 3)),
                  rng.uniform(-1, 1, (2, 2)))


@pytest.mark.parametrize("seed", range(3))
def test_lstm_then_linear_matches_torch(torch, seed):
    reader_takes("lstm")
    g = random.Random(seed)
    torch.manual_seed(seed)
    n_in, hidden, steps, batch = g.randint(1, 2), g.randint(1, 3), g.randint(1, 3), g.randint(1, 3)
    modules = [rnn(torch, g, n_in, hidden, torch.nn.LSTM), torch.nn.Linear(hidden, 1)]
    rng = np.random.default_rng(seed)
    every = seed != 1
    against_torch(torch, modules, rng.uniform(-1, 1, (batch, steps, n_in)),
                  rng.uniform(-1, 1, (batch, steps, 1) if every else (batch, 1)))


class Head:
    """A plain attention head, as a course writes it: x @ W_Q, x @ W_K, x @ W_V (d_model x
    d_k), scaled by 1/sqrt(d_k), optionally causal; from_torch reads its W_ tensors."""

    def __init__(self, torch, d_model: int, d_k: int, causal: bool) -> None:
        self.torch = torch
        self.W_Q, self.W_K, self.W_V = (torch.randn(d_model, d_k, requires_grad=True)
                                        for _ in range(3))
        self.causal = causal

    def parameters(self):
        return iter(())  # its W_ tensors are trained by against_torch

    def __call__(self, x):
        q, k, v = x @ self.W_Q, x @ self.W_K, x @ self.W_V  # (B, T, d_k)
        scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])  # (B, T, T)
        if self.causal:
            n = x.shape[1]
            scores = scores.masked_fill(
                self.torch.triu(self.torch.ones(n, n, dtype=self.torch.bool), 1), -math.inf)
        return self.torch.softmax(scores, dim=-1) @ v  # (B, T, d_k)


@pytest.mark.parametrize("seed", range(4))
def test_attention_matches_torch(torch, seed):
    reader_takes("attention")
    g = random.Random(seed)
    torch.manual_seed(seed)
    d, tokens, batch = g.randint(2, 3), g.randint(2, 3), g.randint(1, 2)
    causal = seed % 2 == 1
    if seed < 2:
        head = torch.nn.MultiheadAttention(d, 1, bias=False, batch_first=True)
        head.causal = causal
        modules = [head, torch.nn.Linear(d, 1)]
    else:
        modules = [Head(torch, d, 2, causal), torch.nn.Linear(2, 1)]
    rng = np.random.default_rng(seed)
    against_torch(torch, modules, rng.uniform(-1, 1, (batch, tokens, d)),
                  rng.uniform(-1, 1, (batch, tokens, 1)))
