"""Template variables in built-in job configurations (docs/builtin-types.md).

``{{current_time}}``, ``{{current_date}}``, ``{{current_timestamp}}``, ``{{job.id}}``,
``{{cron.name}}`` and ``{{secret:NAME}}`` (spaces inside the braces allowed). The
configuration is walked once, after JSON parsing: each string value has its
variables replaced by dictionary look-up, so nothing is evaluated, a replacement is
never scanned again and every result is a string. Anything else written ``{{…}}`` is
refused when the job is created; a secret's name is checked then, its value read
when the job runs. Object keys are left as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from jobdeck.errors import PermanentFailure, ValidationError

VARIABLES = ("current_time", "current_date", "current_timestamp", "job.id", "cron.name")
_TOKEN = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_SECRET = re.compile(r"secret:([A-Za-z_][A-Za-z0-9_]*)")


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}.{index}")


def _fields(
    config: Mapping[str, Any], templated: Collection[str] | None, where: str
) -> Iterator[tuple[str, str, bool]]:
    """(path, text, whether variables are replaced there) for every string."""
    for key, value in config.items():
        for path, text in _strings(value, f"{where}.{key}"):
            yield path, text, templated is None or key in templated


def check(
    config: Mapping[str, Any], templated: Collection[str] | None = None, where: str = "payload"
) -> None:
    """ValidationError naming the first ``{{…}}`` that is not a variable (or that sits
    in a field where variables are not replaced)."""
    for path, text, replaced in _fields(config, templated, where):
        for match in _TOKEN.finditer(text):
            name = match.group(1).strip()
            if not replaced:
                raise ValidationError(
                    f"{path}: template variables are not replaced here: {match.group(0)!r}"
                )
            if name not in VARIABLES and not _SECRET.fullmatch(name):
                raise ValidationError(
                    f"{path}: unknown template variable {match.group(0)!r}"
                    f" (known: {', '.join(VARIABLES)}, secret:NAME)"
                )


# Anything that reads as a secret reference, however spaced, keys included: the admin
# rule errs on the side of asking (the template check refuses the malformed ones anyway).
_SECRET_LIKE = re.compile(r"\{\{\s*secret\s*:", re.IGNORECASE)


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)


def references_secret(config: Any) -> bool:
    """True when ``config`` names a ``{{secret:NAME}}`` anywhere, keys included
    (docs/builtin-types.md; creating such a job or schedule needs the admin scope:
    ``tokens.Principal.refusal``)."""
    return any(_SECRET_LIKE.search(text) for text in _texts(config))


def values(now: datetime, job_id: str, cron_name: str | None) -> dict[str, str]:
    now = now.astimezone(UTC)
    return {
        "current_time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "current_date": now.strftime("%Y-%m-%d"),
        "current_timestamp": str(int(now.timestamp())),
        "job.id": job_id,
        "cron.name": cron_name or "",
    }


def resolve(
    config: Mapping[str, Any],
    known: Mapping[str, str],
    secret: Callable[[str], str | None],
    templated: Collection[str] | None = None,
) -> dict[str, Any]:
    """A copy of ``config`` with its variables replaced; ``secret(name)`` gives a
    secret's value (PermanentFailure when it is not set)."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        found = _SECRET.fullmatch(name)
        if found is None:
            if name not in known:  # check() refuses these at creation
                raise PermanentFailure(f"unknown template variable {match.group(0)!r}")
            return known[name]
        value = secret(found.group(1))
        if value is None:
            raise PermanentFailure(
                f"secret {found.group(1)!r} is not set (JOBDECK_SECRET_{found.group(1)})"
            )
        return value

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return _TOKEN.sub(one, value) if "{{" in value else value
        if isinstance(value, Mapping):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    return {k: walk(v) if templated is None or k in templated else v for k, v in config.items()}
