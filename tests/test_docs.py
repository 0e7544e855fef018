"""The documentation cannot lie: every command it shows is run and its output compared.

The pages mark their commands (tools/docs_examples.py says how); a page whose output is stale
fails here with the diff, and `python tools/docs_examples.py --write` brings it up to date.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, SCENARIOS

sys.path.insert(0, str(ROOT / "tools"))
import check_offline
import docs_examples

PAGES = docs_examples.pages()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_shows_what_its_commands_print(page: Path):
    diff, _ = docs_examples.check_page(page)
    assert not diff, (f"{page.name} is out of date; run 'python tools/docs_examples.py "
                      f"--write' and read the diff:\n{diff}")


def test_most_pages_run_something():
    counted = {p.name: docs_examples.examples(p.read_text(encoding="utf-8"), p.name)
               for p in PAGES}
    runs = sum(1 for found in counted.values() for ex in found if ex.kind != "file")
    assert runs >= 30, runs  # the count the report quotes comes from the --write run


def test_a_stale_output_is_found():
    page = "<!-- run: bpwalk --version -->\n```text\n$ bpwalk --version\nbpwalk 0.0.0\n```\n"
    new, count = docs_examples.render(page, "page.md")
    assert count == 1 and "bpwalk 0.0.0" not in new and new.startswith(page.split("bpwalk 0")[0])


def test_an_example_needing_a_missing_module_is_left_as_shown():
    """`run (needs MODULE)`: an optional dependency (torch) that is not installed leaves the
    block as the page shows it; one that is installed runs it."""
    stale = "```text\n$ python -c 'print(2)'\n1\n```\n"
    page = "<!-- run (needs no_such_module_here): python -c 'print(2)' -->\n" + stale
    assert docs_examples.render(page, "page.md") == (page, 0)
    page = "<!-- run (needs yaml): python -c 'print(2)' -->\n" + stale
    assert docs_examples.render(page, "page.md") == (page.replace("\n1\n", "\n2\n"), 1)


def test_a_command_without_a_mark_is_refused():
    for block in ("```sh\nbpwalk run mazur\n```\n", "```\nbpwalk schema > s.json\n```\n",
                  "```text\n$ bpwalk examples\n```\n"):
        with pytest.raises(docs_examples.Problem, match="page.md:1: a command block"):
            docs_examples.examples("" + block, "page.md")
    assert docs_examples.examples("```yaml\ninputs: 2\n```\n", "page.md") == []


def test_a_failing_command_is_refused():
    page = "<!-- run each line -->\n```sh\nbpwalk run no_such_example\n```\n"
    with pytest.raises(docs_examples.Problem, match="exited 2"):
        docs_examples.render(page, "page.md")


def _block_after(text: str, mark: str) -> str:
    start = text.index(mark)
    body = text.index("\n", text.index("```", start)) + 1
    return text[body:text.index("```", body)]


def test_the_bundled_answers_example_is_the_one_the_docs_show():
    bundled = (SCENARIOS / "answers" / "mazur.yaml").read_text(encoding="utf-8")
    for page in (ROOT / "README.md", ROOT / "docs" / "checking.md"):
        assert _block_after(page.read_text(encoding="utf-8"), "<!-- file: answers.yaml -->") \
            == bundled, page.name


def test_readme_fits_15_kb():
    assert (ROOT / "README.md").stat().st_size <= 15 * 1024


def test_the_pictures_are_small_and_made_by_the_script():
    for name in ("page.png", "terminal.png"):
        path = ROOT / "docs" / "images" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size < 200_000, name
        assert name in (ROOT / "tools" / "screenshots.py").read_text(encoding="utf-8")


def test_offline_check_finds_what_a_page_fetches(tmp_path: Path):
    (tmp_path / "index.html").write_text(
        '<html><head><link rel="stylesheet" href="https://fonts.googleapis.com/css?f=R">'
        '<script src="assets/local.js"></script><script src="//cdn.example/x.js"></script>'
        '<style>@import "https://cdn.example/a.css";</style></head>'
        '<body><a href="https://example.org/">a link to click is fine</a>'
        '<img src="images/page.png"></body></html>', encoding="utf-8")
    (tmp_path / "s.css").write_text("body{background:url(https://x.example/b.png)}",
                                    encoding="utf-8")
    found = check_offline.external_references(tmp_path)
    assert found == ["index.html: https://fonts.googleapis.com/css?f=R",
                     "index.html: //cdn.example/x.js", "index.html: https://cdn.example/a.css",
                     "s.css: https://x.example/b.png"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_completes_a_command_name(tmp_path: Path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    bpwalk = shutil.which("bpwalk", path=env["PATH"])
    if bpwalk is None:  # the script names the program it completes: the installed command
        pytest.skip("the bpwalk command is not installed in this environment")
    script = subprocess.run([bpwalk, "--show-completion", "bash"], capture_output=True,
                            text=True, env=env, check=True).stdout
    (tmp_path / "bpwalk.bash").write_text(script, encoding="utf-8")
    # what bash does on Tab: COMP_WORDS holds the words typed, COMP_CWORD the one completed
    asks = ("source bpwalk.bash\n"
            "COMP_WORDS=(bpwalk ex); COMP_CWORD=1; _bpwalk_completion bpwalk\n"
            "echo \"commands: ${COMPREPLY[*]}\"\n"
            "COMP_WORDS=(bpwalk run mazur --no); COMP_CWORD=3; _bpwalk_completion bpwalk\n"
            "echo \"options: ${COMPREPLY[*]}\"\n")
    out = subprocess.run(["bash", "--norc", "--noprofile", "-c", asks], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert "commands: export examples\n" in out
    assert "--notation" in out and "--no-color" in out


def test_readme_quick_start_is_the_contract_byte_for_byte():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in (  # the project's two promised commands; .ci/run runs the second
        ("python3 -m venv .venv && . .venv/bin/activate && pip install . && "
         "bpwalk run scenarios/mazur.yaml"),
        ("python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && "
         "python -m pytest -q"),
    ):
        assert f"```sh\n{command}\n```\n" in readme
