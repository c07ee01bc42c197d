"""Shared helpers for the kubelet's unit tests: pods, a static lookup, a worker over FakeRuntime."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kboot.controlplane.client.clock import FakeClock
from kboot.controlplane.kubelet.cri.fake import FakeRuntime
from kboot.controlplane.kubelet.podspec import NodeSettings
from kboot.controlplane.kubelet.sync import PodWorker, WorkerSettings
from kboot.controlplane.kubelet.volumes import VolumeManager

Obj = dict[str, Any]


@dataclass
class StaticLookup:
    configmaps: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    secrets: dict[tuple[str, str], dict[str, bytes]] = field(default_factory=dict)

    def configmap(self, namespace: str, name: str) -> Mapping[str, str] | None:
        return self.configmaps.get((namespace, name))

    def secret(self, namespace: str, name: str) -> Mapping[str, bytes] | None:
        return self.secrets.get((namespace, name))

    def token(self, namespace: str, service_account: str, audience: str) -> str | None:
        return f"token-for-{namespace}-{service_account}"


def pod(name: str = "p1", *, containers: list[Obj] | None = None, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": {"nodeName": "n1",
                 "containers": containers or [{"name": "c", "image": "kboot.io/busybox:1.35"}],
                 **spec},
    }


@dataclass
class Harness:
    runtime: FakeRuntime
    worker: PodWorker
    events: list[tuple[str, str, str]]
    clock: FakeClock


def harness(tmp_path: Path, *, backoff: float = 0.0) -> Harness:
    """A worker whose back-offs and probes run on ``clock`` (advance it; never sleep)."""
    clock = FakeClock()
    runtime = FakeRuntime(clock=clock)
    events: list[tuple[str, str, str]] = []
    settings = WorkerSettings(node=NodeSettings(log_root=str(tmp_path / "logs"),
                                                cluster_dns=("10.96.0.10",)),
                              host_ip="192.0.2.1", backoff_initial=backoff, backoff_max=1.0)
    worker = PodWorker(runtime, VolumeManager(tmp_path / "root"), settings,
                       events=lambda _p, t, r, m: events.append((t, r, m)), clock=clock)
    return Harness(runtime, worker, events, clock)
