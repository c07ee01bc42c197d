"""CronJob defaults and validation: upstream's field paths and words."""

from __future__ import annotations

from typing import Any

import pytest

from kboot.controlplane.api.defaults import apply_defaults
from kboot.controlplane.api.validation import validate


def cronjob(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schedule": "*/5 * * * *",
        "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}},
    }
    body.update(spec)
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "backup", "namespace": "default"}, "spec": body}


def errors(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [str(e) for e in validate("CronJob", apply_defaults("CronJob", obj), old=old)]


def test_defaults_as_upstream() -> None:
    spec = apply_defaults("CronJob", cronjob())["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)
    assert spec["jobTemplate"]["spec"]["backoffLimit"] == 6
    assert "selector" not in spec["jobTemplate"]["spec"]
    assert errors(cronjob()) == []


CASES = [
    ({"schedule": "61 * * * *"},
     'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61'),
    ({"schedule": "every day"},
     'spec.schedule: Invalid value: "every day": expected exactly 5 fields, found 2: every day'),
    ({"schedule": "CRON_TZ=UTC 0 * * * *"},
     'spec.schedule: Invalid value: "CRON_TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in '
     "schedule, use timeZone field instead"),
    ({"schedule": ""}, "spec.schedule: Required value"),
    ({"timeZone": "Mars/Olympus"},
     'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus'),
    ({"timeZone": "Local"},
     'spec.timeZone: Invalid value: "Local": timeZone must be an explicit time zone as defined '
     "in https://www.iana.org/time-zones"),
    ({"concurrencyPolicy": "Sometimes"},
     'spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", '
     '"Forbid", "Replace"'),
    ({"successfulJobsHistoryLimit": -1},
     "spec.successfulJobsHistoryLimit: Invalid value: -1: must be greater than or equal to 0"),
]


@pytest.mark.parametrize(("spec", "message"), CASES)
def test_invalid(spec: dict[str, Any], message: str) -> None:
    assert message in errors(cronjob(**spec))


def test_time_zone_accepted() -> None:
    assert errors(cronjob(timeZone="America/New_York")) == []


def test_job_template_is_validated_as_a_job_spec() -> None:
    obj = cronjob()
    obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert any(e.startswith("spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported")
               for e in errors(obj))


def test_name_leaves_room_for_the_job_suffix() -> None:
    obj = cronjob()
    obj["metadata"]["name"] = "a" * 53
    assert any("must be no more than 52 characters" in e for e in errors(obj))


def test_an_update_may_keep_a_legacy_tz_prefix() -> None:
    old = apply_defaults("CronJob", cronjob(schedule="TZ=UTC 0 * * * *"))
    assert errors(cronjob(schedule="TZ=UTC 5 * * * *"), old=old) == []
