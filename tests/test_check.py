"""bpwalk check: answers files, tolerance, mistake diagnosis, output and exit codes.

Every expected number here comes from the engine (run, optionally with a Mistake injected);
the tests write those numbers as a student would and check how the judge marks them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

from bpwalk.cli import app
from bpwalk.engine import MISTAKES, Mistake, run
from bpwalk.judge import Judge, agrees, at_decimals, decimals_of, judge_one
from bpwalk.scenario import Answer, ScenarioError, load, load_answers, loads_answers, resolve
from bpwalk.views import check as check_view

from .conftest import run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "answers"
BATCH = FIXTURES / "batch_scenario.yaml"
runner = CliRunner()


def scenario(name: str):
    return load(resolve(name)[0]) if name == "mazur" else load(FIXTURES / name)


def values(sc, mistakes=(), round_to=None) -> dict[str, float]:
    """The engine's values of update 1, in computation order."""
    trace = run(sc, iterations=1, show={1}, round_to=round_to, mistakes=tuple(mistakes))
    return {s.id: s.value for s in trace.iterations[0].steps}


def written(value: float, decimals: int) -> str:
    """How a student writes `value`: `decimals` places, except tiny values (4 significant)."""
    if value != 0 and abs(value) < 10.0 ** -(decimals - 1):
        return f"{value:.3e}"
    return at_decimals(value, decimals)


def truncated(value: float, decimals: int) -> str:
    return str(Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals), ROUND_DOWN))


def answers_file(path: Path, answers: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}: {v}\n" for k, v in answers.items()), encoding="utf-8")
    return path


def as_answers(answers: dict[str, str]) -> list[Answer]:
    return [Answer(k, float(v), v, i + 1, 1) for i, (k, v) in enumerate(answers.items())]


def check_json(sc_name: str, path: Path, *extra: str):
    target = str(FIXTURES / sc_name) if sc_name != "mazur" else "mazur"
    result = runner.invoke(app, ["check", target, str(path), "--format", "json", *extra])
    return result.exit_code, (json.loads(result.stdout) if result.exit_code in (0, 1) else None), result


# ----------------------------------------------------------------------------- the case


def mazur_three_mistakes() -> dict[str, str]:
    """Mazur's update at 4 decimals (4 significant figures for the tiny hidden gradients),
    with grad:w6 sign-flipped, grad:w7 doubled and grad:w1 computed with the updated w5, w7."""
    sc = scenario("mazur")
    right = values(sc)
    ans = {k: written(v, 4) for k, v in right.items()}
    for kind, target in [("sign", "grad:w6"), ("double", "grad:w7"),
                         ("updated_weights", "grad:w1")]:
        ans[target] = written(values(sc, [Mistake(kind, target)])[target], 4)
    return ans


def test_mazur_three_mistakes_are_named_and_first_is_grad_w6(tmp_path):
    ans = mazur_three_mistakes()
    code, out, _ = check_json("mazur", answers_file(tmp_path / "a.yaml", ans))
    assert code == 1
    assert out["first_wrong"] == "grad:w6"
    wrong = {r["id"]: r["mistake"] for r in out["results"] if not r["correct"]}
    assert wrong == {"grad:w6": "sign", "grad:w7": "double", "grad:w1": "updated_weights"}
    by_id = {r["id"]: r for r in out["results"]}
    assert "sign" in by_id["grad:w6"]["diagnosis"]
    assert "updated weights" in by_id["grad:w1"]["diagnosis"]
    assert [r["id"] for r in out["results"]] == list(values(scenario("mazur")))  # computation order
    assert all(set(r) >= {"id", "given", "expected", "correct", "diagnosis"} for r in out["results"])


def test_mazur_three_mistakes_text_output_at_80_columns():
    sc = scenario("mazur")
    report = Judge(sc).check(as_answers(mazur_three_mistakes()))
    console = Console(record=True, width=80, color_system=None)
    console.print(check_view.render(report, "answers.yaml"))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "→ grad:w6" in text
    assert "first wrong step: the sign is" in text
    assert "First wrong step: grad:w6" in text and "inherit" in text
    assert "36 of 39 right, 3 wrong." in text


# ----------------------------------------------------------------------------- one fixture per mistake

# (scenario, mistake kind, the step whose formula the student got wrong)
PAIRED = [
    ("mazur", "sign", "grad:w6"),
    ("mazur", "sign", "dout:o2"),
    ("mazur", "double", "dout:o1"),
    ("mazur", "double", "loss:o2"),
    ("mazur", "half", "loss:o1"),
    ("mazur", "dact_at_out", "dact:o1"),
    ("mazur", "dact_at_net", "dact:h1"),
    ("mazur", "dact_left_out", "dnet:o1"),
    ("mazur", "dact_left_out", "grad:w2"),
    ("mazur", "updated_weights", "dout:h1"),
    ("mazur", "updated_weights", "grad:w1"),
    ("mazur", "lr_left_out", "new:w5"),
    ("mazur", "lr_twice", "new:w1"),
    ("mazur", "update_added", "new:w8"),
    ("mazur", "neighbour_neuron", "grad:w5"),
    ("mazur", "neighbour_input", "net:h1"),
    ("mazur", "neighbour_input", "grad:w6"),
    ("batch_scenario.yaml", "reduction", "grad:w5"),
    ("batch_scenario.yaml", "reduction", "loss"),
    ("batch_scenario.yaml", "sign", "dnet:h2@2"),
    ("batch_scenario.yaml", "update_added", "new:b3"),
]


def test_every_mistake_kind_has_a_paired_fixture():
    from .test_optimizers import OPTIMIZER_MISTAKES  # the optimizers' mistakes: their updates

    optimizer = {kind for _, _, kind, _, _ in OPTIMIZER_MISTAKES}
    assert {kind for _, kind, _ in PAIRED} | optimizer == set(MISTAKES)


@pytest.mark.parametrize("sc_name,kind,target", PAIRED)
def test_answers_made_with_a_mistake_are_diagnosed_as_that_mistake(tmp_path, sc_name, kind, target):
    sc = scenario(sc_name)
    made, right = values(sc, [Mistake(kind, target)]), values(sc)
    assert made[target] != right[target]  # the mistake changes the computation ...
    before = list(right)[:list(right).index(target)]
    assert [made[k] for k in before] == [right[k] for k in before]  # ... from the target on
    ans = {k: written(v, 6) for k, v in made.items()}
    code, out, _ = check_json(sc_name, answers_file(tmp_path / "a.yaml", ans))
    assert code == 1
    assert out["first_wrong"] == target
    first = next(r for r in out["results"] if r["id"] == target)
    assert (first["mistake"], first["source"]) == (kind, target)
    # everything computed from it is marked wrong as carried forward, not as new mistakes
    for r in out["results"]:
        if not r["correct"] and r["id"] != target:
            assert r["source"] == target, r


def test_a_mistake_in_an_unanswered_step_is_still_named():
    sc = scenario("mazur")
    made = values(sc, [Mistake("dact_left_out", "dnet:h1")])
    result = judge_one(sc, "grad:w1", written(made["grad:w1"], 6))
    assert not result.correct
    # the same number arises from leaving dout/dnet out of grad:w1 itself: either names the kind
    assert result.mistake == "dact_left_out"


def test_a_mistake_only_an_earlier_step_explains_is_traced_there():
    """Only new:w1 answered, made with the updated weights in dE/dout_h1: no update mistake
    gives that number, so the judge searches the steps new:w1 is computed from."""
    sc = scenario("mazur")
    made = values(sc, [Mistake("updated_weights", "dout:h1")])
    result = judge_one(sc, "new:w1", written(made["new:w1"], 9))
    assert not result.correct
    assert result.mistake == "updated_weights"
    assert result.source in ("dout:h1", "dnet:h1", "grad:w1")
    assert f"in {result.source}, carried into this step" in result.diagnosis


def test_a_step_answered_right_is_not_blamed():
    """new:w1 made with the updated weights in dout:h1, but dout:h1 and dnet:h1 answered
    right: the mistake is placed in grad:w1, the first step the student did not get right."""
    sc = scenario("mazur")
    right = values(sc)
    made = values(sc, [Mistake("updated_weights", "dout:h1")])
    ans = {"dout:h1": written(right["dout:h1"], 6), "dnet:h1": written(right["dnet:h1"], 6),
           "new:w1": written(made["new:w1"], 9)}
    [*_, last] = Judge(sc).check(as_answers(ans)).results
    assert (last.id, last.mistake, last.source) == ("new:w1", "updated_weights", "grad:w1")


def test_no_mistake_reproduces_a_random_number_so_the_formula_is_shown():
    sc = scenario("mazur")
    result = Judge(sc).judge_one("grad:w5", "0.512345")
    assert not result.correct and result.mistake is None
    assert result.formula is not None
    assert "no classic mistake" in result.diagnosis
    assert "∂E/∂w₅ =" in result.diagnosis and result.formula.numeric in result.diagnosis


# ----------------------------------------------------------------------------- never flag right answers


@pytest.mark.parametrize("sc_name", ["mazur", "batch_scenario.yaml", "drift_scenario.yaml"])
@pytest.mark.parametrize("how", ["full", "rounded", "truncated", "rounded_intermediate"])
def test_correct_answers_are_never_flagged(sc_name, how):
    sc = scenario(sc_name)
    judge = Judge(sc)
    right = values(sc)
    decimals = [None] if how == "full" else range(2, 10)
    for d in decimals:
        if how == "full":
            ans = {k: repr(v) for k, v in right.items()}
        elif how == "rounded":
            ans = {k: at_decimals(v, d) for k, v in right.items()}
        elif how == "truncated":
            ans = {k: truncated(v, d) for k, v in right.items()}
        else:  # every step rounded to d decimals and carried forward, as by hand
            ans = {k: f"{v:.{d}f}" for k, v in values(sc, round_to=d).items()}
        report = judge.check(as_answers(ans))
        flagged = [(r.id, r.text, r.expected_text) for r in report.results if not r.correct]
        assert flagged == [], (how, d)
        assert report.first_wrong is None


@pytest.mark.parametrize("d", [1, 2, 4])
def test_rounding_drift_is_right_with_a_note(d):
    sc = scenario("drift_scenario.yaml")
    judge = Judge(sc)
    exact, rounded = values(sc), values(sc, round_to=d)
    drifted = [k for k in exact if not agrees(f"{rounded[k]:.{d}f}", exact[k])]
    assert drifted  # the fixture is built to drift; otherwise this test proves nothing
    for k in drifted:
        result = judge.judge_one(k, f"{rounded[k]:.{d}f}")
        assert result.correct and "rounding drift" in result.note, k


def test_drift_is_not_a_blank_cheque():
    """A number off by more than the rounded calculation explains is still wrong."""
    sc = scenario("drift_scenario.yaml")
    exact, rounded = values(sc), values(sc, round_to=2)
    k = "grad:w2"
    assert not agrees(f"{rounded[k]:.2f}", exact[k])
    off = f"{rounded[k] + 0.5:.2f}"
    assert not judge_one(sc, k, off).correct


def test_round_option_accepts_that_rounding_at_more_decimals(tmp_path):
    """--round 2: answers copied at 4 decimals from a 2-decimal hand calculation are right."""
    sc = scenario("drift_scenario.yaml")
    rounded = values(sc, round_to=2)
    ans = {k: f"{v:.4f}" for k, v in rounded.items()}
    path = answers_file(tmp_path / "a.yaml", ans)
    code, out, _ = check_json("drift_scenario.yaml", path)
    assert code == 1  # without --round, 1.2300 claims 4 decimals the calculation did not have
    code, out, _ = check_json("drift_scenario.yaml", path, "--round", "2")
    assert code == 0 and out["first_wrong"] is None
    assert any("rounding drift" in (r["note"] or "") for r in out["results"])


@settings(max_examples=60, deadline=None)
@given(index=st.integers(min_value=0, max_value=38), d=st.integers(min_value=1, max_value=9),
       down=st.booleans())
def test_rounded_or_truncated_true_value_is_right(index, d, down):
    sc = scenario("mazur")
    sid, value = list(values(sc).items())[index]
    text = truncated(value, d) if down else at_decimals(value, d)
    assert agrees(text, value)
    assert judge_one(sc, sid, text).correct


def test_decimals_follow_the_written_text():
    assert decimals_of("0.5933") == 4
    assert decimals_of("1.50") == 2
    assert decimals_of("4.386e-4") == 7
    assert decimals_of("2") == 0
    assert [a.text for a in loads_answers("out:h1: 1.50\nnet:h1: .5\n")] == ["1.50", ".5"]


# ----------------------------------------------------------------------------- ids and aliases


@pytest.mark.parametrize("alias,step_id", [
    ("net_h1", "net:h1"), ("out_o2", "out:o2"), ("E_total", "loss"), ("E_o1", "loss:o1"),
    ("dE/dw5", "grad:w5"), ("∂E/∂w₅", "grad:w5"), ("grad_w5", "grad:w5"),
    ("w5+", "new:w5"), ("w5_new", "new:w5"), ("new_w5", "new:w5"), ("w₅⁺", "new:w5"),
    ("delta_o1", "dnet:o1"), ("δ_o1", "dnet:o1"), ("dE/dnet_o1", "dnet:o1"),
    ("dE/dout_h1", "dout:h1"), ("dout_o1/dnet_o1", "dact:o1"), ("dact_h2", "dact:h2"),
])
def test_friendly_aliases(alias, step_id):
    sc = scenario("mazur")
    judge = Judge(sc)
    [(sid, _)] = judge.resolve([Answer(alias, 1.0, "1.0", 1, 1)], "a.yaml")
    assert sid == step_id


def test_aliases_keep_the_sample(tmp_path):
    judge = Judge(scenario("batch_scenario.yaml"))
    [(sid, _)] = judge.resolve([Answer("delta_h2@2", 1.0, "1.0", 1, 1)], "a.yaml")
    assert sid == "dnet:h2@2"


def test_the_same_step_twice_is_an_error():
    judge = Judge(scenario("mazur"))
    with pytest.raises(ScenarioError) as e:
        judge.resolve([Answer("grad:w5", 1.0, "1", 1, 1), Answer("dE/dw5", 1.0, "1", 2, 1)], "a")
    assert str(e.value) == "a:2:1: 'dE/dw5' is grad:w5 again (line 1); keep one answer per step"


def test_blank_answers_are_not_answered(tmp_path):
    right = values(scenario("mazur"))
    path = tmp_path / "a.yaml"
    path.write_text(f"net:h1: {right['net:h1']}\nout:h1:\ngrad:w5: ~\n", encoding="utf-8")
    code, out, _ = check_json("mazur", path)
    assert code == 0
    assert [r["id"] for r in out["results"]] == ["net:h1"]
    assert out["unanswered"] == ["out:h1", "grad:w5"]


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("name,where,words", [
    ("unknown_id.yaml", "3:1", "unknown step id 'grad:w9'; did you mean 'grad:w8'"),
    ("not_a_number.yaml", "2:9", "the answer for 'out:h1' must be a number, not 'about 0.59'"),
    ("not_a_mapping.yaml", "1:1", "answers must be a mapping"),
    ("syntax_error.yaml", "3:8", "YAML syntax error"),
])
def test_bad_answers_files_exit_2_with_line_and_column(name, where, words):
    path = FIXTURES / name
    result = runner.invoke(app, ["check", "mazur", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}:{where}: {words}")
    assert "Traceback" not in result.output


def test_unknown_alias_suggests_close_ids():
    judge = Judge(scenario("mazur"))
    with pytest.raises(ScenarioError) as e:
        judge.resolve([Answer("dE/dw55", 1.0, "1", 4, 3)], "a.yaml")
    assert str(e.value).startswith("a.yaml:4:3: unknown step id 'dE/dw55'; did you mean 'grad:w5'")


def test_missing_answers_file_and_bad_format(tmp_path):
    result = runner.invoke(app, ["check", "mazur", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2 and "no such file" in result.stderr
    ok = answers_file(tmp_path / "a.yaml", {"net:h1": "0.3775"})
    result = runner.invoke(app, ["check", "mazur", str(ok), "--format", "xml"])
    assert result.exit_code == 2 and "use text or json" in result.stderr


def test_answers_loader_reports_empty_and_duplicate_keys():
    with pytest.raises(ScenarioError, match=r"^f:1:1: the answers file is empty"):
        loads_answers("", "f")
    with pytest.raises(ScenarioError, match=r"^f:2:1: 'a' appears twice"):
        loads_answers("a: 1\na: 2\n", "f")
    with pytest.raises(ScenarioError, match=r"^f:1:4: the answer for 'a' must be a number"):
        loads_answers("a: yes\n", "f")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_answers_text_is_read_or_refused_without_a_traceback(text):
    judge = Judge(scenario("mazur"))
    try:
        answers = loads_answers(text, "f")
        judge.check(answers, "f")
    except ScenarioError as e:
        assert all(str(p).startswith("f:") for p in e.problems)


@pytest.mark.parametrize("hidden,code", [("sigmoid", 1), ("linear", 2)])
def test_huge_numbers_are_judged_and_overflow_exits_2(tmp_path, hidden, code):
    """Inputs near the float64 limit: judged (sigmoid saturates), or the engine's overflow
    error (linear) reported as bad input; never a traceback."""
    text = (FIXTURES / "drift_scenario.yaml").read_text(encoding="utf-8")
    text = text.replace("[1.23, 4.56]", "[1.0e308, 1.0e308]").replace(
        "activation: sigmoid", f"activation: {hidden}")
    path = tmp_path / "big.yaml"
    path.write_text(text, encoding="utf-8")
    ok = answers_file(tmp_path / "a.yaml", {"net:h1": "0.5", "out:h1": "1e-300"})
    result = runner.invoke(app, ["check", str(path), str(ok)])
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_load_answers_from_a_file_keeps_positions(tmp_path):
    path = answers_file(tmp_path / "a.yaml", {"net:h1": "0.3775", "w5+": "0.3589"})
    assert load_answers(path) == [Answer("net:h1", 0.3775, "0.3775", 1, 1),
                                  Answer("w5+", 0.3589, "0.3589", 2, 1)]


# ----------------------------------------------------------------------------- the command


def test_all_right_exits_0_and_says_so(tmp_path):
    ans = {k: at_decimals(v, 4) for k, v in values(scenario("mazur")).items()}
    result = runner.invoke(app, ["check", "mazur", str(answers_file(tmp_path / "a.yaml", ans))])
    assert result.exit_code == 0
    assert "39 of 39 right." in result.stdout and "Every answer is right." in result.stdout


def test_piped_output_has_no_escape_codes_and_respects_no_color(tmp_path):
    path = answers_file(tmp_path / "a.yaml", mazur_three_mistakes())
    cmd = [sys.executable, "-m", "bpwalk", "check", "mazur", str(path)]
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    piped = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
    assert piped.returncode == 1
    assert "\x1b" not in piped.stdout
    assert max(len(line) for line in piped.stdout.splitlines()) <= 80
    forced = subprocess.run(cmd, check=False, capture_output=True, text=True, env={**env, "FORCE_COLOR": "1"})
    assert "\x1b[" in forced.stdout  # colour when a terminal is faked ...
    no_color = subprocess.run(cmd, check=False, capture_output=True, text=True,
                              env={**env, "FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert "\x1b[31m" not in no_color.stdout and "\x1b[32m" not in no_color.stdout  # ... none here


def test_readme_example_is_real_output(tmp_path):
    """The README's answers file and output are what bpwalk prints for them."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Checking a student's answers", 1)[1]
    answers = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    shown = section.split("$ bpwalk check mazur answers.yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "answers.yaml").write_text(answers, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "bpwalk", "check", "mazur", "answers.yaml"],
                            check=False, capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "80"})
    assert result.returncode == 1
    printed = "\n".join(line.rstrip() for line in result.stdout.splitlines())
    assert printed == shown.rstrip("\n")


def test_judge_one_for_the_quiz_takes_text_or_a_number_and_aliases():
    """The quiz will judge one typed answer at a time with one Judge."""
    sc = scenario("mazur")
    judge = Judge(sc)
    right = values(sc)
    assert judge.ids.resolve("dE/dw5") == "grad:w5"
    assert judge.judge_one("grad:w5", right["grad:w5"]).correct  # a float: full precision
    assert judge.judge_one("grad:w5", "0.0822").correct
    wrong = judge.judge_one("grad:w5", written(-right["grad:w5"], 4))
    assert (wrong.correct, wrong.mistake, wrong.expected_text) == (False, "sign", "0.0822")


def test_han_kamber_error_term_sign_is_explained(tmp_path):
    # Han & Kamber print Err6 = 0.1311 (their Err_j = -dE/dnet_j); bpwalk's delta is -0.1312.
    answers = tmp_path / "hk.yaml"
    answers.write_text("dnet:u6: 0.1311\n")
    result = run_cli("check", "han_kamber", str(answers), "--format", "json")
    assert result.returncode == 1
    diagnosis = json.loads(result.stdout)["results"][0]["diagnosis"]
    assert "sign is flipped" in diagnosis and "Han & Kamber" in diagnosis


@pytest.mark.parametrize("written", ["9e999999999", "1e400", "-1e310"])
def test_answers_beyond_float64_are_input_errors(tmp_path, written):
    answers = tmp_path / "big.yaml"
    answers.write_text(f"net:h1: {written}\n")
    result = run_cli("check", "mazur", str(answers))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{answers}:1:9: the answer for 'net:h1' is {written}")
    assert "Traceback" not in result.stderr
