"""The bundled example scenarios, and resolving a name (``mazur``) or a path to a file."""

from __future__ import annotations

from pathlib import Path

from bpwalk.scenario.errors import Problem, ScenarioError, did_you_mean


def bundled_dir() -> Path:
    """The folder of bundled example scenarios (inside the installed package)."""
    # find_spec, not importlib.resources.files: the same folder without importing zipfile
    # and importlib.resources at every start (a few ms of `bpwalk run`)
    from importlib.util import find_spec

    try:
        spec = find_spec("bpwalk.scenarios")
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parents[2] / "scenarios"  # a source checkout, not installed


SCHEMA_FILE = "bpwalk.schema.json"  # the bundled scenarios' modeline names it: it sits beside them
SCHEMA_HINT = f"# (no {SCHEMA_FILE} beside this file? 'bpwalk schema -o {SCHEMA_FILE}' writes it)"


def schema_path() -> Path:
    """The JSON Schema of the format, shipped beside the bundled scenarios. Kept equal to
    format.json_schema() by a test; reading it needs neither NumPy nor PyYAML."""
    return bundled_dir() / SCHEMA_FILE


def bundled_names() -> list[str]:
    return sorted(p.stem for p in bundled_dir().glob("*.yaml"))


def resolve(name: str) -> tuple[Path, str]:
    """A path as given, or a bundled example's name (``mazur``): (path to read, name to show)."""
    path = Path(name)
    bundled = bundled_dir() / f"{name}.yaml"
    try:
        if path.is_dir() and bundled.exists():  # a folder named `xor` does not hide the example
            return bundled, name
        if path.exists() or name.endswith((".yaml", ".yml")) or "/" in name or "\\" in name:
            return path, name
        if bundled.exists():
            return bundled, name
    except OSError as e:  # a name too long for the file system, say: it was being read
        from bpwalk.scenario.yamlread import shorten

        raise ScenarioError([Problem(shorten(name, 60), None, None,
                                     f"cannot be read ({e.strerror}); check the path")]) from None
    raise ScenarioError([Problem(name, None, None,
                                 f"no such file or bundled example{did_you_mean(name, bundled_names())}"
                                 "; give a path to a .yaml file, or run 'bpwalk examples'")])


def shadows(name: str, path: Path) -> bool:
    """Does the file `path`, read for `name`, hide the bundled example of that name? (A file
    `mazur` in the current folder is read for 'bpwalk run mazur'; the user should know.)"""
    bundled = bundled_dir() / f"{name}.yaml"
    return bundled.exists() and Path(name) == path and not bundled.samefile(path)
