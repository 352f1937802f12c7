"""What every store keeps: the checks the HTTP API and the Python API share."""

from __future__ import annotations

from typing import Any

import pytest

from jobdeck.domain.values import check_tree, json_text, storable
from jobdeck.errors import ValidationError


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": "x\x00"}, "NUL characters are not allowed"),
        ({"k\x00": 1}, "NUL characters are not allowed"),
        (["\udc80"], "not valid Unicode text"),
        ({"a": float("inf")}, "numbers must be finite"),
        ({"a": [float("nan")]}, "numbers must be finite"),
        ({"a": 2**63}, "integers must fit in 64 bits"),
        ({"a": -(2**63)}, "integers must fit in 64 bits"),
        (nested(65), "nested deeper than 64 levels"),
    ],
)
def test_check_tree_refuses_what_the_api_does_not_take(value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=f"payload: {message}"):
        check_tree("payload", value)


def test_check_tree_accepts_the_edges() -> None:
    check_tree("payload", {"a": 2**63 - 1, "b": -(2**63 - 1), "c": nested(63), 1: None})
    check_tree("payload", {"emoji": "\U0001f600", "t": ("x", 1.5), "ok": True})


def test_json_text_checks_only_text_and_size() -> None:
    assert json_text({"n": 2**70, "e": "\U0001f600"}, "payload", 1000) == (
        '{"n":1180591620717411303424,"e":"\\ud83d\\ude00"}'
    )
    assert json_text({"path": "C:\\u0000"}, "payload", 1000)  # an escaped backslash: fine
    with pytest.raises(ValidationError, match="larger than 1 KiB"):
        json_text({"a": "x" * 2000}, "payload", 1024)
    with pytest.raises(ValidationError, match="JSON-serialisable"):
        json_text({"a": object()}, "payload", 1024)


def test_storable_replaces_what_no_store_keeps() -> None:
    assert storable("plain text") == "plain text"
    assert storable("a\x00b") == "a\ufffdb"
    assert storable("lone \ud800 and pair \U0001f600") == "lone \ufffd and pair \U0001f600"
