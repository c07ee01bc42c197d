"""kboot-ingress end to end on loopback: a real apiserver, the controller process, its real
haproxy, and HTTP servers on 127.0.0.x standing in for pods (Endpoints created via the API).
"""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kboot.controlplane.client.sync import SyncClient
from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.integration.ingress.harness import (
    Controller,
    backend,
    eventually,
    request,
    run_controller,
)
from tests.unit.ingress.objects import (
    ca_pair,
    endpoints,
    ingress,
    path,
    rule,
    server_pair,
    service,
    tls_secret,
)

pytestmark = pytest.mark.integration
Obj = dict[str, Any]
RBAC = Path(__file__).resolve().parents[3] / "templates/ingress/kboot-ingress-rbac.yaml"


@dataclass
class Env:
    server: ApiServer
    api: SyncClient
    controller: Controller
    pods: dict[str, tuple[str, int]]

    def create(self, obj: Obj) -> Obj:
        body = copy.deepcopy(obj)
        for field in ("creationTimestamp", "uid"):
            body["metadata"].pop(field, None)
        return self.api.create(body["kind"], body)

    def add_service(self, name: str, pod: str) -> None:
        ip, port = self.pods[pod]
        self.create(service(name, ("http", 80)))
        self.create(endpoints(name, [ip], [("http", port)]))

    def get(self, host: str, path: str = "/") -> tuple[int, str]:
        r = request(self.controller.http_port, host, path)
        return r.status, r.body.split(" ")[0]

    def events(self, name: str) -> list[Obj]:
        return [e for e in self.api.list("events", namespace="default")
                if e["involvedObject"]["name"] == name]


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    """The controller runs as ``system:kboot-ingress`` with only the shipped RBAC rules."""
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(start_apiserver("memory://"))
        applied = server.kubectl("apply", "-f", str(RBAC))
        assert applied.returncode == 0, applied.stderr
        identity = server.identity("system:kboot-ingress")
        api = stack.enter_context(SyncClient.from_kubeconfig(server.kubeconfig))
        pods = {name: stack.enter_context(backend(f"pod-{name}", ip))
                for name, ip in (("a", "127.0.0.2"), ("b", "127.0.0.3"), ("c", "127.0.0.4"))}
        ctl = stack.enter_context(run_controller(identity.kubeconfig))
        try:
            yield Env(server, api, ctl, pods)
        finally:
            print(f"--- kboot-ingress log ---\n{ctl.log()[-6000:]}")


def test_routes_by_host_and_path(env: Env) -> None:
    env.add_service("svc-a", "a")
    env.add_service("svc-b", "b")
    env.create(ingress("web", rule("a.example.test", path("/", "svc-a")),
                       rule("b.example.test", path("/api", "svc-b", "http")), class_name=None))

    def routed() -> None:
        assert env.get("a.example.test", "/anything") == (200, "pod-a")
        assert env.get("B.example.test:80", "/api/v1") == (200, "pod-b")
        assert env.get("b.example.test", "/api") == (200, "pod-b")
    eventually(routed)
    assert env.get("b.example.test", "/apis")[0] == 404
    assert env.get("c.example.test")[0] == 404
    classes = env.api.list("ingressclasses")
    assert [(c["metadata"]["name"], c["spec"]["controller"]) for c in classes] == [
        ("kboot", "kboot.io/ingress")]
    status = eventually(lambda: _lb(env.api.get("ingresses", "web", namespace="default")))
    assert status == [{"ip": "127.0.0.1"}]


def _lb(obj: Obj) -> list[Obj]:
    entries = obj.get("status", {}).get("loadBalancer", {}).get("ingress")
    assert entries
    return list(entries)


def test_tls_with_sni_and_redirect(env: Env) -> None:
    env.add_service("svc-s1", "a")
    env.add_service("svc-s2", "b")
    env.create(tls_secret("s1-tls", server_pair("s1.example.test")))
    env.create(tls_secret("s2-tls", server_pair("s2.example.test")))
    env.create(ingress("secure", rule("s1.example.test", path("/", "svc-s1")),
                       rule("s2.example.test", path("/", "svc-s2")),
                       tls=[{"hosts": ["s1.example.test"], "secretName": "s1-tls"},
                            {"hosts": ["s2.example.test"], "secretName": "s2-tls"}]))
    ctx = ssl.create_default_context(cadata=ca_pair().cert_pem().decode())
    port = env.controller.https_port

    def served() -> None:
        for host, pod in (("s1.example.test", "pod-a"), ("s2.example.test", "pod-b")):
            r = request(port, host, "/x", tls=ctx)
            assert (r.status, r.body.split(" ")[0]) == (200, pod)
            assert r.peer_cert is not None
            assert ("DNS", host) in r.peer_cert["subjectAltName"]
    eventually(served)
    redirect = request(env.controller.http_port, "s1.example.test", "/p?q=1")
    assert redirect.status == 308
    assert redirect.headers["location"] == f"https://s1.example.test:{port}/p?q=1"


def test_update_changes_routing_without_failed_requests(env: Env) -> None:
    env.add_service("svc-flip-a", "a")
    env.add_service("svc-flip-c", "c")
    env.create(ingress("flip", rule("flip.example.test", path("/", "svc-flip-a"))))
    eventually(lambda: _expect(env.get("flip.example.test"), "pod-a"))
    seen: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                status, pod = env.get("flip.example.test", "/loop")
                seen.append(pod) if status == 200 else failures.append(f"{status} {pod}")
            except OSError as exc:
                failures.append(repr(exc))
    client = threading.Thread(target=loop)
    client.start()
    try:
        for target, pod in (("svc-flip-c", "pod-c"), ("svc-flip-a", "pod-a"),
                            ("svc-flip-c", "pod-c")):
            _retarget(env, "flip", target)
            eventually(_latest_is(seen, pod), timeout=30)  # bounds a hang, not a speed claim
    finally:
        stop.set()
        client.join()
    assert failures == []
    assert len(seen) > 50 and {"pod-a", "pod-c"} <= set(seen)


def _latest_is(seen: list[str], pod: str) -> Callable[[], None]:
    def check() -> None:
        assert seen and seen[-1] == pod
    return check


def _expect(got: tuple[int, str], pod: str) -> None:
    assert got == (200, pod)


def _retarget(env: Env, name: str, service_name: str) -> None:
    # a JSON patch, as `kubectl patch --type=json` sends: no resourceVersion, so the controller's
    # concurrent status writes cannot make it a 409 (a read-modify-replace here raced them)
    change = [{"op": "replace", "path": "/spec/rules/0/http/paths/0/backend/service/name",
               "value": service_name}]
    env.api.run(lambda c: c.patch("ingresses", name, change, namespace="default",
                                  patch_type="json"))


def test_deleting_a_backend_service_yields_503_for_that_route_only(env: Env) -> None:
    env.add_service("svc-d1", "a")
    env.add_service("svc-d2", "b")
    env.create(ingress("del", rule("d1.example.test", path("/", "svc-d1")),
                       rule("d2.example.test", path("/", "svc-d2"))))
    eventually(lambda: _expect(env.get("d1.example.test"), "pod-a"))
    env.api.delete("services", "svc-d1", namespace="default")
    eventually(lambda: _expect_status(env.get("d1.example.test"), 503))
    assert env.get("d2.example.test") == (200, "pod-b")
    assert env.get("a.example.test") == (200, "pod-a")  # other Ingresses unaffected
    reasons = eventually(lambda: _reasons(env, "del", "BackendServiceMissing"))
    assert "BackendServiceMissing" in reasons


def _expect_status(got: tuple[int, str], status: int) -> None:
    assert got[0] == status


def _reasons(env: Env, name: str, want: str) -> set[str]:
    reasons = {e["reason"] for e in env.events(name)}
    assert want in reasons
    return reasons


def test_missing_tls_secret_gets_an_event_and_http_keeps_working(env: Env) -> None:
    env.add_service("svc-ns", "c")
    env.create(ingress("nosecret", rule("nosecret.example.test", path("/", "svc-ns")),
                       tls=[{"hosts": ["nosecret.example.test"], "secretName": "absent"}]))
    eventually(lambda: _expect(env.get("nosecret.example.test"), "pod-c"))
    eventually(lambda: _reasons(env, "nosecret", "TLSSecretMissing"))
    # a later full re-render (another Ingress now served) must not repeat the Event
    env.create(ingress("later", rule("later.example.test", path("/", "svc-ns"))))
    eventually(lambda: _expect(env.get("later.example.test"), "pod-c"))
    [event] = [e for e in env.events("nosecret") if e["reason"] == "TLSSecretMissing"]
    assert event["type"] == "Warning" and event["count"] == 1
    assert "absent" in event["message"]


def test_a_dead_haproxy_is_restarted(env: Env) -> None:
    pid_file = env.controller.workdir / "haproxy.pid"
    master = int(pid_file.read_text().split()[0])
    assert "haproxy" in Path(f"/proc/{master}/cmdline").read_text()
    os.kill(master, signal.SIGKILL)
    eventually(lambda: _expect_new_master(pid_file, master))  # the default bounds a hang
    eventually(lambda: _expect(env.get("a.example.test"), "pod-a"))  # the default bounds a hang


def _expect_new_master(pid_file: Path, old: int) -> None:
    assert int(pid_file.read_text().split()[0]) != old
