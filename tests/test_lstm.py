"""An LSTM cell (kind: lstm) unrolled in time: the bundled lstm_gomez against the numbers
Aidan Gomez's post prints, its gradients against finite differences and torch's nn.LSTM,
and the views and checks a scenario with an lstm layer goes through."""

from __future__ import annotations

import importlib.util
import random
from dataclasses import replace

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from bpwalk.cli import app
from bpwalk.engine import run
from bpwalk.engine.explain import _SweptPath
from bpwalk.engine.params import Params
from bpwalk.scenario import load, loads
from bpwalk.scenario.examples import resolve

HAS_TORCH = importlib.util.find_spec("torch") is not None
GATES = "ifgo"


def random_lstm(seed: int) -> dict:
    """A random configuration: sequence length 1-4, hidden 1-3, batch 1-3, outputs every or
    last, torch's layout or the gates by name, an optional bias, h0 and c0, and h straight
    to the loss or a dense layer after it."""
    g = random.Random(seed)
    n_in, hidden, steps, batch = g.randint(1, 3), g.randint(1, 3), g.randint(1, 4), g.randint(1, 3)
    every, direct, named = g.random() < 0.5, g.random() < 0.4, g.random() < 0.5
    with_bias = g.random() < 0.7

    def m(r: int, c: int) -> list[list[float]]:
        return [[round(g.uniform(-1, 1), 3) for _ in range(c)] for _ in range(r)]

    lstm: dict = {"kind": "lstm", "name": "lstm1", "hidden": hidden,
                  "outputs": "every" if every else "last"}
    if named:
        lstm["gates"] = {q: {"W_x": m(hidden, n_in), "W_h": m(hidden, hidden),
                             **({"bias": m(1, hidden)[0]} if with_bias else {})}
                         for q in GATES}
    else:
        lstm.update(W_x=m(4 * hidden, n_in), W_h=m(4 * hidden, hidden))
        if with_bias:
            lstm["bias"] = m(1, 4 * hidden)[0]
    for key in ("h0", "c0"):
        if g.random() < 0.5:
            lstm[key] = m(1, hidden)[0]
    n_out = hidden if direct else g.randint(1, 2)
    layers = [lstm] if direct else [lstm, {
        "neurons": n_out, "activation": g.choice(["linear", "tanh", "sigmoid"]),
        "weights": m(n_out, hidden), "bias": m(1, n_out)[0]}]
    data = [{"sequence": m(steps, n_in), "targets": m(steps if every else 1, n_out)}
            for _ in range(batch)]
    return {"inputs": n_in, "layers": layers, "data": data,
            "loss": g.choice(["half_squared_error", "squared_error"]),
            "learning_rate": 0.1, "reduction": g.choice(["mean", "sum"])}


def grads(trace) -> dict[str, float]:
    """The batch's gradient of each parameter in the first update."""
    return {s.id[5:]: s.value for s in trace.iterations[0].steps
            if s.kind == "grad" and "@" not in s.id}


def shifted(sc, name: str, d: float):
    """The scenario with parameter `name` moved by d."""
    layers = list(sc.layers)
    for li, lay in enumerate(layers):
        w, b = np.array(lay.weights), np.array(lay.bias_values)
        for j, row in enumerate(lay.weight_names):
            if name in row:
                w[j, row.index(name)] += d
        if name in lay.bias_names:
            b[lay.bias_names.index(name)] += d
        layers[li] = lay._replace(weights=w, bias_values=b)
    return replace(sc, layers=tuple(layers))


def loss_of(sc) -> float:
    """The engine's loss of the scenario's data (its forward sweep, no Steps)."""
    return _SweptPath(sc).dataset_loss(sc, Params.of(sc))


@pytest.mark.parametrize("seed", range(4))
def test_gradients_match_finite_differences(seed):
    sc = loads(yaml.safe_dump(random_lstm(seed)))
    got = grads(run(sc, iterations=1))
    assert set(got) == set(sc.param_names)
    assert loss_of(sc) == run(sc, iterations=1).loss_history[0]
    e = 1e-6
    for name in sc.param_names:
        up, down = loss_of(shifted(sc, name, e)), loss_of(shifted(sc, name, -e))
        assert got[name] == pytest.approx((up - down) / (2 * e), rel=1e-5, abs=1e-7), name


def _torch_names(lay) -> dict[str, tuple[str, int, int]]:
    """Each lstm parameter's place in torch's nn.LSTM: (tensor, row, column)."""
    out = {}
    n_in = lay.n_in
    for r, row in enumerate(lay.weight_names):
        for k, name in enumerate(row):
            out[name] = ("weight_ih_l0", r, k) if k < n_in else ("weight_hh_l0", r, k - n_in)
    for r, name in enumerate(lay.bias_names):
        out[name] = ("bias_ih_l0", r, -1)
    return out


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("seed", range(10))
def test_gradients_and_two_updates_match_torch(seed):
    import torch

    sc = loads(yaml.safe_dump(random_lstm(100 + seed)))
    lay, *rest = sc.layers
    hidden = len(lay.neurons)
    t64 = torch.float64
    cell = torch.nn.LSTM(lay.n_in, hidden, batch_first=True, bias=lay.bias != "none",
                         dtype=t64)
    with torch.no_grad():  # torch's rows: i, f, g, o, as bpwalk's
        cell.weight_ih_l0.copy_(torch.tensor(lay.w_x))
        cell.weight_hh_l0.copy_(torch.tensor(lay.w_h))
        if lay.bias != "none":  # bpwalk's one bias is torch's bias_ih + bias_hh
            cell.bias_ih_l0.copy_(torch.tensor(lay.bias_values))
            cell.bias_hh_l0.zero_()
    if lay.bias != "none":
        cell.bias_hh_l0.requires_grad_(False)
    dense = []
    for d in rest:
        dense = [torch.tensor(d.weights, requires_grad=True),
                 torch.tensor(d.bias_values, requires_grad=True), d.activation]
    x, t = torch.tensor(sc.x), torch.tensor(sc.targets)
    B = len(sc.x)
    h0 = torch.tensor(lay.h0).reshape(1, 1, -1).expand(1, B, -1).contiguous()
    c0 = torch.tensor(lay.c0).reshape(1, 1, -1).expand(1, B, -1).contiguous()
    params = [p for p in cell.parameters() if p.requires_grad] + dense[:2]

    def torch_loss():
        hs, _ = cell(x, (h0, c0))  # (B, T, H)
        y = hs if lay.every else hs[:, -1:]
        if dense:
            act = {"linear": lambda z: z, "tanh": torch.tanh, "sigmoid": torch.sigmoid}
            y = act[dense[2]](y @ dense[0].T + dense[1])
        per = ((t - y) ** 2).sum(dim=(1, 2))
        per = per / 2 if sc.loss == "half_squared_error" else per
        return per.mean() if sc.reduction == "mean" else per.sum()

    def values(grad: bool) -> dict[str, float]:
        out = {}
        for name, (tensor, r, k) in _torch_names(lay).items():
            p = getattr(cell, tensor)
            p = p.grad if grad else p
            out[name] = (p[r] if k < 0 else p[r, k]).item()
        for d in rest:
            w, b = (dense[0].grad, dense[1].grad) if grad else (dense[0], dense[1])
            for j, row in enumerate(d.weight_names):
                out.update((n, w[j, i].item()) for i, n in enumerate(row))
            out.update((n, b[j].item()) for j, n in enumerate(d.bias_names))
        return out

    torch_loss().backward()
    got, want = grads(run(sc, iterations=1)), values(grad=True)
    assert set(got) == set(want)
    for n, value in want.items():
        assert got[n] == pytest.approx(value, rel=1e-12, abs=1e-15), n

    opt = torch.optim.SGD(params, lr=sc.learning_rate)  # two updates of plain SGD
    for _ in range(2):
        opt.zero_grad()
        torch_loss().backward()
        opt.step()
    final = run(sc, iterations=2).params_final
    for n, value in values(grad=False).items():
        assert final[n] == pytest.approx(value, rel=1e-12, abs=1e-15), n


def gomez(round_to: int | None = None) -> dict[str, float]:
    sc = load(*resolve("lstm_gomez"))
    return {s.id: s.value for s in run(sc, iterations=1, round_to=round_to).iterations[0].steps}


def test_gomez_forward_values_as_his_post_prints_them():
    """Aidan Gomez, "Backpropogating an LSTM: A Numerical Example" (2016), forward @ t=0:
    state 0.78572, out 0.53631; @ t=1: state 1.5176, out 0.77197 (his t = 0, 1 are our
    @t1, @t2; his state is c, his out is h). His numbers are a hand calculation's: each
    step rounded to 5 decimals (`--round 5` gives every one to the digit; the exact h at
    t2 is 0.771981, which he could not print as 0.77197)."""
    v = gomez(round_to=5)
    assert v["net:c@t1"] == 0.78572
    assert v["out:h@t1"] == 0.53631
    assert round(v["net:c@t2"], 4) == 1.5176  # (printed to 4 decimals)
    assert v["out:h@t2"] == 0.77197
    exact = gomez()
    for sid in ("net:c@t1", "out:h@t1", "net:c@t2", "out:h@t2"):
        assert exact[sid] == pytest.approx(v[sid], abs=2e-5), sid


def test_gomez_backward_values_as_his_post_prints_them():
    """The same post, backward @ t=1 (our @t2): Δ = out − label = −0.47803, δstate =
    −0.07111, δa = −0.01938, δi = −0.00112, δf = −0.00631, δo = −0.05538; @ t=0 (our @t1):
    Δ = 0.03631, δout = 0.01803, δstate = −0.05349, δa = −0.01703, δi = −0.00165, δf = 0,
    δo = 0.00176; and the sums δU = [−0.01040, −0.00060, −0.00338, −0.02970] (a, i, f, o)
    and δb = [−0.03641, −0.00276, −0.00631, −0.05361]. (His δ of a gate is the gradient
    at its net: our dnet; his a is our g.) His backward numbers are the exact ones
    rounded, or a rounded run's (his Δ at t=1 is 0.77197 − 1.25 from his rounded h): each
    within 1.5 units of the fifth decimal of the exact value. (The post's equations are
    images; torch's nn.LSTM is the strict reference, test_..._match_torch.)"""
    v = gomez()
    printed = {
        "dloss:h@t2": -0.47803, "dnet:c@t2": -0.07111, "dnet:g@t2": -0.01938,
        "dnet:i@t2": -0.00112, "dnet:f@t2": -0.00631, "dnet:o@t2": -0.05538,
        "dloss:h@t1": 0.03631, "dout:h@t1": 0.01803, "dnet:c@t1": -0.05349,
        "dnet:g@t1": -0.01703, "dnet:i@t1": -0.00165, "dnet:f@t1": 0.0,
        "dnet:o@t1": 0.00176,
        "grad:lstm1.W_hg[1,1]": -0.01040, "grad:lstm1.W_hi[1,1]": -0.00060,
        "grad:lstm1.W_hf[1,1]": -0.00338, "grad:lstm1.W_ho[1,1]": -0.02970,
        "grad:lstm1.b_g[1]": -0.03641, "grad:lstm1.b_i[1]": -0.00276,
        "grad:lstm1.b_f[1]": -0.00631, "grad:lstm1.b_o[1]": -0.05361,
    }
    wrong = {sid: v[sid] for sid, value in printed.items() if abs(v[sid] - value) > 1.5e-5}
    assert not wrong


def test_torch_layout_and_gates_by_name_are_one_computation():
    """The same cell written in torch's layout (rows i, f, g, o) gives the same numbers,
    under torch's parameter names."""
    text = resolve_text("lstm_gomez")
    doc = yaml.safe_load(text)
    gates = doc["layers"][0].pop("gates")
    doc["layers"][0].update(W_x=[gates[q]["W_x"][0] for q in GATES],
                            W_h=[gates[q]["W_h"][0] for q in GATES],
                            bias=[gates[q]["bias"][0] for q in GATES])
    torch_form = grads(run(loads(yaml.safe_dump(doc)), iterations=1))
    named = grads(run(load(*resolve("lstm_gomez")), iterations=1))
    assert torch_form["lstm1.W_x[3,2]"] == named["lstm1.W_xg[1,2]"]  # row 3: g
    assert torch_form["lstm1.W_h[2,1]"] == named["lstm1.W_hf[1,1]"]  # row 2: f
    assert torch_form["lstm1.b[4]"] == named["lstm1.b_o[1]"]  # row 4: o
    assert sorted(torch_form.values()) == sorted(named.values())


# ----------------------------------------------------------------------------- the views


def cli(*args: str, tmp_path=None) -> tuple[int, str, str]:
    """bpwalk's exit code, stdout and stderr, as a user runs it (NO_COLOR, 80 columns),
    in this process (a process each took most of this file's time)."""
    import os

    before = os.getcwd()
    os.chdir(tmp_path or before)
    try:
        r = CliRunner().invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "80"})
    finally:
        os.chdir(before)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, r.stdout, r.stderr


def resolve_text(name: str) -> str:
    return resolve(name)[0].read_text(encoding="utf-8")


@pytest.mark.parametrize("notation", ["mazur", "cs231n", "ng"])
def test_run_writes_the_cell_in_80_columns(notation):
    code, out, err = cli("run", "lstm_gomez", "--notation", notation)
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "\x1b[" not in out
    if notation == "mazur":
        # c's two paths: through h at t1 and, by the forget gate, through c at t2
        assert "∂E/∂net_c^<1>         = ∂E/∂out_c^<1>·∂out_c^<1>/∂net_c^<1> + ∂E/∂net_c^<2>·" in out
        assert "net_c^<2> = out_f^<2>·net_c^<1> + out_i^<2>·out_g^<2>" in out
        assert "out_h^<2> = out_o^<2>·out_c^<2>" in out
        # the loss's own term, then dE/dh at t1 from it and from t2 through each gate's W_h
        assert "∂E/∂out_h^<1>         = ∂E_h^<1>/∂out_h^<1> + ∂E/∂net_i^<2>·W_hi₁₁ +" in out
        assert "∂E/∂W_hf₁₁            = ∂E/∂W_hf₁₁^<1> + ∂E/∂W_hf₁₁^<2>" in out


@pytest.mark.parametrize("fmt", ["md", "json", "html"])
def test_exports(fmt, tmp_path):
    code, _out, err = cli("export", "lstm_gomez", "--format", fmt, "-o", f"r.{fmt}",
                          tmp_path=tmp_path)
    assert code == 0, err
    text = (tmp_path / f"r.{fmt}").read_text(encoding="utf-8")
    assert "W_hf" in text and "t2" in text


def test_worksheet_key_and_check_of_right_answers(tmp_path):
    code, _, err = cli("worksheet", "lstm_gomez", "-o", "ws.md", "--key", "key.md",
                       "--answers-template", "answers.yaml", tmp_path=tmp_path)
    assert code == 0, err
    template = (tmp_path / "answers.yaml").read_text(encoding="utf-8")
    assert "dnet:c@t1:" in template and "grad:lstm1.W_hf[1,1]@t2:" in template
    right = "".join(f"{k}: {v:.6f}\n" for k, v in gomez().items())
    (tmp_path / "right.yaml").write_text(right, encoding="utf-8")
    code, out, err = cli("check", "lstm_gomez", "right.yaml", tmp_path=tmp_path)
    assert code == 0, err
    assert "Every answer is right." in out


def test_check_names_the_forget_path_left_out(tmp_path):
    """dE/dc at t1 through h at t1 only: the term dE/dc(t2)·f(t2) left out."""
    v = gomez()
    wrong = v["dout:c@t1"] * v["dact:c@t1"]
    assert wrong != pytest.approx(v["dnet:c@t1"])
    (tmp_path / "a.yaml").write_text(f"dnet:c@t2: {v['dnet:c@t2']:.6f}\n"
                                     f"dnet:c@t1: {wrong:.6f}\n", encoding="utf-8")
    code, out, err = cli("check", "lstm_gomez", "a.yaml", tmp_path=tmp_path)
    assert code == 1, err
    assert "WRONG" in out and "the LSTM forget path to c_(t−1) left out" in " ".join(out.split())


def test_the_bundled_answers_file_is_checked(tmp_path):
    code, out, err = cli("check", "lstm_gomez", str(resolve("lstm_gomez")[0].parent
                                                   / "answers" / "lstm_gomez.yaml"))
    assert code == 1, err  # it holds one slip, named
    assert "the LSTM forget path to c_(t−1) left out" in " ".join(out.split())


# ----------------------------------------------------------------------------- validate


@pytest.mark.parametrize("old, new, where, words", [
    ("      f: {W_x: [[0.7, 0.45]], W_h: [[0.1]], bias: [0.15]}",
     "      f: {W_x: [[0.7, 0.45, 1]], W_h: [[0.1]], bias: [0.15]}", ":20:17:",
     "gate f W_x row 1 has 3 numbers but there are 2 inputs"),
    ("      o: {W_x: [[0.6, 0.4]], W_h: [[0.25]], bias: [0.1]}", "", ":19:7:",
     "the lstm layer's gates miss o"),
    ("      i: {W_x", "      j: {W_x", ":19:7:", "unknown key 'j' in the lstm layer's gates"),
    ("    hidden: [h]", "    hiden: [h]", ":17:5:", "did you mean 'hidden'"),
    ("    outputs: every", "    outputs: some", ":23:14:", "outputs must be 'every'"),
    ("loss: half_squared_error", "loss: cross_entropy", ":27:7:",
     "cross_entropy is not taken with an lstm layer yet"),
])
def test_validate_names_what_does_not_fit(old, new, where, words, tmp_path):
    text = resolve_text("lstm_gomez")
    assert old in text
    (tmp_path / "s.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
    code, _out, err = cli("validate", "s.yaml", tmp_path=tmp_path)
    assert code == 2
    assert err.startswith("s.yaml" + where), err
    assert words in err and "Traceback" not in err


def test_validate_torch_layout_shapes_are_named_with_numbers(tmp_path):
    doc = {"inputs": 2, "layers": [{"kind": "lstm", "hidden": 2, "W_x": [[0.1, 0.2]] * 7,
                                    "W_h": [[0.1, 0.2]] * 8}],
           "data": [{"sequence": [[1, 2]], "targets": [[0, 0]]}],
           "loss": "half_squared_error", "learning_rate": 0.1}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    code, _out, err = cli("validate", "s.yaml", tmp_path=tmp_path)
    assert code == 2 and "Traceback" not in err
    assert "W_x has 7 rows but the lstm layer needs 8 (4 gates × 2 hidden units)" in err


def test_quiz_names_the_forget_path_left_out():
    """`run --step --quiz`: an answer for dE/dc at t1 without the forget path is named."""
    from bpwalk.quiz import Quiz, QuizState, press
    from bpwalk.stepper import State, Walk

    sc = load(*resolve("lstm_gomez"))
    quiz = Quiz(Walk.of(run(sc, iterations=1)), sc, None)
    at = next(i for i, e in enumerate(quiz.walk.entries) if e.step.id == "dnet:c@t1")
    v = gomez()
    qs = QuizState(step=State(index=at))
    for key in (*f"{v['dout:c@t1'] * v['dact:c@t1']:.6f}", "enter"):
        qs = press(qs, key, quiz)
    r = qs.answers[at].result
    assert not r.correct and r.mistake == "forget_path_left_out"


def test_stepper_walks_the_cell_and_draws_it_unrolled():
    from rich.console import Console

    from bpwalk.stepper import State, Walk, press, screen

    walk = Walk.of(run(load(*resolve("lstm_gomez")), iterations=1))
    console = Console(width=80, height=24, record=True, color_system=None)
    rows = screen(walk, press(State(index=8), "d", walk), console)
    assert any("The network unrolled in time, at net:c@t1" in r for r in rows), rows
    assert max(len(r) for r in rows) <= 80  # (tests/test_grids.py: the picture in full)
    state = State(index=0)
    for _ in range(8):  # the gates, then the cell state c at t1
        state = press(state, "n", walk)
    rows = screen(walk, state, console)
    assert max(len(r) for r in rows) <= 80
    assert walk.entries[state.index].step.id == "net:c@t1"
    assert any("out_f^<1>·net_c^<0> + out_i^<1>·out_g^<1>" in r for r in rows)


def test_steps_per_update_counts_the_cell():
    """The estimate that sizes a trace before it is built (the 50 MB guard) is near the
    engine's own count for an lstm too."""
    for seed in range(3):
        sc = loads(yaml.safe_dump(random_lstm(seed)))
        made = len(run(sc, iterations=1).iterations[0].steps)
        assert made / 2 <= sc.steps_per_update() <= made * 2, seed


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_adam_updates_of_gomez_match_torch():
    """The optimizers read an lstm's parameters as any layer's: two Adam updates of
    lstm_gomez against torch.optim.Adam on nn.LSTM."""
    import torch

    text = resolve_text("lstm_gomez").replace("learning_rate: 0.1",
                                              "learning_rate: 0.1\noptimizer: {name: adam}")
    sc = loads(text)
    lay = sc.layers[0]
    cell = torch.nn.LSTM(2, 1, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        cell.weight_ih_l0.copy_(torch.tensor(lay.w_x))
        cell.weight_hh_l0.copy_(torch.tensor(lay.w_h))
        cell.bias_ih_l0.copy_(torch.tensor(lay.bias_values))
        cell.bias_hh_l0.zero_()
    cell.bias_hh_l0.requires_grad_(False)
    opt = torch.optim.Adam([p for p in cell.parameters() if p.requires_grad], lr=0.1)
    x, t = torch.tensor(sc.x), torch.tensor(sc.targets)
    for _ in range(2):
        opt.zero_grad()
        hs, _ = cell(x)
        (((t - hs) ** 2).sum() / 2).backward()
        opt.step()
    final = run(sc, iterations=2).params_final
    for name, (tensor, r, k) in _torch_names(lay).items():
        p = getattr(cell, tensor)
        want = (p[r] if k < 0 else p[r, k]).item()
        assert final[name] == pytest.approx(want, rel=1e-12, abs=1e-15), name


@pytest.mark.parametrize("change, words", [
    ({"bias": [0.1, 0.2, 0.3]}, ("the lstm layer's bias (rows i, f, g, o) has 3 values but "
                                 "needs 4; give one per gate and hidden unit")),
    ({"c0": [0.0, 0.0]}, "the lstm layer's c0 has 2 values but needs 1; give one per hidden"),
    ({"activation": "tanh"}, "unknown key 'activation' in layer 1; allowed keys: kind, name"),
    ({"gates": {}}, "give the lstm layer's weights once: either 'gates:'"),
])
def test_validate_an_lstm_layer_in_one_line(change, words):
    from bpwalk.scenario.errors import ScenarioError

    doc = {"inputs": 1, "layers": [{"kind": "lstm", "hidden": 1, "W_x": [[0.1]] * 4,
                                    "W_h": [[0.1]] * 4, **change}],
           "data": [{"sequence": [[1]], "targets": [[0]]}], "loss": "half_squared_error",
           "learning_rate": 0.1}
    with pytest.raises(ScenarioError) as e:
        loads(yaml.safe_dump(doc, sort_keys=False), "s.yaml")
    assert str(e.value).startswith("s.yaml:") and words in str(e.value)
    assert len(str(e.value).splitlines()) == 1
