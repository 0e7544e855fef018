"""The same training with micrograd (Karpathy's scalar autograd), plus the exp op it lacks.

    python benchmarks/micrograd_loop.py mazur [ITERATIONS]

micrograd's Value has +, *, ** and relu but no exp; it is added here the way its author
adds it in "The spelled-out intro to neural networks and backpropagation" (value and local
derivative side by side), and sigmoid is built from it. Prints the loss after the last update.
"""

import math
import sys

from micrograd.engine import Value
from nets import network


def exp(self: Value) -> Value:
    out = Value(math.exp(self.data), (self,), "exp")

    def _backward() -> None:
        self.grad += out.data * out.grad  # d/dx e^x = e^x
    out._backward = _backward
    return out


Value.exp = exp


def sigmoid(z: Value) -> Value:
    return 1 / (1 + (-z).exp())


def main() -> None:
    net = network(sys.argv[1])
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else net["iterations"]
    W = [[[Value(w) for w in row] for row in layer["weights"]] for layer in net["layers"]]
    b = [[Value(v) for v in layer["bias"]] for layer in net["layers"]]
    params = [p for w in W for row in w for p in row]
    if net["update_biases"]:
        params += [p for bias in b for p in bias]
    X, T = net["inputs"], net["targets"]
    lr, n = net["learning_rate"], len(X)

    def loss() -> Value:
        total = Value(0.0)
        for x, t in zip(X, T):
            a = x
            for w, bias in zip(W, b):
                a = [sigmoid(sum((wi * ai for wi, ai in zip(row, a)), bj)) for row, bj in zip(w, bias)]
            total = total + sum((0.5 * (tk - ok) ** 2 for tk, ok in zip(t, a)), Value(0.0))
        return total * (1.0 / n)

    history = []
    for _ in range(iterations):
        E = loss()
        history.append(E.data)
        for p in params:
            p.grad = 0.0
        E.backward()
        for p in params:
            p.data -= lr * p.grad
    history.append(loss().data)
    print(repr(history[-1]))


if __name__ == "__main__":
    main()
