"""Pure computation of a v1 ``PodStatus`` from what the kubelet knows about each container.

Follows upstream's rules (``getPhase``, container state mapping) so that ``kubectl get pods``
READY, STATUS and RESTARTS read right: a container waiting after a crash counts as stopped, not
pending; ``restartPolicy`` decides between Running, Succeeded and Failed once all have stopped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.kubelet.cri.types import ContainerStatus


@dataclass(frozen=True)
class ContainerView:
    """What the kubelet knows of one container of the pod (latest and previous instance)."""

    name: str
    image: str
    restart_count: int = 0
    ready: bool = False
    started: bool = False
    waiting_reason: str = ""
    waiting_message: str = ""
    current: ContainerStatus | None = None
    previous: ContainerStatus | None = None


def rfc3339(ns: int) -> str:
    when = dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _terminated(st: ContainerStatus) -> Obj:
    out: Obj = {"exitCode": st.exit_code, "reason": st.reason or
                ("Completed" if st.exit_code == 0 else "Error"),
                "containerID": f"containerd://{st.id}"}
    if st.started_at:
        out["startedAt"] = rfc3339(st.started_at)
    if st.finished_at:
        out["finishedAt"] = rfc3339(st.finished_at)
    if st.message:
        out["message"] = st.message
    return out


def _state(view: ContainerView) -> Obj:
    cur = view.current
    if view.waiting_reason or cur is None or cur.state == "created":
        waiting: Obj = {"reason": view.waiting_reason or "ContainerCreating"}
        if view.waiting_message:
            waiting["message"] = view.waiting_message
        return {"waiting": waiting}
    if cur.state == "running":
        return {"running": {"startedAt": rfc3339(cur.started_at or cur.created_at)}}
    return {"terminated": _terminated(cur)}


def container_status(view: ContainerView) -> Obj:
    cur = view.current
    state = _state(view)
    out: Obj = {
        "name": view.name, "image": view.image, "imageID": cur.image_ref if cur else "",
        # as upstream: never ready before the startup probe passed, readiness probe or not
        "ready": view.ready and view.started and "running" in state,
        "restartCount": view.restart_count,
        "started": "running" in state and view.started, "state": state, "lastState": {},
    }
    if cur is not None:
        out["containerID"] = f"containerd://{cur.id}"
    prev = view.previous
    if "waiting" in state and cur is not None and cur.state == "exited":
        prev = cur
    if prev is not None and prev.state == "exited":
        out["lastState"] = {"terminated": _terminated(prev)}
    return out


def phase(spec: Obj, init_done: bool, init_failed: bool, statuses: list[Obj]) -> str:
    """Upstream's ``getPhase`` over computed container statuses."""
    policy = spec.get("restartPolicy", "Always")
    if init_failed:
        return "Failed"
    if not init_done:
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for st in statuses:
        state = st["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"]["exitCode"] == 0
        elif st["lastState"].get("terminated"):
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped and policy == "Always":
        return "Running"
    if stopped and stopped == succeeded:
        return "Succeeded"
    if policy == "Never":
        return "Failed"
    return "Running"


def _condition(kind: str, ok: bool, now: str, reason: str = "") -> Obj:
    cond: Obj = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None,
                 "lastTransitionTime": now}
    if not ok and reason:
        cond["reason"] = reason
    return cond


def qos_class(spec: Obj) -> str:
    reqs = [(c.get("resources") or {}) for c in spec.get("containers") or []]
    if not any(r.get("requests") or r.get("limits") for r in reqs):
        return "BestEffort"
    for r in reqs:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        if set(limits) < {"cpu", "memory"} or any(requests.get(k, v) != v
                                                   for k, v in limits.items()):
            return "Burstable"
    return "Guaranteed"


def pod_status(pod: Obj, *, init: list[ContainerView], containers: list[ContainerView],
               init_done: bool, init_failed: bool, pod_ip: str, host_ip: str,
               start_time: str, now: str) -> Obj:
    """The whole ``status`` object for *pod*."""
    spec = pod.get("spec") or {}
    init_statuses = [container_status(v) for v in init]
    statuses = [container_status(v) for v in containers]
    current = phase(spec, init_done, init_failed, statuses)
    all_ready = init_done and bool(statuses) and all(s["ready"] for s in statuses)
    if current == "Succeeded":
        all_ready = False
    unready = "ContainersNotReady" if init_done else "ContainersNotInitialized"
    previous = {c["type"]: c for c in (pod.get("status") or {}).get("conditions") or []}
    conditions = []
    for cond in (_condition("Initialized", init_done, now, "ContainersNotInitialized"),
                 _condition("Ready", all_ready, now, unready),
                 _condition("ContainersReady", all_ready, now, unready),
                 _condition("PodScheduled", True, now)):
        old = previous.get(cond["type"])
        if old and old.get("status") == cond["status"] and old.get("lastTransitionTime"):
            cond["lastTransitionTime"] = old["lastTransitionTime"]
        conditions.append(cond)
    status: Obj = {
        "phase": current, "conditions": conditions, "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}] if host_ip else [], "startTime": start_time,
        "containerStatuses": statuses, "qosClass": qos_class(spec),
    }
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    if pod_ip:
        status["podIP"], status["podIPs"] = pod_ip, [{"ip": pod_ip}]
    return status
