"""A PrairieLearn question folder: info.json, question.html with a pl-number-input per asked
step, and server.py, whose generate() picks a variant by PrairieLearn's variant seed and whose
grade() marks the answers with bpwalk's judge (partial credit, and the mistake's name as
feedback). The course's Python needs bpwalk installed (a custom image, or pip in its
workspace); the scenario travels inside server.py, so the folder is all a course needs.

The `data` dict is PrairieLearn's (docs: "Question server.py"): generate() fills
data["params"] and data["correct_answers"]; grade() reads data["submitted_answers"] (and
data["raw_submitted_answers"], the text as typed) and sets data["partial_scores"],
data["score"] and data["feedback"].
"""

from __future__ import annotations

import html
import json
import uuid
from functools import lru_cache
from pathlib import Path

from bpwalk.lms import Variant, accepted, given_rows, redrawn
from bpwalk.notation import Profile, symbol

SERVER = '''"""PrairieLearn server.py written by 'bpwalk lms --format prairielearn'.
The numbers and the marking are bpwalk's: pip install bpwalk in the course's image."""

from bpwalk.lms import prairielearn as bpwalk_pl

SCENARIO = {scenario}  # the scenario file, as given to bpwalk lms
SETTINGS = {settings}


def generate(data):
    bpwalk_pl.generate(SCENARIO, SETTINGS, data)


def grade(data):
    bpwalk_pl.grade(SCENARIO, SETTINGS, data)
'''


def write(folder: Path, source: str, name: str, variants: list[Variant], asked: list[str],
          decimals: int, notation: Profile | None = None) -> None:
    """The question folder; its server.py holds the scenario's text and the variants' seeds."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds = [v.seed for v in variants]
    settings = {"name": name, "asked": asked, "decimals": decimals, "seeds": seeds}
    key = json.dumps([source, settings], sort_keys=True)
    info = {"uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, "bpwalk:" + key)),
            "title": f"Backpropagation by hand: {name}", "topic": "Backpropagation",
            "tags": ["bpwalk"], "type": "v3", "singleVariant": False}
    from bpwalk.files import write_atomic

    write_atomic(folder / "info.json", json.dumps(info, indent=2) + "\n")
    write_atomic(folder / "question.html", question_html(asked, decimals, notation))
    # repr() of a str and of a dict of plain data are Python literals: no user text is code
    write_atomic(folder / "server.py", SERVER.format(scenario=repr(source),
                                                     settings=repr(settings)))


def question_html(asked: list[str], decimals: int, notation: Profile | None = None) -> str:
    """The page: the network's numbers (from params) and one numbered input per step."""
    inputs = "\n".join(
        f'  <pl-number-input answers-name="a{k}" label="{html.escape(sid)} '
        f'({html.escape(symbol(sid, "unicode", notation))}) =" comparison="decdig" '
        f'digits="{decimals}"></pl-number-input>'
        for k, sid in enumerate(asked, 1))
    return ("<pl-question-panel>\n  <p>Work out one update of this network by hand; give "
            f"each value to {decimals} decimals.</p>\n  <table>\n"
            "  {{#params.given}}<tr><td>{{name}}</td><td>{{value}}</td></tr>{{/params.given}}\n"
            "  </table>\n  <p><small>bpwalk variant: seed {{params.seed}}</small></p>\n"
            f"</pl-question-panel>\n{inputs}\n")


@lru_cache(maxsize=64)
def _variant(source: str, seed: int | None) -> Variant:
    from bpwalk.judge import Judge
    from bpwalk.scenario import loads

    sc = loads(source, "scenario.yaml")
    sc = sc if seed is None else redrawn(sc, seed)
    return Variant(seed, sc, Judge(sc))


def generate(source: str, settings: dict, data: dict) -> None:
    seeds = settings["seeds"]
    seed = seeds[int(data.get("variant_seed", 0)) % len(seeds)]
    v = _variant(source, seed)
    data["params"]["seed"] = "the scenario's own numbers" if seed is None else seed
    data["params"]["seed_value"] = seed
    data["params"]["given"] = [{"name": n, "value": x} for n, x in given_rows(v.scenario)]
    for k, sid in enumerate(settings["asked"], 1):
        data["correct_answers"][f"a{k}"] = float(
            accepted(v.judge, sid, settings["decimals"]).text)


def grade(source: str, settings: dict, data: dict) -> None:
    """Each answer marked by the judge against the student's own earlier answers (as
    `bpwalk check` does), one partial score per step, the mistake's name as feedback."""
    v = _variant(source, data["params"].get("seed_value"))
    raw = data.get("raw_submitted_answers", {})
    earlier = []
    scores = []
    for k, sid in enumerate(settings["asked"], 1):
        name = f"a{k}"
        given = raw.get(name, data["submitted_answers"].get(name))
        if given is None or str(given).strip() == "":
            data["partial_scores"][name] = {"score": 0.0, "weight": 1, "feedback": "blank"}
            scores.append(0.0)
            continue
        try:
            res = v.judge.judge_one(sid, str(given).strip(), earlier)
        except (ValueError, ArithmeticError):
            data["format_errors"][name] = "not a number; write it like 0.3775"
            scores.append(0.0)
            continue
        earlier.append(res)
        score = 1.0 if res.correct else 0.0
        data["partial_scores"][name] = {"score": score, "weight": 1,
                                        "feedback": res.note or ("right" if res.correct
                                                                 else res.diagnosis)}
        scores.append(score)
    data["score"] = sum(scores) / len(scores) if scores else 0.0
    wrong = [p["feedback"] for p in data["partial_scores"].values() if p["score"] < 1]
    data["feedback"]["bpwalk"] = wrong[0] if wrong else "every answer is right"
