"""What every store keeps exactly as given: the limits and checks on text and JSON.

PostgreSQL refuses NUL characters and lone surrogates in text and JSON (SQLite would
take them); jobdeck refuses them on both backends, so a job that works on one works
on the other. Text a handler produces by accident (an exception's message, a log
line) is made storable instead (:func:`storable`): recording a failure must not fail.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from jobdeck.domain.jsontext import NOT_SERIALISABLE, encoder
from jobdeck.errors import ValidationError

PAYLOAD_LIMIT = 1024 * 1024
METADATA_LIMIT = 64 * 1024
RESULT_LIMIT = 1024 * 1024
MAX_JSON_DEPTH = 64

_ENCODE = encoder(ensure_ascii=True, allow_nan=False)


def check_text(what: str, value: str | None) -> None:
    """ValidationError unless ``value`` is text every store keeps: no NUL, no lone
    surrogates."""
    if value is None:
        return
    if "\x00" in value:
        raise ValidationError(f"{what}: NUL characters are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"{what}: not valid Unicode text") from exc


def _nodes(value: Any) -> Iterator[tuple[Any, int]]:
    """Every value inside ``value`` with its depth, as the JSON encoder walks it: dicts,
    lists and tuples, and the dicts' string keys (other keys become numbers or literals)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        yield item, depth
        if isinstance(item, dict):
            for key, sub in item.items():
                if isinstance(key, str):
                    yield key, depth + 1
                stack.append((sub, depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((sub, depth + 1) for sub in item)


def check_tree(what: str, value: Any) -> None:
    """ValidationError unless ``value`` is JSON the HTTP API accepts: storable text,
    finite numbers, integers that fit in 64 bits, at most MAX_JSON_DEPTH levels."""
    for item, depth in _nodes(value):
        if depth > MAX_JSON_DEPTH:
            raise ValidationError(f"{what}: nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, str):
            check_text(what, item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValidationError(f"{what}: numbers must be finite")
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) >= 2**63:
            raise ValidationError(f"{what}: integers must fit in 64 bits")


def json_text(value: Any, what: str, limit: int) -> str:
    """``value`` as compact ASCII JSON (so its length is its size in bytes);
    ValidationError unless it is JSON-serialisable, storable and within ``limit``."""
    try:
        text = _ENCODE(value)
    except NOT_SERIALISABLE as exc:
        raise ValidationError(f"{what} must be JSON-serialisable: {exc}") from exc
    if len(text) > limit:
        raise ValidationError(f"{what} is larger than {limit // 1024} KiB")
    # NUL and every surrogate are escaped in ASCII JSON: without these sequences
    # (almost always) there is nothing to check, and the walk is skipped. Only text is
    # checked here, whatever else the value holds: the rest is the encoder's business.
    if "\\u0000" in text or "\\ud" in text:
        for item, _ in _nodes(value):
            if isinstance(item, str):
                check_text(what, item)
    return text


def check_json(value: Any, what: str, limit: int) -> None:
    json_text(value, what, limit)


def storable(text: str) -> str:
    """``text`` with what no store keeps (NUL, lone surrogates) replaced by U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text
