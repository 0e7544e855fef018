"""The scenario format's key reference for docs/scenario-format.md, made from the format table.

Each table of bpwalk/scenario/format.py (the one the loader validates with) becomes a
Markdown table; each key's value is described from the JSON Schema that the same table
generates (scenarios/bpwalk.schema.json, kept equal to it by tests/test_schema.py). A key
added to the table shows up here at the next `python tools/docs_examples.py --write`.
"""

from __future__ import annotations

import json
from typing import Any

from bpwalk.scenario.format import FORMAT, json_schema, variants


def describe(node: dict[str, Any]) -> str:
    """A JSON Schema node in a few words: `number > 0`, `list of names`, `one of: a, b`."""
    if "oneOf" in node:
        return " or ".join(describe(n) for n in node["oneOf"])
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    kind = node.get("type")
    if isinstance(kind, list):
        return "text"
    if kind == "array":
        item = describe(node["items"])
        return f"list of ({item})" if " or " in item else f"list of {_plural(item)}"
    if kind == "object" and "oneOf" not in node and set(node.get("properties", {})) == {"shape"}:
        return "`{shape: [C, H, W]}`"  # shaped inputs: a map of one key, said in place
    if kind == "object":
        return "map (below)"
    if kind == "string" and "pattern" in node:
        return "name"
    words = {"number": "number", "integer": "integer", "boolean": "`true` or `false`",
             "null": "`null`", "string": "text"}[kind]
    bounds = [f"≥ {_num(node['minimum'])}" if "minimum" in node else "",
              f"> {_num(node['exclusiveMinimum'])}" if "exclusiveMinimum" in node else "",
              f"≤ {_num(node['maximum'])}" if "maximum" in node else "",
              f"< {_num(node['exclusiveMaximum'])}" if "exclusiveMaximum" in node else ""]
    return " ".join([words, ", ".join(b for b in bounds if b)]).strip()


def _plural(words: str) -> str:
    first, _, rest = words.partition(" ")
    return " ".join([first if first.endswith("s") else first + "s", rest]).strip()


def _num(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) and abs(value) >= 10_000 else json.dumps(value)


def _properties(schema: dict[str, Any], path: list[str], table: str = "") -> dict[str, Any]:
    """The properties of the map at path (a list's items for a key whose value is a list)."""
    node = schema
    for name in path:
        if "oneOf" in node:  # inside an entry of another kind (an lstm's gates): that kind's
            node = next(n for n in node["oneOf"] if name in n.get("properties", {}))
        node = node["properties"][name]
        node = node.get("items", node)
    if "oneOf" in node:  # entries of several kinds: the table's own, then its variants
        base, _, _ = table.partition(":")
        node = node["oneOf"][(base, *variants(base)).index(table)]
    return node["properties"]


def _place(table: str) -> tuple[list[str], str]:
    """Where a table of FORMAT sits in a scenario (the keys leading to it) and its heading."""
    if table == "scenario":
        return [], "Top level"
    if ":" in table:  # layer:rnn, an entry of another kind: the entries' place
        base, _, kind = table.partition(":")
        path, heading = _place(base)
        return path, f"{heading} with `{'kind: ' + kind if base == 'layer' else kind + ':'}`"
    for parent, keys in FORMAT.items():
        holders = [k for k in keys if k.table == table]
        if holders:
            k = holders[0]
            path, _ = _place(parent)
            each = ", each entry" if k.type == "list" else ""
            # a table several keys hold (an lstm's gates i, f, g, o): the first, and the rest
            also = f" (and {', '.join(f'`{h.name}:`' for h in holders[1:])})" if holders[1:] \
                else ""
            return [*path, k.name], f"`{': '.join([*path, k.name])}:`{each}{also}"
    raise KeyError(f"no key of the format holds the table {table!r}")


def reference() -> str:
    schema = json_schema()
    parts = []
    for table, keys in FORMAT.items():
        path, heading = _place(table)
        properties = _properties(schema, path, table)
        rows = ["| key | value | default | meaning |", "| --- | --- | --- | --- |"]
        for k in keys:
            node = properties[k.name]
            required = ("**required** unless `" + k.unless + ":` is given" if k.unless
                        else "**required**" if k.required else "")
            value = node.get("default")
            shown = value if isinstance(value, str) else json.dumps(value)
            default = f"`{shown}`" if "default" in node else required
            meaning = k.doc.replace("|", "\\|")
            rows.append(f"| `{k.name}` | {describe(node)} | {default} | {meaning} |")
        parts.append(f"### {heading}\n\n" + "\n".join(rows))
    return "\n\n".join(parts)


if __name__ == "__main__":
    print(reference())
