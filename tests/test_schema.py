"""`bpwalk schema`: a JSON Schema built from the loader's own format table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from bpwalk.cli import app
from bpwalk.functions import ACTIVATIONS, LOSSES
from bpwalk.scenario import FORMAT, LAYER_KEYS, TOP_KEYS, ScenarioError, json_schema, loads
from bpwalk.scenario.examples import schema_path
from bpwalk.scenario.format import schema_text

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
runner = CliRunner()


@pytest.fixture(scope="module")
def schema() -> dict:
    out = runner.invoke(app, ["schema"])
    assert out.exit_code == 0
    data = json.loads(out.stdout)  # valid JSON
    jsonschema.Draft7Validator.check_schema(data)  # and a valid draft-7 schema
    return data


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_bundled_scenario_validates_against_the_schema(schema, path):
    jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)


def test_schema_is_generated_from_the_loaders_table(schema):
    assert schema == json_schema()
    assert tuple(schema["properties"]) == TOP_KEYS
    layer = schema["properties"]["layers"]["items"]["oneOf"][0]  # (1: kind: rnn)
    assert tuple(layer["properties"]) == LAYER_KEYS
    assert layer["properties"]["activation"]["enum"] == list(ACTIVATIONS)
    assert schema["properties"]["loss"]["enum"] == list(LOSSES)
    # a layers: network's keys are required unless the scenario is a graph: (issue 22)
    assert schema["required"] == [k.name for k in FORMAT["scenario"]
                                  if k.required and not k.unless]
    network = [k.name for k in FORMAT["scenario"] if k.required and k.unless == "graph"]
    assert {"if": {"not": {"required": ["graph"]}}, "then": {"required": network}} in \
        schema["allOf"]
    assert all(p.get("description") for p in schema["properties"].values())


def test_shipped_schema_file_is_the_tables_schema():
    # `bpwalk schema` prints the file shipped beside the bundled scenarios (their modeline
    # names it), so that it needs neither NumPy nor PyYAML; it must stay the table's schema.
    shipped = schema_path().read_text(encoding="utf-8")
    assert shipped == schema_text(), (
        "scenarios/bpwalk.schema.json is out of date with the format table; regenerate it: "
        "python -m bpwalk.scenario.format > scenarios/bpwalk.schema.json")


@pytest.mark.parametrize("args", [["schema"], ["schema", "-o", "{tmp}/s.json"], ["--version"]])
def test_schema_and_version_import_neither_numpy_nor_pyyaml(args, tmp_path):
    args = [a.format(tmp=tmp_path) for a in args]
    code = ("import sys\nfrom bpwalk.cli import app\n"
            f"try:\n    app({args!r})\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print(sorted(m for m in ('numpy', 'yaml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr
    # the check can fail: loading a scenario imports both
    code = code.replace(repr(args), repr(["validate", "mazur"]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "['numpy', 'yaml']", out.stderr


def test_schema_output_file(tmp_path):
    out = runner.invoke(app, ["schema", "-o", str(tmp_path / "bpwalk.schema.json")])
    assert out.exit_code == 0
    assert json.loads((tmp_path / "bpwalk.schema.json").read_text()) == json_schema()


MAZUR = (SCENARIOS / "mazur.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("change", [
    lambda d: d.update(lerning_rate=0.5),                       # unknown key
    lambda d: d["layers"][0].update(activation="sigmod"),       # unknown activation
    lambda d: d.update(loss="mse"),                             # unknown loss
    lambda d: d.update(learning_rate=0),                        # not above 0
    lambda d: d.update(batch="half"),                           # not full or a count
    lambda d: d["layers"][0].pop("weights"),                    # weights without init
    lambda d: d.update(init={"scheme": "he"}),                  # init without seed
    lambda d: d.update(init={"seed": 1, "scheme": "glorot"}),   # unknown scheme
    lambda d: d.pop("data"),                                    # a required key
    lambda d: d["layers"][0].update(neurons=["1h"]),            # not a name
])
def test_schema_and_loader_both_reject(schema, change):
    data = yaml.safe_load(MAZUR)
    change(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)
    with pytest.raises(ScenarioError):
        loads(yaml.safe_dump(data, sort_keys=False))


def test_schema_accepts_weights_left_to_init(schema):
    data = yaml.safe_load(MAZUR)
    for layer in data["layers"]:
        del layer["weights"]
    data["init"] = {"seed": 3, "scheme": "xavier"}
    jsonschema.validate(data, schema)
    loads(yaml.safe_dump(data, sort_keys=False))


def test_practice_files_validate_against_the_schema(schema):
    from bpwalk.template import practice_text

    for loss in ("half_squared_error", "cross_entropy", "binary_cross_entropy"):
        jsonschema.validate(yaml.safe_load(practice_text("2-3-2", "tanh", loss, 4, 2)), schema)
