"""Compact JSON text, fast.

``json.dumps`` builds a new encoder on every call; one built once is ~3x faster,
which matters when a bulk enqueue encodes every payload. The encoders here are the
ones ``json.dumps`` itself uses (same output), minus its circular-reference check: a
cycle ends in RecursionError instead, which callers treat as "not serialisable".
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable, Mapping
from typing import Any

from jobdeck.errors import ValidationError

NOT_SERIALISABLE = (TypeError, ValueError, RecursionError)


def _default(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encoder(*, ensure_ascii: bool, allow_nan: bool) -> Callable[[Any], str]:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=…, allow_nan=…)``;
    raises one of :data:`NOT_SERIALISABLE`."""
    make: Any = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator (PyPy, odd builds): the plain way
        options = {"separators": (",", ":"), "ensure_ascii": ensure_ascii, "allow_nan": allow_nan}
        return lambda value: json.dumps(value, **options)  # type: ignore[arg-type]
    escape = (
        json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    )
    encode = make(None, _default, escape, None, ":", ",", False, False, allow_nan)
    return lambda value: "".join(encode(value, 0))


def checked_encoder(*, ensure_ascii: bool, allow_nan: bool) -> Callable[[Any], str]:
    """:func:`encoder`, refusing what JSON cannot hold with a ValidationError."""
    encode = encoder(ensure_ascii=ensure_ascii, allow_nan=allow_nan)

    def dumps(value: Any) -> str:
        try:
            return encode(value)
        except NOT_SERIALISABLE as exc:
            raise ValidationError(f"not JSON-serializable: {exc}") from exc

    return dumps


def object_text(
    value: Mapping[str, Any] | None, text: str | None, dumps: Callable[[Any], str]
) -> str:
    """A job's payload or metadata as JSON text: the text a validating caller already
    made (NewJob.payload_json), else ``dumps(value)``; ``{}`` when empty."""
    if text is not None:
        return text
    return dumps(value) if value else "{}"
