"""A QTI 1.2 package (a zip) for Canvas classic quizzes.

Canvas classic has no numeric question with several blanks, so each asked step is a question
group that picks 1 of the variants' numerical questions (each shows its variant's numbers);
the answer is "exact with margin", written as Canvas writes it (varequal, or vargte and
varlte). Canvas counts every numeric answer as right, so the mistakes cannot be 0% answers:
they are dropped (the class report of `bpwalk check --from canvas` names them instead).
"""

from __future__ import annotations

import html
import io
import xml.etree.ElementTree as ET
import zipfile

from bpwalk.lms import Variant, accepted, given_rows
from bpwalk.notation import Profile, symbol

NS = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
MANIFEST_NS = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"
CANVAS_SMALLEST = 1e-4  # Canvas refuses a numeric answer closer to 0 (bpwalk.handwork keeps to it)


def _meta(parent: ET.Element, fields: dict[str, str]) -> None:
    meta = ET.SubElement(parent, "qtimetadata")
    for label, entry in fields.items():
        f = ET.SubElement(meta, "qtimetadatafield")
        ET.SubElement(f, "fieldlabel").text = label
        ET.SubElement(f, "fieldentry").text = entry


def _item(v: Variant, sid: str, decimals: int, ident: str, notation: Profile | None
          ) -> ET.Element:
    right = accepted(v.judge, sid, decimals)
    item = ET.Element("item", ident=ident, title=f"{sid}, {v.label}")
    _meta(ET.SubElement(item, "itemmetadata"), {"question_type": "numerical_question",
                                                "points_possible": "1"})
    rows = "".join(f"<tr><td>{html.escape(n)}</td><td>{html.escape(x)}</td></tr>"
                   for n, x in given_rows(v.scenario))
    text = (f"<p>{html.escape(v.scenario.title or v.scenario.name)}: with these numbers, work "
            f"out {html.escape(sid)} ({html.escape(symbol(sid, 'unicode', notation))}) to {decimals} "
            f"decimals.</p><table border=\"1\"><tbody>{rows}</tbody></table>"
            f"<p><small>bpwalk variant: {html.escape(v.label)}</small></p>")
    presentation = ET.SubElement(item, "presentation")
    ET.SubElement(ET.SubElement(presentation, "material"), "mattext",
                  texttype="text/html").text = text
    fib = ET.SubElement(ET.SubElement(presentation, "response_str", ident="response1",
                                      rcardinality="Single"), "render_fib", fibtype="Decimal")
    ET.SubElement(fib, "response_label", ident="answer1", rshuffle="No")
    processing = ET.SubElement(item, "resprocessing")
    ET.SubElement(ET.SubElement(processing, "outcomes"), "decvar", maxvalue="100",
                  minvalue="0", varname="SCORE", vartype="Decimal")
    cond = ET.SubElement(processing, "respcondition", {"continue": "No"})
    either = ET.SubElement(ET.SubElement(cond, "conditionvar"), "or")
    ET.SubElement(either, "varequal", respident="response1").text = right.text
    both = ET.SubElement(either, "and")
    ET.SubElement(both, "vargte", respident="response1").text = str(right.centre - right.tolerance)
    ET.SubElement(both, "varlte", respident="response1").text = str(right.centre + right.tolerance)
    ET.SubElement(cond, "setvar", action="Set", varname="SCORE").text = "100"
    return item


def assessment(name: str, variants: list[Variant], asked: list[str], decimals: int,
               notation: Profile | None = None) -> str:
    root = ET.Element("questestinterop", xmlns=NS)
    test = ET.SubElement(root, "assessment", ident=f"bpwalk_{name}", title=f"bpwalk: {name}")
    _meta(test, {"cc_maxattempts": "1"})
    top = ET.SubElement(test, "section", ident="root_section")
    for k, sid in enumerate(asked, 1):
        group = ET.SubElement(top, "section", ident=f"group_{k}", title=sid)
        selection = ET.SubElement(ET.SubElement(group, "selection_ordering"), "selection")
        ET.SubElement(selection, "selection_number").text = "1"
        ET.SubElement(ET.SubElement(selection, "selection_extension"),
                      "points_per_item").text = "1"
        for j, v in enumerate(variants, 1):
            group.append(_item(v, sid, decimals, f"item_{k}_{j}", notation))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def manifest(name: str) -> str:
    root = ET.Element("manifest", identifier=f"bpwalk_{name}_manifest", xmlns=MANIFEST_NS)
    ET.SubElement(root, "organizations")
    resources = ET.SubElement(root, "resources")
    res = ET.SubElement(resources, "resource", identifier=f"bpwalk_{name}",
                        type="imsqti_xmlv1p2")
    ET.SubElement(res, "file", href=f"bpwalk_{name}/bpwalk_{name}.xml")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def render(name: str, variants: list[Variant], asked: list[str], decimals: int,
           notation: Profile | None = None) -> bytes:
    """The zip Canvas imports (Settings, Import course content, QTI .zip file)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path, text in (("imsmanifest.xml", manifest(name)),
                           (f"bpwalk_{name}/bpwalk_{name}.xml",
                            assessment(name, variants, asked, decimals, notation))):
            # a fixed date: the same options give the same bytes
            z.writestr(zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0)), text,
                       compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()
