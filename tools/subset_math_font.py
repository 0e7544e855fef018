"""Write bpwalk/views/fonts/math.woff: the math font the HTML page and the PDF typeset
their formulas in, cut down to the characters a page writes.

The font is STIX Math 1.1.1 (SIL Open Font License 1.1, bpwalk/views/fonts/OFL.txt), as
Debian's fonts-stix package installs it, renamed "Bpwalk Math": the license asks a modified
version (a subset is one) to carry a different name. Run once when the characters the page needs
change (tests/test_typesetting.py checks that the font holds every one a bundled page writes):

    apt-get download fonts-stix && dpkg -x fonts-stix_*.deb stix
    pip install fonttools
    python tools/subset_math_font.py stix/usr/share/fonts/opentype/stix-word/STIXMath-Regular.otf
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset

OUT = Path(__file__).resolve().parent.parent / "bpwalk" / "views" / "fonts" / "math.woff"
NAME = "Bpwalk Math"

# What a formula may hold: ASCII, Latin-1 (½ · ×), Greek, the hats and primes, super- and
# subscript characters (ᵀ ᵗ), letterlike symbols (ℎ), arrows, the mathematical operators,
# and the italic letters (MathML writes a one-letter identifier in italic: x -> U+1D465)
RANGES = ((0x20, 0x7E), (0xA0, 0xFF), (0x2C6, 0x2DC), (0x300, 0x308), (0x391, 0x3D6),
          (0x1D40, 0x1D40), (0x1D57, 0x1D57), (0x2009, 0x200B), (0x2016, 0x2016),
          (0x2032, 0x2037), (0x2061, 0x2064), (0x2070, 0x209C), (0x2102, 0x2134),
          (0x2190, 0x2199), (0x21D0, 0x21D5), (0x2200, 0x22FF), (0x2308, 0x230B),
          (0x27E8, 0x27E9), (0x1D434, 0x1D467), (0x1D6E2, 0x1D71B))


def main(source: str) -> None:
    options = subset.Options()
    options.layout_features = ["*"]  # the math variants (ssty), kerning
    options.flavor = "woff"  # zlib: no Brotli needed to write it
    options.name_IDs = ["*"]  # the copyright and license notices stay in the font
    options.notdef_outline = True
    font = subset.load_font(source, options)
    sub = subset.Subsetter(options)
    sub.populate(unicodes=[u for a, b in RANGES for u in range(a, b + 1)])
    sub.subset(font)
    # the family, full and PostScript names (1, 3, 4, 6, 16, 17); copyright and license stay
    for rec in font["name"].names:
        if rec.nameID in (1, 4, 16):
            rec.string = NAME
        elif rec.nameID in (3, 6):
            rec.string = NAME.replace(" ", "") + "-Regular"
        elif rec.nameID == 17:
            rec.string = "Regular"
    subset.save_font(font, str(OUT), options)
    print(f"{OUT.name}: {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
