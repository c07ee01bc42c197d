"""``kboot up``'s rolling restart of the workers: each one drained before its kubelet restarts.

With ``cluster.upgrade.drain`` (the default; ``kboot up --no-drain`` turns it off) the rolling
restart's play (``playbooks/up/rolling-restart.yaml``, group ``kboot_rolling``) restarts only the
control planes, which are not drained (tainted; their kubelet's restart adopts the pods it
runs). Then :func:`roll_workers` takes every other node in :func:`~kboot.cluster.rollout.
rolling_order`, one at a time:

1. what its earlier phases recorded in ``/run/kboot/restart`` (:data:`PendingReader`);
2. a pending ``kboot-kubelet`` restart of a registered node: the ``before_drain`` hooks, cordon
   (marked ``kboot.io/cordoned-by: up`` unless the operator had cordoned it), drain through the
   Eviction API (disruption budgets respected: a refusal is retried and told, naming the
   budget), the ``after_drain`` hooks;
3. its recorded services restarted (``playbooks/up/restart-node.yaml``: the rolling restart on
   that host alone);
4. a node kboot cordoned: its Node Ready again (a heartbeat newer than the one read after the
   restart: the new kubelet's), then the
   ``before_uncordon`` hooks, uncordon (the mark removed), the ``after_uncordon`` hooks. A node
   the operator cordoned is drained and restarted but stays cordoned.

A drain that times out stops the run (:class:`ClusterError` naming the pods and the budgets);
the node stays cordoned and marked. Re-running converges: a marked node whose restart is done
is only waited Ready and uncordoned; one whose restart is still pending is drained again.
Without drain, the step only uncordons nodes an earlier, interrupted run left marked.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from kboot.cluster.drain import (
    Drained,
    Refused,
    cordon,
    cordoned_by,
    drain,
    heartbeat,
    uncordon,
    wait_ready,
)
from kboot.cluster.etcdreconfig import Clock, Sleep
from kboot.cluster.exec import run_on_hosts
from kboot.cluster.resources import playbooks_dir
from kboot.cluster.rollout import ROLLING_GROUP, rolling_order
from kboot.cluster.topology import Topology
from kboot.cluster.up import PlaybookRunner
from kboot.controlplane.client.sync import SyncClient
from kboot.errors import ClusterError
from kboot.inventory import Group, Inventory
from kboot.playbook.state import TransportFactory

MARK = "up"  # the value of kboot.io/cordoned-by on the nodes kboot up cordons
DEFAULT_DRAIN_TIMEOUT = 300.0
PENDING_FILE = "/run/kboot/restart"
RESTART_PLAYBOOK = "restart-node.yaml"  # in playbooks/up

PendingReader = Callable[[Collection[str]], Mapping[str, frozenset[str]]]
"""Reads the services recorded for a restart on each of the hosts (empty: nothing pending)."""
HookRunner = Callable[[str, str], None]  # (event, node): the inventory's hooks of that event
Progress = Callable[[str, str, str], None]  # (node, step, detail): start of each step


@dataclass(frozen=True)
class DrainSettings:
    drain: bool = True
    timeout: float = DEFAULT_DRAIN_TIMEOUT


def drain_settings(inventory: Inventory, *, no_drain: bool = False) -> DrainSettings:
    """``cluster.upgrade`` (checked by :mod:`kboot.inventory.clustersettings`), ``--no-drain``
    overriding its ``drain``."""
    upgrade = inventory.cluster.get("upgrade") or {}
    return DrainSettings(drain=bool(upgrade.get("drain", True)) and not no_drain,
                         timeout=float(upgrade.get("drain_timeout", DEFAULT_DRAIN_TIMEOUT)))


def drained_nodes(topo: Topology) -> tuple[str, ...]:
    """The nodes :func:`roll_workers` takes over from the play (when draining): all but the
    control planes, in rolling order."""
    cps = {n.name for n in topo.control_planes}
    return tuple(n for n in rolling_order(topo) if n not in cps)


def rolling_hosts(topo: Topology, settings: DrainSettings) -> tuple[str, ...]:
    """The hosts of the play's group ``kboot_rolling``: without the drained nodes."""
    taken = set(drained_nodes(topo)) if settings.drain else set()
    return tuple(n for n in rolling_order(topo) if n not in taken)


def with_rolling_group(inventory: Inventory, hosts: tuple[str, ...]) -> Inventory:
    return dataclasses.replace(inventory, groups={**inventory.groups,
                                                  ROLLING_GROUP: Group(ROLLING_GROUP, hosts)})


def pending_reader(inventory: Inventory, *, transports_factory: TransportFactory | None = None
                   ) -> PendingReader:
    """Reads ``/run/kboot/restart`` on the hosts in parallel, over the caller's connections."""
    def read(hosts: Collection[str]) -> Mapping[str, frozenset[str]]:
        if not hosts:
            return {}
        outs = run_on_hosts(inventory, dict.fromkeys(hosts, f"cat {PENDING_FILE} 2>/dev/null; "
                                                            "true"),
                            become=True, transports_factory=transports_factory)
        failed = [f"{h}: {o.message or o.stderr or o.status}" for h, o in outs.items()
                  if not o.ok]
        if failed:
            raise ClusterError("reading the pending restarts failed:\n  " + "\n  ".join(failed))
        return {h: frozenset(line.strip() for line in o.stdout.splitlines() if line.strip())
                for h, o in outs.items()}
    return read


@dataclass(frozen=True)
class WorkerTurn:
    """What happened to one node."""

    host: str
    restarted: tuple[str, ...] = ()  # the services that were pending (and restarted)
    drained: Drained | None = None  # None: not drained
    uncordoned: bool = False
    kept_cordoned: bool = False  # cordoned by the operator before: left so


def roll_workers(inventory: Inventory, topo: Topology, *, api: SyncClient,
                 runner: PlaybookRunner, pending: PendingReader, settings: DrainSettings,
                 hook: HookRunner = lambda event, node: None,
                 progress: Progress = lambda node, step, detail: None,
                 on_refused: Refused = lambda pod, why: None,
                 only: Collection[str] | None = None,
                 clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> list[WorkerTurn]:
    """The module docstring's steps for each node but the control planes (within ``only``, the
    ``--limit``ed hosts, when given); ``inventory`` is ``kboot up``'s, with every host's
    variables. Returns one :class:`WorkerTurn` per node that had anything to do."""
    hosts = [n for n in drained_nodes(topo) if only is None or n in only]
    recorded = pending(hosts) if settings.drain else {}
    turns = []
    for host in hosts:
        services = recorded.get(host, frozenset())
        node = api.get_or_none("nodes", host)
        if node is None and not services:
            continue
        marked = node is not None and bool(cordoned_by(node))
        drains = node is not None and "kboot-kubelet" in services
        if not (services or marked):
            continue
        kept = drained = None
        beat = ""
        if drains:
            kept = bool((node or {}).get("spec", {}).get("unschedulable")) and not marked
            hook("before_drain", host)
            progress(host, "drain", "cordoned (it was already: it stays so)" if kept
                     else "cordoned")
            cordon(api, host, by=MARK)
            drained = drain(api, host, timeout=settings.timeout, on_refused=on_refused,
                            clock=clock, sleep=sleep)
            progress(host, "drained", ", ".join(drained.evicted) or "no pod to evict")
            hook("after_drain", host)
        if services:
            progress(host, "restart", " ".join(sorted(services)))
            _restart(inventory, host, runner)
            # read after the restart: the old kubelet is stopped by then, so a heartbeat other
            # than this one is the new kubelet's (at most one status interval later)
            beat = heartbeat(api, host) if "kboot-kubelet" in services else ""
        if drains or marked:
            progress(host, "ready", "")
            wait_ready(api, host, after=beat, timeout=settings.timeout, clock=clock,
                       sleep=sleep)
        uncordoned = False
        if marked or (drains and not kept):
            hook("before_uncordon", host)
            progress(host, "uncordon", "")
            uncordoned = uncordon(api, host)
            hook("after_uncordon", host)
        turns.append(WorkerTurn(host, tuple(sorted(services)), drained, uncordoned, bool(kept)))
    return turns


def _restart(inventory: Inventory, host: str, runner: PlaybookRunner) -> None:
    one = with_rolling_group(inventory, (host,))
    outcome = runner(playbooks_dir() / "up" / RESTART_PLAYBOOK, one, phase="worker-restarts")
    if not outcome.ok:
        raise ClusterError(f"restarting the services of {host} failed; it stays cordoned "
                           "(re-run `kboot up`):\n  " + "\n  ".join(outcome.failures))
