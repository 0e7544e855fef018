"""The parameters of a run, their layout as the optimizer's one flat vector, and the
batches of each update."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import NamedTuple

import numpy as np

from bpwalk.scenario import Scenario


class Params:
    """Weights (neurons x inputs) and bias values (0, 1 shared, or one per neuron) per layer.

    (Plain classes here rather than dataclasses: defining one costs every start a millisecond.)
    """

    __slots__ = ("biases", "weights")

    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray]) -> None:
        self.weights = weights
        self.biases = biases

    def __repr__(self) -> str:
        return f"Params(weights={self.weights!r}, biases={self.biases!r})"

    @classmethod
    def of(cls, scenario: Scenario) -> Params:
        return cls([np.array(lay.weights) for lay in scenario.layers],
                   [np.array(lay.bias_values) for lay in scenario.layers])

    def named(self, scenario: Scenario) -> dict[str, float]:
        out: dict[str, float] = {}
        for lay, w, b in zip(scenario.layers, self.weights, self.biases):
            out.update(zip((n for row in lay.weight_names for n in row), w.ravel().tolist()))
            out.update(zip(lay.bias_names, b.tolist()))
        return out


class _Slot(NamedTuple):
    """One trained array (a layer's weights or bias values) in the optimizer's flat vector."""

    layer: int  # 0-based
    bias: bool
    span: slice
    shape: tuple[int, ...]
    names: tuple[str, ...]  # row by row


def _layout(scenario: Scenario) -> list[_Slot]:
    """Every trained array, layer by layer, weights before biases, as one flat vector.

    The optimizer sees all parameters as one vector: its rules are element-wise, and one
    call per update costs the fast loop less than one per array.
    """
    slots, at = [], 0
    for li, lay in enumerate(scenario.layers):
        # (chain: every run makes the layout twice, and a wide network's has 55k names)
        arrays = [(False, lay.weights.shape, tuple(chain.from_iterable(lay.weight_names)))]
        if scenario.update_biases and lay.bias != "none":
            arrays.append((True, lay.bias_values.shape, lay.bias_names))
        for bias, shape, names in arrays:
            slots.append(_Slot(li, bias, slice(at, at + len(names)), shape, names))
            at += len(names)
    return slots


def _flat(layout: list[_Slot], params: Params) -> np.ndarray:
    return np.concatenate([(params.biases if s.bias else params.weights)[s.layer].ravel()
                           for s in layout])


def _unflat(layout: list[_Slot], flat: np.ndarray, params: Params) -> Params:
    """`params` with the trained arrays taken from `flat` (as views: nothing is copied)."""
    weights, biases = params.weights[:], params.biases[:]
    for s in layout:
        (biases if s.bias else weights)[s.layer] = flat[s.span].reshape(s.shape)
    return Params(weights, biases)


class Plan(Sequence):
    """The batches of `length` updates: one epoch's batches, cycled. Never built out: a list
    for 1e8 updates would take 800 MB."""

    def __init__(self, epoch: list[list[int]], length: int):
        self.epoch, self.length = epoch, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i):  # an update's 0-based sample indices (slices: a list of them)
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.length))]
        if not -self.length <= i < self.length:
            raise IndexError(i)
        return self.epoch[i % self.length % len(self.epoch)]


def batches(scenario: Scenario, iterations: int) -> Plan:
    """0-based sample indices of each update: consecutive in file order, cycling per epoch."""
    n = len(scenario.x)
    if scenario.batch is None:
        return Plan([list(range(n))], iterations)
    return Plan([list(range(i, min(i + scenario.batch, n))) for i in range(0, n, scenario.batch)],
                iterations)


