"""Checking a job configuration against its type's JSON schema (docs/builtin-types.md).

The first error is reported with the path of the field it concerns
(``payload.headers.Host: …``), so a 400 says what to fix.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from jobdeck.errors import ValidationError


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    schema = json.loads(schema_json)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def check_schema(schema: dict[str, Any], value: Any, where: str) -> None:
    validator = _validator(json.dumps(schema, sort_keys=True))
    error = best_match(validator.iter_errors(value))
    if error is None:
        return
    path = ".".join([where, *(str(part) for part in error.absolute_path)])
    raise ValidationError(f"{path}: {_message(error)}")


def _message(error: Any) -> str:
    # jsonschema's default messages repeat the whole value; keep the ones that do not.
    if error.validator == "additionalProperties":
        return str(error.message).replace("Additional properties", "unknown field(s)")
    if error.validator == "pattern" and "description" in error.schema:
        return str(error.schema["description"])
    return str(error.message)
