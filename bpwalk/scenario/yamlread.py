"""YAML with positions: PyYAML's composed node tree, read into checked values.

This is the only module that reads YAML. It works on PyYAML's composed node tree (never on
constructed Python objects) so every problem can be reported as ``FILE:LINE:COL: what is
wrong; how to fix it``.

Safety: the tree is composed with the safe loader, a node whose tag is not one of YAML's
plain types (str, int, float, bool, null, seq, map) is refused before anything is built, and
aliases are counted before expansion so an alias bomb is refused in milliseconds.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from bpwalk.scenario.errors import (
    SHOWN_PROBLEMS,
    Problem,
    ScenarioError,
    control_character,
    did_you_mean,
)
from bpwalk.scenario.format import MAX_LAYER_SIZE, NAME_PATTERN, numbered

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_NODES = 2_000_000  # expanded size limit: far above any real network, far below a bomb
MAX_FILE_BYTES = 10 * 2**20  # 10 MiB: Mazur's file is 2 KB; /dev/zero would never end

_FLOAT_TAG = "tag:yaml.org,2002:float"
_INT_TAG = "tag:yaml.org,2002:int"
_STR_TAG = "tag:yaml.org,2002:str"

# The one number rule of scenario and answers files: decimal numbers as a person writes them
# (0.5, -3, 1e-3, .5), in the digits 0-9. YAML 1.1 reads more as numbers (1:30 as 90 in base
# 60, 0x10 as 16, 1__0 as 10, 017 as 15) and Python's float() takes any script's digits; a
# number written so is refused with a hint (not_decimal) rather than read as what its writer
# may not have meant.
DECIMAL = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\Z", re.ASCII)
_WHOLE = re.compile(r"[-+]?\d+\Z", re.ASCII)
_YAML_SPECIAL = re.compile(r"[-+]?\.(?:inf|Inf|INF)\Z|\.(?:nan|NaN|NAN)\Z")  # reported as such
_BASES = {"x": "a hexadecimal", "o": "an octal", "b": "a binary"}


def not_decimal(text: str) -> str:
    """Why `text` (not DECIMAL) is not read as a number, as the end of a message: "" when it
    looks like no number at all ("abc")."""
    t = text.strip()
    base = re.fullmatch(r"[-+]?0([xXoObB])[0-9a-fA-F_]+", t)
    if base:
        return (f" (YAML 1.1 reads it as {_BASES[base.group(1).lower()]} number); write it in "
                "decimal digits")
    if re.fullmatch(r"[-+]?[0-9_]+(?::[0-5]?[0-9])+(?:\.[0-9_]*)?", t):
        return " (YAML 1.1 reads it in base 60, as a time); write the number itself in decimal"
    if "_" in t and DECIMAL.match(t.replace("_", "")):
        return f" (an _ between digits); write it without the _, like {t.replace('_', '')}"
    if any(c.isdigit() and not c.isascii() for c in t):
        return " (digits of another script); write it with the digits 0-9"
    return ""
# fullmatch: the pattern's $ (JSON Schema's, ECMA's end of input) lets re.match accept a
# name with a line break at its end
_NAME = re.compile(NAME_PATTERN)
_PLAIN_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "seq", "map")
}


class Expect(NamedTuple):
    """What a kind of file holds, for the messages of read_text() and Reader.compose()."""

    what: str  # "a scenario"
    missing: str  # after "no such file; "
    syntax: str  # after "YAML syntax error: ...; "
    empty: str  # the message for an empty file
    one: str  # after "...more than one YAML document; keep "
    mapping: str  # the top level is not a mapping: the message, with {kind} for what it is


def read_text(path: str | Path, shown: str, expect: Expect) -> str:
    """The UTF-8 text of a file, at most MAX_FILE_BYTES; every failure a ScenarioError."""
    def fail(message: str) -> ScenarioError:
        return ScenarioError([Problem(shown, None, None, message)])

    try:
        with open(path, "rb") as f:  # a FIFO or a device is read like a file, up to the cap
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise fail(f"no such file; {expect.missing}") from None
    except IsADirectoryError:
        raise fail(f"is a folder, not {expect.what} file; name a .yaml file") from None
    except OSError as e:
        raise fail(f"cannot be read ({e.strerror}); check the path and its permissions") from None
    if len(raw) > MAX_FILE_BYTES:
        raise fail(f"is larger than {MAX_FILE_BYTES // 2**20} MiB, the limit for {expect.what} "
                   "file; is it the right file?")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise fail(f"is not UTF-8 text (byte {e.start}); save it as UTF-8") from None


class Reader:
    """Typed readers of YAML nodes; each collects its problem rather than stopping."""

    def __init__(self, filename: str):
        self.file = filename
        self.problems: list[Problem] = []
        self._constructor = yaml.constructor.SafeConstructor()

    # -- reporting

    def err(self, node: yaml.Node | None, message: str) -> None:
        if node is None:
            self.problems.append(Problem(self.file, 1, 1, message))
        else:
            m = node.start_mark
            self.problems.append(Problem(self.file, m.line + 1, m.column + 1, message))

    # -- parsing

    def compose(self, text: str, expect: Expect) -> yaml.MappingNode | None:
        """The one document of `text` as a node tree, or None with the problem recorded:
        the one place a YAML error becomes FILE:LINE:COL."""
        try:
            docs = [d for d in yaml.compose_all(text, Loader=Loader) if d is not None]
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            what = (e.problem or e.context or "invalid YAML").strip()
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            self.problems.append(Problem(self.file, line, col,
                                         f"YAML syntax error: {what}; {expect.syntax}"))
            return None
        except yaml.YAMLError as e:
            self.err(None, f"YAML error: {e}; fix the file's syntax")
            return None
        if not docs:
            self.err(None, expect.empty)
            return None
        if len(docs) > 1:
            self.err(docs[1], f"the file holds more than one YAML document; keep {expect.one}")
            return None
        root = docs[0]
        if not self._safe(root):
            return None
        if not isinstance(root, yaml.MappingNode):
            self.err(root, expect.mapping.format(kind=kind(root)))
            return None
        return root

    def _safe(self, root: yaml.Node) -> bool:
        """Refuse foreign tags and alias bombs before any value is built."""
        sizes: dict[int, int] = {}
        ok = True

        def size(node: yaml.Node) -> int:
            nonlocal ok
            key = id(node)
            if key in sizes:
                return sizes[key]
            sizes[key] = 1  # guards recursive aliases
            if node.tag not in _PLAIN_TAGS:
                self.err(node, f"YAML tag '{node.tag}' is not allowed; a scenario holds only "
                               "numbers, strings, lists and mappings (remove the tag)")
                ok = False
            total = 1
            if isinstance(node, yaml.SequenceNode):
                for child in node.value:
                    total += size(child)
                    if total > MAX_NODES:
                        break
            elif isinstance(node, yaml.MappingNode):
                for k, child in node.value:
                    total += size(k) + size(child)
                    if total > MAX_NODES:
                        break
            sizes[key] = total
            return total

        try:
            total = size(root)
        except RecursionError:
            self.err(root, "the YAML nests too deeply; a scenario needs only a few levels")
            return False
        if total > MAX_NODES:
            self.err(root, f"the YAML expands to more than {MAX_NODES:,} values (an alias bomb?); "
                           "write the values out, without nested aliases")
            return False
        return ok

    # -- typed readers (each reports its own problem and returns None)

    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...]) -> dict | None:
        if not isinstance(node, yaml.MappingNode):
            self.err(node, f"{what} must be a mapping, not a {kind(node)}; write it as "
                           "'key: value' lines")
            return None
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            key = self.scalar(k)
            if not isinstance(key, str):
                self.err(k, f"keys in {what} must be words, not {written(key)}; check the "
                            "spelling")
                continue
            if key in out:
                self.err(k, f"'{key}' appears twice in {what}; keep one")
                continue
            if key not in allowed:
                if len(self.problems) >= SHOWN_PROBLEMS:  # counted, never shown: 963k keys
                    self.err(k, "unknown key")  # took 83 s finding a suggestion for each
                    continue
                close = did_you_mean(key, allowed)
                self.err(k, f"unknown key '{key}' in {what}{close}"
                            + ("" if close else f"; allowed keys: {', '.join(allowed)}"))
                continue
            out[key] = (k, v)
        return out

    def scalar(self, node: yaml.Node) -> Any:
        """The value of a scalar, with numbers read by the number rule (DECIMAL): a plain
        number in another notation (0x10, 1:30, 1_0) is its text, which readers of numbers
        refuse; 017 is 17, as the answers reader reads it."""
        if not isinstance(node, yaml.ScalarNode):
            return node
        if node.tag == _STR_TAG:  # what the constructor returns for it, without the call
            return node.value
        if node.tag in (_INT_TAG, _FLOAT_TAG) and not node.style:
            text = node.value
            if node.tag == _INT_TAG and _WHOLE.match(text):
                try:
                    return int(text)
                except ValueError:  # more than 4300 digits (Python's limit): as text
                    return text
            if node.tag == _FLOAT_TAG and DECIMAL.match(text):
                return float(text)
            if not _YAML_SPECIAL.match(text):
                return text
        try:
            return self._constructor.construct_object(node)
        except ValueError:  # an integer of more than 4300 digits (Python's limit): as text
            return node.value

    def number(self, node: yaml.Node, what: str) -> float | None:
        if node.tag == _FLOAT_TAG and DECIMAL.match(node.value):
            value = float(node.value)  # the common case: what the constructor would return
            if math.isfinite(value):  # 1.0e400 goes on to the error below
                return value
        value = self.scalar(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, str) and DECIMAL.match(value.strip()):
            # YAML 1.1 reads 1e-3 (no dot) as a string; a user means the number.
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if not isinstance(node, yaml.ScalarNode):
                self.err(node, f"{what} must be a number, not a {kind(node)}; write it like 0.25")
            else:
                why = not_decimal(node.value) if isinstance(value, str) else ""
                self.err(node, f"{what} must be a decimal number, not {shorten(node.value)!r}"
                               f"{why}" if why else
                               f"{what} must be a number, not {value!r}; write it like 0.25")
            return None
        try:
            value = float(value)
        except OverflowError:  # an integer beyond float64's range: say it as written
            value = shorten(node.value)
        if isinstance(value, str) or not math.isfinite(value):
            self.err(node, f"{what} is {value}; only finite numbers are allowed "
                           "(a float64 holds up to about 1.8e308)")
            return None
        return value

    def integer(self, node: yaml.Node, what: str, minimum: int,
                maximum: float | None = None, why: str = "") -> int | None:
        value = self.scalar(node)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            shown = repr(shorten(node.value)) if isinstance(node, yaml.ScalarNode) else \
                "a " + kind(node)
            why = not_decimal(node.value) if isinstance(value, str) else ""
            self.err(node, f"{what} must be a whole number of at least {minimum}, not {shown}"
                           + (why or f"; write it like {max(minimum, 1)}0"))
            return None
        if maximum is not None and value > maximum:
            self.err(node, f"{what} must be at most {maximum:,.0f}, not {shorten(node.value)}"
                           + (f" ({why})" if why else ""))
            return None
        return value

    def text(self, node: yaml.Node, what: str) -> str | None:
        value = self.scalar(node)
        if not isinstance(node, yaml.ScalarNode) or value is None:
            self.err(node, f"{what} must be text, not a {kind(node)}; write it on one line")
            return None
        control = control_character(str(value))
        if control:
            self.err(node, f"{what} holds the control character {control}, which would drive "
                           "the terminal that shows it; remove it")
            return None
        return str(value)

    def vector(self, node: yaml.Node, what: str, length: int | None = None) -> list[float] | None:
        """A list of numbers (a lone number counts as a list of one)."""
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if isinstance(node, yaml.MappingNode):
            self.err(node, f"{what} must be a list of numbers, not a mapping; write it like [0.1, 0.2]")
            return None
        values = [self.number(n, f"{what} entry {i + 1}") for i, n in enumerate(items)]
        if any(v is None for v in values):
            return None
        if length is not None and len(values) != length:
            self.err(node, f"{what} has {len(values)} value{'s' * (len(values) != 1)} but "
                           f"needs {length}; give one per {_per(what)}")
            return None
        return values  # type: ignore[return-value]

    def names(self, node: yaml.Node, what: str, default_prefix: str) -> list[str] | None:
        """A list of names, or a count that means prefix1..prefixN."""
        if isinstance(node, yaml.ScalarNode):
            count = self.scalar(node)
            if isinstance(count, int) and not isinstance(count, bool) and count >= 1:
                if count > MAX_LAYER_SIZE:
                    self.err(node, too_many(what, count))
                    return None
                return numbered(default_prefix, count)
            self.err(node, f"{what} must be names or a count, not {count!r}; write it like "
                           "[h1, h2] or 2")
            return None
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.err(node, f"{what} must be a non-empty list of names or a count; write it like [h1, h2] or 2")
            return None
        if len(node.value) > MAX_LAYER_SIZE:
            self.err(node, too_many(what, len(node.value)))
            return None
        out = []
        for n in node.value:
            name = self.name(n, what)
            if name is None:
                return None
            out.append(name)
        return out

    def name(self, node: yaml.Node, what: str) -> str | None:
        value = self.scalar(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(value, str) or not _NAME.fullmatch(value):
            self.err(node, f"{what}: {value if value is not None else kind(node)!r} is not a "
                           "usable name; use a letter followed by letters, digits or _ (like h1)")
            return None
        return value

    # -- the scenario


def kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "mapping"
    if isinstance(node, yaml.SequenceNode):
        return "list"
    return "single value"


def written(value: Any) -> str:
    """A value read by Reader.scalar, for a message: 'a list' or 'a mapping' for a node (its
    repr is PyYAML's, a screen long), else as Python writes it."""
    return f"a {kind(value)}" if isinstance(value, yaml.Node) else repr(value)


def _per(what: str) -> str:
    if "targets" in what:
        return "output neuron"
    if "inputs" in what:
        return "input"
    return "neuron"


def shorten(text: str, keep: int = 24) -> str:
    """A value as written, cut when long (a 400-digit number need not fill the screen)."""
    return text if len(text) <= keep else f"{text[:keep]}... ({len(text)} characters)"


def too_many(what: str, count: int) -> str:
    return (f"{what} has {count:,}, more than bpwalk's limit of {MAX_LAYER_SIZE:,} per layer "
            "(see docs/limits.md); a walkthrough is for networks you can follow")
