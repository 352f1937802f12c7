"""Start-up imports: httpx waits until an HTTP job runs (docs/internals.md)."""

import subprocess
import sys

START_UP = """
import sys
import jobdeck, jobdeck.cli, jobdeck.cli.worker, jobdeck.cli.serve, jobdeck.tokens
from jobdeck import JobDeck
from jobdeck.handlers.builtin import register_builtins
from jobdeck.handlers.registry import Registry

deck = JobDeck("sqlite:///:memory:")
assert "webhook" in deck.job_types() and "api_call" in deck.job_types()
register_builtins(Registry())
print(sorted(name for name in sys.modules if name.split(".")[0] == "httpx"))
"""


def test_start_up_does_not_import_httpx() -> None:
    done = subprocess.run(
        [sys.executable, "-c", START_UP], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
