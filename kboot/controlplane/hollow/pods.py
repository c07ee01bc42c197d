"""How a pod behaves on a hollow node, as pure functions of the pod.

- Pods run as soon as they are bound: phase Running, all containers running and ready, a
  pod IP from the node's podCIDR.
- A pod *exits* only if its restartPolicy is not ``Always``. The exit code comes from the
  annotation ``kboot.io/hollow-exit-code`` when present; otherwise from the first container's
  command: ``false`` → 1, ``exit N`` → N, anything else → 0. It runs for
  ``kboot.io/hollow-run-seconds`` (default 1) before exiting, then its phase is Succeeded
  (0) or Failed (non-zero) with terminated container states.
"""

from __future__ import annotations

import re
from typing import Any

from kboot.controlplane.api.shapes import Obj, metadata

EXIT_CODE = "kboot.io/hollow-exit-code"
RUN_SECONDS = "kboot.io/hollow-run-seconds"
_EXIT = re.compile(r"\bexit\s+(\d+)")


def exit_plan(pod: Obj) -> tuple[int, float] | None:
    """(exit code, seconds to run) for pods that finish; None for long-running ones."""
    spec = pod.get("spec") or {}
    if spec.get("restartPolicy", "Always") == "Always":
        return None
    annotations = metadata(pod).get("annotations") or {}
    run = float(annotations.get(RUN_SECONDS, 1))
    if EXIT_CODE in annotations:
        return int(annotations[EXIT_CODE]), run
    containers = spec.get("containers") or [{}]
    words = " ".join([*(containers[0].get("command") or []), *(containers[0].get("args") or [])])
    if words.strip() == "false" or words.strip().endswith("/false"):
        return 1, run
    m = _EXIT.search(words)
    return (int(m.group(1)) if m else 0), run


def _container_statuses(pod: Obj, state: dict[str, Any], *, ready: bool) -> list[Obj]:
    out = []
    uid = pod["metadata"].get("uid", "")
    for c in (pod.get("spec") or {}).get("containers") or []:
        out.append({"name": c["name"], "image": c.get("image", ""),
                    "imageID": f"hollow://{c.get('image', '')}",
                    "containerID": f"hollow://{uid[:12]}-{c['name']}",
                    "ready": ready, "started": "running" in state, "restartCount": 0,
                    "state": state})
    return out


def _conditions(ts: str, *, ready: bool, reason: str = "") -> list[Obj]:
    flag = "True" if ready else "False"
    extra = {"reason": reason} if reason and not ready else {}
    return [{"type": t, "status": s, "lastTransitionTime": ts, "lastProbeTime": None, **e}
            for t, s, e in (("PodReadyToStartContainers", "True", {}),
                            ("Initialized", "True", {}),
                            ("Ready", flag, extra), ("ContainersReady", flag, extra),
                            ("PodScheduled", "True", {}))]


def running_status(pod: Obj, *, host_ip: str, pod_ip: str, ts: str) -> Obj:
    return {"phase": "Running", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
            "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "startTime": ts,
            "conditions": _conditions(ts, ready=True),
            "containerStatuses": _container_statuses(
                pod, {"running": {"startedAt": ts}}, ready=True)}


def terminated_status(pod: Obj, code: int, ts: str) -> Obj:
    status = dict(pod.get("status") or {})
    started = status.get("startTime", ts)
    state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                            "startedAt": started, "finishedAt": ts,
                            "containerID": ""}}
    status.update(phase="Succeeded" if code == 0 else "Failed",
                  conditions=_conditions(ts, ready=False, reason="PodCompleted"),
                  containerStatuses=_container_statuses(pod, state, ready=False))
    return status
