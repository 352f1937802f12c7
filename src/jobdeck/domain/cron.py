"""Cron expressions: parsing, fire times across DST changes, descriptions, due ticks (docs/cron.md).

Pure: no I/O and no store. Field parsing and matching are croniter's; what this module
adds is the contract around it:

* six fields mean a LEADING seconds field (croniter expects it last, so it is moved);
* ``L``, ``W``, ``#`` and ``?`` are refused, and so are croniter's extensions (``H``,
  ``R``, a year field), so every accepted expression means the same in any cron;
* fire times are computed in naive local wall time and mapped to real instants here,
  with zoneinfo, because croniter's own timezone handling has had DST bugs. The DST
  rules (docs/cron.md) depend on whether the hours are fixed; see :func:`parse`.

Every instant in and out is an aware datetime; every instant out is in UTC.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter

from jobdeck.domain.schedule import CATCH_UP_LIMIT, MisfirePolicy
from jobdeck.errors import ValidationError

__all__ = ["ALIASES", "CronExpression", "due_ticks", "parse"]

ALIASES: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_FIELD_NAMES = ("minute", "hour", "day", "month", "weekday")
_ALLOWED = {
    "second": "0-59",
    "minute": "0-59",
    "hour": "0-23",
    "day": "1-31",
    "month": "1-12 or jan-dec",
    "weekday": "0-7 or sun-sat",
}
_MONTH_NAMES = frozenset(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
)
_DAY_NAMES = frozenset(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
_NAMES = {"month": _MONTH_NAMES, "weekday": _DAY_NAMES}
_UNSUPPORTED = {
    "l": "'L' (last day)",
    "w": "'W' (nearest weekday)",
    "#": "'#' (nth weekday of the month)",
    "?": "'?' (no specific value)",
}
_WORD = re.compile(r"[a-z]+")
_FIELD_CHARS = re.compile(r"[0-9a-z*,/\-]+")
# croniter's field order, into which a leading seconds field is moved (as the sixth).
_CRONITER_ORDER = ("minute", "hour", "day", "month", "weekday", "second")
_SECOND = timedelta(seconds=1)
_INSTANT = timedelta(microseconds=1)  # ticks at or before t: those strictly before t + this
_TICK = timedelta(microseconds=1)


def _fail(message: str) -> ValidationError:
    return ValidationError(f"cron_expression: {message}")


def _split(expression: str) -> dict[str, str]:
    """The fields by name (as written); a five-field expression has no ``second``."""
    if not expression:
        raise _fail("must not be empty")
    if expression.startswith("@"):
        alias = ALIASES.get(expression.lower())
        if alias is None:
            known = " ".join(ALIASES)
            raise _fail(f"unknown alias {expression!r} (known: {known})")
        expression = alias
    parts = expression.split()
    if len(parts) == 5:
        return dict(zip(_FIELD_NAMES, parts, strict=True))
    if len(parts) == 6:
        return dict(zip(("second", *_FIELD_NAMES), parts, strict=True))
    raise _fail(
        "expected 5 fields (minute hour day month weekday) or 6 with a leading seconds "
        f"field, got {len(parts)}"
    )


def _check_field(name: str, text: str) -> None:
    """Refuses what croniter would accept but our contract does not, with a message that
    names the field; croniter then judges the values themselves."""
    shown = text
    text = text.lower()
    for mark in ("#", "?"):
        if mark in text:
            raise _fail(f"{_UNSUPPORTED[mark]} is not supported (in the {name} field {shown!r})")
    for word in _WORD.findall(text):
        if word in _NAMES.get(name, ()):
            continue
        # 'L' and 'W' arrive glued to numbers ("5L", "15W", "LW"), hence per letter.
        if set(word) <= {"l", "w"}:
            raise _fail(f"{_UNSUPPORTED[word[0]]} is not supported (in the {name} field {shown!r})")
        if name in _NAMES:
            raise _fail(f"unknown name {word!r} in the {name} field (allowed: {_ALLOWED[name]})")
        raise _fail(
            f"unexpected {word!r} in the {name} field {shown!r} "
            f"(allowed: {_ALLOWED[name]}, with ',', '-', '/' and '*')"
        )
    if not _FIELD_CHARS.fullmatch(text):
        raise _fail(
            f"unexpected character in the {name} field {shown!r} "
            f"(allowed: {_ALLOWED[name]}, with ',', '-', '/' and '*')"
        )
    # Each field alone, every other field '*', so that the message can name it.
    alone = " ".join(text if other == name else "*" for other in _CRONITER_ORDER)
    try:
        croniter.expand(alone)
    except CroniterError:
        raise _fail(
            f"invalid {name} field {shown!r} (allowed: {_ALLOWED[name]}, "
            "as values, ranges a-b, lists a,b and steps */n or a-b/n)"
        ) from None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(f"timezone: unknown timezone {name!r}") from None


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, got {value!r}")
    return value


@dataclass(frozen=True)
class CronExpression:
    """A valid cron expression in an IANA timezone. Build it with :func:`parse`, which
    strips whitespace; constructing it directly validates it too."""

    expression: str
    timezone: str = "UTC"
    _fields: str = field(init=False, repr=False, compare=False)  # ours, seconds first
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _croniter_expr: str = field(init=False, repr=False, compare=False)
    _fixed_hours: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fields = _split(self.expression)
        for name, text in fields.items():
            _check_field(name, text)
        zone = _zone(self.timezone)
        croniter_expr = " ".join(fields[name] for name in _CRONITER_ORDER if name in fields).lower()
        try:
            croniter(croniter_expr, datetime(2000, 1, 1), day_or=True).get_next(datetime)
        except CroniterBadDateError:
            raise _fail(
                f"{self.expression!r} never fires: its days never occur in its months"
                " (e.g. 30 February)"
            ) from None
        except CroniterError as exc:  # a combination no single field showed
            raise _fail(f"invalid expression {self.expression!r} ({exc})") from None
        hour = fields["hour"].lower()
        object.__setattr__(self, "_fields", " ".join(fields.values()).lower())
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_croniter_expr", croniter_expr)
        # The DST rule (docs/cron.md, "Timezones and DST") follows from the hour field's
        # shape, not from its values.
        object.__setattr__(self, "_fixed_hours", hour != "*" and "/" not in hour)

    @property
    def fixed_hours(self) -> bool:
        """Whether the DST rule for fixed hours applies (docs/cron.md): a skipped wall time
        fires once right after the gap, a repeated one only at its first occurrence."""
        return self._fixed_hours

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire instant strictly after ``after`` (UTC), None if it never fires."""
        return next(self._forward(_aware(after, "after")), None)

    def next_runs(self, after: datetime, count: int = 5) -> list[datetime]:
        """The next ``count`` fire instants strictly after ``after`` (fewer if it stops)."""
        if count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        return list(islice(self._forward(_aware(after, "after")), count))

    def describe(self) -> str:
        """In English, e.g. ``At 02:00 AM`` or ``Every 5 minutes, Europe/Berlin``."""
        from cron_descriptor import get_description  # here: ~10-30 ms off every start

        try:
            text = str(get_description(self._fields))
        except Exception:  # a description is cosmetic: never fail a listing over it
            text = self.expression
        return text if self.timezone == "UTC" else f"{text}, {self.timezone}"

    # --- wall time to real instants -------------------------------------------------

    def _instants(self, wall: datetime) -> tuple[datetime, ...]:
        """The real instants (UTC, ascending) at which the local ``wall`` time fires."""
        first = wall.replace(tzinfo=self._zone, fold=0)
        second = wall.replace(tzinfo=self._zone, fold=1)
        before, after = first.utcoffset(), second.utcoffset()
        assert before is not None and after is not None
        if before == after:
            return (first.astimezone(UTC),)
        if before > after:  # the wall time repeats (the clocks went back)
            if self._fixed_hours:
                return (first.astimezone(UTC),)
            return (first.astimezone(UTC), second.astimezone(UTC))
        # The wall time was skipped (the clocks went forward).
        if not self._fixed_hours:
            return ()
        return (self._transition(second.astimezone(UTC), first.astimezone(UTC)),)

    def _transition(self, low: datetime, high: datetime) -> datetime:
        """The offset change in (low, high]: the first instant after a gap. Bisection,
        since zoneinfo does not expose its transitions; tzdata's are on whole seconds."""
        offset = low.astimezone(self._zone).utcoffset()
        span = int((high - low).total_seconds())
        while span > 1:
            middle = low + timedelta(seconds=span // 2)
            if middle.astimezone(self._zone).utcoffset() == offset:
                low = middle
            else:
                high = middle
            span = int((high - low).total_seconds())
        return high

    def _repeat_shift(self, wall: datetime) -> timedelta:
        """How long ``wall`` repeats (zero unless the clocks went back over it)."""
        before = wall.replace(tzinfo=self._zone, fold=0).utcoffset()
        after = wall.replace(tzinfo=self._zone, fold=1).utcoffset()
        assert before is not None and after is not None
        return max(before - after, timedelta(0))

    def _forward(self, after: datetime, *, inclusive: bool = False) -> Iterator[datetime]:
        """Fire instants after ``after`` (or at it, if ``inclusive``), ascending, deduplicated.

        Wall times come from croniter in wall order; the real order differs only where the
        clocks went back (the second occurrences come after all the first ones). So an
        instant is yielded once no later wall time can produce an earlier one: the lowest
        instant of each wall time never decreases from one wall time to the next."""
        local = after.astimezone(self._zone)
        wall = local.replace(tzinfo=None)
        if not local.fold:
            # Inside the first occurrence of a repeated hour, earlier wall times still
            # have their second occurrence ahead.
            wall -= self._repeat_shift(wall)
        walls = croniter(self._croniter_expr, wall.replace(microsecond=0) - _SECOND, day_or=True)
        pending: list[datetime] = []
        last: datetime | None = None
        while True:
            try:
                instants = self._instants(walls.get_next(datetime))
            except (ValueError, OverflowError):
                # No further fire time: croniter's CroniterBadDateError (a ValueError), or
                # datetime's year limits reached (ValueError or OverflowError).
                break
            for instant in instants:
                if instant > after or (inclusive and instant == after):
                    heapq.heappush(pending, instant)
            if not instants:
                continue
            while pending and pending[0] <= instants[0]:
                instant = heapq.heappop(pending)
                if last is None or instant > last:
                    last = instant
                    yield instant
        for instant in sorted(pending):
            if last is None or instant > last:
                last = instant
                yield instant

    def _backward(self, before: datetime) -> Iterator[datetime]:
        """Fire instants strictly before ``before``, descending, deduplicated: the mirror of
        :meth:`_forward` (the highest instant of each wall time never increases)."""
        local = before.astimezone(self._zone)
        wall = local.replace(tzinfo=None)
        if local.fold:
            # Inside the second occurrence of a repeated hour, later wall times still have
            # their first occurrence behind.
            wall += self._repeat_shift(wall)
        if wall.microsecond:
            wall = wall.replace(microsecond=0) + _SECOND
        walls = croniter(self._croniter_expr, wall + _SECOND, day_or=True)
        pending: list[tuple[float, datetime]] = []
        last: datetime | None = None
        while True:
            try:
                instants = self._instants(walls.get_prev(datetime))
            except (ValueError, OverflowError):  # as in _forward
                break
            for instant in instants:
                if instant < before:
                    heapq.heappush(pending, (-instant.timestamp(), instant))
            if not instants:
                continue
            while pending and pending[0][1] >= instants[-1]:
                instant = heapq.heappop(pending)[1]
                if last is None or instant < last:
                    last = instant
                    yield instant
        for _, instant in sorted(pending):
            if last is None or instant < last:
                last = instant
                yield instant


def parse(expression: str, timezone: str = "UTC") -> CronExpression:
    """A cron expression (docs/cron.md), or a :class:`ValidationError` naming the problem.

    Five fields ``minute hour day month weekday``, or six with a leading ``second``; or
    one of :data:`ALIASES`. Values, ranges ``a-b``, lists ``a,b``, steps ``*/n`` and
    ``a-b/n``, month and weekday names (any case); weekday 0 and 7 are Sunday. When both
    day and weekday are restricted a day matching either fires (Vixie cron).

    DST: when the hour field is fixed (neither ``*`` nor a step), a wall time skipped in
    spring fires once at the end of the gap and a repeated one only at its first
    occurrence; otherwise every real instant that matches fires, so a repeated hour fires
    twice and a skipped one not at all.
    """
    return CronExpression(expression.strip(), timezone.strip())


def due_ticks(
    cron: CronExpression,
    next_run_at: datetime,
    now: datetime,
    grace_seconds: float,
    policy: MisfirePolicy,
) -> tuple[list[datetime], datetime | None]:
    """The ticks to run now for a schedule whose first unfired tick is ``next_run_at``, and
    its new ``next_run_at`` (the first tick strictly after ``now``; None if none ever).

    Ticks in ``[now - grace, now]`` are on time and run (the latest
    :data:`CATCH_UP_LIMIT` of them); older ones (from
    ``next_run_at`` on) are missed and follow ``policy`` (docs/cron.md): ``skip`` none,
    ``fire_once`` the latest one, standing for all, ``catch_up`` the latest
    :data:`CATCH_UP_LIMIT`. The work is bounded by the on-time ticks plus the ticks kept:
    missed ticks are walked backwards from the grace boundary, never from ``next_run_at``.
    The ticks are ascending. A ``next_run_at`` still ahead of ``now`` yields nothing and
    stays as it is.
    """
    _aware(next_run_at, "next_run_at")
    _aware(now, "now")
    if next_run_at > now:
        return [], next_run_at
    cutoff = now - timedelta(seconds=max(grace_seconds, 0.0))
    # On-time ticks, newest first, at most CATCH_UP_LIMIT of them: a long grace on a
    # frequent schedule after an outage must not become one enormous transaction.
    on_time: list[datetime] = []
    first = max(next_run_at, cutoff)
    for tick in cron._backward(now + _INSTANT):
        if tick < first or len(on_time) == CATCH_UP_LIMIT:
            break
        on_time.append(tick)
    on_time.reverse()
    following = cron.next_after(now)
    missed: list[datetime] = []
    if policy is not MisfirePolicy.SKIP and next_run_at < cutoff:
        keep = 1 if policy is MisfirePolicy.FIRE_ONCE else CATCH_UP_LIMIT
        for tick in cron._backward(cutoff):
            if tick < next_run_at:
                break
            missed.append(tick)
            if len(missed) == keep:
                break
        missed.reverse()
    return missed + on_time, following
