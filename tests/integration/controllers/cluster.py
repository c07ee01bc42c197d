"""A small real control plane for integration tests: the shared apiserver fixture plus
``kboot-controller-manager``, ``kboot-scheduler`` and ``kboot-hollow-nodes`` subprocesses with
short timings (node grace 4 s, eviction 2 s, leases 3 s), and helpers to wait on state.

Work directories are ``$TMPDIR/kboot-cp-test-<owner pid>-*``; component processes and
directories left by a crashed run (owner gone) are removed before starting.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.sync import SyncClient
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.etcd import _pid_alive
from tests.waiting import wait_until

PREFIX = "kboot-cp-test-"
T = TypeVar("T")
FAST_LEASE = ["--leader-elect-lease-duration=3s", "--leader-elect-renew-deadline=2s",
              "--leader-elect-retry-period=500ms"]
FAST_NODES = ["--node-monitor-grace-period=4s", "--node-monitor-period=1s",
              "--pod-eviction-timeout=2s"]


def cleanup_strays() -> None:
    tmp = Path(tempfile.gettempdir())
    for d in tmp.glob(f"{PREFIX}*"):
        m = re.match(rf"{PREFIX}(\d+)-", d.name)
        if m and not _pid_alive(int(m.group(1))):
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                with contextlib.suppress(OSError):
                    if str(d).encode() in (proc / "cmdline").read_bytes():
                        os.kill(int(proc.name), signal.SIGKILL)
            shutil.rmtree(d, ignore_errors=True)


@dataclass
class ControlPlane:
    server: ApiServer
    work: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def control_dir(self) -> Path:
        return self.work / "hollow-control"

    def start(self, name: str, module: str, *args: str,
              kubeconfig: Path | None = None) -> subprocess.Popen[bytes]:
        log = (self.work / f"{name}.log").open("ab")
        cmd = [sys.executable, "-c",
               f"import sys; from kboot.controlplane.{module}.main import main; "
               "sys.exit(main(sys.argv[1:]))",
               f"--kubeconfig={kubeconfig or self.server.kubeconfig}", *args]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                cwd=str(Path(__file__).resolve().parents[3]))
        self.procs[name] = proc
        return proc

    def controller_manager(self, identity: str = "cm-a") -> subprocess.Popen[bytes]:
        ident = self.server.identity("system:kube-controller-manager")
        return self.start(identity, "controllers", f"--identity={identity}", *FAST_LEASE,
                          *FAST_NODES, "--cluster-cidr=10.244.0.0/16",
                          kubeconfig=ident.kubeconfig)

    def scheduler(self, identity: str = "sched-a") -> subprocess.Popen[bytes]:
        ident = self.server.identity("system:kube-scheduler")
        return self.start(identity, "scheduler", f"--identity={identity}", *FAST_LEASE,
                          kubeconfig=ident.kubeconfig)

    def hollow(self, name: str, count: int, prefix: str = "hollow-",
               *extra: str) -> subprocess.Popen[bytes]:
        self.control_dir.mkdir(exist_ok=True)
        return self.start(name, "hollow", f"--count={count}", f"--prefix={prefix}",
                          "--heartbeat-interval=1s", f"--control-dir={self.control_dir}",
                          *extra)

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.work.glob("*.log")))

    def kubectl(self, *args: str, input: str | None = None) -> str:
        r = self.server.kubectl(*args, input=input)
        assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}\n{self.logs()}"
        return r.stdout


@contextlib.contextmanager
def control_plane(server: ApiServer, *, nodes: int = 3) -> Iterator[ControlPlane]:
    cleanup_strays()
    work = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    cp = ControlPlane(server, work)
    try:
        cp.controller_manager()
        cp.scheduler()
        cp.hollow("hollow", nodes)
        yield cp
    finally:
        for name in list(cp.procs):
            cp.stop(name)
        shutil.rmtree(work, ignore_errors=True)


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float = 60.0,
             interval: float = 0.25, cp: ControlPlane | None = None) -> T:
    """Poll ``probe`` until it returns something truthy; fail with the components' logs."""
    return wait_until(what, probe, timeout=timeout, interval=interval,
                      diagnose=cp.logs if cp else None)


def running_pods(client: SyncClient, namespace: str, selector: str) -> list[dict[str, Any]]:
    return [p for p in client.list("pods", namespace=namespace, label_selector=selector)
            if (p.get("status") or {}).get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")]


def record_pod_order(client: SyncClient, namespace: str, stop: threading.Event,
                     seen: list[tuple[str, str]]) -> threading.Thread:
    """Record, in the apiserver's watch order, each pod's creation (``ADDED``) and the start of
    its deletion (``DELETED``: first event with a deletionTimestamp, or its removal)."""
    async def watch(c: ApiClient) -> None:
        rv = (await c.list("pods", namespace=namespace))["metadata"]["resourceVersion"]
        deleting: set[str] = set()
        while not stop.is_set():
            async for ev in c.watch("pods", namespace=namespace, resource_version=rv,
                                    timeout_seconds=1):
                md = ev.object["metadata"]
                rv = md.get("resourceVersion", rv)
                name = md.get("name", "")
                if ev.type == "ADDED":
                    seen.append(("ADDED", name))
                elif (ev.type == "DELETED" or md.get("deletionTimestamp")) and \
                        name not in deleting:
                    deleting.add(name)
                    seen.append(("DELETED", name))

    thread = threading.Thread(target=client.run, args=(watch,))
    thread.start()
    return thread
