"""The bundled example scenarios, and resolving a name (``mazur``) or a path to a file."""

from __future__ import annotations

from pathlib import Path

from bpwalk.scenario.errors import Problem, ScenarioError, did_you_mean


def bundled_dir() -> Path:
    """The folder of bundled example scenarios (inside the installed package)."""
    from importlib.resources import files

    try:
        return Path(str(files("bpwalk.scenarios")))
    except ModuleNotFoundError:  # running from a source checkout that is not installed
        return Path(__file__).resolve().parents[2] / "scenarios"


def bundled_names() -> list[str]:
    return sorted(p.stem for p in bundled_dir().glob("*.yaml"))


def resolve(name: str) -> tuple[Path, str]:
    """A path as given, or a bundled example's name (``mazur``): (path to read, name to show)."""
    path = Path(name)
    if path.exists() or name.endswith((".yaml", ".yml")) or "/" in name or "\\" in name:
        return path, name
    bundled = bundled_dir() / f"{name}.yaml"
    if bundled.exists():
        return bundled, name
    raise ScenarioError([Problem(name, None, None,
                                 f"no such file or bundled example{did_you_mean(name, bundled_names())}"
                                 "; give a path to a .yaml file, or run 'bpwalk examples'")])
