"""CronJob validation (``batch/v1``): the schedule, its time zone and the Job template.

Upstream's rules and words: a schedule that robfig/cron refuses is ``Invalid value`` with the
parser's message; ``TZ=``/``CRON_TZ=`` in a new schedule is refused in favour of ``timeZone``
(an update may keep one that is already there, as upstream allows for old objects);
``timeZone`` must name a tz database zone; the name leaves room for the 11-character suffix
of the Jobs the controller creates (``<name>-<minutes since the epoch>``), so at most 52
characters; the template is validated as a Job spec under ``spec.jobTemplate.spec``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kboot.controlplane.api import cron
from kboot.controlplane.api.field_errors import (
    FieldError,
    check_enum,
    in_range,
    invalid,
    required,
)
from kboot.controlplane.api.validation_pods import validate_job

Obj = dict[str, Any]

MAX_NAME = 52
CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")


def validate_cronjob(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    name = (obj.get("metadata") or {}).get("name") or ""
    errors: list[FieldError] = []
    if len(name) > MAX_NAME:
        errors.append(invalid("metadata.name", name,
                              f"must be no more than {MAX_NAME} characters"))
    old_schedule = str(((old or {}).get("spec") or {}).get("schedule") or "")
    errors += schedule_errors(spec.get("schedule"), spec.get("timeZone"),
                              allow_tz=old is not None and "TZ" in old_schedule)
    policy = spec.get("concurrencyPolicy")
    if not policy:
        errors.append(required("spec.concurrencyPolicy"))
    else:
        errors += check_enum("spec.concurrencyPolicy", policy, CONCURRENCY_POLICIES)
    for field in ("startingDeadlineSeconds", "successfulJobsHistoryLimit",
                  "failedJobsHistoryLimit"):
        errors += in_range(f"spec.{field}", spec.get(field), 0)
    template = spec.get("jobTemplate") or {}
    # Validated as a new Job every time: the template is not a Job, its fields stay mutable.
    job_errors = validate_job({"spec": template.get("spec") or {}}, None)
    errors += [dataclasses.replace(e, field=f"spec.jobTemplate.{e.field}") for e in job_errors]
    return errors


def schedule_errors(schedule: Any, time_zone: Any, *, allow_tz: bool) -> list[FieldError]:
    """The problems of ``spec.schedule`` and ``spec.timeZone``, in upstream's words."""
    errors: list[FieldError] = []
    if not schedule:
        errors.append(required("spec.schedule"))
    else:
        try:
            cron.parse(str(schedule))
        except cron.CronError as exc:
            errors.append(invalid("spec.schedule", schedule, str(exc)))
        if "TZ" in str(schedule):
            if time_zone is not None and allow_tz:
                errors.append(invalid("spec.schedule", schedule,
                                      "cannot use both timeZone field and TZ or CRON_TZ in "
                                      "schedule"))
            elif not allow_tz:
                errors.append(invalid("spec.schedule", schedule,
                                      "cannot use TZ or CRON_TZ in schedule, use timeZone field "
                                      "instead"))
    if time_zone is not None:
        errors += _zone_errors(str(time_zone))
    return errors


def _zone_errors(name: str) -> list[FieldError]:
    if name.lower() == "local":
        return [invalid("spec.timeZone", name, "timeZone must be an explicit time zone as "
                                               "defined in https://www.iana.org/time-zones")]
    if not name:
        return [invalid("spec.timeZone", name, "unknown time zone ")]
    try:
        cron.load_zone(name)
    except cron.CronError as exc:
        return [invalid("spec.timeZone", name, str(exc))]
    return []


def schedule_of(cronjob: Obj) -> cron.Schedule:
    """The CronJob's parsed schedule in its time zone (raises :class:`cron.CronError`)."""
    spec = cronjob.get("spec") or {}
    schedule = cron.parse(str(spec.get("schedule") or ""))
    zone_name = spec.get("timeZone")
    return schedule.in_zone(cron.load_zone(zone_name)) if zone_name else schedule
