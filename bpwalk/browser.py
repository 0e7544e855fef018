"""Printing the HTML page to PDF with a locally installed Chromium or Chrome (headless).

No browser is downloaded: bpwalk looks for one on PATH (or in BPWALK_BROWSER) and, if there
is none, says how to install one or to print the HTML page from any browser instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
TIMEOUT = 120  # seconds: a page of thousands of steps takes Chromium a while to lay out
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-pdf-header-footer", "--print-to-pdf-no-header")


class BrowserError(Exception):
    """No browser, or the browser failed; the message is one line saying what to do."""


def find() -> str:
    """The Chromium or Chrome to print with (BPWALK_BROWSER wins), or BrowserError."""
    wanted = os.environ.get("BPWALK_BROWSER")
    if wanted:
        found = shutil.which(wanted)
        if found is None:
            raise BrowserError(f"BPWALK_BROWSER={wanted}: no such program; give the path of "
                               "Chromium or Chrome, or unset it")
        return found
    for name in CANDIDATES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise BrowserError("PDF needs Chromium or Chrome and none was found; install one (Debian "
                       "and Ubuntu: apt-get install chromium), or write --format html and "
                       "print that page from a browser")


def to_pdf(page: str) -> bytes:
    """`page` (a whole HTML document) printed to PDF by headless Chromium: the PDF's bytes."""
    import tempfile  # here: the other formats, whose errors name BrowserError, need not pay

    browser = find()
    with tempfile.TemporaryDirectory(prefix="bpwalk-pdf-") as tmp:
        src, out = Path(tmp) / "page.html", Path(tmp) / "page.pdf"
        src.write_text(page, encoding="utf-8")
        cmd = [browser, *FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}",
               f"--print-to-pdf={out}", src.as_uri()]
        try:
            code, stderr = _run(cmd)
        except subprocess.TimeoutExpired:
            raise BrowserError(f"{browser} did not print the page within {TIMEOUT} s; write "
                               "--format html and print it from a browser") from None
        except OSError as e:
            raise BrowserError(f"{browser} could not be started ({e.strerror})") from None
        if not out.exists() or out.stat().st_size == 0:
            last = (stderr.strip().splitlines() or ["no message"])[-1]
            raise BrowserError(f"{browser} wrote no PDF (exit {code}: {last}); "
                               "write --format html and print it from a browser")
        return out.read_bytes()


def _run(cmd: list[str]) -> tuple[int, str]:
    """Run the browser in a process group of its own: (exit code, stderr). Given up after
    TIMEOUT seconds, or on Ctrl-C or SIGTERM, the whole group is ended, so that the helper
    processes a browser starts (Chromium's zygote and renderers) are not left behind."""
    import signal

    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=TIMEOUT)
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:  # the group is gone already
            pass
        proc.communicate()
        raise
    return proc.returncode, stderr
