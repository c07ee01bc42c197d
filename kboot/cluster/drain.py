"""Cordon, drain and uncordon a node through the API, as ``kubectl drain --ignore-daemonsets
--delete-emptydir-data`` and ``kubectl uncordon`` do: shared by ``kboot remove-node``
(:mod:`kboot.cluster.removenode`) and ``kboot up``'s rolling restart of the workers
(:mod:`kboot.cluster.drainroll`).

- :func:`cordon`: ``spec.unschedulable``; with ``by``, a node that was schedulable is also
  marked with the annotation :data:`CORDONED_BY` (``kboot.io/cordoned-by: up``), so that only
  nodes kboot cordoned are uncordoned again (:func:`uncordon`) — a node the operator cordoned
  stays cordoned — and a re-run after a crash mid-drain finds the nodes it must uncordon.
- :func:`drain`: every pod on the node but DaemonSet-owned and mirror pods is evicted
  (``pods/eviction`` with the pod's uid as precondition, so a replacement of the same name is
  never hit; a 429 — a disruption budget — is retried until the timeout, the budget's refusal
  told once through ``on_refused``) and waited for until gone. ``delete_now`` (a dead host's,
  where no kubelet would finish a graceful delete) deletes with grace period 0 instead.
- :func:`wait_ready`: the Node's ``Ready`` condition posted true again by a restarted kubelet.

A drain that times out raises :class:`ClusterError` naming the pods (and the budgets refusing
them); the node stays cordoned (and marked).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kboot.cluster.etcdreconfig import Clock, Sleep
from kboot.controlplane.api.owners import controller_of
from kboot.controlplane.api.selectors import field_equals
from kboot.controlplane.client.api import DeleteOptions, Obj
from kboot.controlplane.client.errors import Conflict, NotFound, TooManyRequests
from kboot.controlplane.client.meta import key_of
from kboot.controlplane.client.sync import SyncClient
from kboot.errors import ClusterError

CORDONED_BY = "kboot.io/cordoned-by"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
EVICTION_RETRY = 5.0  # seconds between evictions a disruption budget refused (kubectl's too)
POLL = 1.0  # seconds between looks at the pods still terminating (and at a Node's Ready)

Refused = Callable[[str, str], None]
"""Told (pod key, why) the first time a disruption budget refuses a pod's eviction: a drain
that waits on a budget says so while it waits, not only when it gives up."""



@dataclass(frozen=True)
class Drained:
    evicted: tuple[str, ...] = ()  # namespace/name: evicted, or deleted with grace 0 if forced
    left: tuple[str, ...] = ()  # DaemonSet and mirror pods: they go with the Node object
    unmanaged: tuple[str, ...] = ()  # evicted pods no controller recreates


def cordon(api: SyncClient, name: str, *, by: str = "") -> bool:
    """``spec.unschedulable``; False when no Node object of that name exists. With ``by``, a
    node that was schedulable is marked ``CORDONED_BY: by`` in the same write (one the operator
    had cordoned is left unmarked: :func:`uncordon` leaves it cordoned)."""
    patch: Obj = {"spec": {"unschedulable": True}}
    if by:
        node = api.get_or_none("nodes", name)
        if node is None:
            return False
        if not (node.get("spec") or {}).get("unschedulable") or cordoned_by(node):
            patch["metadata"] = {"annotations": {CORDONED_BY: by}}
    try:
        api.patch("nodes", name, patch)
    except NotFound:
        return False
    return True


def cordoned_by(node: Obj) -> str:
    """Who of kboot cordoned the node ("up"), or "" (schedulable, or the operator's cordon)."""
    return str(((node.get("metadata") or {}).get("annotations") or {}).get(CORDONED_BY) or "")


def uncordon(api: SyncClient, name: str) -> bool:
    """Schedulable again and the mark gone — only a node kboot marked; whether it was one."""
    node = api.get_or_none("nodes", name)
    if node is None or not cordoned_by(node):
        return False
    api.patch("nodes", name, {"spec": {"unschedulable": False},
                              "metadata": {"annotations": {CORDONED_BY: None}}})
    return True


def _ready(node: Obj) -> tuple[bool, str]:
    """(Ready is True, its lastHeartbeatTime)."""
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True", str(cond.get("lastHeartbeatTime") or "")
    return False, ""


def heartbeat(api: SyncClient, name: str) -> str:
    """The Node's last Ready heartbeat ("" without one): what :func:`wait_ready` waits past."""
    node = api.get_or_none("nodes", name)
    return _ready(node)[1] if node else ""


def wait_ready(api: SyncClient, name: str, *, after: str = "", timeout: float,
               clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> None:
    """Until the Node is Ready with a heartbeat other than ``after`` (one read once the old
    kubelet had stopped: a newer one is the new kubelet's); ClusterError after ``timeout``
    seconds."""
    deadline = clock() + timeout
    while True:
        node = api.get_or_none("nodes", name)
        ready, beat = _ready(node) if node else (False, "")
        if ready and beat != after:
            return
        if clock() >= deadline:
            raise ClusterError(f"{name} was not Ready again within {timeout:g}s after its "
                               "kubelet restarted; it stays cordoned (re-run `kboot up` once "
                               "it is Ready)")
        sleep(POLL)


def _leave_on_node(pod: Obj) -> bool:
    """DaemonSet pods (their controller would recreate them on the node) and mirror pods."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    owner = controller_of(pod) or {}
    return owner.get("kind") == "DaemonSet" or MIRROR_ANNOTATION in annotations


def drain_plan(pods: Iterable[Obj]) -> tuple[list[Obj], list[Obj]]:
    """The pods to evict and the pods to leave, each sorted by namespace/name."""
    ordered = sorted(pods, key=key_of)
    return ([p for p in ordered if not _leave_on_node(p)],
            [p for p in ordered if _leave_on_node(p)])


def _evict(api: SyncClient, pod: Obj, *, delete_now: bool) -> None:
    md = pod["metadata"]
    pre = {"uid": md["uid"]}
    if delete_now:
        api.delete("pods", md["name"], namespace=md["namespace"],
                   options=DeleteOptions(grace_period_seconds=0, preconditions=pre))
        return
    api.create_subresource("pods", md["name"], "eviction", {
        "apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": md["name"], "namespace": md["namespace"]},
        "deleteOptions": {"preconditions": pre}}, namespace=md["namespace"])


def _refusal(exc: TooManyRequests) -> str:
    """Why an eviction was refused: the Status causes name the budget ("The disruption budget
    web needs 2 healthy pods and has 2 currently"), its message only says that one exists."""
    said = [c["message"] for c in exc.causes if c.get("message")]
    return "; ".join(said) if said else (exc.message or exc.reason)


def _evict_all(api: SyncClient, pods: list[Obj], *, delete_now: bool, deadline: float,
               clock: Clock, sleep: Sleep, timeout: float, on_refused: Refused) -> None:
    """Evict each pod, retrying those a disruption budget refuses (429) until ``deadline``."""
    pending, told = pods, set[str]()
    while pending:
        refused: list[tuple[Obj, TooManyRequests]] = []
        for pod in pending:
            try:
                _evict(api, pod, delete_now=delete_now)
            except (NotFound, Conflict):
                pass  # gone already, or replaced by a pod of the same name
            except TooManyRequests as exc:
                refused.append((pod, exc))
        if not refused:
            return
        for p, e in refused:
            if key_of(p) not in told:
                told.add(key_of(p))
                on_refused(key_of(p), _refusal(e))
        if clock() >= deadline:
            names = ", ".join(f"{key_of(p)} ({_refusal(e)})" for p, e in refused)
            raise ClusterError(f"drain timed out after {timeout:g}s: eviction still refused "
                               f"for {names}; the node stays cordoned")
        wait = max([e.retry_after or EVICTION_RETRY for _, e in refused])
        sleep(max(0.0, min(wait, deadline - clock())))
        pending = [p for p, _ in refused]


def _wait_gone(api: SyncClient, name: str, uids: set[str], *, deadline: float, clock: Clock,
               sleep: Sleep, timeout: float) -> None:
    while True:
        left = [p for p in api.list("pods", field_selector=field_equals("spec.nodeName", name))
                if p["metadata"]["uid"] in uids]
        if not left:
            return
        if clock() >= deadline:
            raise ClusterError(f"drain timed out after {timeout:g}s: still terminating on "
                               f"{name}: {', '.join(sorted(map(key_of, left)))}; the node "
                               "stays cordoned")
        sleep(POLL)


def drain(api: SyncClient, name: str, *, timeout: float, delete_now: bool = False,
          on_refused: Refused = lambda pod, why: None, clock: Clock = time.monotonic,
          sleep: Sleep = time.sleep) -> Drained:
    """Evict (or with ``delete_now``, delete with grace 0) the node's pods but DaemonSet and
    mirror pods, and wait until they are gone; ClusterError after ``timeout`` seconds."""
    deadline = clock() + timeout
    evict, leave = drain_plan(api.list("pods", field_selector=field_equals("spec.nodeName", name)))
    _evict_all(api, evict, delete_now=delete_now, deadline=deadline, clock=clock, sleep=sleep,
               timeout=timeout, on_refused=on_refused)
    _wait_gone(api, name, {p["metadata"]["uid"] for p in evict}, deadline=deadline,
               clock=clock, sleep=sleep, timeout=timeout)
    return Drained(evicted=tuple(map(key_of, evict)), left=tuple(map(key_of, leave)),
                   unmanaged=tuple(key_of(p) for p in evict if controller_of(p) is None))
