"""One self-attention head (kind: attention): its gradients against finite differences and
against the head written in torch ops, the bundled example against an independent
computation, the mistakes `check` names, and the views an attention scenario goes
through."""

from __future__ import annotations

import importlib.util
import random

import pytest
import yaml

from bpwalk.engine import run
from bpwalk.scenario import loads

HAS_TORCH = importlib.util.find_spec("torch") is not None


def random_attention(seed: int) -> dict:
    """A random configuration: tokens 1-4, d_model 1-3, d_k 1-3, scale true, false or a
    number, causal or not, W_O or not, a dense layer after it or not, batch 1-3."""
    g = random.Random(seed)
    tokens, d_model, d_k, batch = (g.randint(1, 4), g.randint(1, 3), g.randint(1, 3),
                                   g.randint(1, 3))

    def m(r: int, c: int) -> list[list[float]]:
        return [[round(g.uniform(-1, 1), 3) for _ in range(c)] for _ in range(r)]

    att = {"kind": "attention", "name": "att1", "W_Q": m(d_model, d_k),
           "W_K": m(d_model, d_k), "W_V": m(d_model, d_k),
           "scale": g.choice([True, False, round(g.uniform(0.2, 1.5), 3)]),
           "causal": g.random() < 0.5}
    width = d_k
    if g.random() < 0.5:
        width = g.randint(1, 3)
        att["W_O"] = m(d_k, width)
    layers: list[dict] = [att]
    n_out = width
    if g.random() < 0.5:
        n_out = g.randint(1, 2)
        layers.append({"neurons": n_out, "activation": g.choice(["linear", "tanh", "sigmoid"]),
                       "weights": m(n_out, width), "bias": m(1, n_out)[0]})
    data = [{"sequence": m(tokens, d_model), "targets": m(tokens, n_out)}
            for _ in range(batch)]
    return {"inputs": d_model, "layers": layers, "data": data,
            "loss": g.choice(["half_squared_error", "squared_error", "mean_squared_error"]),
            "learning_rate": 0.1, "reduction": g.choice(["mean", "sum"])}


def grads(trace) -> dict[str, float]:
    """The batch's gradient of each parameter in the first update."""
    it = trace.iterations[0]
    return {s.id[5:]: s.value for s in it.steps if s.kind == "grad" and "@" not in s.id}


@pytest.mark.parametrize("seed", range(10))
def test_gradients_match_finite_differences(seed):
    from bpwalk.engine.explain import _SweptPath
    from bpwalk.engine.params import Params

    sc = loads(yaml.safe_dump(random_attention(seed)))
    got = grads(run(sc, iterations=1))
    assert set(got) == set(sc.param_names)
    path, e = _SweptPath(sc), 1e-6
    names = [(li, k, n) for li, lay in enumerate(sc.layers)
             for k, n in enumerate(n for row in lay.weight_names for n in row)]
    names += [(li, -1 - k, n) for li, lay in enumerate(sc.layers)
              for k, n in enumerate(lay.bias_names)]
    for li, k, name in names:
        def loss(d: float, li: int = li, k: int = k) -> float:
            p = Params.of(sc)
            target = p.weights[li].reshape(-1) if k >= 0 else p.biases[li]
            target[k if k >= 0 else -1 - k] += d
            return path.dataset_loss(sc, p)

        assert got[name] == pytest.approx((loss(e) - loss(-e)) / (2 * e), rel=1e-5,
                                          abs=1e-7), name


def torch_head(sc, torch):
    """The head and the layer after it written in torch ops, from the scenario's numbers:
    the parameters (as leaf tensors, in the scenario's order of names) and the loss."""
    att = sc.layers[0]
    wq, wk, wv, wo = (None if m is None else torch.tensor(m, requires_grad=True)
                      for m in att.matrices(att.weights))
    params = {"W_Q": wq, "W_K": wk, "W_V": wv, "W_O": wo}
    dense = sc.layers[1] if len(sc.layers) > 1 else None
    if dense is not None:
        params["w"] = torch.tensor(dense.weights, requires_grad=True)
        params["b"] = torch.tensor(dense.bias_values, requires_grad=True)
    x = torch.tensor(sc.x)  # (B, T, d_model)
    t = torch.tensor(sc.targets)
    T = x.shape[1]

    def loss():
        q, k, v = x @ wq, x @ wk, x @ wv
        a = (q @ k.transpose(1, 2)) * att.scale
        if att.causal:
            a = a.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
        y = torch.softmax(a, dim=2) @ v
        if wo is not None:
            y = y @ wo
        if dense is not None:
            act = {"linear": lambda z: z, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[
                dense.activation]
            y = act(y @ params["w"].T + params["b"])
        sq = (t - y) ** 2
        per = {"half_squared_error": sq.sum(dim=(1, 2)) / 2, "squared_error": sq.sum(dim=(1, 2)),
               "mean_squared_error": (sq.mean(dim=2)).sum(dim=1)}[sc.loss]
        return per.mean() if sc.reduction == "mean" else per.sum()

    return params, loss


def _named(sc, params) -> dict[str, object]:
    """Each scenario parameter name -> a function giving (its torch tensor, index)."""
    att = sc.layers[0]
    out = {}
    for what in ("W_Q", "W_K", "W_V", "W_O"):
        if params[what] is None:
            continue
        rows, cols = params[what].shape
        for i in range(rows):
            for j in range(cols):
                out[f"att1.{what}[{i + 1},{j + 1}]"] = (params[what], (i, j))
    if len(sc.layers) > 1:
        dense = sc.layers[1]
        for j, row in enumerate(dense.weight_names):
            for i, n in enumerate(row):
                out[n] = (params["w"], (j, i))
        for j, n in enumerate(dense.bias_names):
            out[n] = (params["b"], (j,))
    assert set(out) == set(sc.param_names) and att.kind == "attention"
    return out


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("seed", range(40))
def test_gradients_and_two_updates_match_torch(seed):
    import torch

    torch.set_default_dtype(torch.float64)
    sc = loads(yaml.safe_dump(random_attention(seed)))
    params, loss = torch_head(sc, torch)
    named = _named(sc, params)
    loss().backward()
    got = grads(run(sc, iterations=1))
    for n, (tensor, at) in named.items():
        assert got[n] == pytest.approx(tensor.grad[at].item(), rel=1e-12, abs=1e-15), n
    leaves = [p for p in params.values() if p is not None]
    opt = torch.optim.SGD(leaves, lr=sc.learning_rate)
    for _ in range(2):
        opt.zero_grad()
        loss().backward()
        opt.step()
    final = run(sc, iterations=2).params_final
    for n, (tensor, at) in named.items():
        assert final[n] == pytest.approx(tensor[at].item(), rel=1e-12, abs=1e-15), n
