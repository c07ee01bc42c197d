"""CronJob and PriorityClass through the real kubectl 1.32 against kboot-apiserver (SQLite)."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from tests.fixtures.apiserver import ApiServer

pytestmark = pytest.mark.integration


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"kubectl failed ({proc.returncode}): {proc.stderr}"
    return proc.stdout


@pytest.fixture
def ns(apiserver_sqlite: ApiServer) -> str:
    name = f"batch-{uuid.uuid4().hex[:6]}"
    ok(apiserver_sqlite.kubectl("create", "namespace", name))
    return name


def test_create_get_and_instantiate_a_cronjob(apiserver_sqlite: ApiServer, ns: str) -> None:
    k = apiserver_sqlite.kubectl
    ok(k("create", "cronjob", "tick", "-n", ns, "--image=busybox", "--schedule=*/5 * * * *",
         "--", "date"))
    out = ok(k("get", "cronjob", "-n", ns)).splitlines()
    assert out[0].split() == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE",
                              "LAST", "SCHEDULE", "AGE"]
    assert out[1].split()[:7] == ["tick", "*/5", "*", "*", "*", "*", "<none>"]
    assert out[1].split()[7:10] == ["False", "0", "<none>"]
    cj = json.loads(ok(k("get", "cj", "tick", "-n", ns, "-o", "json")))
    assert cj["spec"]["concurrencyPolicy"] == "Allow"
    assert cj["spec"]["successfulJobsHistoryLimit"] == 3
    ok(k("create", "job", "by-hand", "-n", ns, "--from=cronjob/tick"))
    job = json.loads(ok(k("get", "job", "by-hand", "-n", ns, "-o", "json")))
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["date"]
    described = ok(k("describe", "cronjob", "tick", "-n", ns))
    assert "Schedule:" in described and "*/5 * * * *" in described
    assert "Concurrency Policy:" in described
    explained = ok(k("explain", "cronjob.spec.timeZone"))
    assert "time zone" in explained.lower()


@pytest.mark.parametrize(("args", "message"), [
    (["--schedule=61 * * * *"],
     'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61'),
    (["--schedule=CRON_TZ=UTC 0 * * * *"],
     "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
    (["--schedule=@often"], "unrecognized descriptor: @often"),
])
def test_bad_schedules_are_422_naming_the_field(apiserver_sqlite: ApiServer, ns: str,
                                                args: list[str], message: str) -> None:
    proc = apiserver_sqlite.kubectl("create", "cronjob", "bad", "-n", ns, "--image=busybox",
                                    *args)
    assert proc.returncode != 0
    assert '"bad" is invalid' in proc.stderr
    assert message in proc.stderr


def test_unknown_time_zone_is_refused(apiserver_sqlite: ApiServer, ns: str) -> None:
    manifest = json.dumps({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "tz", "namespace": ns},
        "spec": {"schedule": "0 9 * * *", "timeZone": "Mars/Olympus", "jobTemplate": {
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "x"}]}}}}}})
    proc = apiserver_sqlite.kubectl("apply", "-f", "-", input=manifest)
    assert proc.returncode != 0
    assert 'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus' \
        in proc.stderr


def _pod(name: str, ns: str, **spec: object) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name,
                                                                       "namespace": ns},
                       "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}})


def test_priority_classes_and_the_priority_admission(apiserver_sqlite: ApiServer,
                                                     ns: str) -> None:
    k = apiserver_sqlite.kubectl
    out = ok(k("get", "priorityclasses")).splitlines()
    assert out[0].split() == ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"]
    rows = {line.split()[0]: line.split() for line in out[1:]}
    assert rows["system-node-critical"][1:3] == ["2000001000", "false"]
    assert rows["system-cluster-critical"][1:3] == ["2000000000", "false"]
    high = f"high-{ns}"
    ok(k("create", "priorityclass", high, "--value=1000", "--preemption-policy=Never"))
    try:
        ok(k("apply", "-f", "-", input=_pod("important", ns, priorityClassName=high)))
        pod = json.loads(ok(k("get", "pod", "important", "-n", ns, "-o", "json")))
        assert (pod["spec"]["priority"], pod["spec"]["preemptionPolicy"]) == (1000, "Never")
        ok(k("apply", "-f", "-", input=_pod("critical", ns,
                                            priorityClassName="system-cluster-critical")))
        pod = json.loads(ok(k("get", "pod", "critical", "-n", ns, "-o", "json")))
        assert pod["spec"]["priority"] == 2000000000
        proc = k("apply", "-f", "-", input=_pod("lost", ns, priorityClassName="nope"))
        assert proc.returncode != 0
        assert 'pods "lost" is forbidden: no PriorityClass with name nope was found' \
            in proc.stderr
        proc = k("create", "priorityclass", "system-mine", "--value=5")
        assert proc.returncode != 0 and "reserved for system use only" in proc.stderr
    finally:
        ok(k("delete", "priorityclass", high))


def test_events_k8s_io_is_the_same_storage_as_core_events(apiserver_sqlite: ApiServer,
                                                          ns: str) -> None:
    k = apiserver_sqlite.kubectl
    new = {"apiVersion": "events.k8s.io/v1", "kind": "Event",
           "metadata": {"name": "op.1", "namespace": ns},
           "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "example.io/op",
           "reportingInstance": "op-0", "action": "Reconcile", "reason": "Synced",
           "type": "Normal", "note": "synced the widget",
           "regarding": {"kind": "Pod", "namespace": ns, "name": "widget", "apiVersion": "v1"}}
    ok(k("create", "-f", "-", input=json.dumps(new)))
    core = json.loads(ok(k("get", "events", "op.1", "-n", ns, "-o", "json")))
    assert core["apiVersion"] == "v1"
    assert core["involvedObject"]["name"] == "widget"
    assert (core["message"], core["reportingComponent"]) == ("synced the widget",
                                                             "example.io/op")
    old = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "legacy", "namespace": ns},
           "involvedObject": {"kind": "Pod", "namespace": ns, "name": "widget"},
           "reason": "Pulled", "message": "image pulled", "type": "Normal", "count": 3,
           "source": {"component": "kubelet"}}
    ok(k("create", "-f", "-", input=json.dumps(old)))
    listed = json.loads(ok(k("get", "events.v1.events.k8s.io", "-n", ns, "-o", "json",
                             "--field-selector", "regarding.name=widget")))
    by_name = {e["metadata"]["name"]: e for e in listed["items"]}
    assert set(by_name) == {"op.1", "legacy"}
    legacy = by_name["legacy"]
    assert (legacy["note"], legacy["deprecatedCount"], legacy["deprecatedSource"]) == (
        "image pulled", 3, {"component": "kubelet"})
    assert "involvedObject" not in legacy and legacy["regarding"]["name"] == "widget"
    ok(k("patch", "events.v1.events.k8s.io", "op.1", "-n", ns, "--type=merge", "-p",
         json.dumps({"series": {"count": 2,
                                "lastObservedTime": "2026-01-01T00:01:00.000000Z"}})))
    core = json.loads(ok(k("get", "events", "op.1", "-n", ns, "-o", "json")))
    assert core["series"]["count"] == 2
    table = ok(k("get", "events.v1.events.k8s.io", "-n", ns)).splitlines()
    assert table[0].split()[:4] == ["LAST", "SEEN", "TYPE", "REASON"]
    assert any("Synced" in line and "pod/widget" in line for line in table[1:])
    bad = {**new, "metadata": {"name": "op.2", "namespace": ns}}
    del bad["eventTime"]
    proc = k("create", "-f", "-", input=json.dumps(bad))
    assert proc.returncode != 0 and "eventTime: Required value" in proc.stderr
