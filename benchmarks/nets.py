"""The networks the benchmarks train, written out by hand as a user of each tool would.

Every comparison program imports its network from here, and ``run.py`` writes the same
numbers into a bpwalk scenario, so all of them do the same work on the same numbers.
A network is a dict of plain Python lists (no NumPy here: the pure-Python and micrograd
programs import this module too, and must not pay for NumPy's import).

Conventions shared by every program (bpwalk's defaults): sigmoid in every layer, half
squared error summed over the outputs, the mean over the samples of the batch, full-batch
plain gradient descent, one bias per neuron (updated only when ``update_biases``).
"""

from __future__ import annotations

import itertools
import random

# Matt Mazur, "A Step by Step Backpropagation Example" (2015): the 2-2-2 network.
# His b1 and b2 are shared by their layer and never updated; a per-neuron copy of each
# gives the same numbers.
MAZUR = {
    "layers": [
        {"weights": [[0.15, 0.20], [0.25, 0.30]], "bias": [0.35, 0.35]},
        {"weights": [[0.40, 0.45], [0.50, 0.55]], "bias": [0.60, 0.60]},
    ],
    "inputs": [[0.05, 0.10]],
    "targets": [[0.01, 0.99]],
    "learning_rate": 0.5,
    "update_biases": False,
    "iterations": 10_000,
}


def wide(sizes: tuple[int, ...] = (8, 32, 32, 4), samples: int = 64, seed: int = 2015) -> dict:
    """A wider full-batch network with reproducible random numbers (Python's own generator)."""
    rng = random.Random(seed)
    layers = []
    for n_in, n_out in itertools.pairwise(sizes):
        scale = 1.0 / n_in ** 0.5  # keep the sigmoids out of saturation
        layers.append({
            "weights": [[round(rng.uniform(-scale, scale), 6) for _ in range(n_in)]
                        for _ in range(n_out)],
            "bias": [round(rng.uniform(-0.1, 0.1), 6) for _ in range(n_out)],
        })
    return {
        "layers": layers,
        "inputs": [[round(rng.uniform(0, 1), 4) for _ in range(sizes[0])] for _ in range(samples)],
        "targets": [[round(rng.uniform(0.1, 0.9), 4) for _ in range(sizes[-1])]
                    for _ in range(samples)],
        "learning_rate": 0.5,
        "update_biases": True,
        "iterations": 2_000,
    }


def with_adam(net: dict) -> dict:
    """The same network trained with Adam at torch's defaults (step 0.001).

    With a larger step Adam drives this loss to about 1e-7, where it oscillates and
    float64 rounding differences (torch updates m with lerp) grow past 1e-9.
    """
    return {**net, "optimizer": "adam", "learning_rate": 0.001}


NETWORKS = {"mazur": lambda: MAZUR, "wide": wide,
            "mazur_adam": lambda: with_adam(MAZUR), "wide_adam": lambda: with_adam(wide())}


def network(name: str) -> dict:
    return NETWORKS[name]()


def to_yaml(net: dict, name: str) -> str:
    """The network as a bpwalk scenario (plain YAML text; repr keeps every float exact)."""
    lines = [f"name: {name}", f"inputs: {len(net['inputs'][0])}", "layers:"]
    for layer in net["layers"]:
        lines.append(f"  - neurons: {len(layer['weights'])}")
        lines.append("    activation: sigmoid")
        lines.append("    weights:")
        lines.extend(f"      - [{', '.join(map(repr, row))}]" for row in layer["weights"])
        lines.append(f"    bias: [{', '.join(map(repr, layer['bias']))}]")
    lines += ["loss: half_squared_error", f"learning_rate: {net['learning_rate']!r}",
              f"update_biases: {'true' if net['update_biases'] else 'false'}", "data:"]
    if "optimizer" in net:
        lines[-1:-1] = [f"optimizer: {{name: {net['optimizer']}}}"]
    for x, t in zip(net["inputs"], net["targets"]):
        lines.append(f"  - inputs: [{', '.join(map(repr, x))}]")
        lines.append(f"    targets: [{', '.join(map(repr, t))}]")
    return "\n".join(lines) + "\n"
