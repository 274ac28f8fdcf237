"""The vocabulary a message field declares its XML with.

The codec compiles these declarations once per class, so they are the whole
contract between the message classes and ``cwmp.protocol.codec``; keeping
them in one module keeps that contract in one place.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

# --------------------------------------------------------------------------
# Field declarations. The metadata keys are read by cwmp.protocol.codec:
#   xml      element local name
#   kind     str | int | bool | time | value | struct | array | repeated | none
#   optional omit the element on output when the value is "" / None
#   cls      struct class, or tuple of classes for polymorphic "repeated"
#   item_tag array member element name ("string", "ParameterValueStruct", ...)
#   item     array member: a struct class, or "str"
#   array_type  soap-enc:arrayType without the [N] suffix
# --------------------------------------------------------------------------


def _text(xml: str, *, optional: bool = False) -> Any:
    return field(default="", metadata={"xml": xml, "kind": "str", "optional": optional})


def _int(xml: str, default: int = 0) -> Any:
    return field(default=default, metadata={"xml": xml, "kind": "int"})


def _bool(xml: str, default: bool = False) -> Any:
    return field(default=default, metadata={"xml": xml, "kind": "bool"})


def _time(xml: str, *, optional: bool = False) -> Any:
    return field(default=None, metadata={"xml": xml, "kind": "time", "optional": optional})


def _struct(xml: str, cls: type) -> Any:
    return field(default_factory=cls, metadata={"xml": xml, "kind": "struct", "cls": cls})


def _strings(xml: str, item_tag: str = "string", array_type: str = "xsd:string") -> Any:
    return field(
        default_factory=list,
        metadata={
            "xml": xml,
            "kind": "array",
            "item": "str",
            "item_tag": item_tag,
            "array_type": array_type,
        },
    )


def _array(xml: str, cls: type) -> Any:
    name = cls.__name__
    return field(
        default_factory=list,
        metadata={
            "xml": xml,
            "kind": "array",
            "item": cls,
            "item_tag": name,
            "array_type": "cwmp:" + name,
        },
    )


def _repeated(xml: str, *classes: type) -> Any:
    """A list encoded as sibling elements with the same name (no SOAP array).

    The cwmp-1-2 schema encodes ChangeDUState Operations, DUStateChangeComplete
    Results and the Fault's SetParameterValuesFault this way; with more than one
    class the member type travels in xsi:type (OperationStruct is abstract).
    """
    return field(default_factory=list, metadata={"xml": xml, "kind": "repeated", "cls": classes})


def _none() -> Any:
    """A field that is not an XML element of its own (e.g. the Value's xsi:type)."""
    return field(default=None, metadata={"kind": "none"})
