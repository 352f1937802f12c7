"""The public API is exactly what ``jobdeck.__all__`` names (as httpx tests it)."""

import jobdeck
from jobdeck import errors


def test_all_names_exist_and_are_public() -> None:
    for name in jobdeck.__all__:
        assert hasattr(jobdeck, name), name
        assert not name.startswith("_")
    assert len(set(jobdeck.__all__)) == len(jobdeck.__all__)


def test_every_public_member_is_listed() -> None:
    members = {
        name
        for name, value in vars(jobdeck).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("jobdeck.")
    }
    assert members == set(jobdeck.__all__)


def test_the_facade_and_every_error_are_exported() -> None:
    expected = {
        "JobDeck",
        "SyncJobDeck",
        "BaseJobHandler",
        "JobHandle",
        "Job",
        "Status",
        "Priority",
        "Mode",
        "Settings",
    }
    error_classes = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.JobdeckError)
    }
    assert expected | error_classes <= set(jobdeck.__all__)
