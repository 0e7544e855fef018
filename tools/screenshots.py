"""Make the pictures of the README and the docs: never drawn or captured by hand.

    python tools/screenshots.py   # writes docs/images/page.png, terminal.png, report.png,
                                  # attention.png, attention-terminal.png, conv-grids.png
                                  # and rnn-unrolled.png
    python tools/screenshots.py attention   # attention.png and attention-terminal.png only

page.png is the HTML page of Mazur's example (`bpwalk export mazur --format html`) at a
backward step, as the system's Chromium shows it; terminal.png is `bpwalk run mazur`'s
backward pass in colour at 80 columns, its ANSI colours turned into HTML by rich and shot
by the same browser; report.png is the top of a class report (`bpwalk check mazur
*.yaml --format html`) for three students: the bundled answers example (a sign mistake),
one whose answers are the engine's own, and one who handed in a blank file;
conv-grids.png is the page of d2l's cross-correlation (`bpwalk export d2l_conv --format
html`) at the step of its last output cell, its receptive field highlighted on the input;
rnn-unrolled.png is the two-step RNN's page (rnn_two_steps) at the step where the gradient
at h_1 takes its term from h_2 through W_h. The browser is the one on PATH (chromium, chromium-browser,
google-chrome, or BPWALK_BROWSER), driven by playwright without downloading one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
BACKWARD_STEPS = 18  # presses of → from the first step: ∂E/∂w5, in the backward pass
# the pictures of a convolution and of a sequence: (example, the step shown, file)
STEPPED = (("d2l_conv", "net:conv1[1,2,2]", "conv-grids.png"),
           ("rnn_two_steps", "dout:h@t1", "rnn-unrolled.png"))


def _bpwalk(*args: str, color: bool = False) -> str:
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("NO_COLOR", None)
    if color:
        env["FORCE_COLOR"] = "1"
        env["COLORTERM"] = "truecolor"  # (the attention weights' shades are 24-bit colours)
    return subprocess.run([sys.executable, "-m", "bpwalk", *args], env=env, check=True,
                          capture_output=True, text=True).stdout


def _terminal_html() -> str:
    from rich.console import Console
    from rich.terminal_theme import MONOKAI
    from rich.text import Text

    lines = _bpwalk("run", "mazur", "--phase", "backward", color=True).splitlines()
    start = next(i for i, line in enumerate(lines) if "Backward pass" in line)
    with open(os.devnull, "w") as nowhere:  # recorded, not printed
        console = Console(record=True, width=80, force_terminal=True,
                          color_system="truecolor", file=nowhere)
        console.print(Text.from_ansi("\n".join(lines[start:start + 24])))
    return console.export_html(inline_styles=True, theme=MONOKAI)


def _class(folder: Path) -> list[str]:
    """Three students' answers files in `folder`: a mistake, all right, blank."""
    import json

    from bpwalk.scenario.examples import bundled_dir

    steps = json.loads(_bpwalk("export", "mazur", "--format", "json"))["iterations"][0]["steps"]
    (folder / "ann.yaml").write_text((bundled_dir() / "answers" / "mazur.yaml").read_text())
    (folder / "bob.yaml").write_text("".join(f"{s['id']}: {s['value']:.4f}\n"
                                             for s in steps[:20]))
    (folder / "cat.yaml").write_text("net:h1:\nout:h1:\n")
    return ["ann.yaml", "bob.yaml", "cat.yaml"]


def _attention_terminal_html() -> str:
    """`bpwalk run self_attention`'s attention weights, in colour (the heat grid)."""
    from rich.console import Console
    from rich.terminal_theme import MONOKAI
    from rich.text import Text

    lines = _bpwalk("run", "self_attention", "--phase", "forward",
                    color=True).splitlines()
    start = next(i for i, line in enumerate(lines) if "the attention weights" in line)
    with open(os.devnull, "w") as nowhere:
        console = Console(record=True, width=80, force_terminal=True,
                          color_system="truecolor", file=nowhere)
        console.print(Text.from_ansi("\n".join(lines[start - 9:start + 8])))
    return console.export_html(inline_styles=True, theme=MONOKAI)


def attention(browser, tmp: Path) -> None:
    """attention.png: the HTML page of the bundled attention head, its picture (the
    attention weights' heat grid) beside the forward pass; attention-terminal.png: the
    same grid in the terminal, in colour."""
    page_file = tmp / "attention.html"
    page_file.write_text(_bpwalk("export", "self_attention", "--format", "html"),
                         encoding="utf-8")
    page = browser.new_page(viewport={"width": 1000, "height": 560})
    page.goto(page_file.as_uri())
    for _ in range(ATTENTION_STEPS):
        page.keyboard.press("ArrowRight")
    # the page has scrolled to the step: the picture (sticky) beside it, as a reader sees it
    page.screenshot(path=str(IMAGES / "attention.png"))
    terminal_file = tmp / "attention-terminal.html"
    terminal_file.write_text(_attention_terminal_html(), encoding="utf-8")
    shell = browser.new_page(viewport={"width": 820, "height": 200})
    shell.goto(terminal_file.as_uri())
    shell.locator("pre").first.screenshot(path=str(IMAGES / "attention-terminal.png"))


ATTENTION_STEPS = 37  # presses of → from the first step: P₁₂, in the forward pass
def _at_step(browser, folder: Path, name: str, step_id: str, image: str) -> None:
    """The page of example `name` stepped to `step_id`: its controls, picture and step."""
    page_file = folder / f"{name}.html"
    page_file.write_text(_bpwalk("export", name, "--format", "html"), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(page_file.as_uri())
    for _ in range(1000):
        if page.eval_on_selector(".step.current", "e => e.dataset.id") == step_id:
            break
        page.keyboard.press("ArrowRight")
    else:
        raise SystemExit(f"{name}: no step {step_id}")
    top = page.locator("#controls").bounding_box()
    picture = page.locator("#picture").bounding_box()
    step = page.locator(".step.current").bounding_box()
    bottom = max(picture["y"] + picture["height"], step["y"] + step["height"])
    page.screenshot(path=str(IMAGES / image), clip={
        "x": 0, "y": top["y"], "width": 1280, "height": bottom - top["y"] + 12})
    page.close()


def main() -> int:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    from bpwalk.browser import find

    if sys.argv[1:] == ["attention"]:  # the attention pictures only
        IMAGES.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=find(), args=["--no-sandbox"])
            attention(browser, Path(tmp))
            browser.close()
        for name in ("attention.png", "attention-terminal.png"):
            print(f"docs/images/{name}: {(IMAGES / name).stat().st_size:,} bytes")
        return 0

    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        page_file = Path(tmp) / "mazur.html"
        page_file.write_text(_bpwalk("export", "mazur", "--format", "html"), encoding="utf-8")
        terminal_file = Path(tmp) / "terminal.html"
        terminal_file.write_text(_terminal_html(), encoding="utf-8")
        browser = p.chromium.launch(executable_path=find(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 1200})
        page.goto(page_file.as_uri())
        for _ in range(BACKWARD_STEPS):
            page.keyboard.press("ArrowRight")
        # the controls, the picture and the step beside it
        top = page.locator("#controls").bounding_box()
        walk = page.locator("#walk").bounding_box()
        page.screenshot(path=str(IMAGES / "page.png"), clip={
            "x": 0, "y": top["y"], "width": 1000,
            "height": min(walk["y"] + walk["height"], top["y"] + 560) - top["y"] + 8})
        shell = browser.new_page(viewport={"width": 820, "height": 200})
        shell.goto(terminal_file.as_uri())
        shell.locator("pre").first.screenshot(path=str(IMAGES / "terminal.png"))
        names = _class(Path(tmp))
        subprocess.run([sys.executable, "-m", "bpwalk", "check", "mazur", *names, "--format",
                        "html", "-o", "report.html"], cwd=tmp, check=False, capture_output=True)
        report = browser.new_page(viewport={"width": 1000, "height": 900})
        report.goto((Path(tmp) / "report.html").as_uri())
        report.screenshot(path=str(IMAGES / "report.png"))
        attention(browser, Path(tmp))
        for name, step_id, image in STEPPED:
            _at_step(browser, Path(tmp), name, step_id, image)
        browser.close()
    for name in ("page.png", "terminal.png", "report.png", "attention.png",
                 "attention-terminal.png", *(s[2] for s in STEPPED)):
        print(f"docs/images/{name}: {(IMAGES / name).stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
