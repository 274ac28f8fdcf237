"""What the Broadband Forum data models say a parameter may hold.

Built once from the BBF machine-readable models (TR-181 Device:2, TR-098
InternetGatewayDevice:1, TR-104 VoIP; BSD-3-Clause, Broadband Forum) into
``datamodel.json.gz`` beside this file: for every parameter, its base type,
numeric range, maximum length and enumeration. SetParameterValues checks a
value against it (after the type the device itself reported) so an operator
learns of a typo before the device does.

Regenerate with ``python -m provisioning.datamodel ../shared/cwmp/bbf``.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from provisioning.values import InvalidValue

DATA = Path(__file__).with_name("datamodel.json.gz")
_INDEX = re.compile(r"\.\d+(?=\.)")
_BASES = {"string", "unsignedInt", "int", "unsignedLong", "long", "boolean", "dateTime",
          "base64", "hexBinary", "decimal"}  # fmt: skip


def generic_path(path: str) -> str:
    """``Device.WiFi.SSID.2.SSID`` -> ``Device.WiFi.SSID.{i}.SSID``."""
    return _INDEX.sub(".{i}", path)


@lru_cache(maxsize=1)
def _table() -> dict[str, list[Any]]:
    if not DATA.exists():
        return {}
    with gzip.open(DATA, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def describe(path: str) -> dict[str, Any] | None:
    """The model's facts about a parameter, or None where no model knows it."""
    entry = _table().get(generic_path(path))
    if entry is None:
        return None
    base, low, high, max_length, enums, is_list = entry
    return {"type": base, "min": low, "max": high, "max_length": max_length,
            "enumeration": enums, "list": bool(is_list)}  # fmt: skip


def xsd_type(path: str) -> str | None:
    facts = describe(path)
    return f"xsd:{facts['type']}" if facts else None


def check(path: str, text: str) -> None:
    """Raise InvalidValue when the model forbids ``text`` for ``path``."""
    facts = describe(path)
    if facts is None:
        return
    if facts["type"] in ("unsignedInt", "int", "unsignedLong", "long") and not facts["list"]:
        number = int(text)
        if facts["min"] is not None and number < facts["min"]:
            raise InvalidValue(f"{number} is below the minimum {facts['min']}")
        if facts["max"] is not None and number > facts["max"]:
            raise InvalidValue(f"{number} is above the maximum {facts['max']}")
    if facts["max_length"] is not None and len(text) > facts["max_length"]:
        raise InvalidValue(f"longer than the {facts['max_length']} characters allowed")
    enums = facts["enumeration"]
    if enums and text:
        values = text.split(",") if facts["list"] else [text]
        for value in values:
            value = value.strip()
            # TR-106 3.3: vendors may extend enumerations with X_<OUI>_ values.
            if value not in enums and not value.startswith("X_"):
                shown = ", ".join(enums[:8]) + (" …" if len(enums) > 8 else "")
                raise InvalidValue(f"{value!r} is not one of {shown}")


# -- building the table from the BBF XML ---------------------------------------


def _syntax_facts(syntax: Any, data_types: dict[str, list[Any]]) -> list[Any] | None:
    """[base, min, max, max_length, enumeration, is_list] of a <syntax> or <dataType>."""
    base = low = high = max_length = None
    enums: list[str] = []
    is_list = False
    for el in syntax:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag == "list":
            is_list = True
            continue
        if tag == "dataType" and el.get("ref"):
            inherited = data_types.get(el.get("ref"))
            if inherited:
                base, low, high, max_length, enums_inh, _ = inherited
                enums = list(enums_inh or [])
            base = base or "string"
            facet_root = el
        elif tag in _BASES:
            base = tag
            facet_root = el
        else:
            continue
        for facet in facet_root.iter():
            ftag = facet.tag if isinstance(facet.tag, str) else ""
            if ftag == "range":
                if facet.get("minInclusive") is not None:
                    low = (
                        int(facet.get("minInclusive"))
                        if low is None
                        else min(low, int(facet.get("minInclusive")))
                    )
                if facet.get("maxInclusive") is not None:
                    high = (
                        int(facet.get("maxInclusive"))
                        if high is None
                        else max(high, int(facet.get("maxInclusive")))
                    )
            elif ftag == "size" and facet.get("maxLength"):
                max_length = int(facet.get("maxLength"))
            elif ftag == "enumeration" and facet.get("value") is not None:
                enums.append(facet.get("value"))
    if base is None:
        return None
    return [base, low, high, None if is_list else max_length, sorted(set(enums)) or None, is_list]


def build(source: Path) -> dict[str, list[Any]]:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
    data_types: dict[str, list[Any]] = {}
    table: dict[str, list[Any]] = {}
    files = ["tr-106-types.xml", "tr-098-1-8-0-full.xml", "tr-181-2-17-0-cwmp-full.xml",
             "tr-104-2-0-2-cwmp-full.xml"]  # fmt: skip
    for name in files:
        root = etree.parse(str(source / name), parser).getroot()
        for el in root.iter():
            if (
                isinstance(el.tag, str)
                and etree.QName(el).localname == "dataType"
                and el.get("name")
            ):
                parent = data_types.get(el.get("base", ""))
                facts = _syntax_facts(el, data_types)
                if facts is None and parent:
                    facts = list(parent)
                elif facts is None:
                    facts = _syntax_facts([el], data_types)
                if facts is None and parent is None:
                    continue
                if parent and facts:
                    facts = [
                        facts[0] or parent[0],
                        *[
                            f if f is not None else p
                            for f, p in zip(facts[1:], parent[1:], strict=True)
                        ],
                    ]
                if facts:
                    data_types[el.get("name")] = facts
        for obj in root.iter():
            if not (isinstance(obj.tag, str) and etree.QName(obj).localname == "object"):
                continue
            prefix = obj.get("name") or obj.get("base") or ""
            for param in obj:
                if not (isinstance(param.tag, str) and etree.QName(param).localname == "parameter"):
                    continue
                syntax = next(
                    (
                        c
                        for c in param
                        if isinstance(c.tag, str) and etree.QName(c).localname == "syntax"
                    ),
                    None,
                )
                if syntax is None:
                    continue
                _strip_namespaces(syntax)
                facts = _syntax_facts(syntax, data_types)
                if facts:
                    table[prefix + (param.get("name") or param.get("base") or "")] = facts
    return table


def _strip_namespaces(el: Any) -> None:
    from lxml import etree

    for node in el.iter():
        if isinstance(node.tag, str):
            node.tag = etree.QName(node).localname


def main(argv: list[str]) -> None:
    source = Path(argv[0] if argv else "../shared/cwmp/bbf")
    table = build(source)
    with gzip.open(DATA, "wt", encoding="utf-8") as fh:
        json.dump(table, fh, separators=(",", ":"), sort_keys=True)
    print(f"{len(table)} parameters written to {DATA}")


if __name__ == "__main__":
    main(sys.argv[1:])
