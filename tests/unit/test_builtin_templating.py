"""Template variables: one pass, look-ups only, strings out (docs/builtin-types.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from jobdeck.domain.redaction import Redactor
from jobdeck.errors import PermanentFailure, ValidationError
from jobdeck.handlers.builtin.egress import GuardedTransport
from jobdeck.handlers.builtin.egress_guard import EgressGuard
from jobdeck.handlers.builtin.templating import check, references_secret, resolve, values

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
KNOWN = values(NOW, "job-1", "nightly")


def no_secret(name: str) -> str | None:
    return None


def test_variables_resolve_to_strings_with_or_without_spaces() -> None:
    config = {
        "a": "{{current_time}}|{{ current_date }}|{{current_timestamp}}",
        "b": ["{{job.id}}", {"c": "{{  cron.name  }}"}],
        "n": 5,
        "t": True,
        "z": None,
    }
    check(config)
    assert resolve(config, KNOWN, no_secret) == {
        "a": f"2026-03-04T05:06:07Z|2026-03-04|{int(NOW.timestamp())}",
        "b": ["job-1", {"c": "nightly"}],
        "n": 5,
        "t": True,
        "z": None,
    }


@pytest.mark.parametrize(
    "text",
    [
        "{{__class__}}",
        "{{ job.payload }}",
        "{{job}}",
        "{{current_date.__class__}}",
        "{{ current_date | upper }}",
        "{{ {{current_date}} }}",
        "{{secret:}}",
        "{{secret:a-b}}",
        "{{ secret: NAME }}",
        "{{config.items()}}",
    ],
)
def test_anything_else_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValidationError, match=r"payload\.x\.0: unknown template variable"):
        check({"x": [text]})


def test_format_fields_and_jinja_syntax_are_plain_text() -> None:
    config = {"x": "{0.__class__} {x} {% for %} {#c#} {{"}
    check(config)
    assert resolve(config, KNOWN, no_secret) == config


def test_no_re_expansion() -> None:
    def secret(name: str) -> str:
        return "{{current_date}} {{secret:OTHER}}"

    config = {"x": "{{secret:A}}", "y": "{{cron.name}}"}
    resolved = resolve(config, values(NOW, "j", "{{current_date}}"), secret)
    assert resolved == {
        "x": "{{current_date}} {{secret:OTHER}}",
        "y": "{{current_date}}",
    }


def test_only_templated_fields_are_replaced_and_others_refuse_variables() -> None:
    with pytest.raises(ValidationError, match=r"payload\.query: template variables are not"):
        check({"query": "{{current_date}}"}, templated=("parameters",))
    config = {"query": "SELECT 1", "parameters": {"d": "{{current_date}}"}}
    check(config, templated=("parameters",))
    assert resolve(config, KNOWN, no_secret, ("parameters",))["parameters"] == {"d": "2026-03-04"}


def test_secrets_are_read_when_resolving_and_missing_ones_fail_then() -> None:
    config = {"h": "Bearer {{ secret:API_TOKEN }}"}
    check(config)
    assert references_secret(config) and references_secret({"a": [{"b": "{{secret:X}}"}]})
    assert not references_secret({"a": "{{current_date}} secret:X"})
    assert resolve(config, KNOWN, lambda n: "t0k" if n == "API_TOKEN" else None) == {
        "h": "Bearer t0k"
    }
    with pytest.raises(PermanentFailure, match="secret 'API_TOKEN' is not set"):
        resolve(config, KNOWN, no_secret)


def test_keys_are_left_alone() -> None:
    config = {"{{current_date}}": "v"}
    check(config)
    assert resolve(config, KNOWN, no_secret) == config


def test_redactor_scrubs_encoded_forms() -> None:
    redactor = Redactor()
    redactor.add('a/b+c"d')
    text = 'raw a/b+c"d quoted a%2Fb%2Bc%22d path a/b%2Bc%22d json a/b+c\\"d'
    assert "a/b" not in redactor.text(text).replace("[redacted]", "")
    assert redactor.json({"k": ['a/b+c"d']}) == {"k": ["[redacted]"]}


class Recorder(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(204)


async def test_the_transport_connects_to_the_checked_address_with_the_name_for_tls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def addresses(host: str, port: int) -> list[object]:
        import ipaddress

        return [ipaddress.ip_address("93.184.216.34")]

    monkeypatch.setattr("jobdeck.handlers.builtin.egress_guard._addresses", addresses)
    transport = GuardedTransport(EgressGuard())
    recorder = Recorder()
    monkeypatch.setattr(transport, "_pool", lambda url: recorder)
    request = httpx.Request("GET", "https://example.com/path?q=1")
    response = await transport.handle_async_request(request)
    assert response.status_code == 204
    [sent] = recorder.requests
    assert str(sent.url) == "https://93.184.216.34/path?q=1"
    assert sent.headers["Host"] == "example.com"
    assert sent.extensions["sni_hostname"] == "example.com"  # TLS checks the name
