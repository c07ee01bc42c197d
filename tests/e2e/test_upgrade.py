"""A real upgrade: the previous kboot release (``releases.toml``, built from this repository's
history with ``git archive``) installs a cluster on the shared 3 + 1 provisioned lab, a workload
serves through its Service while a client keeps requesting it and another keeps asking the API
through the virtual address; then ``kboot up --check`` of the current tree shows the restart
plan and ``kboot up`` upgrades in one rolling restart that restarts exactly what the plan said:
control planes first, one at a time, then the worker — cordoned, drained under the workload's
PodDisruptionBudget (its pods move to a control plane the test made schedulable), restarted and
uncordoned; no request through the Service fails, no pod elsewhere restarts, and the API is
never away longer than a VIP failover.

Cost in the suite: this module runs first on the 3 + 1 lab (``RUNS_FIRST_ON_ITS_LAB``), so the
old release's full install replaces the install the lab's first user would make anyway, and the
upgrade leaves the lab's own cluster converged for test_registry's ``kboot up``. What it adds: one
``pip wheel`` of the old tree, one ``up --check`` and one upgrading ``up`` (a rolling restart).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from kboot import __version__
from kboot.cluster.up import prepare_bundle
from kboot.lab import Lab
from tests.e2e.conftest import BUNDLE_CACHE, UNKNOWN, Kboot, KbootRun, _current_module
from tests.fixtures.lab import LabFactory, Shape
from tests.fixtures.release import Release, export, previous_release

pytestmark = [pytest.mark.e2e, pytest.mark.lab,
              pytest.mark.timeout(2400)]  # its set-up installs a release and upgrades it
LABS = (Shape(3, 1, "provisioned"),)

# the old release installs on bare machines: before any other module's cluster is on the lab
RUNS_FIRST_ON_ITS_LAB = True

EXAMPLE = "examples/hello.yaml"  # 3 replicas, NodePort 30080
# The example's container, shutting down gracefully: the evicting kubelet is 0.1.0's, without
# preStop hooks, so a trap keeps httpd serving 5 s after SIGTERM while the endpoints and
# kube-proxy move to the other replicas.
GRACEFUL = """mkdir -p /tmp/www
cp /config/index.html /tmp/www/index.html
echo "<p>served by $(hostname)</p>" >> /tmp/www/index.html
httpd -f -p 8080 -h /tmp/www & pid=$!
trap 'sleep 5; kill $pid' TERM
wait $pid
"""
BUDGET = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
          "metadata": {"name": "hello", "namespace": "hello"},
          "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "hello"}}}}
CP_TAINT = "node-role.kubernetes.io/control-plane:NoSchedule"  # kboot.cluster.vars
CORDONED_BY = "kboot.io/cordoned-by"  # kboot.cluster.drain
# The longest the API may be away through the virtual address: keepalived's failover as
# templates/keepalived/keepalived.conf.j2 configures it — the haproxy check fails twice 2 s
# apart (4 s), then the backups wait 3 advertisement intervals of 1 s (3 s) — plus 1 s of skew.
VIP_FAILOVER_S = 2 * 2 + 3 * 1 + 1
VERSION_PROBE = "/opt/kboot/venv/bin/python -c 'import kboot; print(kboot.__version__)'"
ROLLING_PLAY = "changed kboot services restarted node by node"  # rolling-restart.yaml


@dataclass
class Poller:
    """Calls ``probe`` every ``interval`` seconds in a thread; keeps (time, ok, detail)."""

    probe: Callable[[], str]
    interval: float = 0.2
    results: list[tuple[float, bool, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                detail = self.probe()
                self.results.append((now, True, str(detail)[:80]))
            except Exception as exc:
                self.results.append((now, False, f"{type(exc).__name__}: {exc}"[:200]))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    @property
    def failures(self) -> list[tuple[float, bool, str]]:
        return [r for r in self.results if not r[1]]

    def longest_outage(self) -> float:
        """Seconds from the first failure of a run of failures to the next success."""
        longest, since = 0.0, None
        for when, ok, _ in self.results:
            if not ok and since is None:
                since = when
            elif ok and since is not None:
                longest, since = max(longest, when - since), None
        if since is not None:
            longest = max(longest, self.results[-1][0] - since)
        return longest


def _api_probe(kubeconfig: Path, workdir: Path) -> Callable[[], str]:
    """GET /readyz through the kubeconfig's server (the VIP) with its client certificate."""
    config = yaml.safe_load(kubeconfig.read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    ca, cert, key = workdir / "ca.crt", workdir / "client.crt", workdir / "client.key"
    ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    key.chmod(0o600)
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(str(cert), str(key))
    url = cluster["server"] + "/readyz"

    def probe() -> str:
        with urllib.request.urlopen(url, timeout=5, context=context) as resp:
            return str(resp.read().decode())
    return probe


def _service_probe(address: str) -> Callable[[], str]:
    def probe() -> str:
        with urllib.request.urlopen(f"http://{address}:30080/", timeout=5) as resp:
            body = str(resp.read().decode())
        assert "Hello from kboot" in body, body[:200]
        return body
    return probe


def _old_bundle(release: Release) -> Path:
    """The old release's bundle: the session's bundle (Debian packages, images, dependency
    wheels: offline) hard-linked, without kboot's own wheel, which the old release's ``kboot up``
    builds from its own tree (``refresh_kboot_wheel``: ``pip wheel`` of the exported source)."""
    prepare_bundle(BUNDLE_CACHE, rebuild=False)  # built when missing (a fresh CI machine), tar
    out = BUNDLE_CACHE.parent / f"{BUNDLE_CACHE.name}-release-{release.version}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for part in ("debs", "images"):
        subprocess.run(["cp", "-al", str(BUNDLE_CACHE / part), str(out / part)], check=True)
    (out / "debs" / "Packages").unlink()  # rewritten by a refresh: a copy, not a link
    shutil.copy(BUNDLE_CACHE / "debs" / "Packages", out / "debs" / "Packages")
    (out / "wheels").mkdir()
    for wheel in (BUNDLE_CACHE / "wheels").glob("*.whl"):
        if not wheel.name.startswith("kboot-"):
            os.link(wheel, out / "wheels" / wheel.name)
    for tar in BUNDLE_CACHE.glob("bundle-*.tar"):  # the stable part, reused when it matches
        os.link(tar, out / tar.name)
    shutil.copy(BUNDLE_CACHE / "manifest.json", out / "manifest.json")
    return out


def _node_versions(lab: Lab) -> dict[str, str]:
    return {n.name: lab.exec(n.name, ["sh", "-c", VERSION_PROBE]).stdout.strip()
            for n in lab.nodes}


def _unit_times(lab: Lab, node: str, unit: str) -> tuple[int, int]:
    """(ActiveExit, ActiveEnter) of a unit in CLOCK_MONOTONIC microseconds (lab machines share
    the workstation's kernel, so the clocks of all nodes compare)."""
    out = lab.exec(node, ["systemctl", "show", unit, "-p", "ActiveExitTimestampMonotonic",
                          "-p", "ActiveEnterTimestampMonotonic"]).stdout
    values = dict(line.split("=", 1) for line in out.split())
    return int(values["ActiveExitTimestampMonotonic"]), int(values["ActiveEnterTimestampMonotonic"])


def _pods(kboot: Kboot, cluster: str) -> dict[str, tuple[str, int, str]]:
    """name -> (uid, restarts, node) of the hello pods."""
    items = json.loads(kboot.kubectl(cluster, "-n", "hello", "get", "pods", "-l", "app=hello",
                                     "-o", "json").stdout)["items"]
    return {p["metadata"]["name"]: (p["metadata"]["uid"], sum(
        c.get("restartCount", 0) for c in p["status"].get("containerStatuses", [])),
        p["spec"].get("nodeName", "")) for p in items}


def _workload(path: Path) -> Path:
    """The example with the graceful container, and its disruption budget."""
    docs = list(yaml.safe_load_all(Path(EXAMPLE).read_text()))
    for doc in docs:
        if doc["kind"] == "Deployment":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            container["args"] = [GRACEFUL]
    path.write_text(yaml.safe_dump_all([*docs, BUDGET]))
    return path


@dataclass(frozen=True)
class Upgrade:
    lab: Lab
    release: Release
    before: dict[str, str]  # node → kboot version on it before the upgrade
    after: dict[str, str]
    plan: list[dict[str, object]]  # --check's restart_plan steps
    events: list[dict[str, object]]  # the upgrading run's -o json events
    api: Poller
    service: Poller
    pods_before: dict[str, tuple[str, int, str]]
    pods_after: dict[str, tuple[str, int, str]]
    worker: str  # the drained node
    worker_after: dict[str, Any]  # its Node object after the upgrade


@pytest.fixture(scope="module")
def upgrade(lab_factory: LabFactory, kboot: Kboot,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upgrade]:
    release = previous_release()  # ReleaseMissing (a failure, never a skip) without history
    old_tree = export(release, tmp_path_factory.mktemp("release") / f"kboot-{release.version}")
    lab = lab_factory(3, 1, image="provisioned")
    kboot.bare(lab)  # nothing when this module runs first on the lab (RUNS_FIRST_ON_ITS_LAB)
    bundle = _old_bundle(release)
    kboot.clusters[lab.name] = UNKNOWN  # until the upgrade below converges the lab's cluster
    start = time.monotonic()
    old = subprocess.run(  # the old release's CLI: its tree first on the path (cwd for -m)
        [sys.executable, "-m", "kboot.cli.main", "up", str(lab.inventory_path),
         "--bundle", str(bundle)], cwd=old_tree,
        env={**kboot.env(), "PYTHONPATH": str(old_tree)}, capture_output=True, text=True,
        timeout=1800, check=False)
    seconds = time.monotonic() - start
    kboot.runs.append(KbootRun(_current_module(), f"up {release.version}", old.returncode,
                               seconds))  # in the session's "kboot runs per e2e module"
    print(f"old release {release.version} install: {seconds:.0f}s")
    assert old.returncode == 0, f"kboot {release.version} up:\n{old.stdout[-6000:]}\n" \
                                f"{old.stderr[-3000:]}"
    wheels = [w.name for w in (bundle / "wheels").glob("kboot-*.whl")]
    assert wheels == [f"kboot-{release.version}-py3-none-any.whl"], wheels
    before = _node_versions(lab)

    cluster = lab.name
    kboot.kubectl(cluster, "apply", "-f",
                  str(_workload(tmp_path_factory.mktemp("hello") / "hello.yaml")))
    kboot.kubectl(cluster, "-n", "hello", "rollout", "status", "deployment/hello",
                  "--timeout=180s", timeout=200)
    worker = next(n for n in lab.nodes if n.role == "worker")
    # the drained worker's pods need another node: the last control plane schedulable (its
    # taint is only set at registration, so kboot up does not put it back); the teardown does
    spare = [n.name for n in lab.nodes if n.role == "control_plane"][-1]
    kboot.kubectl(cluster, "taint", "nodes", spare, f"{CP_TAINT}-")
    service = Poller(_service_probe(worker.address))
    api = Poller(_api_probe(kboot.kubeconfig(cluster), tmp_path_factory.mktemp("api")))
    deadline = time.monotonic() + 60  # kboot-proxy installs the NodePort rules a moment later
    while True:
        try:
            service.probe()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    pods_before = _pods(kboot, cluster)

    check = kboot.up(lab.inventory_path, "--check", "-o", "json", check=False)
    assert check.returncode == 2, check.stdout[-3000:] + check.stderr[-2000:]
    plans = [json.loads(line) for line in check.stdout.splitlines()
             if line.startswith('{"kind": "restart_plan"')]
    assert len(plans) == 1, check.stdout[-3000:]
    assert _node_versions(lab) == before  # --check changed nothing

    service.start()
    api.start()
    try:
        # the upgrade restarts every etcd member and control plane one at a time: beyond the
        # default 900 s on a loaded 2-core machine (the module's own limit is 2400 s)
        proc = kboot.up(lab.inventory_path, "-o", "json", timeout=1800)
    finally:
        service.stop()
        api.stop()
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    rounds = [e for e in events if e.get("kind") == "play_finished"
              and e["play"] == ROLLING_PLAY]
    print(f"upgrading kboot up: {kboot.runs[-1].seconds:.0f}s, rolling-restart plays: "
          + ", ".join(f"{e['end'] - e['start']:.0f}s" for e in rounds))  # pki.yaml's skips
    after = json.loads(kboot.kubectl(cluster, "get", "node", worker.name, "-o", "json").stdout)
    yield Upgrade(lab, release, before, _node_versions(lab), plans[0]["steps"], events,
                  api, service, pods_before, _pods(kboot, cluster), worker.name, after)
    kboot.kubectl(cluster, "delete", "namespace", "hello", "--wait=false")
    kboot.kubectl(cluster, "taint", "nodes", spare, CP_TAINT.replace(":", "=:"), "--overwrite")


def test_the_old_release_ran_before_and_the_current_one_after(upgrade: Upgrade) -> None:
    assert set(upgrade.before.values()) == {upgrade.release.version}, upgrade.before
    assert set(upgrade.after.values()) == {__version__}, upgrade.after
    assert upgrade.release.version != __version__


def test_check_shows_the_restart_plan_control_planes_first(upgrade: Upgrade) -> None:
    nodes = {n.name: n for n in upgrade.lab.nodes}
    hosts = [str(s["host"]) for s in upgrade.plan]
    cps = [n for n in hosts if nodes[n].role == "control_plane"]
    assert hosts == [*cps, *(n for n in hosts if n not in cps)]
    assert sorted(hosts) == sorted(nodes), hosts
    for step in upgrade.plan:
        services = list(step["services"])  # type: ignore[call-overload]
        reasons = list(step["reasons"])  # type: ignore[call-overload]
        # the new code first; the old release's inline-CA kubelet kubeconfig and its older
        # unit files may add theirs, and on the control planes the file 0.1.0 did not push
        # (sa.pub: the ServiceAccount keys the apiservers accept); no certificate is renewed
        assert reasons[0] == "new kboot code", step
        assert set(reasons) <= {"new kboot code", "kubelet kubeconfig migrated",
                                "new service definitions", "new certificates"}, step
        if nodes[str(step["host"])].role != "control_plane":
            assert "new certificates" not in reasons, step
        if "kboot-etcd" in services:  # a Debian package: restarted only for a changed unit
            assert "new service definitions" in reasons, step
        if nodes[str(step["host"])].role == "control_plane":
            cp_units = [u for u in services if u != "kboot-etcd"][:3]
            assert cp_units == ["kboot-apiserver", "kboot-scheduler",
                                "kboot-controller-manager"], step
            assert services.index("kboot-apiserver") == ("kboot-etcd" in services), step
            assert step["waits_for"] == (["etcd member healthy"] if "kboot-etcd" in services
                                         else []) + ["apiserver /readyz"], step
        else:
            assert "kboot-apiserver" not in services and "kboot-kubelet" in services, step
            assert "kboot-etcd" not in services and step["waits_for"] == ["node Ready"], step
        # the worker (its kubelet restarts) is drained; control planes are not
        assert step["drain"] is (nodes[str(step["host"])].role != "control_plane"), step


def test_services_restarted_in_the_plans_order_one_node_at_a_time(upgrade: Upgrade) -> None:
    rolled = [e for e in upgrade.events if e.get("kind") == "task_result"
              and str(e["task"]).startswith("services restarted") and e["status"] == "changed"]
    # one round, the plan's hosts in its order, each restarting exactly the plan's services
    assert [e["host"] for e in rolled] == [s["host"] for s in upgrade.plan], rolled
    for event, step in zip(rolled, upgrade.plan, strict=True):
        restarted = [line.removeprefix("restarted ") for line in str(event["stdout"]).split("\n")
                     if line.startswith("restarted ")]
        assert restarted == step["services"], (event["host"], event["stdout"], step)
    lab = upgrade.lab
    cps = [n.name for n in lab.nodes if n.role == "control_plane"]
    windows = sorted(_unit_times(lab, n, "kboot-apiserver") for n in cps)
    for (_, up_again), (next_stop, _) in itertools.pairwise(windows):
        assert next_stop > up_again, f"apiservers down at the same time: {windows}"
    worker = next(n.name for n in lab.nodes if n.role == "worker")
    kubelet_stop = _unit_times(lab, worker, "kboot-kubelet")[0]
    assert kubelet_stop > max(up for _, up in windows), "the worker restarted before a cp"
    for node in lab.nodes:  # the link moved to the new venv, no restart left pending
        link = lab.exec(node.name, ["readlink", "/opt/kboot/venv"]).stdout.strip()
        assert link.startswith("/opt/kboot/venv-"), link
        assert lab.exec(node.name, ["test", "-e", "/run/kboot/restart"]).exit_code != 0


def test_the_worker_was_cordoned_drained_restarted_and_uncordoned(upgrade: Upgrade) -> None:
    turns = [(e["node"], e["step"]) for e in upgrade.events if e.get("kind") == "worker_restart"
             and e["step"] != "refused"]
    w = upgrade.worker
    assert turns == [(w, "drain"), (w, "drained"), (w, "restart"), (w, "ready"),
                     (w, "uncordon")], turns
    # the drain itself evicted the hello pods that ran there (not anything before it)
    (drained,) = [str(e["detail"]) for e in upgrade.events
                  if e.get("kind") == "worker_restart" and e["step"] == "drained"]
    on_worker = {f"hello/{n}" for n, (_, _, node) in upgrade.pods_before.items() if node == w}
    assert on_worker and on_worker <= set(drained.split(", ")), (drained, on_worker)
    # the budget (maxUnavailable 1) spends its one disruption on the first eviction and refuses
    # the next, back to back, until a replacement is Ready: each refusal names it
    refused = [e for e in upgrade.events if e.get("kind") == "worker_restart"
               and e["step"] == "refused"]
    print(f"evictions refused by the budget during the drain: {len(refused)}; hello pods "
          f"before: {upgrade.pods_before}, after: {upgrade.pods_after}")
    assert all("hello/" in str(e["detail"]) and "hello" in str(e["detail"]).split(": ", 1)[1]
               for e in refused), refused
    assert len(on_worker) < 2 or refused, "no eviction refused under maxUnavailable: 1"
    spec, md = upgrade.worker_after.get("spec") or {}, upgrade.worker_after["metadata"]
    assert not spec.get("unschedulable"), spec
    assert CORDONED_BY not in (md.get("annotations") or {}), md


def test_no_request_through_the_service_failed_and_only_drained_pods_moved(
        upgrade: Upgrade) -> None:
    assert len(upgrade.service.results) > 50, len(upgrade.service.results)
    assert upgrade.service.failures == [], upgrade.service.failures[:10]
    on_worker = {n for n, (_, _, node) in upgrade.pods_before.items() if node == upgrade.worker}
    assert on_worker, upgrade.pods_before  # the drain had something to move
    kept = {n: p for n, p in upgrade.pods_before.items() if n not in on_worker}
    assert {n: upgrade.pods_after.get(n) for n in kept} == kept  # same uid, no restart
    assert not on_worker & set(upgrade.pods_after), upgrade.pods_after  # replaced
    assert len(upgrade.pods_after) == len(upgrade.pods_before), upgrade.pods_after
    assert all(node != upgrade.worker for n, (_, _, node) in upgrade.pods_after.items()
               if n not in kept), upgrade.pods_after


def test_api_never_away_longer_than_a_vip_failover(upgrade: Upgrade) -> None:
    outage = upgrade.api.longest_outage()
    print(f"API polls: {len(upgrade.api.results)}, failed: {len(upgrade.api.failures)}, "
          f"longest outage {outage:.1f}s; service requests: {len(upgrade.service.results)}")
    assert len(upgrade.api.results) > 50
    assert outage <= VIP_FAILOVER_S, upgrade.api.failures[:10]
