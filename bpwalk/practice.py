"""Random numbers for scenarios: `init:` schemes and practice problems (`bpwalk new`).

Drawing numbers is arithmetic, so it lives here, apart from the engine (which trains) and the
scenario loader (which only decides *what* to draw). This module draws numbers and nothing
else: no YAML, no text.

Reproducibility: numbers come from NumPy's legacy ``RandomState``, whose stream for a given
seed is frozen by NumPy's compatibility policy (NEP 19), so a seed written in a scenario file
draws the same values on every NumPy version. ``Generator`` makes no such promise.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

UNIFORM_LIMIT = 1.0  # scheme "uniform": weights and biases between -1 and 1


def generator(seed: int) -> np.random.RandomState:
    return np.random.RandomState(seed)


def _rounded(values: np.ndarray, decimals: int) -> list:
    # round() of a float64 gives the shortest decimal a person would write; +0.0 drops "-0.0"
    return np.vectorize(lambda v: round(float(v), decimals) + 0.0, otypes=[float])(values).tolist()


def friendly(rng: np.random.RandomState, low: float, high: float, decimals: int,
             size: int | tuple[int, ...]) -> list:
    """Numbers between low and high with exactly `decimals` decimals, drawn as whole numbers of
    steps of 10^-decimals so that the text in the file is the value the engine uses."""
    scale = 10 ** decimals
    steps = rng.randint(round(low * scale), round(high * scale) + 1, size=size)
    return (steps / scale).tolist()


# ----------------------------------------------------------------------------- init: schemes


def init_weights(rng: np.random.RandomState, scheme: str, fan_in: int, fan_out: int,
                 decimals: int) -> list[list[float]]:
    """A layer's weights (fan_out rows of fan_in), drawn by `scheme`, rounded to `decimals`.

    uniform: U(-1, 1). xavier: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio,
    2010). he: N(0, sqrt(2 / fan_in)) (He et al., 2015).
    """
    shape = (fan_out, fan_in)
    if scheme == "uniform":
        return friendly(rng, -UNIFORM_LIMIT, UNIFORM_LIMIT, decimals, shape)
    if scheme == "xavier":
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return _rounded(rng.uniform(-limit, limit, size=shape), decimals)
    if scheme == "he":
        return _rounded(rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape), decimals)
    raise ValueError(f"unknown init scheme {scheme!r}")


def init_biases(rng: np.random.RandomState, scheme: str, n: int, decimals: int) -> list[float]:
    """One bias per neuron: uniform draws them like weights; xavier and he start them at 0,
    as both papers do."""
    if scheme == "uniform":
        return friendly(rng, -UNIFORM_LIMIT, UNIFORM_LIMIT, decimals, n)
    return [0.0] * n


# ----------------------------------------------------------------------------- practice problems


@dataclass(frozen=True)
class Numbers:
    """The numbers of one practice problem (one training sample)."""

    inputs: list[float]
    weights: list[list[list[float]]]  # per layer: one row per neuron
    biases: list[list[float]]  # per layer: one per neuron
    targets: list[float]
    learning_rate: float


def targets_for(rng: np.random.RandomState, activation: str, loss: str, n: int,
                decimals: int) -> list[float]:
    """Targets the output layer can reach: one-hot for softmax, 0/1 for binary cross-entropy,
    inside the activation's range otherwise."""
    if activation == "softmax":
        hot = int(rng.randint(n))
        return [1.0 if i == hot else 0.0 for i in range(n)]
    if loss == "binary_cross_entropy":
        return [float(v) for v in rng.randint(0, 2, size=n)]
    low, high = {"sigmoid": (0.05, 0.95), "tanh": (-0.9, 0.9)}.get(activation, (0.0, 1.0))
    return friendly(rng, low, high, min(decimals, 2), n)


def problem(rng: np.random.RandomState, sizes: list[int], activations: list[str], loss: str,
            decimals: int) -> Numbers:
    """Hand-friendly numbers for a network of `sizes` (inputs first): inputs in [0.1, 1],
    weights of size 0.1 to 0.9 with a random sign, biases in [-0.5, 0.5], all with `decimals`
    decimals, so each product is a short multiplication. A next draw continues `rng`."""
    inputs = friendly(rng, 0.1, 1.0, decimals, sizes[0])
    weights, biases = [], []
    for fan_in, n in itertools.pairwise(sizes):
        size = friendly(rng, 0.1, 0.9, decimals, (n, fan_in))
        sign = rng.choice([-1.0, 1.0], size=(n, fan_in)).tolist()
        weights.append([[s * v + 0.0 for s, v in zip(sr, vr)] for sr, vr in zip(sign, size)])
        biases.append(friendly(rng, -0.5, 0.5, decimals, n))
    targets = targets_for(rng, activations[-1], loss, sizes[-1], decimals)
    rate = 0.5 if activations[-1] in ("sigmoid", "softmax") else 0.1
    return Numbers(inputs, weights, biases, targets, rate)


def small_integers(rng: np.random.RandomState, n: int, limit: int = 4) -> list[float]:
    """`n` whole numbers from -limit to limit, none 0 and no two the same, so that every
    product is a times-table fact, no gradient vanishes on a 0 factor and max never ties."""
    choices = [float(k) for k in range(-limit, limit + 1) if k]
    return [float(v) for v in rng.choice(choices, size=n, replace=False)]


def fresh_seed() -> int:
    """A seed for when the user gives none; it is written into the file, so still reproducible."""
    import random

    return random.SystemRandom().randrange(1, 10_000)
