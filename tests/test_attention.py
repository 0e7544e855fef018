"""One self-attention head (kind: attention): its gradients against finite differences and
against the head written in torch ops, the bundled example against an independent
computation, the mistakes `check` names, and the views an attention scenario goes
through."""

from __future__ import annotations

import importlib.util
import math
import os
import random

import pytest
import yaml

from bpwalk.engine import run
from bpwalk.scenario import load, loads
from bpwalk.scenario.examples import resolve
from tests.conftest import ROOT

HAS_TORCH = importlib.util.find_spec("torch") is not None


def random_attention(seed: int) -> dict:
    """A random configuration: tokens 1-4, d_model 1-3, d_k 1-3, scale true, false or a
    number, causal or not, W_O or not, a dense layer after it or not, batch 1-3."""
    g = random.Random(seed)
    tokens, d_model, d_k, batch = (g.randint(1, 4), g.randint(1, 3), g.randint(1, 3),
                                   g.randint(1, 3))

    def m(r: int, c: int) -> list[list[float]]:
        return [[round(g.uniform(-1, 1), 3) for _ in range(c)] for _ in range(r)]

    att = {"kind": "attention", "name": "att1", "W_Q": m(d_model, d_k),
           "W_K": m(d_model, d_k), "W_V": m(d_model, d_k),
           "scale": g.choice([True, False, round(g.uniform(0.2, 1.5), 3)]),
           "causal": g.random() < 0.5}
    width = d_k
    if g.random() < 0.5:
        width = g.randint(1, 3)
        att["W_O"] = m(d_k, width)
    layers: list[dict] = [att]
    n_out = width
    if g.random() < 0.5:
        n_out = g.randint(1, 2)
        layers.append({"neurons": n_out, "activation": g.choice(["linear", "tanh", "sigmoid"]),
                       "weights": m(n_out, width), "bias": m(1, n_out)[0]})
    data = [{"sequence": m(tokens, d_model), "targets": m(tokens, n_out)}
            for _ in range(batch)]
    return {"inputs": d_model, "layers": layers, "data": data,
            "loss": g.choice(["half_squared_error", "squared_error", "mean_squared_error"]),
            "learning_rate": 0.1, "reduction": g.choice(["mean", "sum"])}


def grads(trace) -> dict[str, float]:
    """The batch's gradient of each parameter in the first update."""
    it = trace.iterations[0]
    return {s.id[5:]: s.value for s in it.steps if s.kind == "grad" and "@" not in s.id}


@pytest.mark.parametrize("seed", range(10))
def test_gradients_match_finite_differences(seed):
    from bpwalk.engine.explain import _SweptPath
    from bpwalk.engine.params import Params

    sc = loads(yaml.safe_dump(random_attention(seed)))
    got = grads(run(sc, iterations=1))
    assert set(got) == set(sc.param_names)
    path, e = _SweptPath(sc), 1e-6
    names = [(li, k, n) for li, lay in enumerate(sc.layers)
             for k, n in enumerate(n for row in lay.weight_names for n in row)]
    names += [(li, -1 - k, n) for li, lay in enumerate(sc.layers)
              for k, n in enumerate(lay.bias_names)]
    for li, k, name in names:
        def loss(d: float, li: int = li, k: int = k) -> float:
            p = Params.of(sc)
            target = p.weights[li].reshape(-1) if k >= 0 else p.biases[li]
            target[k if k >= 0 else -1 - k] += d
            return path.dataset_loss(sc, p)

        assert got[name] == pytest.approx((loss(e) - loss(-e)) / (2 * e), rel=1e-5,
                                          abs=1e-7), name


def torch_head(sc, torch):
    """The head and the layer after it written in torch ops, from the scenario's numbers:
    the parameters (as leaf tensors, in the scenario's order of names) and the loss."""
    att = sc.layers[0]
    wq, wk, wv, wo = (None if m is None else torch.tensor(m, requires_grad=True)
                      for m in att.matrices(att.weights))
    params = {"W_Q": wq, "W_K": wk, "W_V": wv, "W_O": wo}
    dense = sc.layers[1] if len(sc.layers) > 1 else None
    if dense is not None:
        params["w"] = torch.tensor(dense.weights, requires_grad=True)
        params["b"] = torch.tensor(dense.bias_values, requires_grad=True)
    x = torch.tensor(sc.x)  # (B, T, d_model)
    t = torch.tensor(sc.targets)
    T = x.shape[1]

    def loss():
        q, k, v = x @ wq, x @ wk, x @ wv
        a = (q @ k.transpose(1, 2)) * att.scale
        if att.causal:
            a = a.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
        y = torch.softmax(a, dim=2) @ v
        if wo is not None:
            y = y @ wo
        if dense is not None:
            act = {"linear": lambda z: z, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[
                dense.activation]
            y = act(y @ params["w"].T + params["b"])
        sq = (t - y) ** 2
        per = {"half_squared_error": sq.sum(dim=(1, 2)) / 2, "squared_error": sq.sum(dim=(1, 2)),
               "mean_squared_error": (sq.mean(dim=2)).sum(dim=1)}[sc.loss]
        return per.mean() if sc.reduction == "mean" else per.sum()

    return params, loss


def _named(sc, params) -> dict[str, object]:
    """Each scenario parameter name -> a function giving (its torch tensor, index)."""
    att = sc.layers[0]
    out = {}
    for what in ("W_Q", "W_K", "W_V", "W_O"):
        if params[what] is None:
            continue
        rows, cols = params[what].shape
        for i in range(rows):
            for j in range(cols):
                out[f"att1.{what}[{i + 1},{j + 1}]"] = (params[what], (i, j))
    if len(sc.layers) > 1:
        dense = sc.layers[1]
        for j, row in enumerate(dense.weight_names):
            for i, n in enumerate(row):
                out[n] = (params["w"], (j, i))
        for j, n in enumerate(dense.bias_names):
            out[n] = (params["b"], (j,))
    assert set(out) == set(sc.param_names) and att.kind == "attention"
    return out


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("seed", range(40))
def test_gradients_and_two_updates_match_torch(seed):
    import torch

    torch.set_default_dtype(torch.float64)
    sc = loads(yaml.safe_dump(random_attention(seed)))
    params, loss = torch_head(sc, torch)
    named = _named(sc, params)
    loss().backward()
    trace = run(sc, iterations=2, show={1})  # update 1 explained; the parameters after 2
    got = grads(trace)
    for n, (tensor, at) in named.items():
        assert got[n] == pytest.approx(tensor.grad[at].item(), rel=1e-12, abs=1e-15), n
    leaves = [p for p in params.values() if p is not None]
    for _ in range(2):  # plain SGD, p − lr·grad (torch.optim.SGD's rule; its first call
        for p in leaves:  # alone costs more than this whole test)
            p.grad = None
        loss().backward()
        with torch.no_grad():
            for p in leaves:
                p -= sc.learning_rate * p.grad
    final = trace.params_final
    for n, (tensor, at) in named.items():
        assert final[n] == pytest.approx(tensor[at].item(), rel=1e-12, abs=1e-15), n


# ----------------------------------------------------------------------------- the example


def test_bundled_example_against_an_independent_computation():
    """self_attention, computed here on its own with math.exp: Q = X·W_Q, ...,
    P = softmax(Q·Kᵀ/√2) by row, out = P·V, E = Σ ½(target − out)², and dE/dW_V = Xᵀ·Pᵀ·dout."""
    sc = load(*resolve("self_attention"))
    v = {s.id: s.value for s in run(sc, iterations=1).iterations[0].steps}
    X = [[1, 0], [0, 1], [1, 1]]
    W_Q, W_K, W_V = [[2, -1], [0, 2]], [[0, 2], [2, -1]], [[1, 0.5], [-0.5, 1]]
    Y = [[0, 1], [1, 0], [1, 1]]

    def mm(a, b):
        return [[sum(a[i][k] * b[k][j] for k in range(len(b))) for j in range(len(b[0]))]
                for i in range(len(a))]

    Q, K, V = mm(X, W_Q), mm(X, W_K), mm(X, W_V)
    P = []
    for i in range(3):
        e = [math.exp(sum(Q[i][c] * K[j][c] for c in range(2)) / math.sqrt(2))
             for j in range(3)]
        P.append([x / sum(e) for x in e])
    out = mm(P, V)
    for i in range(3):
        for j in range(3):
            assert v[f"att:P{j + 1}@t{i + 1}"] == pytest.approx(P[i][j], rel=1e-14)
        for c in range(2):
            assert v[f"out:z{c + 1}@t{i + 1}"] == pytest.approx(out[i][c], rel=1e-14)
    loss = sum(0.5 * (Y[i][c] - out[i][c]) ** 2 for i in range(3) for c in range(2))
    assert v["loss"] == pytest.approx(loss, rel=1e-14)
    dout = [[out[i][c] - Y[i][c] for c in range(2)] for i in range(3)]
    dV = mm([list(r) for r in zip(*P)], dout)
    dW_V = mm([list(r) for r in zip(*X)], dV)
    for m in range(2):
        for c in range(2):
            assert v[f"grad:att1.W_V[{m + 1},{c + 1}]"] == pytest.approx(dW_V[m][c], rel=1e-13)
    # the rows are clearly not uniform: each has a weight above 0.7
    assert all(max(row) > 0.7 for row in P)


# ----------------------------------------------------------------------------- the views


def cli(*args: str, tmp_path=None) -> tuple[int, str, str]:
    """bpwalk's exit code, stdout and stderr, as a user sees them (NO_COLOR, 80 columns),
    in this process (a new one per command would cost this file most of its time)."""
    from typer.testing import CliRunner

    from bpwalk.cli import app

    here = os.getcwd()
    os.chdir(tmp_path or ROOT)
    try:
        r = CliRunner().invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "80"})
    finally:
        os.chdir(here)
    return r.exit_code, r.stdout, r.stderr


def test_run_shows_the_matrices_and_the_heat_grid_in_80_columns():
    code, out, err = cli("run", "self_attention")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "\x1b[" not in out
    for title in ("Q: queries", "S: scores", "P: the attention weights", "∂E/∂P: through",
                  "∂E/∂A: the softmax Jacobian", "∂E/∂W_Q: the gradient of W_Q"):
        assert title in out
    # NO_COLOR: the weights' shades as characters beside the numbers
    assert "▓ 0.799870784" in out
    # the entries' steps only on demand
    assert "P₁₂        = e^A₁₂/(e^A₁₁ + e^A₁₂ + e^A₁₃)" not in out
    code, out, err = cli("run", "self_attention", "--entries")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "P₁₂        = e^A₁₂/(e^A₁₁ + e^A₁₂ + e^A₁₃)" in out
    assert "A₁₂        = S₁₂/√d_k" in out
    # the softmax Jacobian of a row, written with its numbers
    assert "∂E/∂A₁₁        = P₁₁(∂E/∂P₁₁ − (P₁₁·∂E/∂P₁₁ + P₁₂·∂E/∂P₁₂ + P₁₃·∂E/∂P₁₃))" in out


def test_ascii_heat_grid_and_colour():
    from rich.console import Console

    from bpwalk.views.terminal import Walkthrough

    trace = run(load(*resolve("self_attention")), iterations=1)
    plain = Console(width=80, record=True, color_system=None)
    plain.print(Walkthrough(trace, style="ascii", entries=False))
    assert "* 0.799870784" in plain.export_text()  # ( .:*# the shades in ASCII)
    colour = Console(width=80, record=True, color_system="truecolor", force_terminal=True)
    colour.print(Walkthrough(trace, entries=False))
    styled = colour.export_text(styles=True)
    assert "48;2;" in styled  # the weights' background shades
    assert "▓ 0.799870784" not in colour.export_text()  # colour, not characters


@pytest.mark.parametrize("notation", ["mazur", "cs231n", "ng"])
def test_notations(notation):
    code, out, err = cli("run", "self_attention", "--entries", "--notation", notation)
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80
    assert ("dP₁₂" if notation != "mazur" else "∂E/∂P₁₂") in out


@pytest.mark.parametrize("fmt", ["md", "json", "html"])
def test_exports(fmt, tmp_path):
    code, _out, err = cli("export", "self_attention", "--format", fmt, "-o", f"a.{fmt}",
                          tmp_path=tmp_path)
    assert code == 0, err
    text = (tmp_path / f"a.{fmt}").read_text(encoding="utf-8")
    assert "W_Q" in text and "att:P2@t1" in text
    if fmt == "html":  # the weights' heat grid, shaded inline (the page works offline)
        assert '<table class="heat">' in text and "background:rgb(" in text


def test_worksheet_key_and_check(tmp_path):
    code, _, err = cli("worksheet", "self_attention", "-o", "ws.md", "--key", "key.md",
                       "--answers-template", "answers.yaml", tmp_path=tmp_path)
    assert code == 0, err
    sheet = (tmp_path / "ws.md").read_text(encoding="utf-8")
    assert "0.799870784" not in sheet  # a worksheet's tables do not give the weights away
    assert "att:P2@t1:" in (tmp_path / "answers.yaml").read_text(encoding="utf-8")
    sc = load(*resolve("self_attention"))
    values = {s.id: s.value for s in run(sc, iterations=1).iterations[0].steps}
    (tmp_path / "right.yaml").write_text("".join(f"{k}: {v:.6f}\n" for k, v in values.items()),
                                         encoding="utf-8")
    code, out, err = cli("check", "self_attention", "right.yaml", tmp_path=tmp_path)
    assert code == 0, err
    assert "Every answer is right." in out


def test_bundled_answers_name_the_missing_scale(tmp_path):
    code, out, err = cli("check", "self_attention",
                         str(resolve("self_attention")[0].parent / "answers"
                             / "self_attention.yaml"))
    assert code == 1, err
    assert "1/√d_k scale left out" in " ".join(out.split())


def test_stepper_d_draws_the_weights_worked_out_so_far():
    from rich.console import Console

    from bpwalk.stepper import State, Walk, press, screen

    walk = Walk.of(run(load(*resolve("self_attention")), iterations=1))
    at = next(i for i, e in enumerate(walk.entries) if e.step.id == "att:P3@t2")
    console = Console(width=80, height=30, record=True, color_system=None)
    rows = screen(walk, press(State(index=at), "d", walk), console)
    text = "\n".join(rows)
    assert "P: the attention weights of update 1" in text
    assert "0.795237273" in text and "0.733681106" not in text  # row 3: not yet


def test_optimizers_train_an_attention_head():
    doc = yaml.safe_load(resolve("self_attention")[0].read_text(encoding="utf-8"))
    for name in ("momentum", "adam", "rmsprop"):
        doc["optimizer"] = {"name": name}
        trace = run(loads(yaml.safe_dump(doc)), iterations=20, show={1})
        assert trace.loss_history[-1] < trace.loss_history[0], name
        assert any(s.kind == "new" for s in trace.iterations[0].steps)


def test_kt_as_k_cannot_be_made_when_d_k_is_not_the_number_of_tokens():
    """Q·K needs Q's d_k columns to meet K's rows, one per token: with 3 tokens and
    d_k = 2 the product has no meaning, so the engine offers no such variant and check
    never names it (tests/test_check.py names it where d_k equals the tokens)."""
    from bpwalk.mistakes import Mistake

    sc = load(*resolve("self_attention"))
    right = run(sc, iterations=1).iterations[0].values
    made = run(sc, iterations=1, mistakes=(Mistake("kt_as_k", "att:S1@t2"),)).iterations[0]
    assert made.values == right


# ----------------------------------------------------------------------------- validate


def example_text() -> str:
    return resolve("self_attention")[0].read_text(encoding="utf-8")


@pytest.mark.parametrize("old, new, where, words", [
    ("W_Q: [[2.0, -1.0], [0.0, 2.0]]", "W_Q: [[2.0, -1.0]]", ":15:10:",
     "W_Q has 1 row but it needs 2, one per input (d_model = 2)"),
    ("W_K: [[0.0, 2.0], [2.0, -1.0]]", "W_K: [[0.0, 2.0, 1.0], [2.0, -1.0, 1.0]]", ":16:11:",
     "W_K row 1 has 3 numbers but W_Q has 2 columns (d_k = 2)"),
    ("scale: true ", "scale: maybe", ":18:12:", "scale must be true (1/√d_k), false"),
    ("causal: false", "causal: 2", ":19:13:", "causal must be true or false"),
    ("    W_V:", "    W_v:", ":17:5:", "unknown key 'W_v' in layer 1; did you mean 'W_V'?"),
    ("targets: [[0, 1], [1, 0], [1, 1]]", "targets: [[0, 1], [1, 0]]", ":22:14:",
     "data sample 1 has 2 target rows but 3 tokens"),
    ("causal: false", "causal: false\n    W_O: [[1.0], [0.5, 2]]", ":20:18:",
     "W_O row 2 has 2 numbers but row 1 has 1"),
])
def test_validate_names_what_does_not_fit(old, new, where, words, tmp_path):
    text = example_text()
    assert old in text
    (tmp_path / "s.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
    code, _out, err = cli("validate", "s.yaml", tmp_path=tmp_path)
    assert code == 2
    assert err.startswith("s.yaml" + where), err
    assert words in err and "Traceback" not in err


def test_quiz_names_an_unscaled_score():
    """--step --quiz: typing softmax's input without the 1/√d_k is wrong, and named."""
    from bpwalk.mistakes import Mistake
    from bpwalk.numbers import half_up
    from bpwalk.quiz import Quiz, QuizState, press
    from bpwalk.stepper import State, Walk

    sc = load(*resolve("self_attention"))
    quiz = Quiz(Walk.of(run(sc, iterations=1)), sc, None)
    wrong = run(sc, iterations=1, mistakes=(Mistake("scale_left_out", "att:A2@t1"),))
    value = str(half_up(wrong.iterations[0].values["att:A2@t1"], 4))
    at = next(i for i, e in enumerate(quiz.walk.entries) if e.step.id == "att:A2@t1")
    qs = QuizState(step=State(index=at))
    for key in (*value, "enter"):
        qs = press(qs, key, quiz)
    r = qs.answers[at].result
    assert not r.correct and r.mistake == "scale_left_out"


def test_steps_per_update_is_near_the_engines_count():
    """The estimate that sizes a trace before it is built (the 50 MB guard)."""
    for seed in range(4):
        sc = loads(yaml.safe_dump(random_attention(seed)))
        made = len(run(sc, iterations=1).iterations[0].steps)
        assert made / 2 <= sc.steps_per_update() <= made * 2, seed


@pytest.mark.parametrize("key, words", [
    ("init: {seed: 1}", "init: does not draw an attention layer's weights yet"),
    ("input_gradients: true", "input_gradients is not worked out through an attention layer"),
])
def test_what_the_head_does_not_take_yet_is_refused_in_one_line(key, words, tmp_path):
    (tmp_path / "s.yaml").write_text(example_text() + key + "\n", encoding="utf-8")
    code, _out, err = cli("validate", "s.yaml", tmp_path=tmp_path)
    assert code == 2 and words in err and "Traceback" not in err
