"""The text of a new practice scenario (`bpwalk new`): commented YAML around drawn numbers.

The numbers come from bpwalk.practice; this module only lays them out, with the comments a
student needs to map each number to its symbol (w1: i1 -> h1, ...). Weight and bias names
follow the loader's defaults, so the comments match what `bpwalk run` shows.
"""

from __future__ import annotations

from bpwalk.notation import number
from bpwalk.practice import Numbers
from bpwalk.scenario.examples import SCHEMA_FILE, SCHEMA_HINT
from bpwalk.scenario.format import MAX_DRAWN_DECIMALS, neuron_prefix, numbered, weight_names

SCHEMA_MODELINE = f"# yaml-language-server: $schema={SCHEMA_FILE}"


def neuron_names(sizes: list[int]) -> list[list[str]]:
    """Input names, then each layer's neuron names, as the loader would name them."""
    n_layers = len(sizes) - 1
    return [numbered("i", sizes[0])] + [numbered(neuron_prefix(index, n_layers), n)
                                        for index, n in enumerate(sizes[1:])]


def _list(values: list[float], decimals: int) -> str:
    return "[" + ", ".join(number(v, decimals) for v in values) + "]"


def render(numbers: Numbers, sizes: list[int], activations: list[str], loss: str, seed: int,
           decimals: int, command: list[str], file_name: str, options: str = "") -> str:
    names = neuron_names(sizes)
    shape = "-".join(map(str, sizes))
    lines = [
        SCHEMA_MODELINE,
        SCHEMA_HINT,
        f"# A practice problem drawn by 'bpwalk new' (seed {seed}): a {shape} network.",
        "# Work out the forward pass, the loss, every gradient and the updated weights by",
        f"# hand, then compare with:  bpwalk run {file_name}",
        "# The same numbers again:",
        *(f"#   {line}" for line in command),
        f"title: Practice problem, {shape} {activations[0]} network (seed {seed})",
        f"source: bpwalk new {options}",
        f"description: a {shape} practice problem, {activations[-1]} outputs, {loss}",
        f"inputs: [{', '.join(names[0])}]",
        "layers:",
    ]
    w_count = b_count = 0
    for li, (w_rows, biases) in enumerate(zip(numbers.weights, numbers.biases)):
        ins, outs = names[li], names[li + 1]
        lines += [f"  - neurons: [{', '.join(outs)}]",
                  f"    activation: {activations[li]}",
                  "    weights:"]
        rows = [_list(row, decimals) for row in w_rows]
        width = max(len(r) for r in rows)
        for j, (row, wnames) in enumerate(zip(rows, weight_names(w_count, len(outs), len(ins)))):
            labels = ", ".join(f"{w}: {ins[i]} -> {outs[j]}" for i, w in enumerate(wnames))
            lines.append(f"      - {row:<{width}}  # {labels}")
        w_count += len(outs) * len(ins)
        bias_labels = ", ".join(f"{b} ({o})" for b, o in zip(numbered("b", len(outs), b_count), outs))
        lines.append(f"    bias: {_list(biases, decimals)}  # {bias_labels}")
        b_count += len(outs)
    lines += [
        f"loss: {loss}",
        f"learning_rate: {number(numbers.learning_rate)}",
        "data:",
        f"  - inputs: {_list(numbers.inputs, decimals)}",
        f"    targets: {_list(numbers.targets, decimals)}",
    ]
    return "\n".join(lines) + "\n"


# Practice circuits for `bpwalk new --graph`: each has a few gates and a wire read twice (a
# fan-out: the gradients of its uses add up), the first thing a hand calculation gets wrong.
# (inputs, params, nodes, what to notice); the seed picks one and draws its numbers.
CIRCUITS: tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...], str], ...] = (
    (("x", "y", "z"), (), (("s", "x + y"), ("t", "x * z"), ("f", "s * t")),
     "x feeds two gates: its gradient is the sum of both paths"),
    (("x", "y"), ("w", "b"), (("q", "w * x + b"), ("r", "q * y"), ("f", "r + q")),
     "q feeds two gates: its gradient is the sum of both paths"),
    (("a", "b", "c"), (), (("e", "a * b"), ("d", "e + c"), ("f", "d * d")),
     "d is read twice by one gate: df/dd = d + d"),
    (("x", "y"), ("w",), (("m", "max(x, y)"), ("f", "(m - w) * w")),
     "w feeds two gates, and max sends its gradient to the larger input only"),
)


def graph_practice_text(seed: int, file_name: str = "practice.yaml") -> str:
    """The `graph:` scenario `bpwalk new --graph` writes: one of CIRCUITS with small whole
    numbers drawn from `seed`; checked by the loader before anyone sees it."""
    from bpwalk.practice import generator, small_integers
    from bpwalk.scenario import loads

    rng = generator(seed)
    inputs, params, nodes, notice = CIRCUITS[int(rng.randint(len(CIRCUITS)))]
    values = small_integers(rng, len(inputs) + len(params))

    def mapping(names: tuple[str, ...], vals: list[float]) -> str:
        return "{" + ", ".join(f"{n}: {number(v)}" for n, v in zip(names, vals)) + "}"

    lines = [
        SCHEMA_MODELINE,
        SCHEMA_HINT,
        f"# A practice circuit drawn by 'bpwalk new --graph' (seed {seed}).",
        "# Work out every node's value, then every gradient of f, by hand; then compare with:",
        f"#   bpwalk run {file_name}",
        f"# Watch for this: {notice}.",
        "# The same numbers again:",
        f"#   bpwalk new {file_name} --graph --seed {seed}",
        f"title: Practice circuit (seed {seed})",
        f"source: bpwalk new --graph --seed {seed}",
        "graph:",
        f"  inputs: {mapping(inputs, values)}",
        f"  params: {mapping(params, values[len(inputs):])}",
        "  nodes:",
        *(f"    {name}: {expr}" for name, expr in nodes),
        "  output: f",
    ]
    if params:
        lines.append("learning_rate: 0.1")
    text = "\n".join(lines) + "\n"
    loads(text, "<new practice circuit>")  # a ScenarioError here is a bug in this module
    return text


class PracticeError(ValueError):
    """An option of `bpwalk new` that cannot make a problem; the message says how to fix it."""


MAX_LAYER_SIZE = 6  # a hand calculation stays a hand calculation


def parse_shape(shape: str) -> list[int]:
    parts = shape.replace("x", "-").split("-")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        sizes = []
    if len(sizes) < 2 or not all(1 <= n <= MAX_LAYER_SIZE for n in sizes) or len(sizes) > 5:
        raise PracticeError(f"--shape {shape!r}: give the layer sizes from inputs to outputs, "
                            f"like 2-2-1 (2 to 5 numbers, each 1 to {MAX_LAYER_SIZE})")
    return sizes


def activations_for(activation: str, loss: str, n_layers: int) -> list[str]:
    """The hidden layers use `activation`; the output layer follows what the loss needs."""
    from bpwalk.functions import ACTIVATIONS, LOSSES
    from bpwalk.scenario import choice_hint

    if loss not in LOSSES:
        raise PracticeError(f"--loss {loss!r} is not known{choice_hint(loss, LOSSES)}")
    if activation not in ACTIVATIONS:
        hidden = [a for a in ACTIVATIONS if not ACTIVATIONS[a].output_only]
        raise PracticeError(f"--activation {activation!r} is not known"
                            f"{choice_hint(activation, hidden)}")
    if ACTIVATIONS[activation].output_only:
        raise PracticeError(f"--activation {activation} is only for the output layer; use "
                            "--loss cross_entropy to get a softmax output layer")
    output = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}.get(loss, activation)
    return [activation] * (n_layers - 1) + [output]


def practice_text(shape: str, activation: str, loss: str, seed: int, decimals: int,
                  file_name: str = "practice.yaml") -> str:
    """The whole file `bpwalk new` writes; checked by the loader before anyone sees it, and
    drawn again until its numbers meet the rules of bpwalk.handwork."""
    from bpwalk import handwork
    from bpwalk.practice import generator, problem
    from bpwalk.scenario import loads

    sizes = parse_shape(shape)
    if not 1 <= decimals <= MAX_DRAWN_DECIMALS:  # a source: line may ask for 10**1000000000
        raise PracticeError(f"--decimals {decimals}: draw numbers with 1 to "
                            f"{MAX_DRAWN_DECIMALS} decimals")
    activations = activations_for(activation, loss, len(sizes) - 1)
    if activations[-1] == "softmax" and sizes[-1] < 2:  # the loader's rule, said before drawing
        more = "-".join(map(str, [*sizes[:-1], 2]))
        raise PracticeError(f"--loss {loss} gives a softmax output layer, and softmax over one "
                            "neuron always outputs 1, so nothing would learn; give it 2 or more "
                            f"outputs (--shape {more}), or use --loss binary_cross_entropy for one")
    command = [f"bpwalk new {file_name} --seed {seed} --shape {'-'.join(map(str, sizes))} \\",
               f"  --activation {activation} --loss {loss} --decimals {decimals}"]
    # the source line says how the numbers were drawn: 'check' redraws them for a seed
    options = (f"--seed {seed} --shape {'-'.join(map(str, sizes))} --activation {activation} "
               f"--loss {loss} --decimals {decimals}")
    rng = generator(seed)
    why: list[str] = []
    for _ in range(handwork.MAX_DRAWS):
        numbers = problem(rng, sizes, activations, loss, decimals)
        text = render(numbers, sizes, activations, loss, seed, decimals, command, file_name,
                      options)
        sc = loads(text, "<new practice problem>")  # a ScenarioError here is a bug here
        why = handwork.broken(handwork.Draw(sc))
        if not why:
            return text
    raise PracticeError(f"no draw of {handwork.MAX_DRAWS} for a {'-'.join(map(str, sizes))} "
                        f"{activation} network meets the rules ({why[0]}); try a smaller "
                        "shape or another activation (bpwalk new --explain-rules)")


def redraw(source: str, seed: int) -> str | None:
    """The problem `bpwalk new` draws with another seed and the options written in a
    scenario's source line (``bpwalk new --seed 7 --shape 2-2-1 ...``); None when the
    source is not such a line. ``bpwalk check`` uses it for each student's own seed.

    The line is a file's text, not a command someone typed: its options get the command
    line's limits (PracticeError, saying which), so that --decimals 1000000000 does not
    spin computing 10**decimals."""
    words = source.split()
    if words[:4] == ["bpwalk", "new", "--graph", "--seed"] and len(words) == 5:
        return graph_practice_text(seed)
    if words[:2] != ["bpwalk", "new"] or len(words) % 2:
        return None
    opts = dict(zip(words[2::2], words[3::2]))
    try:
        shape, activation, loss = opts["--shape"], opts["--activation"], opts["--loss"]
        written = opts["--decimals"]
    except KeyError:
        return None
    if not written.isascii() or not written.isdigit() or len(written) > 2:
        raise PracticeError(f"--decimals {written}: draw numbers with 1 to "
                            f"{MAX_DRAWN_DECIMALS} decimals")
    return practice_text(shape, activation, loss, seed, int(written))
