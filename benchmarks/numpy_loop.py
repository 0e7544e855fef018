"""A plain hand-written NumPy training loop: what a student writes instead of using bpwalk.

    python benchmarks/numpy_loop.py mazur [ITERATIONS]

Full-batch gradient descent on a sigmoid network with half squared error (mean over the
samples); records the loss before every update, like bpwalk, and prints the loss after the
last update (bpwalk's loss_history[-1]).
"""

import sys

import numpy as np
from nets import network


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def main() -> None:
    net = network(sys.argv[1])
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else net["iterations"]
    W = [np.array(layer["weights"]) for layer in net["layers"]]
    b = [np.array(layer["bias"]) for layer in net["layers"]]
    X, T = np.array(net["inputs"]), np.array(net["targets"])
    lr, update_biases, n = net["learning_rate"], net["update_biases"], len(X)

    def forward(W, b):
        outs = [X]
        for w, bias in zip(W, b):
            outs.append(sigmoid(outs[-1] @ w.T + bias))
        return outs

    history = []
    for _ in range(iterations):
        outs = forward(W, b)
        out = outs[-1]
        history.append(0.5 * ((T - out) ** 2).sum() / n)
        delta = (out - T) * out * (1.0 - out)
        for i in range(len(W) - 1, -1, -1):
            grad_w = delta.T @ outs[i] / n
            grad_b = delta.sum(axis=0) / n
            if i:  # backpropagate with the weights from before the update
                a = outs[i]
                delta = (delta @ W[i]) * a * (1.0 - a)
            W[i] = W[i] - lr * grad_w
            if update_biases:
                b[i] = b[i] - lr * grad_b
    out = forward(W, b)[-1]
    history.append(0.5 * ((T - out) ** 2).sum() / n)
    print(repr(float(history[-1])))


if __name__ == "__main__":
    main()
