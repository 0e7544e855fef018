"""Scenario texts for the Markdown and worksheet tests: each exercises notation the exports
must write as valid LaTeX (names with underscores and digits, Greek names, leaky_relu's cases,
softmax, several samples). Their numbers are inputs, not expected results."""

from __future__ import annotations

NAMED = """
name: named
title: Names with underscores_and digits
inputs: [x_1, x2]
layers:
  - neurons: [h_a, h2]
    activation: tanh
    weights: [[0.1, -0.2], [0.3, 0.4]]
    weight_names: [[w_a1, theta4], [w_b2, alpha]]
    bias: [0.1, -0.1]
    bias_names: [b_h1, beta2]
  - neurons: [out_1]
    activation: sigmoid
    weights: [[0.5, -0.6]]
    weight_names: [[v_1, gamma]]
    bias: 0.2
    bias_names: [c0]
loss: binary_cross_entropy
learning_rate: 0.1
data:
  - inputs: [0.5, -1.0]
    targets: [1]
"""

LEAKY = """
name: leaky
inputs: 2
layers:
  - neurons: 2
    activation: leaky_relu
    slope: 0.1
    weights: [[0.5, -0.8], [-0.3, 0.2]]
    bias: [0.1, -0.2]
  - neurons: 1
    activation: linear
    weights: [[1.5, -0.5]]
    bias: 0.05
loss: squared_error
learning_rate: 0.05
data:
  - inputs: [1.0, 0.5]
    targets: [0.3]
"""

SOFTMAX = """
name: softmax
inputs: [x1, x2]
layers:
  - neurons: 3
    activation: relu
    weights: [[0.2, -0.4], [0.7, 0.1], [-0.5, 0.3]]
    bias: [0.0, 0.1, -0.1]
  - neurons: 3
    activation: softmax
    weights: [[0.3, -0.2, 0.5], [0.1, 0.4, -0.3], [-0.6, 0.2, 0.1]]
    bias: [0.05, -0.05, 0.0]
loss: cross_entropy
learning_rate: 0.5
data:
  - inputs: [1.0, 2.0]
    targets: [0, 1, 0]
"""

BATCH = """
name: batch
inputs: [i1, i2]
layers:
  - neurons: [h1, h2]
    activation: sigmoid
    weights: [[0.15, 0.2], [0.25, 0.3]]
    bias: 0.35
  - neurons: [o1, o2]
    activation: sigmoid
    weights: [[0.4, 0.45], [0.5, 0.55]]
    bias: [0.6, 0.6]
loss: mean_squared_error
learning_rate: 0.5
reduction: mean
data:
  - inputs: [0.05, 0.1]
    targets: [0.01, 0.99]
  - inputs: [0.9, -0.2]
    targets: [0.5, 0.1]
  - inputs: [0.3, 0.3]
    targets: [0.7, 0.2]
"""

MINIBATCH = BATCH.replace("reduction: mean", "reduction: sum\nbatch: 2\niterations: 3")

ALL = {"named": NAMED, "leaky": LEAKY, "softmax": SOFTMAX, "batch": BATCH,
       "minibatch": MINIBATCH}

# One layer, no bias, many updates: no hidden layer to note, a long loss table.
PERCEPTRON = """
name: perceptron
inputs: 3
layers:
  - neurons: 1
    activation: linear
    weights: [[0.2, -0.1, 0.4]]
loss: mean_squared_error
learning_rate: 0.1
iterations: 30
data:
  - inputs: [1.0, 2.0, -1.0]
    targets: [0.5]
"""

ALL["perceptron"] = PERCEPTRON

# Names that could trip LaTeX up: Greek words (with and without digits), capitals, command
# names, several underscores, digits after underscores.
TRICKY = """
name: tricky
inputs: [pi2, Delta, x]
layers:
  - neurons: [a_b_c, frac]
    activation: sigmoid
    weights: [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]
    weight_names: [[eta, sum, le], [E, theta_1, w00]]
    bias: [0.1, 0.2]
    bias_names: [b_1_2, lambda3]
  - neurons: [h1_2]
    activation: tanh
    weights: [[0.7, -0.8]]
    weight_names: [[omega, Sigma9]]
loss: half_squared_error
learning_rate: 0.5
data:
  - inputs: [1, 2, 3]
    targets: [0.5]
"""

ALL["tricky"] = TRICKY


def _modern(acts: list[str], optimizer: str) -> str:
    """A chain of one-neuron layers through `acts`, trained by `optimizer`, with input
    gradients: the new activations' and optimizers' formulas in one export."""
    layers = "".join(f"""
  - neurons: [n{i}]
    activation: {a}
    weights: [[{0.6 - 0.1 * i}]]
    bias: [{0.05 * i - 0.1}]""" + ("\n    alpha: 0.5" if a == "elu" else "")
        for i, a in enumerate(acts, 1))
    return f"""
inputs: [x]
layers:{layers}
loss: half_squared_error
learning_rate: 0.1
input_gradients: true
data:
  - inputs: [0.7]
    targets: [0.3]
  - inputs: [-0.4]
    targets: [0.6]
batch: 1
optimizer:
{optimizer}
"""


ALL["modern_adamw"] = _modern(["elu", "selu", "softplus", "softsign", "sigmoid"],
                              "  name: adamw\n  weight_decay: 0.1")
ALL["modern_nesterov"] = _modern(["silu", "swish", "gelu", "gelu_tanh", "mish", "linear"],
                                 "  name: nesterov\n  weight_decay: 0.01")
ALL["modern_rmsprop"] = _modern(["tanh", "gelu"], "  name: rmsprop")
