"""A scenario's network rebuilt in torch (float64), for the optional cross-checks.

torch is the 'bench' extra; the tests that use this module skip when it is absent. Only
what those tests use is mapped: the activations, the loss half_squared_error / mean_squared_
error, and every optimizer with torch.optim's own class.
"""

from __future__ import annotations

import numpy as np
import torch

from bpwalk.scenario import Scenario

F = torch.nn.functional
ACTIVATIONS = {
    "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "linear": lambda x: x,
    "elu": F.elu, "selu": F.selu, "softplus": F.softplus, "softsign": F.softsign,
    "silu": F.silu, "swish": F.silu, "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"), "mish": F.mish,
}


def parameters(sc: Scenario) -> list[torch.Tensor]:
    """Weights and (when updated) biases, layer by layer, as leaf tensors."""
    out = []
    for lay in sc.layers:
        out.append(torch.tensor(np.array(lay.weights), dtype=torch.float64, requires_grad=True))
        out.append(torch.tensor(np.array(lay.bias_values), dtype=torch.float64,
                                requires_grad=sc.update_biases and lay.bias != "none"))
    return out


def optimizer(sc: Scenario, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    o, lr = sc.optimizer, sc.learning_rate
    trained = [p for p in params if p.requires_grad]
    wd = o.weight_decay
    if o.name == "sgd":
        return torch.optim.SGD(trained, lr=lr, weight_decay=wd)
    if o.name in ("momentum", "nesterov"):
        return torch.optim.SGD(trained, lr=lr, momentum=o.momentum, weight_decay=wd,
                               nesterov=o.name == "nesterov")
    if o.name == "rmsprop":
        return torch.optim.RMSprop(trained, lr=lr, alpha=o.alpha, eps=o.eps, weight_decay=wd)
    cls = torch.optim.Adam if o.name == "adam" else torch.optim.AdamW
    return cls(trained, lr=lr, betas=(o.beta1, o.beta2), eps=o.eps, weight_decay=wd)


def loss(sc: Scenario, params: list[torch.Tensor], idx: list[int]) -> torch.Tensor:
    a = torch.tensor(sc.x[idx], dtype=torch.float64)
    t = torch.tensor(sc.targets[idx], dtype=torch.float64)
    for li, lay in enumerate(sc.layers):
        w, b = params[2 * li], params[2 * li + 1]
        net = a @ w.T + (b if lay.bias != "none" else 0.0)
        a = ACTIVATIONS[lay.activation](net)
    if sc.loss == "half_squared_error":
        per_sample = (0.5 * (t - a) ** 2).sum(dim=1)
    else:
        assert sc.loss == "mean_squared_error", sc.loss
        per_sample = ((t - a) ** 2).mean(dim=1)
    return per_sample.mean() if sc.reduction == "mean" else per_sample.sum()


def train(sc: Scenario, plan: list[list[int]]) -> dict[str, float]:
    """Train as torch does, one update per batch of `plan`; the final parameters by name."""
    params = parameters(sc)
    opt = optimizer(sc, params)
    for idx in plan:
        opt.zero_grad()
        loss(sc, params, idx).backward()
        opt.step()
    named: dict[str, float] = {}
    for li, lay in enumerate(sc.layers):
        w, b = params[2 * li].detach().numpy(), params[2 * li + 1].detach().numpy()
        named.update(zip((n for row in lay.weight_names for n in row), w.ravel().tolist()))
        named.update(zip(lay.bias_names, b.tolist()))
    return named
