"""Training that diverges: the engine stops, names the update and the value, and keeps the
loss history up to there; the command line prints it as a table and curve and exits 2."""

from __future__ import annotations

import pytest

from bpwalk.engine import DIVERGED, EngineError, run
from bpwalk.scenario import load

from .conftest import ROOT, run_cli

DIVERGES = ROOT / "tests" / "fixtures" / "diverges.yaml"  # valid, but diverges


@pytest.mark.parametrize("show", [set(), {1, 2, 3}])
def test_a_loss_past_the_bound_stops_training_with_its_history(show):
    sc = load(DIVERGES)
    with pytest.raises(EngineError) as e:
        run(sc, show=show)
    # the fixture's comment: the loss is 0.5 · 14161^k before update k+1
    assert [round(h / 0.5) for h in e.value.history] == [1, 14161, 14161 ** 2]
    assert e.value.history[-1] > DIVERGED * 0.5
    assert str(e.value).startswith("update 3: the loss E = 1.003e+08 is more than 1e+06 times")
    assert "try a smaller learning_rate (now 30)" in str(e.value)


def test_overflow_names_the_update_and_the_step_and_keeps_the_history(tmp_path):
    text = DIVERGES.read_text(encoding="utf-8").replace("learning_rate: 30.0",
                                                        "learning_rate: 1.0e200")
    path = tmp_path / "overflow.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EngineError) as e:
        run(load(path))
    # w = 1 - 1e200 · 2 after update 1, so the error 2w - 1 squared overflows before update 2
    assert str(e.value).startswith("update 2, step loss:o: the value is inf")
    assert "smaller learning_rate" in str(e.value)
    assert e.value.history == [0.5]


def test_run_prints_the_loss_until_it_stopped_and_exits_2():
    result = run_cli("run", str(DIVERGES), "--show", "none")
    assert result.returncode == 2
    assert "Loss until training stopped" in result.stderr
    assert "loss E by update" in result.stderr  # the curve
    assert result.stderr.rstrip().splitlines()[-1].startswith(f"{DIVERGES}: update 3: the loss")
    assert "Traceback" not in result.stderr
    assert max(len(line) for line in result.stderr.splitlines()[:-1]) <= 80


def test_a_long_runs_history_says_which_updates_it_kept(monkeypatch):
    """A run longer than MAX_HISTORY keeps every `stride`-th loss; a divergence keeps the
    labels, so the loss table names the right updates."""
    from bpwalk import engine

    monkeypatch.setattr(engine.train, "MAX_HISTORY", 2)  # 10 updates: a stride of 5 (1, 2, 5)
    with pytest.raises(EngineError) as e:
        run(load(DIVERGES), iterations=10, show=set())
    assert e.value.updates == [0, 5]  # the losses before updates 1 and 6
    # the fixture's comment: the loss is 0.5 · 14161^k after k updates
    assert [round(h / 0.5 / 14161 ** k, 6) for h, k in zip(e.value.history, [0, 5])] == [1, 1]
    assert str(e.value).startswith("update 6: the loss E")


@pytest.mark.parametrize("notation, loss", [("ng", "J"), ("nielsen", "C"), ("mazur", "E")])
def test_the_loss_table_is_written_in_the_notation_asked_for(notation, loss):
    """--notation ng writes Ng's cost J (Coursera, Neural Networks and Deep Learning),
    nielsen the cost C (Nielsen, ch. 2): the table once took the scenario's notation, E,
    whatever the option said. The symbol is the profile's own (PROFILES[...].loss)."""
    from bpwalk.notation import PROFILES

    assert PROFILES[notation].loss == loss
    result = run_cli("run", str(DIVERGES), "--notation", notation)
    assert result.returncode == 2
    header = next(line for line in result.stderr.splitlines() if "after update" in line)
    assert header.split() == ["after", "update", "loss", loss]
