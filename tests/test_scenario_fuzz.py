"""No input makes the loader fail with anything but a ScenarioError (hence no traceback)."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpwalk.engine import EngineError, run
from bpwalk.scenario import ScenarioError, loads

from .conftest import SCENARIOS

MAZUR = (SCENARIOS / "mazur.yaml").read_text(encoding="utf-8")

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
                    st.text(max_size=8), st.sampled_from(["sigmoid", "full", "mean", "h1"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=20)


def _load_or_error(text: str) -> None:
    try:
        scenario = loads(text, "fuzz.yaml")
    except ScenarioError as e:
        assert e.problems and all(str(p).startswith("fuzz.yaml:") for p in e.problems)
        return
    try:
        run(scenario, iterations=2)
    except EngineError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(MAZUR) - 1), st.integers(0, 12), st.text(max_size=6))
def test_mutated_mazur_never_crashes(pos, cut, insert):
    _load_or_error(MAZUR[:pos] + insert + MAZUR[pos + cut:])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["inputs", "layers", "loss", "learning_rate", "data",
                                        "batch", "reduction", "iterations", "update_biases",
                                        "name", "bogus"]), values, max_size=8))
def test_random_structures_never_crash(doc):
    _load_or_error(yaml.safe_dump(doc))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_crashes(text):
    _load_or_error(text)
