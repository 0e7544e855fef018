"""Check that a built site loads nothing from the network: no script, style, font or image
from another host. Links a reader clicks (<a href>) may point anywhere.

    mkdocs build --strict && python tools/check_offline.py site

Exit 1 and one line per reference when the site would fetch something (mkdocs-material
loads Google Fonts unless mkdocs.yml sets `theme.font: false`).
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)  # http://, https://, //
# What a page fetches by itself: tag -> the attributes that name a resource
FETCHED = {"script": ("src",), "link": ("href",), "img": ("src", "srcset"),
           "source": ("src", "srcset"), "iframe": ("src",), "audio": ("src",),
           "video": ("src", "poster"), "embed": ("src",), "object": ("data",),
           "image": ("href", "xlink:href"), "use": ("href", "xlink:href")}
CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""", re.IGNORECASE)


class _Fetched(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._style = tag == "style"
        for name, value in attrs:
            if value and name in FETCHED.get(tag, ()):
                self.found += [v.split()[0] for v in value.split(",") if v.strip()]
            if value and name == "style":
                self.found += CSS_URL.findall(value)

    def handle_data(self, data: str) -> None:
        if self._style:
            self.found += CSS_URL.findall(data)

    def handle_endtag(self, tag: str) -> None:
        self._style = False


def external_references(site: Path) -> list[str]:
    """`FILE: URL` for every external resource a page or style sheet of the site loads."""
    problems = []
    for path in sorted(site.rglob("*")):
        if path.suffix == ".html":
            parser = _Fetched()
            parser.feed(path.read_text(encoding="utf-8"))
            refs = parser.found
        elif path.suffix == ".css":
            refs = CSS_URL.findall(path.read_text(encoding="utf-8"))
        else:
            continue
        problems += [f"{path.relative_to(site)}: {ref}" for ref in refs if EXTERNAL.match(ref)]
    return problems


def main() -> int:
    site = Path(sys.argv[1] if len(sys.argv) > 1 else "site")
    if not (site / "index.html").is_file():
        print(f"{site}: no index.html; build the site first (mkdocs build)", file=sys.stderr)
        return 2
    problems = external_references(site)
    for line in problems:
        print(f"{line}: loaded from the network; the site must work offline", file=sys.stderr)
    pages = sum(1 for _ in site.rglob("*.html"))
    print(f"{site}: {pages} pages, {len(problems)} external resources", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
