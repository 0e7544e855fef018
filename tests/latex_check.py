"""Does every math expression of a Markdown file parse? Checked with KaTeX itself.

KaTeX is what VS Code's preview and many Markdown sites use; the markdown-katex package
(a test dependency) ships its command-line build, run here in strict mode, which also
refuses what real LaTeX would not accept. Expressions are checked in one KaTeX run per mode
(wrapped in braces side by side); only when that run fails are they split in halves, down
to the culprits. A brace-balance check first, per expression, catches what wrapping in
braces could otherwise hide ("a}{b" parses once wrapped).
"""

from __future__ import annotations

import functools
import platform
import re
import subprocess
from pathlib import Path

_DISPLAY = re.compile(r"^\$\$(.+)\$\$$")
_INLINE = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<!\\)\$")
_CODE = re.compile(r"`[^`]*`")
_LEFT = re.compile(r"\\left(?![a-zA-Z])")
_RIGHT = re.compile(r"\\right(?![a-zA-Z])")


def prose_lines(markdown: str) -> list[str]:
    """The lines outside fenced code blocks (a $ in a shell example is not math)."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            out.append(line)
    return out


def extract(markdown: str) -> tuple[list[str], list[str]]:
    """(display expressions, inline expressions) of a document, in order."""
    display, inline = [], []
    for line in prose_lines(markdown):
        m = _DISPLAY.match(line)
        if m:
            display.append(m.group(1))
            continue
        inline += _INLINE.findall(_CODE.sub("", line))
    return display, inline


def stray_dollars(markdown: str) -> list[str]:
    """Lines with a $ left over once code spans and math are removed (broken math)."""
    bad = []
    for line in prose_lines(markdown):
        if _DISPLAY.match(line):
            continue
        rest = _INLINE.sub("", _CODE.sub("", line)).replace("\\$", "")
        if "$" in rest:
            bad.append(line)
    return bad


def brace_problems(expr: str) -> str | None:
    depth = 0
    for ch in re.sub(r"\\[{}]", "", expr):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return "a } closes a group that was never opened"
    if depth:
        return f"{depth} unclosed {{"
    # \left( and \right) as delimiters, not \leftarrow or \rightarrow
    if len(_LEFT.findall(expr)) != len(_RIGHT.findall(expr)):
        return "\\left and \\right do not pair up"
    if expr != expr.strip():
        return "space just inside the $ signs (GitHub then does not see math)"
    return None


@functools.cache
def katex_command() -> list[str]:
    """The KaTeX binary inside the markdown-katex package, found directly: the package's own
    get_bin_cmd() first tries 'npx --no-install katex', which can hang without a network."""
    import markdown_katex

    bin_dir = Path(markdown_katex.__file__).parent / "bin"
    machine = platform.machine().replace("AMD64", "x86_64")
    found = sorted(bin_dir.glob(f"*_{machine}-{platform.system()}*"))
    if not found:
        raise RuntimeError(f"markdown-katex has no KaTeX binary for {machine}-{platform.system()} "
                           f"in {bin_dir}")
    return [str(found[-1]), "--strict"]


def _katex(expr: str, display: bool) -> str | None:
    cmd = katex_command() + (["--display-mode"] if display else [])
    r = subprocess.run(cmd, input=expr.encode(), capture_output=True, timeout=120,
                       check=False)
    if r.returncode == 0:
        return None
    err = r.stderr.decode(errors="replace")
    line = next((s for s in err.splitlines() if "ParseError" in s), err.strip()[-300:])
    return line


def errors(expressions: list[str], display: bool) -> list[str]:
    """'expression: what is wrong' for each expression that does not parse."""
    out = [f"{e}: {p}" for e in expressions if (p := brace_problems(e))]
    unique = sorted({e for e in expressions if not brace_problems(e)})
    return out + _bisect(unique, display)


def _bisect(exprs: list[str], display: bool) -> list[str]:
    """KaTeX on all at once; when that fails, on each half, down to the culprits."""
    if not exprs:
        return []
    problem = _katex(" \\quad ".join("{" + e + "}" for e in exprs), display)
    if problem is None:
        return []
    if len(exprs) == 1:
        return [f"{exprs[0]}: {problem}"]
    half = len(exprs) // 2
    return _bisect(exprs[:half], display) + _bisect(exprs[half:], display)


def check_document(markdown: str) -> list[str]:
    return check_documents({"": markdown})


def check_documents(docs: dict[str, str]) -> list[str]:
    """Problems of several documents, checked together (KaTeX takes seconds to start)."""
    display: dict[str, list[str]] = {}
    inline: dict[str, list[str]] = {}
    problems = []
    for name, markdown in docs.items():
        d, i = extract(markdown)
        for e in d:
            display.setdefault(e, []).append(name)
        for e in i:
            inline.setdefault(e, []).append(name)
        problems += [f"{name}: stray $: {line}" for line in stray_dollars(markdown)]
    for where, is_display in ((display, True), (inline, False)):
        for problem in errors(list(where), is_display):
            expr = problem.split(": ")[0]
            problems.append(f"{', '.join(sorted(set(where.get(expr, ['?']))))}: {problem}")
    return [p.lstrip(": ") if p.startswith(": ") else p for p in problems]
