"""Convolution, pooling and flatten layers (inputs: {shape: [C, H, W]}): the engine's
numbers against d2l's published cross-correlation, against torch (functional conv2d,
max_pool2d, avg_pool2d: every gradient and the parameters after two updates, to 1e-12
relative; skipped without torch) and against finite differences of the loss (no torch)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import yaml

from bpwalk.engine import run
from bpwalk.engine.explain import _SweptPath
from bpwalk.engine.params import Params
from bpwalk.scenario import load, loads, resolve

from .conftest import run_cli

HAS_TORCH = importlib.util.find_spec("torch") is not None
ACTS = ("linear", "relu", "tanh", "sigmoid")


def random_network(seed: int) -> dict:
    """A random shaped network: conv (1-3 channels in and out, kernel 1-3, stride 1-2,
    padding 0-1), then max or average pooling, sometimes a second convolution, then
    flatten and a dense output layer; 1-3 samples, mean or sum over the batch."""
    rng = np.random.default_rng(seed)
    c, h, w = int(rng.integers(1, 4)), int(rng.integers(3, 7)), int(rng.integers(3, 7))
    layers, shape = [], (c, h, w)

    def conv() -> None:
        nonlocal shape
        ci, hi, wi = shape
        k = int(rng.integers(1, min(3, hi, wi) + 1))
        pad = int(rng.integers(0, 2))
        stride = int(rng.integers(1, 3))
        co = int(rng.integers(1, 4))
        layer = {"kind": "conv2d", "kernels": rng.uniform(-1, 1, (co, ci, k, k)).round(3).tolist(),
                 "stride": stride, "padding": pad, "activation": str(rng.choice(ACTS))}
        if rng.random() < 0.7:
            layer["bias"] = rng.uniform(-0.5, 0.5, co).round(3).tolist()
        layers.append(layer)
        shape = (co, (hi + 2 * pad - k) // stride + 1, (wi + 2 * pad - k) // stride + 1)

    conv()
    size = int(rng.integers(1, min(2, shape[1], shape[2]) + 1))
    stride = int(rng.integers(1, size + 1))
    layers.append({"kind": str(rng.choice(["maxpool", "avgpool"])), "size": size,
                   "stride": stride})
    shape = (shape[0], (shape[1] - size) // stride + 1, (shape[2] - size) // stride + 1)
    if rng.random() < 0.4:
        conv()
    n = shape[0] * shape[1] * shape[2]
    layers += [{"kind": "flatten"},
               {"neurons": 2, "activation": "sigmoid",
                "weights": rng.uniform(-1, 1, (2, n)).round(3).tolist(),
                "bias": rng.uniform(-0.5, 0.5, 2).round(3).tolist()}]
    samples = int(rng.integers(1, 4))
    data = [{"inputs": rng.uniform(-2, 2, (c, h, w)).round(2).tolist(),
             "targets": rng.uniform(0, 1, 2).round(2).tolist()} for _ in range(samples)]
    return {"inputs": {"shape": [c, h, w]}, "layers": layers, "loss": "half_squared_error",
            "learning_rate": 0.1, "data": data,
            "reduction": str(rng.choice(["mean", "sum"])), "iterations": 2}


def load_named(name: str):
    return load(resolve(name)[0])


def scenario_of(spec: dict):
    return loads(yaml.safe_dump(spec, sort_keys=False))


def torch_run(spec: dict) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """torch's gradients of the first update and parameters after two (plain SGD)."""
    import torch
    import torch.nn.functional as F

    act = {"linear": lambda z: z, "relu": torch.relu, "tanh": torch.tanh,
           "sigmoid": torch.sigmoid}
    params, names = [], []
    for i, lay in enumerate(spec["layers"]):
        if lay.get("kind") in ("conv2d", None):
            params.append(torch.tensor(lay.get("kernels", lay.get("weights")),
                                       dtype=torch.float64, requires_grad=True))
            names.append((i, "w"))
            if "bias" in lay:
                params.append(torch.tensor(lay["bias"], dtype=torch.float64, requires_grad=True))
                names.append((i, "b"))
    x = torch.tensor([d["inputs"] for d in spec["data"]], dtype=torch.float64)
    t = torch.tensor([d["targets"] for d in spec["data"]], dtype=torch.float64)
    grads = None
    for update in range(2):
        p = dict(zip(names, params))
        a = x
        for i, lay in enumerate(spec["layers"]):
            kind = lay.get("kind", "dense")
            if kind == "conv2d":
                a = act[lay["activation"]](F.conv2d(a, p[i, "w"], p.get((i, "b")),
                                                    stride=lay["stride"], padding=lay["padding"]))
            elif kind == "maxpool":
                a = F.max_pool2d(a, lay["size"], lay["stride"])
            elif kind == "avgpool":
                a = F.avg_pool2d(a, lay["size"], lay["stride"])
            elif kind == "flatten":
                a = torch.flatten(a, 1)
            else:
                a = act[lay["activation"]](a @ p[i, "w"].T + p[i, "b"])
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


def engine_arrays(trace, scenario, values: dict[str, float]) -> list[np.ndarray]:
    """`values` by name, as arrays shaped as the layers' parameters (torch's order)."""
    out = []
    for lay in scenario.layers:
        if lay.kind in ("conv2d", "dense"):
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


def same(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want) and got
    for g, w in zip(got, want):
        close(g, w)


def close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * scale)


# ----------------------------------------------------------------------------- published


def test_d2l_cross_correlation():
    """Dive into Deep Learning, section 7.2: corr2d(X, K) = [[19, 25], [37, 43]]."""
    trace = run(load_named("d2l_conv"))
    nets = [s.value for s in trace.iterations[0].steps if s.kind == "net"
            and s.subject.startswith("conv1")]
    assert nets == [19.0, 25.0, 37.0, 43.0]
    # carried on to a loss and an update: the loss falls
    assert trace.loss_history[-1] < trace.loss_history[0]


# ----------------------------------------------------------------------------- torch


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("seed", range(40))
def test_against_torch(seed):
    spec = random_network(seed)
    sc = scenario_of(spec)
    trace = run(sc, iterations=2, show={1})
    grads, after = torch_run(spec)
    same(engine_arrays(trace, sc, first_gradients(trace)), grads)
    same(engine_arrays(trace, sc, trace.params_final), after)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("name", ["d2l_conv", "conv_pool"])
def test_bundled_against_torch(name):
    sc = load_named(name)
    with open(sc.path) as f:
        spec = yaml.safe_load(f)
    spec.setdefault("reduction", "mean")
    spec["layers"] = [{"stride": 1, "padding": 0, **lay} if lay.get("kind") == "conv2d"
                      else {"stride": lay["size"], **lay} if "pool" in lay.get("kind", "")
                      else lay for lay in spec["layers"]]
    trace = run(sc, iterations=2, show={1})
    grads, after = torch_run(spec)
    same(engine_arrays(trace, sc, first_gradients(trace)), grads)
    same(engine_arrays(trace, sc, trace.params_final), after)


# ----------------------------------------------------------------------------- finite differences


@pytest.mark.parametrize("seed", range(40, 60))
def test_against_finite_differences(seed):
    """Each gradient the trace reports against a central difference of the batch loss."""
    spec = random_network(seed)
    sc = scenario_of(spec)
    trace = run(sc, iterations=1)
    grads = first_gradients(trace)
    path, params = _SweptPath(sc), Params.of(sc)
    flat = [(li, bias) for li in range(len(sc.layers)) for bias in (False, True)]
    h = 1e-5
    for li, bias in flat:
        lay = sc.layers[li]
        names = lay.bias_names if bias else [n for row in lay.weight_names for n in row]
        for k, name in enumerate(names):
            if name not in grads:
                continue
            diffs = []
            for sign in (1, -1):
                w = [a.copy() for a in params.weights]
                b = [a.copy() for a in params.biases]
                target = b[li] if bias else w[li]
                target.reshape(-1)[k] += sign * h
                diffs.append(path.dataset_loss(sc, Params(w, b)))
            fd = (diffs[0] - diffs[1]) / (2 * h)
            assert grads[name] == pytest.approx(fd, rel=1e-5, abs=1e-7), name


def test_unread_updates_match_the_explained_ones():
    """Updates nobody reads (trained on the sweep without Steps) give the numbers of the
    explained path."""
    sc = scenario_of(random_network(7))
    quiet = run(sc, iterations=3, show=set())
    loud = run(sc, iterations=3, show={1, 2, 3})
    assert quiet.params_final == loud.params_final
    assert quiet.loss_history == loud.loss_history


# ----------------------------------------------------------------------------- the views

BUNDLED = ("d2l_conv", "conv_pool")
AVGPOOL = """
inputs: {shape: [1, 4, 4]}
layers:
  - kind: conv2d
    kernels: [[[[0.5, -0.25], [0.25, 0.5]]]]
    stride: 2
    padding: 1
    activation: tanh
  - kind: avgpool
    size: 2
    stride: 1
  - kind: flatten
  - neurons: [o1]
    activation: sigmoid
    weights: [[0.4, -0.3, 0.2, 0.1]]
loss: half_squared_error
learning_rate: 0.5
data:
  - inputs: [[[1, 0, 2, 1], [0, 1, 3, 0], [2, 1, 0, 1], [1, 0, 1, 2]]]
    targets: [1]
"""


@pytest.mark.parametrize("name", BUNDLED)
def test_every_command_runs_at_80_columns(name, tmp_path):
    from rich.cells import cell_len

    assert run_cli("validate", name).returncode == 0
    for args in (("run", name), ("run", name, "--ascii", "-n", "3", "--show", "all"),
                 ("run", name, "--notation", "ng"), ("run", name, "--notation", "cs231n"),
                 ("run", name, "--round", "4", "--input-gradients")):
        done = run_cli(*args)
        assert done.returncode == 0 and not done.stderr.strip(), (args, done.stderr)
        assert all(cell_len(line) <= 80 for line in done.stdout.splitlines()), args
        assert "\x1b[" not in done.stdout  # NO_COLOR
        if "--ascii" in args:
            assert all(line.isascii() for line in done.stdout.splitlines()[2:]), args
    for fmt in ("md", "json", "html"):
        out = tmp_path / f"{name}.{fmt}"
        assert run_cli("export", name, "--format", fmt, "-o", str(out)).returncode == 0
        assert out.stat().st_size > 0
    done = run_cli("worksheet", name, "-o", str(tmp_path / "ws.md"),
                   "--key", str(tmp_path / "key.md"),
                   "--answers-template", str(tmp_path / "answers.yaml"))
    assert done.returncode == 0, done.stderr
    assert "net:conv1[1,1,1]:" in (tmp_path / "answers.yaml").read_text(encoding="utf-8")


def test_json_export_names_the_parameters_as_torch_lays_them_out(tmp_path):
    import json

    out = tmp_path / "t.json"
    assert run_cli("export", "d2l_conv", "--format", "json", "-o", str(out)).returncode == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    text = json.dumps(doc)
    for name in ("conv1.K[1,1,2,1]", "conv1.b[1]", "net:conv1[1,2,2]"):
        assert name in text
    assert [[[0, 1, 2], [3, 4, 5], [6, 7, 8]]] in [d["inputs"] for d in doc["scenario"]["data"]]


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
    for style in ("unicode", "ascii"):
        for index in range(len(walk)):
            rows = screen(walk, State(index=index), console, style)
            assert len(rows) == 24 and all(cell_len(r) <= 80 for r in rows)
    drawn = press(State(index=3), "d", walk)  # the picture: the layer's grids, in brackets
    text = "\n".join(screen(walk, drawn, console))
    assert "conv1 out" in text and "[ ] this step's cells" in text
    quiz = Quiz(walk, trace.scenario)
    for i in sorted(quiz.questions)[:40]:
        rows = quiz_screen(QuizState(step=State(index=i)), quiz, console, "unicode")
        assert all(cell_len(r) <= 80 for r in rows)


@pytest.mark.parametrize("args", [
    ("run", "conv_pool", "--form", "matrix"),
    ("worksheet", "conv_pool", "--form", "matrix"),
    ("export", "conv_pool", "--form", "matrix", "--format", "md"),
    ("lms", "conv_pool", "-f", "moodle"),
    ("lms", "conv_pool", "-f", "qti"),
    ("lms", "conv_pool", "-f", "prairielearn"),
])
def test_what_cannot_show_it_yet_refuses_in_one_line(args, tmp_path):
    done = run_cli(*args, "-o", str(tmp_path / "out")) if args[0] in ("lms", "worksheet") \
        else run_cli(*args)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "convolution" in done.stderr


def test_answers_written_as_matrices_refuse_in_one_line(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("dW1: [[0.08, -0.02]]\n", encoding="utf-8")
    done = run_cli("check", "conv_pool", str(path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().endswith("like 'net:conv1[1,1,1]: 19'")
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_python_api_refuses_the_matrix_form():
    from bpwalk.api import document

    trace = run(load_named("conv_pool"))
    with pytest.raises(ValueError, match="convolution"):
        document(trace, "html", matrix=True)
    assert "conv1" in document(trace, "html")


def test_input_gradients_through_a_pooling_first_layer_refuse(tmp_path):
    path = tmp_path / "pool_first.yaml"
    path.write_text("""inputs: {shape: [1, 2, 2]}
layers:
  - kind: maxpool
    size: 2
  - kind: flatten
  - neurons: [o1]
    activation: sigmoid
    weights: [[0.5]]
loss: half_squared_error
learning_rate: 0.5
data:
  - inputs: [[[1, 2], [3, 4]]]
    targets: [1]
""", encoding="utf-8")
    assert run_cli("run", str(path)).returncode == 0
    done = run_cli("run", str(path), "--input-gradients")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "conv2d or dense" in done.stderr


# ----------------------------------------------------------------------------- check


def answers(trace, wrong: dict[str, float] | None = None, only=None) -> str:
    """An answers file of the trace's own values (to 6 decimals), some replaced."""
    wrong = wrong or {}
    return "".join(f"{s.id}: {wrong.get(s.id, s.value):.6f}\n"
                   for s in trace.iterations[0].steps if only is None or s.id in only)


def mistaken(sc, kind: str, target: str) -> float:
    from bpwalk.mistakes import Mistake

    steps = run(sc, mistakes=(Mistake(kind, target),)).iterations[0].steps
    return next(s.value for s in steps if s.id == target)


def test_check_marks_right_answers_right(tmp_path):
    sc = load_named("conv_pool")
    path = tmp_path / "right.yaml"
    path.write_text(answers(run(sc)), encoding="utf-8")
    done = run_cli("check", "conv_pool", str(path))
    assert done.returncode == 0, done.stdout
    assert "Every answer is right." in done.stdout


@pytest.mark.parametrize("name, kind, target, words", [
    ("conv_pool", "kernel_flipped", "net:conv1[1,1,2]", "kernel flipped"),
    ("d2l_conv", "kernel_flipped", "net:conv1[1,1,1]", "kernel flipped"),
    ("conv_pool", "pool_spread", "dout:conv1[1,1,1]", "spread over the whole window"),
    ("conv_pool", "pool_averaged", "dout:conv1[1,1,1]", "averaged over the window"),
    (None, "pool_not_divided", "dout:conv1[1,1,1]", "not divided"),
])
def test_check_names_the_convolution_mistakes(name, kind, target, words, tmp_path):
    if name is None:
        scenario_path = tmp_path / "avg.yaml"
        scenario_path.write_text(AVGPOOL, encoding="utf-8")
        sc, name = load(scenario_path), str(scenario_path)
    else:
        sc = load_named(name)
    trace = run(sc)
    value = mistaken(sc, kind, target)
    right = next(s.value for s in trace.iterations[0].steps if s.id == target)
    assert value != pytest.approx(right, abs=1e-6)  # the mistake changes this step
    path = tmp_path / "answers.yaml"
    path.write_text(answers(trace, {target: value}), encoding="utf-8")
    done = run_cli("check", name, str(path), env={"COLUMNS": "200"})
    assert done.returncode == 1
    line = next(x for x in done.stdout.splitlines() if x.startswith(f"→ {target}"))
    assert "WRONG" in line and words in line


def test_schema_describes_the_shaped_format():
    import json

    import jsonschema

    from bpwalk.scenario import json_schema

    schema = json.loads(json.dumps(json_schema()))
    jsonschema.validate(yaml.safe_load(AVGPOOL), schema)
    bad = yaml.safe_load(AVGPOOL)
    bad["layers"][0]["stride"] = "two"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_the_judge_evaluates_a_pooling_step_on_other_numbers():
    from bpwalk.engine import evaluate

    steps = {s.id: s for s in run(load_named("conv_pool")).iterations[0].steps}
    pool = steps["out:pool1[1,1,1]"]  # max(out_conv1[1,1,1], [1,1,2], [1,2,1], [1,2,2])
    assert evaluate(pool, {}) == pool.value
    assert evaluate(pool, {"out:conv1[1,2,2]": 5.0}) == 5.0
    sc = loads(AVGPOOL)
    steps = {s.id: s for s in run(sc).iterations[0].steps}
    mean = steps["out:pool1[1,1,1]"]
    assert evaluate(mean, {}) == pytest.approx(mean.value, rel=1e-15)
    assert evaluate(mean, {"out:conv1[1,1,1]": mean.terms[0][0].value + 4.0}) == \
        pytest.approx(mean.value + 1.0, rel=1e-12)  # one cell of four up by 4: the mean by 1


@pytest.mark.parametrize("seed", [3, 10, 25])
def test_random_networks_render_in_every_view(seed, tmp_path):
    """Windows of one cell, padded corners no kernel entry reaches, several channels."""
    spec = random_network(seed)
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    for args in (("run", str(path), "--notation", "ng"),
                 ("export", str(path), "--format", "html", "-o", str(tmp_path / "p.html"))):
        done = run_cli(*args)
        assert done.returncode == 0, done.stderr


def test_the_page_opens_without_errors_and_steps(browser, tmp_path):
    """The HTML page in the system's Chromium: no console error, keys step through it."""
    pytest.importorskip("playwright.sync_api")
    out, sheet = tmp_path / "conv.html", tmp_path / "sheet.html"
    assert run_cli("export", "conv_pool", "--format", "html", "-o", str(out)).returncode == 0
    assert run_cli("worksheet", "conv_pool", "-f", "html", "-o", str(sheet)).returncode == 0
    for path in (out, sheet):
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m, errors=errors: errors.append(m.text)
                if m.type == "error" else None)
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        page.goto(path.as_uri())
        for key in ("ArrowRight", "ArrowRight", "End", "Home"):
            page.keyboard.press(key)
        assert errors == [], path.name
        assert page.locator("#grids table.grid").count() > 0, path.name
        page.close()
