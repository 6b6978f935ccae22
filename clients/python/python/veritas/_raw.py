"""Exact JSON text of a member of a JSON document, so that a receipt reaches the verifier as the
node wrote it: parsing and re-serialising could change numbers (`1.0` becomes `1`, `1e-5`
becomes `1e-05`) whose exact text the parameters hash covers."""

from __future__ import annotations

import json
import re
from typing import Optional

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, index: int) -> int:
    return _SPACE.match(text, index).end()


def member_span(text: str, key: str, start: int = 0) -> Optional[tuple[int, int]]:
    """The span of `key`'s value in the object that starts at `start` (after spaces), or None.
    A key given twice resolves to its last value, as `json.loads` does."""
    index = _skip(text, start)
    if index >= len(text) or text[index] != "{":
        return None
    index = _skip(text, index + 1)
    found = None
    if index < len(text) and text[index] == "}":
        return None
    while True:
        name, index = _DECODER.raw_decode(text, index)
        index = _skip(text, index)
        if text[index] != ":":
            raise ValueError(f"expected ':' at {index}")
        value_start = _skip(text, index + 1)
        _, value_end = _DECODER.raw_decode(text, value_start)
        if name == key:
            found = (value_start, value_end)
        index = _skip(text, value_end)
        if text[index] == ",":
            index = _skip(text, index + 1)
            continue
        if text[index] == "}":
            return found
        raise ValueError(f"expected ',' or '}}' at {index}")


def member(text: str, *path: str) -> Optional[str]:
    """The exact text of the value at `path` (keys of nested objects), or None."""
    start, end = 0, len(text)
    for key in path:
        span = member_span(text, key, start)
        if span is None:
            return None
        start, end = span
    return text[start:end]
