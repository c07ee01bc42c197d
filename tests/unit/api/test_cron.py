"""The cron library against robfig/cron's tables (the parser upstream's CronJob uses)."""

from __future__ import annotations

import datetime as dt

import pytest

from kboot.controlplane.api import cron

UTC = dt.UTC


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# (now, spec, expected next): robfig spec_test.go TestNext, 5-field forms, plus our own.
NEXT = [
    ("2012-07-09T14:45:00+00:00", "0-59/15 * * * *", "2012-07-09T15:00:00+00:00"),
    ("2012-07-09T14:59:00+00:00", "*/15 * * * *", "2012-07-09T15:00:00+00:00"),
    ("2012-07-09T14:59:00+00:00", "0/15 * * * *", "2012-07-09T15:00:00+00:00"),
    ("2012-07-09T23:46:00+00:00", "*/15 * * * *", "2012-07-10T00:00:00+00:00"),
    ("2012-07-09T23:45:00+00:00", "20-35/15 * * * *", "2012-07-10T00:20:00+00:00"),
    ("2012-07-09T23:35:00+00:00", "15/35 5-20/15 * * *", "2012-07-10T05:15:00+00:00"),
    ("2012-07-09T23:35:00+00:00", "15/35 5-20/15 * 7 *", "2012-07-10T05:15:00+00:00"),
    ("2012-07-09T23:35:00+00:00", "15/35 5-20/15 * 8 *", "2012-08-01T05:15:00+00:00"),
    ("2012-07-09T23:35:00+00:00", "0 0 * Jul,Aug mon", "2012-07-16T00:00:00+00:00"),
    ("2012-07-09T23:35:00+00:00", "0 0 10 Jul,Aug mon", "2012-07-10T00:00:00+00:00"),
    ("2012-07-09T23:35:00+00:00", "0 0 * * 6/2", "2012-07-14T00:00:00+00:00"),
    ("2012-12-31T23:59:45+00:00", "0 0 * * *", "2013-01-01T00:00:00+00:00"),
    ("2012-02-28T00:00:00+00:00", "0 0 29 Feb *", "2012-02-29T00:00:00+00:00"),
    ("2012-03-01T00:00:00+00:00", "0 0 29 Feb *", "2016-02-29T00:00:00+00:00"),
    ("2024-06-07T17:50:00+00:00", "*/15 9-17 * * mon-fri", "2024-06-10T09:00:00+00:00"),
    ("2024-06-01T01:00:00+00:00", "0 0 1,15 * 3", "2024-06-05T00:00:00+00:00"),  # dom OR dow
    ("2024-06-01T01:00:00+00:00", "0 0 1,15 * ?", "2024-06-15T00:00:00+00:00"),
    ("2024-06-01T01:00:00+00:00", "@monthly", "2024-07-01T00:00:00+00:00"),
    ("2024-06-01T01:00:00+00:00", "@yearly", "2025-01-01T00:00:00+00:00"),
    ("2024-06-01T01:00:00+00:00", "@weekly", "2024-06-02T00:00:00+00:00"),
    ("2024-06-01T01:00:00+00:00", "@daily", "2024-06-02T00:00:00+00:00"),
    ("2024-06-01T01:00:00+00:00", "@hourly", "2024-06-01T02:00:00+00:00"),
    ("2024-06-01T01:00:30+00:00", "@every 90s", "2024-06-01T01:02:00+00:00"),
    # Daylight saving time (robfig's New York cases): 02:30 does not exist on 2012-03-11.
    ("2012-03-11T00:00:00-05:00", "TZ=America/New_York 30 2 11 Mar *",
     "2013-03-11T02:30:00-04:00"),
    ("2012-03-11T00:00:00-05:00", "TZ=America/New_York 0 * * * *",
     "2012-03-11T01:00:00-05:00"),
    ("2012-03-11T01:00:00-05:00", "TZ=America/New_York 0 * * * *",
     "2012-03-11T03:00:00-04:00"),
    ("2012-03-11T00:00:00-05:00", "TZ=America/New_York 0 3 * * *",
     "2012-03-11T03:00:00-04:00"),
    # 01:00 happens twice on 2012-11-04: hourly and daily schedules run in both (as robfig).
    ("2012-11-04T00:00:00-04:00", "TZ=America/New_York 0 1 * * *",
     "2012-11-04T01:00:00-04:00"),
    ("2012-11-04T01:00:00-04:00", "TZ=America/New_York 0 * * * *",
     "2012-11-04T01:00:00-05:00"),
    ("2012-11-04T01:00:00-05:00", "TZ=America/New_York 0 * * * *",
     "2012-11-04T02:00:00-05:00"),
    ("2012-11-04T01:45:00-04:00", "TZ=America/New_York 0 1 * * *",
     "2012-11-04T01:00:00-05:00"),
]


@pytest.mark.parametrize(("now", "spec", "expected"), NEXT)
def test_next(now: str, spec: str, expected: str) -> None:
    got = cron.parse(spec).next(_t(now))
    assert got == _t(expected)
    assert got.tzinfo is UTC


def test_impossible_schedule_has_no_next() -> None:
    assert cron.parse("0 0 30 2 *").next(_t("2024-01-01T00:00:00+00:00")) is None


def test_time_zone_field_applies_to_the_fields() -> None:
    berlin = cron.load_zone("Europe/Berlin")
    got = cron.parse("0 9 * * *").in_zone(berlin).next(_t("2024-07-01T00:00:00+00:00"))
    assert got == _t("2024-07-01T07:00:00+00:00")


BAD = [
    ("", "empty spec string"),
    ("* * * *", "expected exactly 5 fields, found 4: * * * *"),
    ("* * * * * *", "expected exactly 5 fields, found 6: * * * * * *"),
    ("61 * * * *", "end of range (61) above maximum (59): 61"),
    ("* 24 * * *", "end of range (24) above maximum (23): 24"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("* * * 13 *", "end of range (13) above maximum (12): 13"),
    ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("5-3 * * * *", "beginning of range (5) beyond end of range (3): 5-3"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("1/2/3 * * * *", "too many slashes: 1/2/3"),
    ("a * * * *", 'failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax'),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
    ("TZ=Mars/Olympus * * * * *", "provided bad location Mars/Olympus"),
]


@pytest.mark.parametrize(("spec", "message"), BAD)
def test_bad_specs_use_upstreams_words(spec: str, message: str) -> None:
    with pytest.raises(cron.CronError) as err:
        cron.parse(spec)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize("name", ["", "Local", "../etc/passwd", "Nowhere/City", "/etc/UTC"])
def test_unknown_zones(name: str) -> None:
    if name == "":
        assert cron.load_zone(name) is UTC
        return
    with pytest.raises(cron.CronError, match="unknown time zone"):
        cron.load_zone(name)


MISSED = [
    # (schedule, earliest, now, most recent, count)
    ("* * * * *", "2024-01-01T00:00:00", "2024-01-01T00:00:30", None, 0),
    ("* * * * *", "2024-01-01T00:00:00", "2024-01-01T00:01:30", "2024-01-01T00:01:00", 1),
    ("* * * * *", "2024-01-01T00:00:00", "2024-01-01T03:00:30", "2024-01-01T03:00:00", 180),
    ("0 9 * * 1-5", "2024-01-01T00:00:00", "2024-01-31T03:00:00", "2024-01-30T09:00:00", 30),
    ("* * * * *", "2020-01-01T00:00:00", "2024-01-01T00:00:30", "2024-01-01T00:00:00",
     2103840),
]


@pytest.mark.parametrize(("spec", "earliest", "now", "recent", "count"), MISSED)
def test_missed(spec: str, earliest: str, now: str, recent: str | None, count: int) -> None:
    def utc(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)

    got = cron.missed(cron.parse(spec), utc(earliest), utc(now))
    assert got == ((utc(recent) if recent else None), count)
