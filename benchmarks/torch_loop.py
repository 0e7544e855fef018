"""The same training in PyTorch on the CPU, float64, with autograd and torch.optim.SGD
(torch.optim.Adam for the networks that say 'optimizer: adam').

    python benchmarks/torch_loop.py mazur [ITERATIONS]

Prints the loss after the last update.
"""

import sys

import torch
from nets import network


def main() -> None:
    net = network(sys.argv[1])
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else net["iterations"]
    f64 = torch.float64
    W = [torch.tensor(layer["weights"], dtype=f64, requires_grad=True) for layer in net["layers"]]
    b = [torch.tensor(layer["bias"], dtype=f64, requires_grad=net["update_biases"])
         for layer in net["layers"]]
    X = torch.tensor(net["inputs"], dtype=f64)
    T = torch.tensor(net["targets"], dtype=f64)
    params = W + (b if net["update_biases"] else [])
    rule = torch.optim.Adam if net.get("optimizer") == "adam" else torch.optim.SGD
    optimizer = rule(params, lr=net["learning_rate"])

    def loss() -> torch.Tensor:
        a = X
        for w, bias in zip(W, b):
            a = torch.sigmoid(a @ w.T + bias)
        return 0.5 * ((T - a) ** 2).sum() / len(X)

    history = []
    for _ in range(iterations):
        optimizer.zero_grad()
        E = loss()
        history.append(E.item())
        E.backward()
        optimizer.step()
    with torch.no_grad():
        history.append(loss().item())
    print(repr(history[-1]))


if __name__ == "__main__":
    main()
