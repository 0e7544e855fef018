"""Scenario and answers files: YAML text -> a validated, frozen Scenario (or Answers).

The only package that reads YAML. By concern:

- format.py: the keys, defaults and ranges of the format (one table), and its JSON Schema;
- yamlread.py: YAML with positions, typed readers, the one YAML error handler;
- validate.py: the scenario validator, ``load`` and ``loads``;
- model.py: the frozen Scenario and Layer the engine and views read;
- answers.py: the answers-file reader of ``bpwalk check``;
- examples.py: the bundled examples; errors.py: Problem and ScenarioError.

Names are re-exported here and imported on first use, so that the command line, which
reads only the format's limits at start-up, does not pay for NumPy or PyYAML.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {  # public name -> the module that defines it
    **dict.fromkeys(("Key", "FORMAT", "REDUCTIONS", "INIT_SCHEMES", "DEFAULT_LEAKY_SLOPE",
                     "TOP_KEYS", "LAYER_KEYS", "SAMPLE_KEYS", "INIT_KEYS", "REQUIRED_TOP",
                     "keys", "key_of", "json_schema"), "format"),
    **dict.fromkeys(("Problem", "ScenarioError", "did_you_mean", "choice_hint"), "errors"),
    **dict.fromkeys(("Connection", "Layer", "Scenario"), "model"),
    **dict.fromkeys(("load", "loads"), "validate"),
    **dict.fromkeys(("bundled_dir", "bundled_names", "resolve"), "examples"),
    **dict.fromkeys(("Answer", "load_answers", "loads_answers", "read_answers"), "answers"),
}


def __getattr__(name: str) -> Any:  # PEP 562: import the defining module on first use
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value
