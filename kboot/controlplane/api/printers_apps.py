"""Table printers for workloads (apps/v1, batch/v1) and RBAC bindings, mirroring upstream's
``pkg/printers/internalversion``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kboot.controlplane.api.printers_base import (
    AGE,
    NAME,
    Obj,
    Printer,
    age,
    column,
    containers_and_images,
    human_duration,
    join_or_none,
    maps,
    parse_time,
    selector_text,
    sub,
)

_CONTAINERS = column("Containers", description="Names of each container in the template.",
                     priority=1)
_IMAGES = column("Images", description="Images referenced by each container in the template.",
                 priority=1)
_SELECTOR = column("Selector", description="Label selector for pods.", priority=1)
_WORKLOAD_WIDE = (_CONTAINERS, _IMAGES, _SELECTOR)


def _int(obj: Obj, *path: str) -> int:
    value = sub(obj, *path)
    return value if isinstance(value, int) else 0


def _wide(obj: Obj, *, selector: bool = True) -> list[Any]:
    cells = containers_and_images(sub(obj, "spec", "template", "spec"))
    return cells + ([selector_text(sub(obj, "spec", "selector"))] if selector else [])


DEPLOYMENT = Printer(
    (NAME, column("Ready"), column("Up-to-date", "integer"), column("Available", "integer"), AGE,
     *_WORKLOAD_WIDE),
    lambda d, now: [f"{_int(d, 'status', 'readyReplicas')}/{_int(d, 'spec', 'replicas')}",
                    _int(d, "status", "updatedReplicas"), _int(d, "status", "availableReplicas"),
                    age(d, now), *_wide(d)],
)
REPLICA_SET = Printer(
    (NAME, column("Desired", "integer"), column("Current", "integer"), column("Ready", "integer"),
     AGE, *_WORKLOAD_WIDE),
    lambda rs, now: [_int(rs, "spec", "replicas"), _int(rs, "status", "replicas"),
                     _int(rs, "status", "readyReplicas"), age(rs, now), *_wide(rs)],
)
STATEFUL_SET = Printer(
    (NAME, column("Ready"), AGE, _CONTAINERS, _IMAGES),
    lambda s, now: [f"{_int(s, 'status', 'readyReplicas')}/{_int(s, 'spec', 'replicas')}",
                    age(s, now), *_wide(s, selector=False)],
)


def _node_selector(ds: Obj) -> str:
    selector = sub(ds, "spec", "template", "spec", "nodeSelector") or {}
    return join_or_none([f"{k}={v}" for k, v in sorted(selector.items())])


DAEMON_SET = Printer(
    (NAME, column("Desired", "integer"), column("Current", "integer"), column("Ready", "integer"),
     column("Up-to-date", "integer"), column("Available", "integer"), column("Node Selector"),
     AGE, *_WORKLOAD_WIDE),
    lambda ds, now: [_int(ds, "status", "desiredNumberScheduled"),
                     _int(ds, "status", "currentNumberScheduled"),
                     _int(ds, "status", "numberReady"),
                     _int(ds, "status", "updatedNumberScheduled"),
                     _int(ds, "status", "numberAvailable"), _node_selector(ds), age(ds, now),
                     *_wide(ds)],
)


def job_status(job: Obj) -> str:
    """The STATUS column of jobs (kubectl 1.31+)."""
    true = {c.get("type") for c in maps(sub(job, "status", "conditions"))
            if c.get("status") == "True"}
    for kind in ("Complete", "Failed"):
        if kind in true:
            return kind
    if sub(job, "metadata", "deletionTimestamp"):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if kind in true:
            return kind
    return "Running"


def _completions(job: Obj) -> str:
    succeeded = _int(job, "status", "succeeded")
    completions = sub(job, "spec", "completions")
    if isinstance(completions, int):
        return f"{succeeded}/{completions}"
    parallelism = _int(job, "spec", "parallelism")
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def _duration(job: Obj, now: datetime) -> str:
    start = parse_time(sub(job, "status", "startTime"))
    if start is None:
        return ""
    end = parse_time(sub(job, "status", "completionTime")) or now
    return human_duration((end - start).total_seconds())


JOB = Printer(
    (NAME, column("Status"), column("Completions"), column("Duration"), AGE, *_WORKLOAD_WIDE),
    lambda j, now: [job_status(j), _completions(j), _duration(j, now), age(j, now), *_wide(j)],
)


def _owner(obj: Obj) -> str:
    for ref in maps(sub(obj, "metadata", "ownerReferences")):
        if ref.get("controller"):
            group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            kind = str(ref.get("kind", "")).lower()
            return f"{kind}.{group}/{ref.get('name')}" if group else f"{kind}/{ref.get('name')}"
    return "<none>"


CONTROLLER_REVISION = Printer(
    (NAME, column("Controller"), column("Revision", "integer"), AGE),
    lambda cr, now: [_owner(cr), _int(cr, "revision"), age(cr, now)],
)


def _subjects(binding: Obj, kind: str) -> str:
    names = []
    for subject in maps(binding.get("subjects")):
        if subject.get("kind") != kind:
            continue
        name = str(subject.get("name", ""))
        if kind == "ServiceAccount":
            name = f"{subject.get('namespace', '')}/{name}"
        names.append(name)
    return ", ".join(names)


def _binding_cells(binding: Obj, now: datetime) -> list[Any]:
    ref = binding.get("roleRef") or {}
    return [f"{ref.get('kind', '')}/{ref.get('name', '')}", age(binding, now),
            _subjects(binding, "User"), _subjects(binding, "Group"),
            _subjects(binding, "ServiceAccount")]


BINDING = Printer(
    (NAME, column("Role"), AGE, column("Users", priority=1), column("Groups", priority=1),
     column("ServiceAccounts", priority=1)),
    _binding_cells,
)

def _bound(pdb: Obj, field: str) -> str:
    value = sub(pdb, "spec", field)
    return "N/A" if value is None else str(value)


PDB = Printer(
    (NAME, column("Min Available", description="The minimum number or percentage of available "
                  "pods this budget requires."),
     column("Max Unavailable", description="The maximum number or percentage of unavailable "
            "pods this budget requires."),
     column("Allowed Disruptions", "integer", description="Calculated number of pods that can "
            "be disrupted at this time."), AGE),
    lambda p, now: [_bound(p, "minAvailable"), _bound(p, "maxUnavailable"),
                    _int(p, "status", "disruptionsAllowed"), age(p, now)],
)

APPS_PRINTERS: dict[str, Printer] = {
    "Deployment": DEPLOYMENT, "ReplicaSet": REPLICA_SET, "StatefulSet": STATEFUL_SET,
    "DaemonSet": DAEMON_SET, "Job": JOB, "ControllerRevision": CONTROLLER_REVISION,
    "RoleBinding": BINDING, "ClusterRoleBinding": BINDING, "PodDisruptionBudget": PDB,
    "ReplicationController": REPLICA_SET,  # upstream prints both alike (its selector a map)
}
