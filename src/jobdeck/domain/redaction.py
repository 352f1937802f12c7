"""Scrubbing resolved secrets from what a job stores (docs/builtin-types.md).

A value is scrubbed as written and in the encoded forms it takes on its way through
a URL or a JSON text, since error messages quote requests in those forms.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, quote_plus

MARK = "[redacted]"


class Redactor:
    """The secrets one attempt resolved; ``text``/``json`` return scrubbed copies."""

    def __init__(self) -> None:
        self._values: list[str] = []

    def __bool__(self) -> bool:
        return bool(self._values)

    def add(self, value: str) -> None:
        if not value:
            return
        forms = {value, quote(value, safe=""), quote(value), quote_plus(value)}
        forms.add(json.dumps(value)[1:-1])
        # Longest first, so a secret containing another is scrubbed whole.
        self._values = sorted(set(self._values) | forms, key=len, reverse=True)

    def text(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, MARK)
        return text

    def json(self, value: Any) -> Any:
        if not self._values:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.json(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.json(item) for item in value]
        return value
