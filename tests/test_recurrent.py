"""An Elman RNN (kind: rnn) unrolled in time: its gradients against finite differences and
torch's nn.RNN, the bundled two-step example against an independent computation, and the
views and checks a sequence scenario goes through."""

from __future__ import annotations

import importlib.util
import math
import random

import numpy as np
import pytest
import yaml

from bpwalk.engine import run
from bpwalk.scenario import load, loads
from bpwalk.scenario.examples import resolve
from tests.conftest import run_cli

HAS_TORCH = importlib.util.find_spec("torch") is not None


def random_rnn(seed: int, reduction: str = "mean") -> dict:
    """A random configuration: sequence length 1-4, hidden 1-3, tanh or relu, outputs every
    or last, batch 1-3, an optional bias and h0."""
    g = random.Random(seed)
    n_in, hidden, steps, batch = g.randint(1, 3), g.randint(1, 3), g.randint(1, 4), g.randint(1, 3)
    n_out = g.randint(1, 2)
    every = g.random() < 0.5

    def m(r: int, c: int) -> list[list[float]]:
        return [[round(g.uniform(-1, 1), 3) for _ in range(c)] for _ in range(r)]

    rnn = {"kind": "rnn", "name": "rnn1", "hidden": hidden,
           "activation": g.choice(["tanh", "relu"]), "W_x": m(hidden, n_in),
           "W_h": m(hidden, hidden), "outputs": "every" if every else "last"}
    if g.random() < 0.5:
        rnn["bias"] = m(1, hidden)[0]
    if g.random() < 0.5:
        rnn["h0"] = m(1, hidden)[0]
    dense = {"neurons": n_out, "activation": g.choice(["linear", "tanh", "sigmoid"]),
             "weights": m(n_out, hidden), "bias": m(1, n_out)[0]}
    data = [{"sequence": m(steps, n_in), "targets": m(steps if every else 1, n_out)}
            for _ in range(batch)]
    return {"inputs": n_in, "layers": [rnn, dense], "data": data,
            "loss": g.choice(["half_squared_error", "squared_error"]),
            "learning_rate": 0.1, "reduction": reduction}


def grads(trace) -> dict[str, float]:
    """The batch's gradient of each parameter in the first update."""
    it = trace.iterations[0]
    return {s.id[5:]: s.value for s in it.steps if s.kind == "grad" and "@" not in s.id}


def loss_of(doc: dict) -> float:
    return run(loads(yaml.safe_dump(doc)), iterations=1).loss_history[0]


@pytest.mark.parametrize("seed", range(12))
def test_gradients_match_finite_differences(seed):
    doc = random_rnn(seed, reduction=random.Random(seed).choice(["mean", "sum"]))
    sc = loads(yaml.safe_dump(doc))
    got = grads(run(sc, iterations=1))
    assert set(got) == set(sc.param_names)
    for name in sc.param_names:
        e = 1e-6

        def shifted(d: float, name: str = name) -> float:
            c = yaml.safe_load(yaml.safe_dump(doc))
            rnn, dense = c["layers"]
            if name.startswith("rnn1."):
                what, idx = name[5:].split("[")
                ix = [int(k) - 1 for k in idx.rstrip("]").split(",")]
                if what == "b":
                    rnn["bias"][ix[0]] += d
                else:
                    rnn[what][ix[0]][ix[1]] += d
            else:
                k = int(name[1:]) - 1
                n_out, hidden = len(dense["weights"]), len(dense["weights"][0])
                if name.startswith("w"):
                    dense["weights"][k // hidden][k % hidden] += d
                else:
                    dense["bias"][k % n_out] += d
            return loss_of(c)

        fd = (shifted(e) - shifted(-e)) / (2 * e)
        assert got[name] == pytest.approx(fd, rel=1e-5, abs=1e-7), name


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("seed", range(40))
def test_gradients_and_two_updates_match_torch(seed):
    import torch

    doc = random_rnn(seed, reduction=random.Random(seed + 1).choice(["mean", "sum"]))
    sc = loads(yaml.safe_dump(doc))
    lay, dense = sc.layers
    hidden, n_in = len(lay.neurons), lay.n_in
    t64 = torch.float64
    rnn = torch.nn.RNN(n_in, hidden, nonlinearity=lay.activation, batch_first=True,
                       bias=lay.bias != "none", dtype=t64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.tensor(lay.w_x))
        rnn.weight_hh_l0.copy_(torch.tensor(lay.w_h))
        if lay.bias != "none":  # bpwalk's one bias is torch's bias_ih + bias_hh
            rnn.bias_ih_l0.copy_(torch.tensor(lay.bias_values))
            rnn.bias_hh_l0.zero_()
    if lay.bias != "none":  # one bias, as bpwalk's: bias_hh stays zero, untrained
        rnn.bias_hh_l0.requires_grad_(False)
    w_y = torch.tensor(dense.weights, requires_grad=True)
    b_y = torch.tensor(dense.bias_values, requires_grad=True)
    x = torch.tensor(sc.x)
    t = torch.tensor(sc.targets)
    h0 = torch.tensor(lay.h0).reshape(1, 1, -1).expand(1, len(sc.x), -1).contiguous()
    act = {"linear": lambda z: z, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[
        dense.activation]
    params = [p for p in rnn.parameters() if p.requires_grad] + [w_y, b_y]

    def torch_loss():
        hs, _ = rnn(x, h0)  # (B, T, H)
        if not lay.every:
            hs = hs[:, -1:]
        y = act(hs @ w_y.T + b_y)
        per = ((t - y) ** 2).sum(dim=(1, 2))
        per = per / 2 if sc.loss == "half_squared_error" else per
        return per.mean() if sc.reduction == "mean" else per.sum()

    torch_loss().backward()
    got = grads(run(sc, iterations=1))
    want = {}
    H = hidden
    for j in range(H):
        for i in range(n_in):
            want[f"rnn1.W_x[{j + 1},{i + 1}]"] = rnn.weight_ih_l0.grad[j, i].item()
        for k in range(H):
            want[f"rnn1.W_h[{j + 1},{k + 1}]"] = rnn.weight_hh_l0.grad[j, k].item()
        if lay.bias != "none":
            want[f"rnn1.b[{j + 1}]"] = rnn.bias_ih_l0.grad[j].item()
    for j, row in enumerate(dense.weight_names):
        for i, n in enumerate(row):
            want[n] = w_y.grad[j, i].item()
    for j, n in enumerate(dense.bias_names):
        want[n] = b_y.grad[j].item()
    assert set(got) == set(want)
    for n, value in want.items():
        assert got[n] == pytest.approx(value, rel=1e-12, abs=1e-15), n

    # two updates of plain SGD
    opt = torch.optim.SGD(params, lr=sc.learning_rate)
    for _ in range(2):
        opt.zero_grad()
        torch_loss().backward()
        opt.step()
    final = run(sc, iterations=2).params_final
    after = {}
    for j in range(H):
        for i in range(n_in):
            after[f"rnn1.W_x[{j + 1},{i + 1}]"] = rnn.weight_ih_l0[j, i].item()
        for k in range(H):
            after[f"rnn1.W_h[{j + 1},{k + 1}]"] = rnn.weight_hh_l0[j, k].item()
        if lay.bias != "none":
            after[f"rnn1.b[{j + 1}]"] = rnn.bias_ih_l0[j].item()
    for j, row in enumerate(dense.weight_names):
        for i, n in enumerate(row):
            after[n] = w_y[j, i].item()
    for j, n in enumerate(dense.bias_names):
        after[n] = b_y[j].item()
    for n, value in after.items():
        assert final[n] == pytest.approx(value, rel=1e-12, abs=1e-15), n


def test_bundled_two_step_rnn_forward_values():
    """Issue 24's example, computed here independently with math.tanh:
    h_t = tanh(W_x·x_t + W_h·h_(t-1)), y_t = W_y·h_t, h_0 = 0."""
    sc = load(*resolve("rnn_two_steps"))
    it = run(sc, iterations=1).iterations[0]
    v = {s.id: s.value for s in it.steps}
    w_x, w_h, w_y = 0.5, 0.1, 2.0
    h1 = math.tanh(w_x * 1)
    h2 = math.tanh(w_x * 2 + w_h * h1)
    assert v["out:h@t1"] == pytest.approx(h1, rel=1e-15)
    assert v["out:h@t2"] == pytest.approx(h2, rel=1e-15)
    assert v["out:y@t1"] == pytest.approx(w_y * h1, rel=1e-15)
    assert v["out:y@t2"] == pytest.approx(w_y * h2, rel=1e-15)
    loss = 0.5 * (1 - w_y * h1) ** 2 + 0.5 * (2 - w_y * h2) ** 2
    assert v["loss"] == pytest.approx(loss, rel=1e-14)
    # BPTT by hand: dE/dh2 = (y2 - 2)·W_y; dE/dh1 = (y1 - 1)·W_y + dE/dh2·tanh′2·W_h
    d2 = (w_y * h2 - 2) * w_y
    d1 = (w_y * h1 - 1) * w_y + d2 * (1 - h2 ** 2) * w_h
    assert v["dout:h@t2"] == pytest.approx(d2, rel=1e-14)
    assert v["dout:h@t1"] == pytest.approx(d1, rel=1e-14)
    g_wh = d2 * (1 - h2 ** 2) * h1 + d1 * (1 - h1 ** 2) * 0.0
    assert v["grad:rnn1.W_h[1,1]"] == pytest.approx(g_wh, rel=1e-14)
    # the tanh a blog printed as 0.7790 is 0.7803...
    assert round(h2, 4) == 0.7803


def test_batch_ids_carry_time_then_sample():
    doc = random_rnn(3)
    doc["data"] = doc["data"][:1] * 2
    doc["layers"][0]["outputs"] = "every"
    steps = len(doc["data"][0]["sequence"])
    for d in doc["data"]:
        d["targets"] = [[0.5] * doc["layers"][1]["neurons"]] * steps
    it = run(loads(yaml.safe_dump(doc)), iterations=1).iterations[0]
    ids = {s.id for s in it.steps}
    assert "net:h1@t1@2" in ids and "grad:rnn1.W_h[1,1]@t1@2" in ids
    assert "grad:rnn1.W_h[1,1]@2" in ids and "grad:rnn1.W_h[1,1]" in ids


def test_long_sequence_trains_on_the_swept_path():
    g = np.random.default_rng(0)
    doc = {"inputs": 2, "layers": [
        {"kind": "rnn", "hidden": 8, "activation": "tanh",
         "W_x": (g.uniform(-0.3, 0.3, (8, 2))).round(3).tolist(),
         "W_h": (g.uniform(-0.3, 0.3, (8, 8))).round(3).tolist()},
        {"neurons": 1, "activation": "linear", "weights": [[0.1] * 8]}],
        "data": [{"sequence": g.uniform(-1, 1, (20, 2)).round(3).tolist(),
                  "targets": g.uniform(-1, 1, (20, 1)).round(3).tolist()}],
        "loss": "half_squared_error", "learning_rate": 0.01}
    trace = run(loads(yaml.safe_dump(doc)), iterations=50)
    assert trace.loss_history[-1] < trace.loss_history[0]


# ----------------------------------------------------------------------------- the views


def cli(*args: str, tmp_path=None) -> tuple[int, str, str]:
    """bpwalk's exit code, stdout and stderr, as a user runs it (NO_COLOR, 80 columns)."""
    p = run_cli(*args, cwd=tmp_path)
    return p.returncode, p.stdout, p.stderr


def test_run_shows_bptt_with_its_numbers_in_80_columns():
    code, out, err = cli("run", "rnn_two_steps")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "\x1b[" not in out
    # the unrolled forward values, per time step
    assert "out_h^<1> = tanh(net_h^<1>)" in out and "out_h^<2> = tanh(net_h^<2>)" in out
    # backward from the last step to the first: dE/dh at t2 before t1
    assert out.index("∂E/∂out_h^<2>") < out.index("∂E/∂out_h^<1>")
    # the recurrent path ∂E/∂h_(t+1)·act′·W_h, written with its numbers
    assert "∂E/∂out_h^<2>·∂out_h^<2>/∂net_h^<2>·" in out
    # W_h's gradient, the sum over time with one term per step
    assert "∂E/∂W_h₁₁             = ∂E/∂W_h₁₁^<1> + ∂E/∂W_h₁₁^<2>" in out


@pytest.mark.parametrize("notation", ["mazur", "cs231n", "ng"])
def test_notations_a_sequence_is_written_in(notation):
    code, out, err = cli("run", "rnn_two_steps", "--notation", notation)
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80


@pytest.mark.parametrize("args, words", [
    (("run", "rnn_two_steps", "--form", "matrix"), "--form matrix does not write a recurrent"),
    (("run", "rnn_two_steps", "--notation", "nielsen"), "a recurrent network is written in"),
    (("export", "rnn_two_steps", "--format", "md", "--notation", "han-kamber"),
     "a recurrent network is written in"),
    (("worksheet", "rnn_two_steps", "--notation", "mitchell"), "a recurrent network is"),
    (("lms", "rnn_two_steps", "-f", "moodle", "-o", "q.xml"), ("bpwalk lms does not draw variants of a "
                                              "recurrent")),
])
def test_what_a_sequence_cannot_have_yet_is_refused_in_one_line(args, words, tmp_path):
    code, _out, err = cli(*args, tmp_path=tmp_path)
    assert code == 2
    assert "Traceback" not in err
    assert words in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("fmt", ["md", "json", "html"])
def test_exports(fmt, tmp_path):
    code, _out, err = cli("export", "rnn_two_steps", "--format", fmt, "-o", f"r.{fmt}",
                         tmp_path=tmp_path)
    assert code == 0, err
    text = (tmp_path / f"r.{fmt}").read_text(encoding="utf-8")
    assert "W_h" in text and "t2" in text


def test_worksheet_key_and_check(tmp_path):
    code, _, err = cli("worksheet", "rnn_two_steps", "-o", "ws.md", "--key", "key.md",
                       "--answers-template", "answers.yaml", tmp_path=tmp_path)
    assert code == 0, err
    template = (tmp_path / "answers.yaml").read_text(encoding="utf-8")
    assert "grad:rnn1.W_h[1,1]@t2:" in template
    sc = load(*resolve("rnn_two_steps"))
    values = {s.id: s.value for s in run(sc, iterations=1).iterations[0].steps}
    right = "".join(f"{k}: {v:.6f}\n" for k, v in values.items())
    (tmp_path / "right.yaml").write_text(right, encoding="utf-8")
    code, out, err = cli("check", "rnn_two_steps", "right.yaml", tmp_path=tmp_path)
    assert code == 0, err
    assert "Every answer is right." in out


def h_t(w_x: float, w_h: float, xs: list[float], h0: float = 0.0) -> list[float]:
    """h_t = tanh(W_x·x_t + W_h·h_(t-1)), computed here on its own."""
    hs, h = [], h0
    for x in xs:
        h = math.tanh(w_x * x + w_h * h)
        hs.append(h)
    return hs


@pytest.mark.parametrize("mistake, step, wrong, words", [
    # BPTT truncated: dE/dh1 from the output at t1 only, the path from t2 left out
    ("bptt_truncated", "dout:h@t1", lambda h, d2: (2 * h[0] - 1) * 2,
     "backpropagation through time truncated"),
    # act′ at the wrong time: tanh′ at t1 on the path from t2
    ("dact_wrong_time", "dout:h@t1",
     lambda h, d2: (2 * h[0] - 1) * 2 + d2 * (1 - h[0] ** 2) * 0.1,
     "derivative taken at the wrong time step"),
])
def test_check_names_the_mistakes_of_bptt(mistake, step, wrong, words, tmp_path):
    h = h_t(0.5, 0.1, [1, 2])
    d2 = (2 * h[1] - 2) * 2  # dE/dh2 = (y2 - target)·W_y
    (tmp_path / "a.yaml").write_text(f"{step}: {wrong(h, d2):.6f}\n", encoding="utf-8")
    code, out, err = cli("check", "rnn_two_steps", "a.yaml", tmp_path=tmp_path)
    assert code == 1, err
    assert "WRONG" in out and words in " ".join(out.split())


def test_check_names_w_h_from_the_last_step_only(tmp_path):
    """With h_0 = 0.5 (not 0), W_h's term at t1 is not 0, so summing matters."""
    text = resolve_text("rnn_two_steps").replace("    outputs: every",
                                                  "    h0: [0.5]\n    outputs: every")
    (tmp_path / "s.yaml").write_text(text, encoding="utf-8")
    sc = load(tmp_path / "s.yaml")
    steps = {s.id: s.value for s in run(sc, iterations=1).iterations[0].steps}
    last = steps["grad:rnn1.W_h[1,1]@t2"]
    assert last != pytest.approx(steps["grad:rnn1.W_h[1,1]"])
    (tmp_path / "a.yaml").write_text(f"grad:rnn1.W_h[1,1]: {last:.6f}\n", encoding="utf-8")
    code, out, err = cli("check", "s.yaml", "a.yaml", tmp_path=tmp_path)
    assert code == 1, err
    assert "from the last time step only" in " ".join(out.split())


def resolve_text(name: str) -> str:
    path, _ = resolve(name)
    return path.read_text(encoding="utf-8")


def test_stepper_draw_key_draws_the_network_unrolled():
    from rich.console import Console

    from bpwalk.stepper import State, Walk, press, screen

    walk = Walk.of(run(load(*resolve("rnn_two_steps")), iterations=1))
    state = press(State(index=3), "d", walk)
    console = Console(width=80, height=30, record=True, color_system=None)
    rows = screen(walk, state, console)
    assert any(f"unrolled in time, at {walk.entries[3].step.id}" in r for r in rows)
    assert press(press(State(index=0), "n", walk), "n", walk).index == 2


# ----------------------------------------------------------------------------- validate


@pytest.mark.parametrize("old, new, where, words", [
    ("    W_h: [[0.1]]", "    W_h: [[0.1, 0.2]]", ":18:11:",
     "W_h row 1 has 2 numbers but there is 1 hidden unit"),
    ("    W_x: [[0.5]]", "    W_x: [[0.5], [0.2]]", ":17:10:",
     "W_x has 2 rows but the rnn layer has 1 hidden unit"),
    ("  - sequence: [[1], [2]]", "  - sequence: [[1, 3], [2]]", ":25:16:",
     "data sample 1 sequence row 1 has 2 numbers but there is 1 input"),
    ("    targets: [[1], [2]]", "    targets: [[1]]", ":26:14:",
     "data sample 1 has 1 target row but 2 time steps with outputs: every"),
    ("    weights: [[2.0]]", "    weights: [[2.0, 1.0]]", ":22:15:",
     "layer 2 weights row 1 (y) has 2 numbers but the layer has 1 input (h)"),
    ("    activation: tanh", "    activation: sigmoid", ":16:17:",
     "an rnn layer's activation is tanh or relu"),
    ("loss: half_squared_error", "loss: binary_cross_entropy", ":27:7:",
     "binary_cross_entropy is not taken with an rnn layer yet"),
])
def test_validate_names_what_does_not_fit(old, new, where, words, tmp_path):
    text = resolve_text("rnn_two_steps")
    assert old in text
    (tmp_path / "s.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
    code, _out, err = cli("validate", "s.yaml", tmp_path=tmp_path)
    assert code == 2
    assert err.startswith("s.yaml" + where), err
    assert words in err and "Traceback" not in err


def test_validate_says_ok():
    code, out, err = cli("validate", "rnn_two_steps")
    assert code == 0, err
    assert "rnn_two_steps: ok" in out


def test_steps_per_update_counts_every_time_step():
    """The estimate that sizes a trace before it is built (the 50 MB guard) grows with the
    sequence's length, and is near the engine's own count."""
    doc = random_rnn(5)
    short = loads(yaml.safe_dump(doc))
    for d in doc["data"]:
        d["sequence"] = d["sequence"] * 3
        d["targets"] = d["targets"] * 3 if doc["layers"][0]["outputs"] == "every" else d["targets"]
    long = loads(yaml.safe_dump(doc))
    assert long.steps_per_update() > 2 * short.steps_per_update() - 2 * len(long.param_names)
    made = len(run(long, iterations=1).iterations[0].steps)
    assert made / 2 <= long.steps_per_update() <= made * 2
