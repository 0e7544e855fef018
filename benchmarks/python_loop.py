"""A pure-Python training loop (lists and math.exp, no libraries).

    python benchmarks/python_loop.py mazur [ITERATIONS]

The same updates as numpy_loop.py, written neuron by neuron; prints the loss after the
last update.
"""

import math
import sys

from nets import network


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def forward(W, b, x):
    outs = [x]
    for w, bias in zip(W, b):
        a = outs[-1]
        outs.append([sigmoid(sum(wi * ai for wi, ai in zip(row, a)) + bj)
                     for row, bj in zip(w, bias)])
    return outs


def main() -> None:
    net = network(sys.argv[1])
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else net["iterations"]
    W = [[list(row) for row in layer["weights"]] for layer in net["layers"]]
    b = [list(layer["bias"]) for layer in net["layers"]]
    X, T = net["inputs"], net["targets"]
    lr, update_biases, n = net["learning_rate"], net["update_biases"], len(X)

    def dataset_loss() -> float:
        return sum(0.5 * (t - o) ** 2 for x, tt in zip(X, T)
                   for t, o in zip(tt, forward(W, b, x)[-1])) / n

    history = []
    for _ in range(iterations):
        gw = [[[0.0] * len(row) for row in w] for w in W]
        gb = [[0.0] * len(bias) for bias in b]
        loss = 0.0
        for x, t in zip(X, T):
            outs = forward(W, b, x)
            out = outs[-1]
            loss += sum(0.5 * (tk - ok) ** 2 for tk, ok in zip(t, out))
            delta = [(ok - tk) * ok * (1.0 - ok) for ok, tk in zip(out, t)]
            for i in range(len(W) - 1, -1, -1):
                a = outs[i]
                for j, dj in enumerate(delta):
                    row = gw[i][j]
                    for k, ak in enumerate(a):
                        row[k] += dj * ak
                    gb[i][j] += dj
                if i:  # weights from before the update: W is only changed below
                    delta = [sum(delta[j] * W[i][j][k] for j in range(len(delta)))
                             * a[k] * (1.0 - a[k]) for k in range(len(a))]
        history.append(loss / n)
        for i in range(len(W)):
            for j, row in enumerate(W[i]):
                for k in range(len(row)):
                    row[k] -= lr * gw[i][j][k] / n
                if update_biases:
                    b[i][j] -= lr * gb[i][j] / n
    history.append(dataset_loss())
    print(repr(history[-1]))


if __name__ == "__main__":
    main()
