"""Container lifecycle hooks on a ``kboot up`` cluster (shared 1 + 1 provisioned lab): a
postStart ``exec`` runs in the real container, and a pod with a preStop ``sleep`` — the usual
chart idiom for letting endpoints drain — is out of its Service's endpoints at once when its
deletion begins (its EndpointSlice keeps it as serving and terminating, so the Service, left
with no ready pod, still reaches it through kboot-proxy) yet keeps serving until the hook is
over, SIGTERM coming only then. (Hook ordering, grace accounting and failures are tested over
the fake runtime and on a real containerd in tests/unit/kubelet/test_hooks.py and
tests/integration/kubelet/test_pods.py.)"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import Kboot
from tests.fixtures.lab import LabFactory, Shape
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(1, 1, "provisioned"),)
NS = "hooks"
PRE_STOP = 20  # seconds of preStop sleep: room for a kubectl exec on a loaded machine
BB = "kboot.io/busybox:1.35"
SERVE = "mkdir -p /www; echo up > /www/index.html; exec httpd -f -p 8080 -h /www"


def _objects() -> list[dict[str, object]]:
    web = {"name": "web", "image": BB, "command": ["sh", "-c", SERVE],
           "ports": [{"name": "http", "containerPort": 8080}],
           "readinessProbe": {"httpGet": {"port": "http"}, "periodSeconds": 1},
           "lifecycle": {
               "postStart": {"exec": {"command": [
                   "sh", "-c", "mkdir -p /www && echo hooked > /www/post-start"]}},
               "preStop": {"sleep": {"seconds": PRE_STOP}}}}
    meta = {"namespace": NS}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {**meta, "name": "web",
                                                         "labels": {"app": "web"}},
         "spec": {"terminationGracePeriodSeconds": 2 * PRE_STOP + 5, "containers": [web]}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {**meta, "name": "client"},
         "spec": {"terminationGracePeriodSeconds": 1, "containers": [
             {"name": "c", "image": BB, "command": ["sleep", "3600"]}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {**meta, "name": "web"},
         "spec": {"selector": {"app": "web"},
                  "ports": [{"port": 80, "targetPort": "http"}]}},
    ]


@dataclass(frozen=True)
class Hooked:
    kboot: Kboot
    cluster: str

    def kubectl(self, *args: str, check: bool = True) -> str:
        return self.kboot.kubectl(self.cluster, "-n", NS, *args, check=check).stdout

    def fetch(self, url: str) -> str:
        return self.kubectl("exec", "client", "--", "timeout", "5", "wget", "-q", "-O-", url)

    def slice_conditions(self, ip: str) -> dict[str, bool] | None:
        sl = json.loads(self.kubectl("get", "endpointslice", "web-kboot", "-o", "json"))
        return next((e.get("conditions") for e in sl.get("endpoints") or []
                     if ip in e.get("addresses", [])), None)

    def endpoint_ips(self) -> set[str]:
        subsets = json.loads(self.kubectl("get", "endpoints", "web", "-o", "json")
                             ).get("subsets") or []
        return {a["ip"] for s in subsets for a in s.get("addresses") or []}


@pytest.fixture(scope="module")
def hooked(lab_factory: LabFactory, kboot: Kboot,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hooked]:
    lab = lab_factory(1, 1, image="provisioned")
    kboot.converge(lab)
    manifest = tmp_path_factory.mktemp("hooks") / "hooks.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": _objects()}))
    kboot.kubectl(lab.name, "apply", "-f", str(manifest))
    h = Hooked(kboot, lab.name)
    h.kubectl("wait", "--for=condition=Ready", "pod/web", "pod/client", "--timeout=100s")
    yield h
    kboot.kubectl(lab.name, "delete", "namespace", NS, "--wait=false", check=False)


def test_pre_stop_sleep_keeps_serving_after_the_endpoint_is_gone(hooked: Hooked) -> None:
    ip = json.loads(hooked.kubectl("get", "pod", "web", "-o", "json"))["status"]["podIP"]
    assert hooked.fetch(f"http://{ip}:8080/post-start").strip() == "hooked"
    wait_until("the pod in its Service's endpoints", lambda: ip in hooked.endpoint_ips(),
               timeout=60)
    began = time.monotonic()
    hooked.kubectl("delete", "pod", "web", "--wait=false")
    wait_until("the deleted pod out of the endpoints", lambda: ip not in hooked.endpoint_ips(),
               timeout=60, interval=0.3)
    assert hooked.fetch(f"http://{ip}:8080/").strip() == "up"  # the preStop sleep still runs
    # still in its EndpointSlice, serving and terminating; the only pod of its Service, so
    # kboot-proxy routes the Service to it (upstream's terminating-endpoint fallback)
    assert wait_until("the slice to mark the pod terminating", lambda: hooked.slice_conditions(
        ip) == {"ready": False, "serving": True, "terminating": True}, timeout=10, interval=0.3)
    wait_until("the Service to reach its terminating pod", lambda: hooked.kubectl(
        "exec", "client", "--", "timeout", "5", "wget", "-q", "-O-", f"http://web.{NS}/",
        check=False).strip() == "up", timeout=10, interval=0.3)
    wait_until("the pod to be gone", lambda: hooked.kubectl(
        "get", "pod", "web", "--ignore-not-found", "-o", "name") == "", timeout=180, interval=1)
    assert time.monotonic() - began >= PRE_STOP
