"""`bpwalk lms`: per-student variants for Moodle (Cloze), Canvas (QTI 1.2) and PrairieLearn,
read back by readers that share no code with the writers.

Moodle: the XML parsed with lxml and each blank by tests/cloze.py (Moodle's documented
grammar). Canvas: no third-party reader of QTI 1.2 works (qti-package-maker's Canvas engine
and text2qti only write), so the package is parsed with lxml against QTI 1.2's structure, and
its numeric items are compared with the one qti-package-maker's Canvas engine writes.
PrairieLearn: server.py run with a stand-in `data` dict carrying PrairieLearn's documented keys.
Expected values come from the engine, run on the variant the seed in the export names, and the
mistakes from the engine with the mistake injected.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import zipfile
from decimal import Decimal

import pytest

from bpwalk.engine import run
from bpwalk.judge import Judge, at_decimals, describe
from bpwalk.lms import redrawn
from bpwalk.lms.moodle import escape
from bpwalk.mistakes import Mistake
from bpwalk.scenario import load, resolve

from . import cloze
from .conftest import run_cli

etree = pytest.importorskip("lxml.etree")
MAZUR = load(resolve("mazur")[0])


def values(sc, mistakes=()) -> dict[str, float]:
    trace = run(sc, mistakes=tuple(mistakes))
    return {s.id: s.value for s in trace.iterations[0].steps}


def seed_of(text: str) -> int:
    return int(re.search(r"seed (\d+)", text).group(1))


@pytest.fixture(scope="module")
def moodle(tmp_path_factory):
    out = tmp_path_factory.mktemp("moodle") / "quiz.xml"
    r = run_cli("lms", "mazur", "--format", "moodle", "--variants", "3", "--seed", "5",
                "--ask", "forward,backward", "--decimals", "5", "-o", str(out))
    assert r.returncode == 0, r.stderr
    return etree.parse(str(out))


def test_moodle_cloze_blanks_give_back_the_right_value_and_every_mistake(moodle):
    questions = moodle.findall("question")
    assert questions[0].get("type") == "category"
    assert questions[0].findtext("category/text") == "$course$/top/bpwalk/mazur"
    cloze_qs = [q for q in questions if q.get("type") == "cloze"]
    assert len(cloze_qs) == 3
    asked = [s.id for s in run(MAZUR).iterations[0].steps if s.phase in ("forward", "backward")]
    seeds = []
    for q in cloze_qs:
        seed = seed_of(q.findtext("name/text"))
        seeds.append(seed)
        sc = redrawn(MAZUR, seed)
        right = values(sc)
        judge = Judge(sc)
        text = q.findtext("questiontext/text")
        found = cloze.blanks(text)
        assert len(found) == len(asked)
        picture = q.find("questiontext/file")
        assert picture.get("name") == "network.svg" and "@@PLUGINFILE@@/network.svg" in text
        svg = etree.fromstring(base64.b64decode(picture.text))  # a picture of the network
        assert etree.QName(svg).localname == "svg" and svg.findall(".//{*}circle")
        for sid, blank in zip(asked, found):
            first, *wrong = blank.answers
            assert first.fraction == 100
            assert first.accepts(Decimal(repr(right[sid])))
            # the judge marks right every 5-decimal number the range accepts, and wrong the
            # numbers one unit outside it
            unit = Decimal("0.00001")
            inside = {(first.value - first.tolerance).quantize(unit, "ROUND_CEILING"),
                      (first.value + first.tolerance).quantize(unit, "ROUND_FLOOR")}
            assert all(judge.mark(sid, str(g), {}).correct for g in inside)
            for g in (min(inside) - unit, max(inside) + unit):
                assert not judge.mark(sid, str(g), {}).correct, (sid, g)
            # every mistake the judge can name there: its value, as the engine gives it
            expected = {}
            for kind in judge.kinds(sid):
                got = values(sc, [Mistake(kind, sid)])[sid]
                if got != right[sid] and not judge.mark(sid, at_decimals(got, 5), {}).correct:
                    expected.setdefault(at_decimals(got, 5), set()).add(describe(kind, sc))
            recovered = {str(a.value.quantize(unit)): set(a.feedback.split("; or "))
                         for a in wrong}
            assert all(a.fraction == 0 for a in wrong)
            assert recovered == expected, sid
    assert len(set(seeds)) == 3 and min(seeds) >= 5


def test_cloze_escaping_round_trips_hostile_text():
    hostile = 'a}b#c~d/e"f\\g {1:NUMERICAL:=1:2}'
    text = "{1:NUMERICAL:=0.5:0.1#" + escape(hostile) + "~%0%-0.5:0.1#" + escape("x/y") + "}"
    (blank,) = cloze.blanks(text)
    assert [a.feedback for a in blank.answers] == [hostile, "x/y"]
    assert [a.value for a in blank.answers] == [Decimal("0.5"), Decimal("-0.5")]


@pytest.fixture(scope="module")
def qti(tmp_path_factory):
    out = tmp_path_factory.mktemp("qti") / "quiz.zip"
    r = run_cli("lms", "mazur", "--format", "qti", "--variants", "2", "--ask",
                "forward,grad:w5", "--decimals", "4", "-o", str(out))
    assert r.returncode == 0, r.stderr
    return zipfile.ZipFile(out)


def _shape(el) -> list[str]:
    """An element's tags and attribute names, depth first (values left out)."""
    out = [etree.QName(el).localname + str(sorted(el.attrib))]
    for child in el:
        out += _shape(child)
    return out


def test_qti_package_is_qti_1_2_with_a_group_per_step_and_margins_the_judge_keeps(qti):
    qti_ns = {"q": "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"}
    manifest = etree.fromstring(qti.read("imsmanifest.xml"))
    (href,) = [f.get("href") for f in manifest.iter("{*}file")]
    root = etree.fromstring(qti.read(href))
    assert etree.QName(root).localname == "questestinterop"
    groups = root.findall("q:assessment/q:section/q:section", qti_ns)
    asked = [s.id for s in run(MAZUR).iterations[0].steps if s.phase == "forward"] + ["grad:w5"]
    assert [g.get("title") for g in groups] == asked
    for group, sid in zip(groups, asked):
        assert group.findtext("q:selection_ordering/q:selection/q:selection_number",
                              namespaces=qti_ns) == "1"
        items = group.findall("q:item", qti_ns)
        assert len(items) == 2
        for item in items:
            labels = {f.findtext("q:fieldlabel", namespaces=qti_ns):
                      f.findtext("q:fieldentry", namespaces=qti_ns)
                      for f in item.iterfind(".//q:qtimetadatafield", qti_ns)}
            assert labels["question_type"] == "numerical_question"
            sc = redrawn(MAZUR, seed_of(item.get("title")))
            exact = values(sc)[sid]
            low = float(item.findtext(".//q:vargte", namespaces=qti_ns))
            high = float(item.findtext(".//q:varlte", namespaces=qti_ns))
            assert low <= exact <= high and abs(exact) >= 1e-4  # Canvas refuses smaller
            assert item.findtext(".//q:varequal", namespaces=qti_ns) == at_decimals(exact, 4)
            assert sid in item.findtext(".//q:mattext", namespaces=qti_ns)


def test_qti_numeric_items_are_written_as_qti_package_makers_canvas_engine_writes_them(qti):
    helpers = pytest.importorskip("qti_package_maker.engines.canvas_qti_v1_2.item_xml_helpers")
    manifest = etree.fromstring(qti.read("imsmanifest.xml"))
    (href,) = [f.get("href") for f in manifest.iter("{*}file")]
    item = etree.fromstring(qti.read(href)).find(".//{*}item")
    theirs_rp = helpers.create_NUM_resprocessing(0.5, 0.01)
    theirs_pr = helpers.create_numeric_presentation("text")
    ours_rp, ours_pr = item.find("{*}resprocessing"), item.find("{*}presentation")
    assert _shape(ours_rp) == _shape(theirs_rp)
    assert _shape(ours_pr.find("{*}response_str")) == _shape(theirs_pr.find("response_str"))


def _load_server(folder):
    spec = importlib.util.spec_from_file_location("pl_server", folder / "server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _data(variant_seed: int) -> dict:
    """A stand-in for PrairieLearn's `data` (docs: question server.py, "The data dict")."""
    return {"params": {}, "correct_answers": {}, "submitted_answers": {},
            "raw_submitted_answers": {}, "format_errors": {}, "partial_scores": {},
            "score": 0, "feedback": {}, "variant_seed": variant_seed, "options": {}}


def test_prairielearn_server_generates_and_grades_with_the_judge(tmp_path):
    folder = tmp_path / "q"
    r = run_cli("lms", "mazur", "--format", "prairielearn", "--variants", "2", "--ask",
                "forward,loss,dnet:o1,grad:w5", "-o", str(folder))
    assert r.returncode == 0, r.stderr
    assert {p.name for p in folder.iterdir()} == {"info.json", "question.html", "server.py"}
    html = (folder / "question.html").read_text(encoding="utf-8")
    names = re.findall(r'<pl-number-input answers-name="(a\d+)"', html)
    server = _load_server(folder)
    data = _data(7)
    server.generate(data)
    seed = data["params"]["seed_value"]
    sc = redrawn(MAZUR, seed)
    right = values(sc)
    asked = server.SETTINGS["asked"]
    assert len(names) == len(asked) and asked[-2:] == ["dnet:o1", "grad:w5"]
    for name, sid in zip(names, asked):
        assert data["correct_answers"][name] == float(at_decimals(right[sid], 6))
    # all right
    for name, sid in zip(names, asked):
        data["raw_submitted_answers"][name] = at_decimals(right[sid], 6)
        data["submitted_answers"][name] = float(at_decimals(right[sid], 6))
    server.grade(data)
    assert data["score"] == 1.0
    # the delta with dout/dnet left out, and grad:w5 computed from it: the judge names it
    wrong = values(sc, [Mistake("dact_left_out", "dnet:o1")])
    graded = _data(7)
    server.generate(graded)
    for name, sid in zip(names, asked):
        graded["raw_submitted_answers"][name] = at_decimals(wrong[sid], 6)
    server.grade(graded)
    delta = graded["partial_scores"][names[-2]]
    assert delta["score"] == 0 and describe("dact_left_out", sc) in delta["feedback"]
    assert graded["partial_scores"][names[-1]]["score"] == 0
    assert "carried forward" in graded["partial_scores"][names[-1]]["feedback"]
    assert graded["score"] == pytest.approx((len(asked) - 2) / len(asked))


@pytest.mark.parametrize("args, message", [
    (["--format", "blackboard"], "--format 'blackboard' is not known"),
    (["--format", "moodle", "--ask", "grad:w99"], "--ask 'grad:w99': not a phase"),
    (["--format", "moodle", "--notation", "han-kamber"], "writes some steps with the other sign"),
])
def test_lms_refuses_bad_options_in_one_line(tmp_path, args, message):
    r = run_cli("lms", "mazur", *args, "-o", str(tmp_path / "x.xml"))
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.splitlines()) == 1
    assert not (tmp_path / "x.xml").exists()


def _moodle_csv(path, rows):
    """A Responses report as Moodle downloads it (Question text and Response shown)."""
    import csv

    with path.open("w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow(["Surname", "First name", "Email address", "State", "Started on",
                    "Completed", "Time taken", "Grade/100.00", "Question 1", "Response 1"])
        for last, first, question, response in rows:
            w.writerow([last, first, f"{first}@example.org", "Finished", "", "", "", "",
                        question, response])


def test_check_from_moodle_marks_each_student_against_their_variant(tmp_path):
    quiz = tmp_path / "quiz.xml"
    assert run_cli("lms", "mazur", "--format", "moodle", "--variants", "2", "--ask",
                   "forward,loss", "--decimals", "4", "-o", str(quiz)).returncode == 0
    questions = [q for q in etree.parse(str(quiz)).findall("question")
                 if q.get("type") == "cloze"]
    asked = [s.id for s in run(MAZUR).iterations[0].steps if s.phase in ("forward", "loss")]
    rows = []
    for (last, first, mistake), q in zip([("Lovelace", "Ada", None),
                                          ("Turing", "Alan", Mistake("sign", "net:o1"))],
                                         questions):
        summary = re.sub("<[^>]+>", " ", q.findtext("questiontext/text"))  # as text
        got = values(redrawn(MAZUR, seed_of(q.findtext("name/text"))),
                     [mistake] if mistake else [])
        response = "; ".join(f"part {k}: {at_decimals(got[sid], 4)}"
                             for k, sid in enumerate(asked, 1))
        rows.append((last, first, summary, response))
    rows.append(("Hopper", "Grace", rows[0][2], "part 1: ; part 2: "))  # nothing typed
    _moodle_csv(tmp_path / "responses.csv", rows)
    r = run_cli("check", "mazur", "--from", "moodle", "responses.csv", "--ask", "forward,loss",
                "--format", "csv", cwd=tmp_path)
    assert r.returncode == 2  # Grace answered nothing
    import csv
    import io
    got = {row["file"]: row for row in csv.DictReader(io.StringIO(r.stdout))}
    n = str(len(asked))
    assert (got["Ada Lovelace"]["right"], got["Ada Lovelace"]["answered"]) == (n, n)
    alan = got["Alan Turing"]
    assert (alan["first_wrong"], alan["mistake"]) == ("net:o1", "sign")
    assert (got["Grace Hopper"]["answered"], got["Grace Hopper"]["blank"]) == ("0", n)
    page = tmp_path / "report.html"
    assert run_cli("check", "mazur", "--from", "moodle", "responses.csv", "--ask",
                   "forward,loss", "--format", "html", "-o", str(page),
                   cwd=tmp_path).returncode == 2
    assert "Alan Turing" in page.read_text(encoding="utf-8")


def test_check_from_canvas_reads_the_student_analysis(tmp_path, qti):
    import csv
    import io

    manifest = etree.fromstring(qti.read("imsmanifest.xml"))
    (href,) = [f.get("href") for f in manifest.iter("{*}file")]
    items = list(etree.fromstring(qti.read(href)).iter("{*}item"))
    heads, answers = [], []
    for k, item in enumerate(items, 1000):  # Canvas heads a column "id: question text"
        text = re.sub("<[^>]+>", " ", item.findtext(".//{*}mattext"))
        heads += [f"{k}: {text}", "1.0"]
        sid = item.get("title").split(",")[0]
        got = values(redrawn(MAZUR, seed_of(item.get("title"))))
        # the student got the first variant of each group; grad:w5 with the sign flipped
        first = item.get("ident").endswith("_1")
        wrong = -got[sid] if sid == "grad:w5" else got[sid]
        answers += [at_decimals(wrong, 4) if first else "", "1" if first else ""]
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["name", "id", "sis_id", "section", "section_id", "section_sis_id", "submitted",
                "attempt", *heads, "n correct", "n incorrect", "score"])
    w.writerow(["Ada Lovelace", "1", "", "A", "1", "", "2026-12-07", "1", *answers, "", "", ""])
    (tmp_path / "analysis.csv").write_text(out.getvalue(), encoding="utf-8")
    r = run_cli("check", "mazur", "--from", "canvas", "analysis.csv", "--format", "json",
                cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    (ada,) = json.loads(r.stdout)["files"]
    assert ada["file"] == "Ada Lovelace" and ada["first_wrong"] == "grad:w5"
    assert ada["asked"] == 9 and ada["blank"] == 0
    (w5,) = [x for x in ada["results"] if x["id"] == "grad:w5"]
    assert w5["mistake"] == "sign"


def test_the_teachers_page_commands_run_as_shown(tmp_path):
    """docs/teachers.md: the three commands from a quiz to a class report, as written."""
    from pathlib import Path

    page = (Path(__file__).parent.parent / "docs" / "teachers.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```\n(.*?)```", page, re.DOTALL)
    commands = [line.split()[1:] for b in blocks for line in b.splitlines()
                if line.startswith("bpwalk ") and "SCENARIO" not in line]
    assert [c[:2] for c in commands] == [["lms", "mazur"], ["check", "mazur"],
                                         ["check", "mazur"], ["new", "--explain-rules"]]
    lms, text, report, rules = commands
    assert run_cli(*lms, cwd=tmp_path).returncode == 0
    questions = [q for q in etree.parse(str(tmp_path / "quiz.xml")).findall("question")
                 if q.get("type") == "cloze"]
    asked = [s.id for s in run(MAZUR).iterations[0].steps]
    rows = []
    for k, q in enumerate(questions[:3]):
        got = values(redrawn(MAZUR, seed_of(q.findtext("name/text"))))
        response = "; ".join(f"part {n}: {at_decimals(got[sid], 6)}"
                             for n, sid in enumerate(asked, 1))
        rows.append((f"S{k}", "Student", re.sub("<[^>]+>", " ", q.findtext(
            "questiontext/text")), response))
    _moodle_csv(tmp_path / "responses.csv", rows)
    shown = run_cli(*text, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "3 of 3 students all right." in shown.stdout
    assert run_cli(*report, cwd=tmp_path).returncode == 0
    assert (tmp_path / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert run_cli(*rules).returncode == 0
