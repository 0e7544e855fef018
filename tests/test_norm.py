"""Dropout, batch normalisation and layer normalisation (issue 23): the engine against
torch (functional batch_norm in training mode, layer_norm, dropout as a given mask) and
against finite differences, the bundled examples' published numbers, the validator's
messages and check's mistakes."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import yaml

from bpwalk.engine import run
from bpwalk.engine.explain import _SweptPath
from bpwalk.engine.params import Params
from bpwalk.scenario import load, loads, resolve

HAS_TORCH = importlib.util.find_spec("torch") is not None
ACTS = ("linear", "relu", "tanh", "sigmoid")


def random_network(seed: int) -> dict:
    """A random network with dropout and normalisation layers: either dense (2-4 inputs, a
    hidden layer, then dropout, batchnorm or layernorm, maybe two) or shaped (1-3 channels,
    a convolution with stride 1-2, then batchnorm per channel, layernorm or dropout, maybe
    a pooling, flatten, maybe one more on the vector); 1-4 samples, mean or sum."""
    rng = np.random.default_rng(seed)
    samples = int(rng.integers(1, 5))
    layers: list[dict] = []
    r = lambda *shape: rng.uniform(-1, 1, shape).round(3).tolist()

    def norm(kind: str, n: int, params: int) -> None:
        if kind == "dropout":
            p = float(rng.choice([0.25, 0.5, 0.2]))
            layers.append({"kind": "dropout", "p": p,
                           "mask": rng.integers(0, 2, (samples, n)).astype(float).tolist()})
            return
        lay: dict = {"kind": kind}
        if rng.random() < 0.8:
            lay["gamma"] = rng.uniform(0.5, 1.5, params).round(3).tolist()
        if rng.random() < 0.8:
            lay["beta"] = r(params)
        if rng.random() < 0.5:
            lay["eps"] = float(rng.choice([1e-5, 1e-3, 0.1]))
        layers.append(lay)

    def pick(n: int, cells: int, channels: int | None) -> None:
        kinds = ["dropout", "layernorm"] + (["batchnorm"] if samples * cells // n > 1
                                            or channels is None and samples > 1 else [])
        kind = str(rng.choice(kinds))
        size = n if kind != "batchnorm" or channels is None else channels
        norm(kind, n, size)

    if rng.random() < 0.5:  # dense
        n_in, hidden = int(rng.integers(2, 5)), int(rng.integers(2, 5))
        spec_inputs: object = n_in
        layers.append({"neurons": hidden, "activation": str(rng.choice(ACTS)),
                       "weights": r(hidden, n_in), "bias": r(hidden)})
        pick(hidden, hidden, None)
        if rng.random() < 0.4:
            pick(hidden, hidden, None)
        n = hidden
        data_x = [r(n_in) for _ in range(samples)]
    else:  # shaped
        c, h, w = int(rng.integers(1, 4)), int(rng.integers(3, 5)), int(rng.integers(3, 5))
        spec_inputs = {"shape": [c, h, w]}
        co, k, stride = int(rng.integers(1, 4)), 2, int(rng.integers(1, 3))
        layers.append({"kind": "conv2d", "kernels": r(co, c, k, k), "bias": r(co),
                       "stride": stride, "activation": str(rng.choice(ACTS))})
        oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
        cells = co * oh * ow
        # batchnorm per channel: samples x height x width values each
        kinds = ["dropout", "layernorm"] + (["batchnorm"] if samples * oh * ow > 1 else [])
        kind = str(rng.choice(kinds))
        norm(kind, cells, co if kind == "batchnorm" else cells)
        if rng.random() < 0.5 and oh > 1 and ow > 1:
            layers.append({"kind": str(rng.choice(["maxpool", "avgpool"])), "size": 2,
                           "stride": 1})
            oh, ow = oh - 1, ow - 1
        layers.append({"kind": "flatten"})
        n = co * oh * ow
        if rng.random() < 0.5:
            pick(n, n, None)
        data_x = [rng.uniform(-2, 2, (c, h, w)).round(2).tolist() for _ in range(samples)]
    layers.append({"neurons": 2, "activation": "sigmoid", "weights": r(2, n), "bias": r(2)})
    data = [{"inputs": x, "targets": rng.uniform(0, 1, 2).round(2).tolist()} for x in data_x]
    return {"inputs": spec_inputs if isinstance(spec_inputs, dict)
            else [f"x{i + 1}" for i in range(spec_inputs)],
            "layers": layers, "loss": "half_squared_error", "learning_rate": 0.1,
            "data": data, "reduction": str(rng.choice(["mean", "sum"])), "iterations": 2}


def scenario_of(spec: dict):
    return loads(yaml.safe_dump(spec, sort_keys=False))


def torch_run(spec: dict, sc) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """torch's gradients of the first update and parameters after two (plain SGD)."""
    import torch
    import torch.nn.functional as F

    act = {"linear": lambda z: z, "relu": torch.relu, "tanh": torch.tanh,
           "sigmoid": torch.sigmoid}
    t64 = lambda v: torch.tensor(v, dtype=torch.float64)
    params, keys = [], []
    for i, (lay, made) in enumerate(zip(spec["layers"], sc.layers)):
        kind = lay.get("kind", "dense")
        if kind in ("dense", "conv2d"):  # (a bias given as null: none)
            pairs = [("w", lay.get("kernels", lay.get("weights")))] + (
                [("b", lay["bias"])] if lay.get("bias") is not None else [])
        elif kind in ("batchnorm", "layernorm"):
            pairs = [("w", made.weights.tolist()), ("b", made.bias_values.tolist())]
        else:
            continue
        for key, v in pairs:
            params.append(t64(v).requires_grad_())
            keys.append((i, key))
    x = t64([d["inputs"] for d in spec["data"]])
    t = t64([d["targets"] for d in spec["data"]])
    grads = None
    for update in range(2):
        p = dict(zip(keys, params))
        a = x
        for i, (lay, made) in enumerate(zip(spec["layers"], sc.layers)):
            kind = lay.get("kind", "dense")
            if kind == "conv2d":
                a = act[lay["activation"]](F.conv2d(a, p[i, "w"], p[i, "b"],
                                                    stride=lay["stride"]))
            elif kind == "maxpool":
                a = F.max_pool2d(a, lay["size"], lay["stride"])
            elif kind == "avgpool":
                a = F.avg_pool2d(a, lay["size"], lay["stride"])
            elif kind == "flatten":
                a = torch.flatten(a, 1)
            elif kind == "dropout":  # the given mask, as torch scales the kept values
                a = a * t64(lay["mask"]).reshape(a.shape) / (1 - lay["p"])
            elif kind == "batchnorm":
                a = F.batch_norm(a, None, None, p[i, "w"], p[i, "b"], training=True,
                                 eps=made.eps)
            elif kind == "layernorm":
                shape = a.shape[1:]
                a = F.layer_norm(a, shape, p[i, "w"].reshape(shape), p[i, "b"].reshape(shape),
                                 eps=made.eps)
            else:
                a = act[lay["activation"]](a @ p[i, "w"].T + p.get((i, "b"), 0.0))
        per_sample = (0.5 * (t - a) ** 2).sum(dim=1)
        loss = per_sample.mean() if spec["reduction"] == "mean" else per_sample.sum()
        for q in params:
            q.grad = None
        loss.backward()
        if update == 0:
            grads = [q.grad.detach().numpy().copy() for q in params]
        with torch.no_grad():
            for q in params:
                q -= spec["learning_rate"] * q.grad
    return grads, [q.detach().numpy() for q in params]


def engine_arrays(sc, values: dict[str, float]) -> list[np.ndarray]:
    """`values` by name, as arrays shaped as the layers' parameters (torch's order)."""
    out = []
    for lay in sc.layers:
        if lay.kind in ("conv2d", "dense", "batchnorm", "layernorm"):
            out.append(np.array([values[n] for row in lay.weight_names for n in row])
                       .reshape(lay.weights.shape))
            if lay.bias_names:
                out.append(np.array([values[n] for n in lay.bias_names]))
    return out


def first_gradients(trace) -> dict[str, float]:
    steps = trace.iterations[0].steps
    batch = len(trace.iterations[0].samples) > 1
    return {s.subject: s.value for s in steps
            if s.kind == "grad" and (s.batch or not batch)}


def close(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want) and got
    for g, w in zip(got, want):
        assert g.shape == w.shape
        scale = max(1.0, float(np.abs(w).max()))
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12 * scale)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("seed", range(14))
def test_against_torch(seed):
    spec = random_network(seed)
    sc = scenario_of(spec)
    trace = run(sc, iterations=2, show={1})
    grads, after = torch_run(spec, sc)
    close(engine_arrays(sc, first_gradients(trace)), grads)
    close(engine_arrays(sc, trace.params_final), after)


@pytest.mark.parametrize("seed", range(30, 35))
def test_against_finite_differences(seed):
    """Each gradient the trace reports against a central difference of the batch loss."""
    spec = random_network(seed)
    sc = scenario_of(spec)
    trace = run(sc, iterations=1)
    grads = first_gradients(trace)
    path, params = _SweptPath(sc), Params.of(sc)
    h = 1e-6
    for li, lay in enumerate(sc.layers):
        for bias in (False, True):
            names = lay.bias_names if bias else [n for row in lay.weight_names for n in row]
            for k, name in enumerate(names):
                diffs = []
                for sign in (1, -1):
                    w = [a.copy() for a in params.weights]
                    b = [a.copy() for a in params.biases]
                    (b[li] if bias else w[li]).reshape(-1)[k] += sign * h
                    diffs.append(path.dataset_loss(sc, Params(w, b)))
                fd = (diffs[0] - diffs[1]) / (2 * h)
                assert grads[name] == pytest.approx(fd, rel=1e-5, abs=1e-7), name


def test_the_three_paths_equal_the_compact_form():
    for seed in range(6):
        trace = run(scenario_of(random_network(seed)))
        steps = {s.id: s for s in trace.iterations[0].steps}
        compact = [s for s in steps.values() if s.kind == "dxc"]
        for s in compact:
            assert s.value == pytest.approx(steps["dout:" + s.id.partition(":")[2]].value,
                                            rel=1e-12, abs=1e-14)


# ----------------------------------------------------------------------------- the bundled


def load_named(name: str):
    return load(resolve(name)[0])


def steps_of(trace, update: int = 0) -> dict:
    return {s.id: s for s in trace.iterations[update].steps}


def test_dropout_example_gives_the_issues_numbers():
    """Issue 23's dropout: [1, 2, 3, 4] with p = 0.5 and the mask [1, 0, 1, 0] give
    [2, 0, 6, 0]; the gradient [0.1, 0.2, 0.3, 0.4] comes back as [0.2, 0, 0.6, 0]."""
    steps = steps_of(run(load_named("dropout")))
    cells = [f"drop1[{j}]" for j in range(1, 5)]
    assert [steps[f"out:{c}"].value for c in cells] == [2.0, 0.0, 6.0, 0.0]
    # the output's error term is 1 (its out is 2, its target 1): the gradient reaching the
    # dropout is the output's weights, 0.1 .. 0.4 (to the last bit where out is exactly 2)
    upstream = [steps[f"dout:{c}"].value for c in cells]
    assert upstream == pytest.approx([0.1, 0.2, 0.3, 0.4], rel=1e-15)
    back = [steps[f"din:x{j}"].value for j in range(1, 5)]  # (input_gradients: true)
    assert back == [2 * m * u for m, u in zip([1, 0, 1, 0], upstream)]  # the same mask, 1/(1 − p)
    assert back == pytest.approx([0.2, 0.0, 0.6, 0.0], rel=1e-15)


def test_the_dropout_node_alone_gives_the_issues_numbers_exactly():
    """The node's own arithmetic, with the issue's gradient given as its dout."""
    from bpwalk.engine.explain import _Inject
    from bpwalk.graph.layers import Context, Dropout

    sc = load_named("dropout")
    node = Dropout(0, sc.layers[0], sc.layer_inputs(0))
    ctx = Context(lambda a: a, _Inject(()), [0], [""], [""], [None], True, sc)
    arr = node.forward(ctx, np.zeros(0), np.zeros(0), np.array([[1.0, 2.0, 3.0, 4.0]]))
    assert arr.out.tolist() == [[2.0, 0.0, 6.0, 0.0]]
    arr.dout = np.array([[0.1, 0.2, 0.3, 0.4]])
    back = node.input_gradient(ctx, arr, np.zeros(0), None, None)
    assert back.tolist() == [[0.2, 0.0, 0.6, 0.0]]


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("name", ["dropout", "batchnorm"])
def test_bundled_against_torch(name):
    sc = load_named(name)
    with open(sc.path) as f:
        spec = yaml.safe_load(f)
    spec.setdefault("reduction", "mean")
    trace = run(sc, iterations=2, show={1})
    grads, after = torch_run(spec, sc)
    close(engine_arrays(sc, first_gradients(trace)), grads)
    close(engine_arrays(sc, trace.params_final), after)


def test_batchnorm_couples_the_batch():
    """Every sample's x gets a gradient through μ and σ² from every other's loss: the
    batch's statistics are written once, before any sample's x̂, and the sums after every
    sample's ∂E/∂x̂."""
    trace = run(load_named("batchnorm"))
    order = [s.id for s in trace.iterations[0].steps]
    assert order.index("var:bn1[2]") < order.index("xhat:bn1[1]@1")
    last_dxhat = max(order.index(f"dxhat:bn1[1]@{b}") for b in range(1, 5))
    assert last_dxhat < order.index("dvar:bn1[1]") < order.index("dout:h1@1")
    steps = steps_of(trace)
    mu = steps["mu:bn1[1]"]
    assert len(mu.terms) == 4 and mu.value == pytest.approx(
        np.mean([t[0].value for t in mu.terms]), rel=1e-15)


# ----------------------------------------------------------------------------- the views

BUNDLED = ("dropout", "batchnorm")


def cli(*args: str, columns: int = 80):
    from typer.testing import CliRunner

    from bpwalk.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns), "NO_COLOR": "1"})


@pytest.mark.parametrize("name", BUNDLED)
def test_every_command_runs_at_80_columns(name, tmp_path):
    from rich.cells import cell_len

    for args in (("run", name), ("run", name, "--ascii"), ("run", name, "--notation", "ng"),
                 ("run", name, "--notation", "cs231n"), ("run", name, "--round", "4"),
                 ("run", name, "-n", "3", "--show", "all")):
        done = cli(*args)
        assert done.exit_code == 0, (args, done.output)
        assert all(cell_len(line) <= 80 for line in done.stdout.splitlines()), args
        assert "\x1b[" not in done.stdout
        if "--ascii" in args:
            assert all(line.isascii() for line in done.stdout.splitlines()[2:]), args
    for fmt in ("md", "json", "html"):
        out = tmp_path / f"{name}.{fmt}"
        assert cli("export", name, "--format", fmt, "-o", str(out)).exit_code == 0
        assert out.stat().st_size > 0
    done = cli("worksheet", name, "-o", str(tmp_path / "ws.md"), "--key", str(tmp_path / "k.md"),
               "--answers-template", str(tmp_path / "answers.yaml"))
    assert done.exit_code == 0, done.output
    template = (tmp_path / "answers.yaml").read_text(encoding="utf-8")
    assert ("din:x1:" if name == "dropout" else "dvar:bn1[1]:") in template
    for args in (("run", name, "--form", "matrix"), ("lms", name, "-f", "moodle", "-o",
                                                     str(tmp_path / "q.xml"))):
        done = cli(*args)
        assert done.exit_code == 2 and "dropout or normalisation" in done.output


@pytest.mark.parametrize("name", BUNDLED)
def test_every_step_and_question_fits_80_columns(name):
    from rich.cells import cell_len
    from rich.console import Console

    from bpwalk.quiz import Quiz, QuizState
    from bpwalk.quiz import screen as quiz_screen
    from bpwalk.stepper import State, Walk, press, screen

    trace = run(load_named(name))
    walk = Walk.of(trace)
    console = Console(width=80, height=24, force_terminal=False, color_system=None)
    for index in range(0, len(walk), 3):  # (every third: a batchnorm's are many)
        rows = screen(walk, State(index=index), console, "unicode")
        assert len(rows) == 24 and all(cell_len(r) <= 80 for r in rows)
    text = "\n".join(screen(walk, press(State(index=3), "d", walk), console))
    assert "not drawn yet" in text
    found = press(State(index=0), "g", walk)  # the stepper's g finds a parameter by name
    param = "bn1.gamma[2]" if name == "batchnorm" else "w4"
    for key in param:
        found = press(found, key, walk)
    found = press(found, "enter", walk)
    assert walk.entries[found.index].step.subject == param
    quiz = Quiz(walk, trace.scenario)
    for i in sorted(quiz.questions)[:40:2]:
        rows = quiz_screen(QuizState(step=State(index=i)), quiz, console, "unicode")
        assert all(cell_len(r) <= 80 for r in rows)


def test_json_names_the_parameters(tmp_path):
    import json

    out = tmp_path / "t.json"
    assert cli("export", "batchnorm", "--format", "json", "-o", str(out)).exit_code == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    for name in ("bn1.gamma[2]", "bn1.beta[1]"):
        assert name in doc["final"]["params"]
    assert {"dvar:bn1[1]", "dmu:bn1[2]", "dxc:h1@3"} <= {
        s["id"] for u in doc["iterations"] for s in u["steps"]}


@pytest.mark.parametrize("name", BUNDLED)
def test_check_marks_the_bundled_answers_right(name):
    done = cli("check", name, str(resolve(name)[0].parent / "answers" / f"{name}.yaml"))
    assert done.exit_code == 0, done.output
    assert "right." in done.stdout and "wrong" not in done.stdout.lower()


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_adam_against_torch():
    """An optimizer's rule on γ and β as on any parameter: Adam (torch.optim.Adam's rule
    and defaults, written out: importing torch.optim costs seconds), two updates, torch's
    gradients."""
    import torch
    import torch.nn.functional as F

    sc = load_named("batchnorm")
    with open(sc.path, encoding="utf-8") as f:
        trace = run(loads(f.read() + "optimizer: {name: adam}\n"), iterations=2)
    t64 = lambda v: torch.tensor(v, dtype=torch.float64)
    params = [t64(v).requires_grad_() for v in (
        sc.layers[0].weights, sc.layers[1].weights, sc.layers[1].bias_values,
        sc.layers[2].weights, sc.layers[2].bias_values)]
    m = [torch.zeros_like(q) for q in params]
    v = [torch.zeros_like(q) for q in params]
    x, t = t64(sc.x), t64(sc.targets)
    for step in (1, 2):
        w1, g, b, w2, b2 = params
        h = F.batch_norm(x @ w1.T, None, None, g, b, training=True, eps=1e-5)
        loss = (0.5 * (t - (h @ w2.T + b2)) ** 2).sum(dim=1).mean()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for k, (q, dq) in enumerate(zip(params, grads)):
                m[k] = 0.9 * m[k] + 0.1 * dq
                v[k] = 0.999 * v[k] + 0.001 * dq * dq
                mhat, vhat = m[k] / (1 - 0.9 ** step), v[k] / (1 - 0.999 ** step)
                q -= sc.learning_rate * mhat / (vhat.sqrt() + 1e-8)
    final = trace.params_final
    close([np.array([final[n] for n in sc.layers[1].weight_names[0]]),
           np.array([final[n] for n in sc.layers[1].bias_names])],
          [params[1].detach().numpy(), params[2].detach().numpy()])


@pytest.mark.parametrize("seed", [4, 8, 18])
def test_random_networks_render_in_every_view(seed, tmp_path):
    """Layernorm, batchnorm per channel after a convolution, dropout after a flatten."""
    from rich.cells import cell_len

    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(random_network(seed), sort_keys=False), encoding="utf-8")
    done = cli("run", str(path), "--notation", "ng")
    assert done.exit_code == 0, done.output
    assert all(cell_len(line) <= 80 for line in done.stdout.splitlines())
    done = cli("export", str(path), "--format", "html", "-o", str(tmp_path / "p.html"))
    assert done.exit_code == 0, done.output


def test_the_judge_evaluates_every_step_on_its_own_numbers():
    """Each step's formula again (the judge's evaluate) gives its value: the kinds of
    dropout and normalisation are registered with their writers."""
    from bpwalk.engine import evaluate

    traces = [run(load_named(n)) for n in BUNDLED]
    traces.append(run(scenario_of(random_network(8))))  # batchnorm per channel, layernorm
    for trace in traces:
        for s in trace.iterations[0].steps:
            assert evaluate(s, {}) == pytest.approx(s.value, rel=1e-12, abs=1e-12), s.id
    steps = steps_of(traces[1])
    var = steps["var:bn1[1]"]  # x = 0 moved to 2 about μ = 0.5: (1.5² − 0.5²)/4 more
    x = var.terms[0][0]
    assert evaluate(var, {x.ref: x.value + 2.0}) == pytest.approx(var.value + 0.5, rel=1e-12)


def test_schema_describes_the_new_kinds():
    import json

    jsonschema = pytest.importorskip("jsonschema")
    from bpwalk.scenario import json_schema

    schema = json.loads(json.dumps(json_schema()))
    for name in BUNDLED:
        with open(resolve(name)[0], encoding="utf-8") as f:
            spec = yaml.safe_load(f)
        jsonschema.validate(spec, schema)
    spec["layers"][1]["eps"] = "small"  # batchnorm's eps: a number
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, schema)
