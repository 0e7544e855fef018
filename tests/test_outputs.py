"""Every output of the bundled scenarios is what the manifest recorded (tools/outputs.py).

A refactoring keeps each output byte-identical; a change made on purpose is recorded with
`python tools/outputs.py --write` and listed in its commit. `python tools/outputs.py --dump
DIR` writes the texts, to diff against another checkout's.
"""

from __future__ import annotations

import importlib.util
import json

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("outputs", ROOT / "tools" / "outputs.py")
outputs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(outputs)


def test_every_output_is_as_recorded() -> None:
    have = outputs.rendered(jobs=2)  # two processes, each half of the scenarios
    want = json.loads(outputs.MANIFEST.read_text(encoding="utf-8"))
    assert outputs.differences(have, want) == []


def test_a_changed_output_is_reported() -> None:
    texts = outputs.Outputs("mazur/ng/run-80").all()
    assert list(texts) == ["mazur/ng/run-80"]
    have = outputs.manifest(texts)
    assert outputs.differences(have, have) == []
    changed = outputs.manifest({"mazur/ng/run-80": texts["mazur/ng/run-80"] + " "})
    assert outputs.differences(changed, have) == ["changed: mazur/ng/run-80"]
    assert outputs.differences({}, have) == ["gone:    mazur/ng/run-80"]


def test_the_version_is_taken_out() -> None:
    texts = outputs.Outputs("mazur/export-json").all()
    assert '"bpwalk": "VERSION"' in texts["mazur/export-json"]
