"""bpwalk check on a class: many answers files, CSV, per-student seeds, later updates, and
answers files that are blank or full of unknown ids.

Every expected number comes from the engine; the tests write it as a student would.
"""

from __future__ import annotations

import csv
import io
import json

from bpwalk.engine import run
from bpwalk.judge import at_decimals
from bpwalk.mistakes import Mistake
from bpwalk.scenario import load, loads, resolve
from bpwalk.scenario.errors import SHOWN_PROBLEMS
from bpwalk.template import practice_text, redraw

from .conftest import run_cli


def values(sc, update: int = 1, mistakes=()) -> dict[str, float]:
    trace = run(sc, iterations=update, show={update}, mistakes=tuple(mistakes))
    return {s.id: s.value for s in trace.iterations[0].steps}


def write(path, answers: dict[str, str], seed: int | None = None):
    head = f"seed: {seed}\n" if seed is not None else ""
    path.write_text(head + "".join(f"{k}: {v}\n" for k, v in answers.items()), encoding="utf-8")
    return path


def mazur():
    return load(resolve("mazur")[0])


def test_a_class_gets_one_row_per_file_and_the_exit_code_says_if_any_is_wrong(tmp_path):
    sc = mazur()
    right = values(sc)
    sign = values(sc, mistakes=[Mistake("sign", "grad:w6")])
    good = write(tmp_path / "ann.yaml", {k: at_decimals(v, 4) for k, v in right.items()})
    bad = write(tmp_path / "bob.yaml", {k: at_decimals(v, 6) for k, v in sign.items()})
    result = run_cli("check", "mazur", good.name, bad.name, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.split()[:4] == ["ann.yaml", "39", "39", "0"] and "all right" in line
               for line in lines)  # right, answered, blank
    assert any("bob.yaml" in line and "grad:w6" in line and "sign" in line for line in lines)
    assert "1 of 2 files all right." in result.stdout
    assert max(map(len, lines)) <= 80
    only_good = run_cli("check", "mazur", good.name, good.name, cwd=tmp_path)
    assert only_good.returncode == 0


def test_a_blank_file_in_a_class_is_an_input_error_and_the_others_are_marked(tmp_path):
    sc = mazur()
    good = write(tmp_path / "ann.yaml", {k: at_decimals(v, 4) for k, v in values(sc).items()})
    blank = tmp_path / "cat.yaml"
    blank.write_text("net:h1:\nout:h1:\n", encoding="utf-8")
    result = run_cli("check", "mazur", good.name, blank.name, "--format", "csv", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("cat.yaml: no answer is filled in (2 blank ids); write the numbers "
                             "you worked out after their ids, like 'net:h1: 0.3775'\n")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    # every file given has its row: the blank one too (issue 25)
    assert [(r["file"], r["right"], r["answered"], r["blank"]) for r in rows] == [
        ("ann.yaml", "39", "39", "0"), ("cat.yaml", "0", "0", "39")]
    assert rows[1]["diagnosis"] == "nothing filled in"


def test_csv_is_a_gradebook(tmp_path):
    sc = mazur()
    sign = values(sc, mistakes=[Mistake("sign", "grad:w6")])
    bad = write(tmp_path / "bob.yaml", {k: at_decimals(v, 6) for k, v in sign.items()})
    result = run_cli("check", "mazur", str(bad), "--format", "csv")
    assert result.returncode == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 1
    row = rows[0]
    assert (row["file"], row["first_wrong"], row["mistake"]) == (str(bad), "grad:w6", "sign")
    # grad:w6 and the two steps computed from it (new:w6 ... ) are wrong; the rest right
    wrong = int(row["answered"]) - int(row["right"])
    assert int(row["answered"]) == 39 and wrong >= 1


def test_a_file_that_cannot_be_read_is_reported_and_the_rest_still_marked(tmp_path):
    sc = mazur()
    good = write(tmp_path / "ann.yaml", {k: at_decimals(v, 4) for k, v in values(sc).items()})
    broken = tmp_path / "bad.yaml"
    broken.write_text("net:h1: [1\n", encoding="utf-8")
    result = run_cli("check", "mazur", str(good), str(broken), "--format", "json")
    assert result.returncode == 2
    assert result.stderr.startswith(f"{broken}:")
    files = json.loads(result.stdout)["files"]
    assert [f["file"] for f in files] == [str(good), str(broken)]
    assert files[1]["error"].startswith("YAML syntax error") and files[1]["answered"] is None
    text = run_cli("check", "mazur", good.name, broken.name, cwd=tmp_path)
    assert text.returncode == 2
    row = next(line for line in text.stdout.splitlines() if line.startswith(broken.name))
    assert "not marked: YAML syntax" in row
    assert "1 of 2 files all right." in text.stdout


def test_a_seed_line_marks_the_students_own_problem(tmp_path):
    """The teacher hands out 'bpwalk new --seed N' problems; each answers file says its seed."""
    teacher = tmp_path / "practice.yaml"
    teacher.write_text(practice_text("2-2-1", "sigmoid", "half_squared_error", 7, 2),
                       encoding="utf-8")
    own = loads(redraw(load(teacher).source, 31))
    assert own.x.tolist() != load(teacher).x.tolist()  # a different problem
    answers = {k: at_decimals(v, 4) for k, v in values(own).items()}
    seeded = write(tmp_path / "s31.yaml", answers, seed=31)
    assert run_cli("check", str(teacher), str(seeded)).returncode == 0
    unseeded = write(tmp_path / "none.yaml", answers)  # the same numbers, the teacher's problem
    assert run_cli("check", str(teacher), str(unseeded)).returncode == 1


def test_a_seed_needs_a_scenario_made_by_new(tmp_path):
    seeded = write(tmp_path / "s.yaml", {"net:h1": "0.3775"}, seed=3)
    result = run_cli("check", "mazur", str(seeded))
    assert result.returncode == 2 and "was not made by 'bpwalk new'" in result.stderr
    bad_seed = tmp_path / "b.yaml"
    bad_seed.write_text("seed: 1.5\nnet:h1: 0.3775\n", encoding="utf-8")
    result = run_cli("check", "mazur", str(bad_seed))
    assert result.returncode == 2 and result.stderr.startswith(f"{bad_seed}:1:1: seed must be")


def test_update_k_marks_the_answers_for_that_update(tmp_path):
    sc = mazur()
    second = values(sc, update=2)
    assert second["net:h1"] != values(sc)["net:h1"]  # the weights moved
    path = write(tmp_path / "u2.yaml", {k: at_decimals(v, 6) for k, v in second.items()})
    result = run_cli("check", "mazur", str(path), "--update", "2")
    assert result.returncode == 0 and "update 2" in result.stdout
    assert run_cli("check", "mazur", str(path)).returncode == 1


def test_a_blank_template_says_nothing_was_answered(tmp_path):
    blank = tmp_path / "a.yaml"
    blank.write_text("net:h1:\nout:h1: ~\n", encoding="utf-8")
    result = run_cli("check", "mazur", str(blank))
    assert result.returncode == 2 and result.stdout == ""
    assert f"{blank}: no answer is filled in (2 blank ids)" in result.stderr
    assert "0 of 0" not in result.stderr


def test_many_unknown_ids_are_summarised(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("".join(f"x{i}: 1\n" for i in range(5000)), encoding="utf-8")
    result = run_cli("check", "mazur", str(path))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == SHOWN_PROBLEMS + 1
    assert lines[-1] == f"{path}: ... and {5000 - SHOWN_PROBLEMS} more problems; fix these first"


def test_a_student_who_answered_few_steps_is_not_all_right(tmp_path):
    """8 of mazur's 39 steps, all right: "8 of 39 answered", never "8/8 all right"."""
    sc = mazur()
    some = dict(list(values(sc).items())[:8])
    part = write(tmp_path / "dan.yaml", {k: at_decimals(v, 4) for k, v in some.items()})
    steps = len(values(sc))
    result = run_cli("check", "mazur", part.name, part.name, cwd=tmp_path)
    assert result.returncode == 0  # nothing wrong: the exit code is about wrong answers
    row = result.stdout.splitlines()[2].split()
    assert row[:4] == ["dan.yaml", "8", "8", str(steps - 8)]
    assert f"8 of {steps} answered, all right" in result.stdout
    assert "0 of 2 files all right." in result.stdout
    one = run_cli("check", "mazur", part.name, cwd=tmp_path)
    assert f"8 of {steps} answered; {steps - 8} blank: not checked." in one.stdout
    assert "Every answer given is right." in one.stdout
    rows = list(csv.DictReader(io.StringIO(
        run_cli("check", "mazur", part.name, "--format", "csv", cwd=tmp_path).stdout)))
    assert (rows[0]["answered"], rows[0]["blank"]) == ("8", str(steps - 8))
    doc = json.loads(run_cli("check", "mazur", part.name, "--format", "json",
                             cwd=tmp_path).stdout)
    assert (doc["asked"], doc["blank"]) == (steps, steps - 8)


def test_swapped_arguments_say_the_scenario_comes_first(tmp_path):
    sc = mazur()
    answers = write(tmp_path / "ann.yaml", {k: at_decimals(v, 4) for k, v in values(sc).items()})
    result = run_cli("check", answers.name, "mazur", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("ann.yaml: is an answers file, not a scenario; the scenario comes "
                             "first: bpwalk check mazur ann.yaml\n")
    # a real scenario file given first is not taken for answers
    scenario = tmp_path / "net.yaml"
    scenario.write_text(resolve("mazur")[0].read_text(encoding="utf-8"), encoding="utf-8")
    assert run_cli("check", scenario.name, answers.name, cwd=tmp_path).returncode == 0
