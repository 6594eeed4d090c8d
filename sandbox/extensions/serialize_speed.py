"""Keep moto's response serializer from re-deriving attribute names on every value.

For every member of every structure it serializes, moto's attribute picker asks six
alias providers which Python attribute could hold the member (``DBClusterIdentifier``:
``db_cluster_identifier``, ``identifier``, ...), building each provider anew: ~10 % of
the sandbox's CPU per describe or failover response. The answer depends only on the
picker's providers, the member's shape (its name, serialization name and parent
structure) and the class of the object read, none of which change while the server
runs, so it is memoized on those. Shapes live as long as their service model, which
moto caches; the memo keeps a reference to each shape so its id is never reused.
"""

from __future__ import annotations

import re
import threading
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from moto.core.serialize import (
    AttributePicker,
    BaseXMLSerializer,
    ResponseSerializer,
    XFormedAttributePicker,
)
from moto.core.utils import MISSING
from moto.core.utils import get_value as moto_get_value

# Bounded: keys are (picker, shape, class, member), a few thousand per service in use.
_MAX_ENTRIES = 200_000
_lock = threading.Lock()


_memo: dict[tuple[Any, ...], tuple[tuple[str, ...], Any]] = {}


def _memo_key(picker: AttributePicker, shape: Any, obj: Any, key: str) -> tuple[Any, ...]:
    return (type(picker), tuple(picker.alias_providers), id(shape), type(obj), key)


def _memoized(original: Any) -> Any:
    def get_possible_keys(self: AttributePicker, context: Any) -> tuple[str, ...]:
        key = _memo_key(self, context.shape, context.obj, context.key)
        hit = _memo.get(key)
        if hit is None:
            hit = (tuple(original(self, context)), context.shape)
            with _lock:
                if len(_memo) < _MAX_ENTRIES:
                    _memo[key] = hit
        return hit[0]

    return get_possible_keys


AttributePicker.get_possible_keys = _memoized(AttributePicker.get_possible_keys)  # type: ignore[method-assign]
XFormedAttributePicker.get_possible_keys = _memoized(  # type: ignore[method-assign]
    XFormedAttributePicker.get_possible_keys
)

# The serializer builds a context object, with the member's dotted path, for every
# member of every structure, only for the picker to look the names up. When the names
# are memoized and the picker has no response transformers (which need the path), the
# value is read directly, as AttributePicker.__call__ reads it.
_original_get_value = ResponseSerializer.get_value
_PICKERS = (AttributePicker, XFormedAttributePicker)


def get_value(self: ResponseSerializer, value: Any, key: str, shape: Any) -> Any:
    picker = self._value_picker
    if type(picker) in _PICKERS and not picker.response_transformers:
        hit = _memo.get(_memo_key(picker, shape, value, key))
        if hit is not None:
            for possible_key in hit[0]:
                found = moto_get_value(value, possible_key, MISSING)
                if found is not MISSING:
                    return found
            return None
    return _original_get_value(self, value, key, shape)


ResponseSerializer.get_value = get_value  # type: ignore[method-assign]


# --- XML bodies ----------------------------------------------------------------------
# moto renders every query-protocol response (RDS, ElastiCache, ...) from a dict with
# xmltodict, through the SAX XMLGenerator: ~15 % of the sandbox's CPU per describe.
# The same XML is written directly here for the dicts moto builds (elements, lists,
# text, "@" attributes); anything else (comments, namespaces, odd keys or values) is
# left to xmltodict. tests/sandbox/test_speed.py compares both on real responses.


class _Unusual(Exception):
    """A value this writer does not handle: xmltodict renders the body."""


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
_names: set[str] = set()


def _name(key: Any) -> str:
    if key in _names:
        return key
    if not isinstance(key, str) or not _NAME.match(key):
        raise _Unusual(key)
    _names.add(key)
    return key


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise _Unusual(value)


def _element(out: list[str], key: str, value: Any) -> None:
    name = _name(key)
    if value is None:
        out.append(f"<{name}/>")
        return
    if not isinstance(value, dict):
        text = _text(value)
        out.append(f"<{name}>{escape(text)}</{name}>" if text else f"<{name}/>")
        return
    attrs = []
    children = []
    text = None
    for child_key, child in value.items():
        if not isinstance(child_key, str):
            raise _Unusual(child_key)
        if child_key == "#text":
            text = None if child is None else _text(child)
        elif child_key.startswith("@"):
            if child_key == "@xmlns" and isinstance(child, dict):
                raise _Unusual(child_key)
            attrs.append(
                f" {_name(child_key[1:])}={quoteattr('' if child is None else _text(child))}"
            )
        elif child_key.startswith("#"):
            raise _Unusual(child_key)
        elif not (isinstance(child, list) and not child):  # xmltodict skips []
            children.append((child_key, child))
    # <name/> when nothing is written inside (XMLGenerator's short empty elements).
    opening = f"<{name}{''.join(attrs)}"
    start = len(out)
    out.append(opening)
    for child_key, child in children:
        _emit(out, child_key, child)
    if text:
        out.append(escape(text))
    if len(out) == start + 1:
        out[start] = opening + "/>"
    else:
        out[start] = opening + ">"
        out.append(f"</{name}>")


def _emit(out: list[str], key: str, value: Any) -> None:
    if isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, list | tuple):
                raise _Unusual(item)
            _element(out, key, item)
        return
    if not isinstance(value, dict | str | int | float) and value is not None:
        raise _Unusual(value)
    _element(out, key, value)


def render_xml(body: Any) -> str:
    """What ``xmltodict.unparse(body, full_document=False, short_empty_elements=True)``
    returns, for the bodies moto builds."""
    out: list[str] = []
    for key, value in body.items():
        _emit(out, key, value)
    return "".join(out)


_original_serialize_body = BaseXMLSerializer._serialize_body


def _serialize_body(self: BaseXMLSerializer, body: Any) -> str:
    if self.pretty_print or not isinstance(body, dict):
        return _original_serialize_body(self, body)
    try:
        return render_xml(body)
    except _Unusual:
        return _original_serialize_body(self, body)


BaseXMLSerializer._serialize_body = _serialize_body  # type: ignore[method-assign]
