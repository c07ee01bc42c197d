"""Cron schedules as CronJobs use them: parse a standard 5-field spec, find the next run.

Upstream parses ``spec.schedule`` with robfig/cron's ``ParseStandard``; this module follows its
grammar and its error wording (which the apiserver returns verbatim in the 422), so a schedule
is accepted or refused exactly as on Kubernetes:

- fields ``minute hour day-of-month month day-of-week``; each a list (``,``) of ``*`` / ``?`` /
  a value / a range ``a-b``, optionally stepped (``*/5``, ``10-40/10``, ``5/15`` = 5 to the
  maximum by 15); months ``jan`` to ``dec`` and weekdays ``sun`` to ``sat`` by name; weekday 0 to 6;
- descriptors ``@yearly``/``@annually``, ``@monthly``, ``@weekly``, ``@daily``/``@midnight``,
  ``@hourly``, and ``@every <duration>`` (Go duration, whole seconds, at least 1s);
- day-of-month and day-of-week are OR-ed unless either is ``*``/``?`` (then both must match);
- ``TZ=``/``CRON_TZ=`` prefixes parse here, but CronJob validation refuses them on create (the
  ``timeZone`` field replaces them), as upstream does.

:meth:`Schedule.next` walks field by field in the schedule's zone (as robfig does), so daylight
saving transitions behave as upstream: a wall time skipped by spring-forward is not run that
day, and an hourly schedule runs in both hours of a fall-back repetition.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from kboot.controlplane.api.errors import ApiRuleError

__all__ = ["CronError", "Schedule", "load_zone", "parse"]

UTC = dt.UTC


class CronError(ApiRuleError):
    """A schedule or zone that does not parse; the message is upstream's wording."""


@dataclass(frozen=True)
class _Bounds:
    low: int
    high: int
    names: tuple[str, ...] = ()  # index + low = value


_MINUTE = _Bounds(0, 59)
_HOUR = _Bounds(0, 23)
_DOM = _Bounds(1, 31)
_MONTH = _Bounds(1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                         "nov", "dec"))
_DOW = _Bounds(0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
_STAR = 1 << 63

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: one bit set per field (bit 63 marks ``*``/``?`` for the day rule)."""

    minute: int
    hour: int
    dom: int
    month: int
    dow: int
    zone: dt.tzinfo = UTC
    every: int = 0  # seconds, for ``@every``: a constant delay instead of the fields

    def in_zone(self, zone: dt.tzinfo) -> Schedule:
        return Schedule(self.minute, self.hour, self.dom, self.month, self.dow, zone,
                        self.every)

    def _day_matches(self, t: dt.datetime) -> bool:
        dom_ok = bool(self.dom >> t.day & 1)
        dow_ok = bool(self.dow >> (t.isoweekday() % 7) & 1)
        if self.dom & _STAR or self.dow & _STAR:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def next(self, after: dt.datetime) -> dt.datetime | None:
        """The first activation strictly after ``after`` (returned in UTC), or None if there is
        none in the next five years (e.g. ``0 0 30 2 *``)."""
        if self.every:
            return after.astimezone(UTC).replace(microsecond=0) + dt.timedelta(
                seconds=self.every)
        zone = self.zone
        t = _norm(after.astimezone(zone).replace(second=0, microsecond=0), zone)
        t = _shift(t, dt.timedelta(minutes=1))
        year_limit = t.year + 5
        added = False
        while t.year <= year_limit:
            if not self.month >> t.month & 1:
                if not added:
                    added, t = True, _at(zone, t.year, t.month, 1)
                t = _at(zone, t.year + (t.month == 12), t.month % 12 + 1, 1)
                continue
            if not self._day_matches(t):
                if not added:
                    added, t = True, _at(zone, t.year, t.month, t.day)
                nxt = t.date() + dt.timedelta(days=1)  # Go's AddDate(0, 0, 1): wall clock
                t = _at(zone, nxt.year, nxt.month, nxt.day, t.hour, t.minute)
                if t.hour:  # midnight does not exist that day: move to the nearest hour
                    t = _shift(t, dt.timedelta(hours=24 - t.hour if t.hour > 12 else -t.hour))
                continue  # from the top: a new month must match too
            if not self.hour >> t.hour & 1:
                if not added:
                    added, t = True, _at(zone, t.year, t.month, t.day, t.hour)
                t = _shift(t, dt.timedelta(hours=1))
                continue
            if not self.minute >> t.minute & 1:
                added = True
                t = _shift(t, dt.timedelta(minutes=1))
                continue
            return t.astimezone(UTC)
        return None


def _at(zone: dt.tzinfo, year: int, month: int, day: int, hour: int = 0,
        minute: int = 0) -> dt.datetime:
    """A wall time in ``zone``, normalised as Go's ``time.Date`` does (a time in a DST gap
    moves forward by the gap)."""
    return _norm(dt.datetime(year, month, day, hour, minute, tzinfo=zone), zone)


def _norm(t: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    return t.astimezone(UTC).astimezone(zone)


def _shift(t: dt.datetime, delta: dt.timedelta) -> dt.datetime:
    """``t`` plus an absolute duration (not wall-clock arithmetic)."""
    return (t.astimezone(UTC) + delta).astimezone(t.tzinfo)


def load_zone(name: str) -> dt.tzinfo:
    """A tz database zone; :class:`CronError` with Go's wording when unknown."""
    if name == "UTC" or name == "":
        return UTC
    if name.startswith("/") or any(p in ("", ".", "..") for p in name.split("/")):
        raise CronError(f"unknown time zone {name}")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise CronError(f"unknown time zone {name}") from exc


def parse(spec: str) -> Schedule:
    """Parse a standard cron spec (robfig ``ParseStandard``)."""
    if not spec:
        raise CronError("empty spec string")
    zone: dt.tzinfo = UTC
    if spec.startswith(("TZ=", "CRON_TZ=")):
        head, _, spec = spec.partition(" ")
        name = head.partition("=")[2]
        try:
            zone = load_zone(name)
        except CronError as exc:
            raise CronError(f"provided bad location {name}: {exc}") from exc
        spec = spec.strip()
    if spec.startswith("@every "):
        return Schedule(0, 0, 0, 0, 0, zone, every=max(1, int(_duration(spec[7:].strip()))))
    if spec.startswith("@"):
        if spec not in _DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {spec}")
        spec = _DESCRIPTORS[spec]
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: {spec}")
    minute, hour, dom, month, dow = (
        _field(f, b) for f, b in zip(fields, (_MINUTE, _HOUR, _DOM, _MONTH, _DOW), strict=True))
    return Schedule(minute, hour, dom, month, dow, zone)


def _field(text: str, bounds: _Bounds) -> int:
    bits = 0
    for expr in text.split(","):
        bits |= _range(expr, bounds)
    return bits


def _range(expr: str, bounds: _Bounds) -> int:
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    single = len(low_high) == 1
    extra = 0
    if range_and_step[0] in ("*", "?"):
        start, end, extra = bounds.low, bounds.high, _STAR
    else:
        start = _value(low_high[0], bounds)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _value(low_high[1], bounds)
        else:
            raise CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _int(range_and_step[1])
        if step <= 0:
            raise CronError(f"step of range should be a positive number: {expr}")
        if single:
            end = bounds.high
        if step > 1:
            extra = 0
    else:
        raise CronError(f"too many slashes: {expr}")
    if start < bounds.low:
        raise CronError(f"beginning of range ({start}) below minimum ({bounds.low}): {expr}")
    if end > bounds.high:
        raise CronError(f"end of range ({end}) above maximum ({bounds.high}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    return sum(1 << v for v in range(start, end + 1, step)) | extra


def _value(text: str, bounds: _Bounds) -> int:
    if text.lower() in bounds.names:
        return bounds.names.index(text.lower()) + bounds.low
    return _int(text)


def _int(text: str) -> int:
    if not text.isdigit() and not (text.startswith("-") and text[1:].isdigit()):
        raise CronError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": '
                        "invalid syntax")
    value = int(text)
    if value < 0:
        raise CronError(f"negative number ({value}) not allowed: {text}")
    return value


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text: str) -> float:
    """Go's ``time.ParseDuration`` for the non-negative values ``@every`` takes."""
    rest, total = text, 0.0
    if not rest:
        raise CronError(f'failed to parse duration @every {text}: time: invalid duration "{text}"')
    while rest:
        num = len(rest) - len(rest.lstrip("0123456789."))
        unit = len(rest[num:]) - len(rest[num:].lstrip("nuµmsh"))
        value, name, rest = rest[:num], rest[num:num + unit], rest[num + unit:]
        if not value or value.count(".") > 1 or name not in _UNITS:
            raise CronError(f"failed to parse duration @every {text}: time: "
                            f'{"unknown unit" if value and name else "invalid duration"} '
                            f'"{text}"')
        total += float(value) * _UNITS[name]
    return total


_WALK_LIMIT = 2000


def missed(schedule: Schedule, earliest: dt.datetime,
           now: dt.datetime) -> tuple[dt.datetime | None, int]:
    """The latest activation in ``(earliest, now]`` and about how many there were.

    As upstream's ``mostRecentScheduleTime``: the count is estimated from the gap between the
    first two activations (a CronJob only needs to know "more than 100"), the time is exact.
    """
    t1 = schedule.next(earliest)
    if t1 is None or now < t1:
        return None, 0
    t2 = schedule.next(t1)
    if t2 is None or now < t2:
        return t1, 1
    between = max(1, round((t2 - t1).total_seconds()))
    count = int((now - t1).total_seconds()) // between + 1
    recent = t1
    if count > _WALK_LIMIT:  # jump close to now (exact for uniform schedules), walk the rest
        recent = t1 + dt.timedelta(seconds=(count - 2) * between)
    probe = schedule.next(recent)
    while probe is not None and probe <= now:
        recent, probe = probe, schedule.next(probe)
    return recent, count
