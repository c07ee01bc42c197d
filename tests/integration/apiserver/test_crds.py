"""CustomResourceDefinitions with the real kubectl against a real ``kboot-apiserver``: a
multi-version CRD with a structural schema, shortNames, categories, printer columns and
status/scale subresources is applied, its custom resources created, listed (``-o wide``),
patched three ways, scaled, watched and deleted; invalid bodies get 422 naming the field,
unknown fields are pruned (refused under Strict); ``kubectl explain`` prints the schema; two
apiservers on one etcd both serve a CRD created through one; deleting the CRD removes its
objects."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import IO

import pytest
import yaml

from tests.fixtures.apiserver import KUBECTL, ApiServer, start_apiserver
from tests.fixtures.etcd import start_etcd
from tests.integration.apiserver.crd_data import CRD_NAME, GROUP, crontab, crontab_crd

pytestmark = pytest.mark.integration


def _ok(server: ApiServer, *args: str, input: str | None = None) -> str:
    done = server.kubectl(*args, input=input)
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


def _establish(server: ApiServer) -> None:
    # as a List: kubectl then validates it against /openapi/v2, which must name spec
    _ok(server, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                      "items": [crontab_crd()]}))
    _ok(server, "wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=30s")


def test_crd_served_to_kubectl(apiserver: ApiServer) -> None:
    _establish(apiserver)
    crd = json.loads(_ok(apiserver, "get", "crd", CRD_NAME, "-o", "json"))
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["acceptedNames"]["shortNames"] == ["ct"]
    assert crd["status"]["storedVersions"] == ["v1"]

    # create: defaults applied, unknown fields pruned (kubectl create skips its own check)
    out = _ok(apiserver, "create", "--validate=false", "-f", "-",
              input=json.dumps(crontab("daily", extra="dropped")))
    assert "crontab.stable.kboot.dev/daily created" in out
    daily = json.loads(_ok(apiserver, "get", "ct", "daily", "-o", "json"))
    assert daily["spec"] == {"cronSpec": "* * * * */5", "image": "busybox", "replicas": 1}
    assert daily["metadata"]["generation"] == 1

    # Strict: the unknown field is refused, naming it
    strict = apiserver.kubectl("create", "--validate=strict", "-f", "-",
                               input=json.dumps(crontab("strict", extra=1)))
    assert strict.returncode != 0 and 'unknown field "spec.extra"' in strict.stderr
    # invalid: 422 naming the field (schema and CEL rule)
    bad = apiserver.kubectl("create", "-f", "-",
                            input=json.dumps(crontab("bad", mode="Weekly", replicas=11)))
    assert bad.returncode != 0
    assert "spec.mode: Unsupported value: \"Weekly\"" in bad.stderr, bad.stderr
    cel = apiserver.kubectl("create", "-f", "-", input=json.dumps(crontab("cel", replicas=11)))
    assert cel.returncode != 0 and "spec: Invalid value" in cel.stderr
    assert "at most 10 replicas" in cel.stderr

    # printer columns: the priority-1 column only with -o wide
    table = _ok(apiserver, "get", "crontabs").splitlines()
    assert table[0].split() == ["NAME", "SPEC", "REPLICAS", "AGE"]
    assert table[1].split()[:6] == ["daily", "*", "*", "*", "*", "*/5"]
    wide = _ok(apiserver, "get", "ct", "-o", "wide").splitlines()
    assert wide[0].split() == ["NAME", "SPEC", "REPLICAS", "IMAGE", "AGE"]
    assert "busybox" in wide[1].split()
    # a category and the singular name
    assert "crontab.stable.kboot.dev/daily" in _ok(apiserver, "get", "kbootdemo", "-o", "name")
    assert _ok(apiserver, "get", "crontab", "daily", "-o", "name").strip() == \
        "crontab.stable.kboot.dev/daily"

    # patches: merge (generation counts the spec change), JSON, server-side apply
    _ok(apiserver, "patch", "ct", "daily", "--type=merge", "-p", '{"spec":{"image":"nginx"}}')
    _ok(apiserver, "patch", "ct", "daily", "--type=json",
        "-p", '[{"op":"add","path":"/spec/mode","value":"Hourly"}]')
    refused = apiserver.kubectl("patch", "ct", "daily", "-p", '{"spec":{"image":"x"}}')
    assert refused.returncode != 0  # strategic merge: 415, as upstream for custom resources
    assert "application/strategic-merge-patch+json is not supported" in refused.stderr
    applied = crontab("daily", image="nginx", mode="Hourly", replicas=2)
    conflict = apiserver.kubectl("apply", "--server-side", "--field-manager=tester", "-f", "-",
                                 input=json.dumps(applied))
    assert conflict.returncode != 0 and "conflict with" in conflict.stderr  # replicas
    _ok(apiserver, "apply", "--server-side", "--field-manager=tester", "--force-conflicts",
        "-f", "-", input=json.dumps(applied))
    daily = json.loads(_ok(apiserver, "get", "ct", "daily", "-o", "json",
                           "--show-managed-fields"))
    assert daily["spec"]["image"] == "nginx" and daily["spec"]["mode"] == "Hourly"
    assert daily["spec"]["replicas"] == 2 and daily["metadata"]["generation"] == 4
    assert "tester" in {m["manager"] for m in daily["metadata"]["managedFields"]}

    # status subresource: the generation does not move, the main endpoint keeps status
    _ok(apiserver, "patch", "ct", "daily", "--subresource=status", "--type=merge",
        "-p", '{"status":{"replicas":2,"phase":"Running"}}')
    daily = json.loads(_ok(apiserver, "get", "ct", "daily", "-o", "json"))
    assert daily["status"]["phase"] == "Running" and daily["metadata"]["generation"] == 4

    # scale subresource
    _ok(apiserver, "scale", "ct", "daily", "--replicas=5")
    daily = json.loads(_ok(apiserver, "get", "ct", "daily", "-o", "json"))
    assert daily["spec"]["replicas"] == 5
    scale = json.loads(_ok(apiserver, "get", "--raw",
                           f"/apis/{GROUP}/v1/namespaces/default/crontabs/daily/scale"))
    assert scale["spec"]["replicas"] == 5 and scale["status"]["replicas"] == 2

    # explain reads the per-group-version OpenAPI document
    explained = _ok(apiserver, "explain", "crontab.spec")
    assert "cronSpec" in explained and "replicas" in explained
    assert f"GROUP:      {GROUP}" in explained

    # label and field selectors
    _ok(apiserver, "label", "ct", "daily", "team=a")
    _ok(apiserver, "create", "-f", "-", input=json.dumps(crontab("hourly")))
    assert _ok(apiserver, "get", "ct", "-l", "team=a", "-o", "name").split() == [
        "crontab.stable.kboot.dev/daily"]
    assert _ok(apiserver, "get", "ct", "--field-selector=metadata.name=hourly",
               "-o", "name").split() == ["crontab.stable.kboot.dev/hourly"]
    paged = json.loads(_ok(apiserver, "get", "--raw",
                           f"/apis/{GROUP}/v1/namespaces/default/crontabs?limit=1"))
    assert len(paged["items"]) == 1 and paged["metadata"]["continue"]

    _watch_then_delete(apiserver)

    # deleting the CRD deletes its objects and stops serving them
    _ok(apiserver, "delete", "crd", CRD_NAME, "--timeout=30s")
    gone = apiserver.kubectl("get", "--raw", f"/apis/{GROUP}/v1/namespaces/default/crontabs")
    assert gone.returncode != 0 and "could not find the requested resource" in gone.stderr, \
        gone.stderr
    _establish(apiserver)  # the same CRD again: no objects survived
    assert _ok(apiserver, "get", "ct", "-o", "name").strip() == ""


def _next_event(stream: IO[str]) -> str:
    """The type of the next event ``kubectl get -w -o json`` prints (multi-line JSON)."""
    buffer = ""
    while True:
        line = stream.readline()
        assert line, "kubectl's watch ended"
        buffer += line
        try:
            event, _ = json.JSONDecoder().raw_decode(buffer)
        except ValueError:
            continue
        return str(event["type"])


def _watch_then_delete(server: ApiServer) -> None:
    """``kubectl get -w`` sees ``hourly`` (ADDED), then its deletion (DELETED)."""
    home = server.workdir / "home"
    watch = subprocess.Popen(
        [KUBECTL, "--kubeconfig", str(server.admin.kubeconfig), "get", "ct", "hourly",
         "--watch", "--output-watch-events", "-o", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
    try:
        assert watch.stdout is not None
        assert _next_event(watch.stdout) == "ADDED"
        _ok(server, "delete", "ct", "hourly")
        events = [_next_event(watch.stdout)]
        while events[-1] != "DELETED":
            events.append(_next_event(watch.stdout))
        assert set(events) <= {"MODIFIED", "DELETED"}, events
    finally:
        watch.terminate()
        watch.wait(10)


def test_two_apiservers_serve_a_crd_created_through_one() -> None:
    with start_etcd() as etcd, start_apiserver(etcd.url) as first, \
            start_apiserver(etcd.url) as second:
        _establish(first)
        # the second server learns the CRD from the store's watch (no restart, no polling of
        # the first): kubectl against it waits for discovery to show the kind
        deadline = time.monotonic() + 30
        while second.kubectl("get", "crontabs").returncode != 0:
            assert time.monotonic() < deadline, second.log()[-2000:]
            time.sleep(0.2)
        _ok(second, "create", "-f", "-", input=json.dumps(crontab("via-second")))
        got = yaml.safe_load(_ok(first, "get", "ct", "via-second", "-o", "yaml"))
        assert got["spec"]["replicas"] == 1
        _ok(first, "delete", "crd", CRD_NAME, "--timeout=30s")
        deadline = time.monotonic() + 30
        while second.kubectl("get", "--raw", f"/apis/{GROUP}/v1").returncode == 0:
            assert time.monotonic() < deadline
            time.sleep(0.2)


DATA = Path(__file__).resolve().parents[2] / "unit" / "api" / "crd" / "data"
CERTIFICATE = {
    "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"secretName": "web-tls", "dnsNames": ["web.example.com"],
             "issuerRef": {"name": "ca", "kind": "ClusterIssuer"}}}
SERVICE_MONITOR = {
    "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"selector": {"matchLabels": {"app": "web"}},
             "endpoints": [{"port": "metrics", "interval": "30s"}]}}


def test_real_crds_rbac_and_a_name_conflict(apiserver: ApiServer) -> None:
    """cert-manager's and prometheus-operator's CRDs as published are served (printer columns
    with filters, categories); RBAC grants custom resources like built-ins; a CRD claiming a
    built-in kind's names is NamesAccepted=False and not served."""
    for name in ("cert-manager.io_certificates.yaml",
                 "monitoring.coreos.com_servicemonitors.yaml"):
        _ok(apiserver, "apply", "--server-side", "-f", str(DATA / name))
    for crd in ("certificates.cert-manager.io", "servicemonitors.monitoring.coreos.com"):
        _ok(apiserver, "wait", "--for=condition=Established", f"crd/{crd}", "--timeout=30s")
    _ok(apiserver, "apply", "-f", "-", input=json.dumps(CERTIFICATE))
    _ok(apiserver, "apply", "-f", "-", input=json.dumps(SERVICE_MONITOR))
    header = _ok(apiserver, "get", "certs").splitlines()[0].split()
    assert header == ["NAME", "READY", "SECRET", "AGE"]
    assert "certificate.cert-manager.io/web" in _ok(apiserver, "get", "cert-manager",
                                                    "-o", "name")
    bad = {**SERVICE_MONITOR, "metadata": {"name": "bad", "namespace": "default"},
           "spec": {"selector": {}, "endpoints": [{"port": "m", "scheme": "gopher"}]}}
    refused = apiserver.kubectl("apply", "-f", "-", input=json.dumps(bad))
    assert refused.returncode != 0 and "spec.endpoints[0].scheme" in refused.stderr, \
        refused.stderr

    # RBAC: nothing granted → 403; a Role on servicemonitors → allowed, certificates still not
    viewer = apiserver.identity("viewer")
    denied = apiserver.kubectl("get", "servicemonitors", identity=viewer)
    assert denied.returncode != 0 and "forbidden" in denied.stderr
    _ok(apiserver, "create", "role", "monitors", "--verb=get,list",
        "--resource=servicemonitors.monitoring.coreos.com")
    _ok(apiserver, "create", "rolebinding", "monitors", "--role=monitors", "--user=viewer")
    allowed = apiserver.kubectl("get", "servicemonitors", "-o", "name", identity=viewer)
    assert allowed.returncode == 0 and "servicemonitor.monitoring.coreos.com/web" in \
        allowed.stdout, allowed.stderr
    assert apiserver.kubectl("get", "certificates", identity=viewer).returncode != 0

    # a second CRD of cert-manager's group claiming the kind Certificate: refused, not served
    clash = crontab_crd()
    clash["metadata"]["name"] = "othercerts.cert-manager.io"
    clash["spec"]["group"] = "cert-manager.io"
    clash["spec"]["names"] = {"plural": "othercerts", "kind": "Certificate"}
    _ok(apiserver, "apply", "-f", "-", input=json.dumps(clash))
    _ok(apiserver, "wait", "--for=condition=NamesAccepted=False",
        "crd/othercerts.cert-manager.io", "--timeout=30s")
    crd = json.loads(_ok(apiserver, "get", "crd", "othercerts.cert-manager.io", "-o", "json"))
    names = {c["type"]: c for c in crd["status"]["conditions"]}
    # kind and listKind both clash; as upstream's naming controller, the last check reports
    assert names["NamesAccepted"]["reason"] == "ListKindConflict"
    assert names["NamesAccepted"]["message"] == '"CertificateList" is already in use'
    assert names["Established"]["status"] == "False"
    missing = apiserver.kubectl("get", "--raw", "/apis/cert-manager.io/v1/othercerts")
    assert missing.returncode != 0
