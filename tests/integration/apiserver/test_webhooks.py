"""Admission webhooks end to end on one machine: a kboot-apiserver process, a real HTTPS
webhook (aiohttp, certificate from a test CA) and the real kubectl.

Every configuration selects only its test's namespace (``namespaceSelector``), so tests share
one apiserver without seeing each other's webhooks. A configuration is in force once the
apiserver's watch cache holds it: :func:`in_force` waits for exactly that (a list at
``resourceVersion=0`` is answered from the same cache the dispatcher reads).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.fixtures.etcd import free_port, start_etcd
from tests.fixtures.webhook_server import WebhookServer
from tests.integration.apiserver.fake_kubelet import run_fake_kubelet
from tests.integration.apiserver.http import call
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

GROUP = "/apis/admissionregistration.k8s.io/v1"
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with start_apiserver("memory://") as srv:
        yield srv


@pytest.fixture(scope="module")
def hooks(server: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebhookServer]:
    hook_server = WebhookServer(server.ca, tmp_path_factory.mktemp("webhook")).start()
    yield hook_server
    hook_server.stop()


@pytest.fixture
def ns(server: ApiServer) -> Iterator[str]:
    name = f"wh{next(_ids)}"
    reply = call(server, "POST", "/api/v1/namespaces",
                 {"metadata": {"name": name, "labels": {"webhook-test": name}}})
    assert reply.status == 201, reply.body
    yield name
    for plural in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
        call(server, "DELETE", f"{GROUP}/{plural}/{name}")
    call(server, "DELETE", f"/api/v1/namespaces/{name}")


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"kubectl failed ({proc.returncode}): {proc.stderr}"
    return proc.stdout


def failed(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, f"kubectl unexpectedly succeeded: {proc.stdout}"
    return proc.stderr


def webhook(name: str, client_config: dict[str, Any], ns: str, *, resources: list[str],
            operations: tuple[str, ...] = ("CREATE", "UPDATE"), **extra: Any) -> dict[str, Any]:
    entry = {"name": name, "clientConfig": client_config, "sideEffects": "None",
             "admissionReviewVersions": ["v1"],
             "namespaceSelector": {"matchLabels": {"webhook-test": ns}},
             "rules": [{"operations": list(operations), "apiGroups": ["*"],
                        "apiVersions": ["*"], "resources": resources}]}
    entry.update(extra)
    return entry


def in_force(server: ApiServer, plural: str, name: str) -> None:
    """Wait until the apiserver's watch cache (which the dispatcher reads) holds ``name``."""
    def cached() -> bool:
        reply = call(server, "GET", f"{GROUP}/{plural}?resourceVersion=0")
        assert reply.status == 200, reply.body
        return any(i["metadata"]["name"] == name for i in reply.body["items"])

    wait_until(f"{plural}/{name} in the watch cache", cached, timeout=30, interval=0.01)


def configure(server: ApiServer, ns: str, kind: str, *entries: dict[str, Any]) -> None:
    doc = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
           "metadata": {"name": ns}, "webhooks": list(entries)}
    ok(server.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc)))
    in_force(server, kind.lower() + "s", ns)


def reviews_for(hooks: WebhookServer, ns: str) -> list[dict[str, Any]]:
    return [r for r in hooks.reviews if r.get("namespace") == ns]


def test_validating_webhook_denies_creates_updates_and_deletes(
        server: ApiServer, hooks: WebhookServer, ns: str) -> None:
    configure(server, ns, "ValidatingWebhookConfiguration",
              webhook("deny.kboot.test", hooks.client_config("/deny"), ns,
                      resources=["configmaps"], operations=("*",)))
    err = failed(server.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "bad", "labels": {"deny": "yes"}}})))
    assert ('admission webhook "deny.kboot.test" denied the request: objects labelled '
            'deny=yes are refused') in err
    assert "Forbidden" in err or "forbidden" in err
    ok(server.kubectl("create", "configmap", "good", "-n", ns))
    err = failed(server.kubectl("label", "configmap", "good", "-n", ns, "deny=yes"))
    assert 'admission webhook "deny.kboot.test" denied the request' in err
    ok(server.kubectl("label", "configmap", "good", "-n", ns, "other=yes"))
    ops = [r["operation"] for r in reviews_for(hooks, ns) if r["path"] == "deny"]
    assert ops.count("CREATE") == 2 and ops.count("UPDATE") == 2
    # a DELETE is reviewed with the old object: the stored one is not labelled, so allowed
    ok(server.kubectl("delete", "configmap", "good", "-n", ns))
    delete = [r for r in reviews_for(hooks, ns) if r["operation"] == "DELETE"]
    assert delete and delete[-1]["object"] is None
    assert delete[-1]["oldObject"]["metadata"]["name"] == "good"
    # other kinds in the namespace are not sent
    ok(server.kubectl("create", "secret", "generic", "s", "-n", ns))
    assert not any(r["kind"]["kind"] == "Secret" for r in reviews_for(hooks, ns))


def test_mutating_webhook_patches_and_warns(server: ApiServer, hooks: WebhookServer,
                                            ns: str) -> None:
    configure(server, ns, "MutatingWebhookConfiguration",
              webhook("mutate.kboot.test", hooks.client_config("/mutate"), ns,
                      resources=["configmaps"]))
    proc = server.kubectl("create", "configmap", "m", "-n", ns, "--from-literal=a=b")
    ok(proc)
    assert "Warning: mutated by the test webhook" in proc.stderr
    cm = json.loads(ok(server.kubectl("get", "configmap", "m", "-n", ns, "-o", "json")))
    assert cm["metadata"]["labels"] == {"mutated": "yes"}
    assert cm["data"] == {"a": "b"}
    # updates are mutated too, on top of the labels the client sent
    ok(server.kubectl("label", "configmap", "m", "-n", ns, "mutated-", "x=1"))
    cm = json.loads(ok(server.kubectl("get", "configmap", "m", "-n", ns, "-o", "json")))
    assert cm["metadata"]["labels"] == {"x": "1", "mutated": "yes"}


def test_mutated_objects_are_validated_again(server: ApiServer, hooks: WebhookServer,
                                             ns: str) -> None:
    """The /break webhook patches in an invalid label value: 422 after the patch."""
    configure(server, ns, "MutatingWebhookConfiguration",
              webhook("break.kboot.test", hooks.client_config("/break"), ns,
                      resources=["configmaps"]))
    err = failed(server.kubectl("create", "configmap", "b", "-n", ns))
    assert ('ConfigMap "b" is invalid: metadata.labels[broken]: Invalid value: '
            '"no spaces allowed"') in err
    assert failed(server.kubectl("get", "configmap", "b", "-n", ns))


def test_warnings_reach_kubectl(server: ApiServer, hooks: WebhookServer, ns: str) -> None:
    configure(server, ns, "ValidatingWebhookConfiguration",
              webhook("warn.kboot.test", hooks.client_config("/warn"), ns,
                      resources=["configmaps"]))
    proc = server.kubectl("create", "configmap", "w", "-n", ns)
    ok(proc)
    assert "Warning: first warning from a webhook" in proc.stderr
    assert "Warning: second one" in proc.stderr


@pytest.mark.parametrize("policy", ["Fail", "Ignore"])
def test_failure_policy_with_the_webhook_down(server: ApiServer, ns: str, hooks: WebhookServer,
                                              policy: str) -> None:
    down = {"url": f"https://127.0.0.1:{free_port()}/deny", "caBundle": hooks.ca_bundle}
    configure(server, ns, "ValidatingWebhookConfiguration",
              webhook("down.kboot.test", down, ns, resources=["configmaps"],
                      failurePolicy=policy))
    proc = server.kubectl("create", "configmap", "c", "-n", ns)
    if policy == "Ignore":
        ok(proc)
        return
    err = failed(proc)
    assert 'Internal error occurred: failed calling webhook "down.kboot.test": failed to ' \
           'call webhook: Post "https://127.0.0.1:' in err
    assert "connect" in err.lower() or "refused" in err.lower()


def test_a_slow_webhook_times_out_and_other_kinds_keep_answering(
        server: ApiServer, hooks: WebhookServer, ns: str) -> None:
    configure(server, ns, "ValidatingWebhookConfiguration",
              webhook("slow.kboot.test", hooks.client_config("/slow"), ns,
                      resources=["configmaps"], timeoutSeconds=2))
    result: list[subprocess.CompletedProcess[str]] = []
    writer = threading.Thread(target=lambda: result.append(
        server.kubectl("create", "configmap", "slow", "-n", ns)))
    writer.start()
    assert hooks.slow_started.wait(30), "the slow webhook was never called"
    # while that create waits on its webhook, other kinds are served
    ok(server.kubectl("create", "secret", "generic", "meanwhile", "-n", ns))
    ok(server.kubectl("get", "secrets", "-n", ns))
    writer.join(60)
    err = failed(result[0])
    assert 'failed calling webhook "slow.kboot.test"' in err
    assert "context deadline exceeded" in err


def test_dry_run_is_sent_and_nothing_is_stored(server: ApiServer, hooks: WebhookServer,
                                               ns: str) -> None:
    configure(server, ns, "ValidatingWebhookConfiguration",
              webhook("dry.kboot.test", hooks.client_config("/allow"), ns,
                      resources=["configmaps"], sideEffects="NoneOnDryRun"))
    ok(server.kubectl("create", "configmap", "d", "-n", ns, "--dry-run=server"))
    seen = [r for r in reviews_for(hooks, ns) if r["name"] == "d"]
    assert seen and seen[-1]["dryRun"] is True
    assert failed(server.kubectl("get", "configmap", "d", "-n", ns))


def test_configurations_are_validated_and_listed(server: ApiServer, hooks: WebhookServer,
                                                 ns: str) -> None:
    bad = {"apiVersion": "admissionregistration.k8s.io/v1",
           "kind": "ValidatingWebhookConfiguration", "metadata": {"name": ns},
           "webhooks": [{"name": "nodots", "clientConfig": {"url": "http://x.example.com"},
                         "admissionReviewVersions": ["v1"]}]}
    err = failed(server.kubectl("apply", "-f", "-", input=yaml.safe_dump(bad)))
    assert "webhooks[0].name" in err and "webhooks[0].sideEffects: Required value" in err
    assert "'https' is the only allowed URL scheme" in err
    configure(server, ns, "ValidatingWebhookConfiguration",
              webhook("a.kboot.test", hooks.client_config("/allow"), ns, resources=["pods"]),
              webhook("b.kboot.test", hooks.client_config("/allow"), ns, resources=["pods"]))
    out = ok(server.kubectl("get", "validatingwebhookconfigurations", ns))
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "WEBHOOKS", "AGE"]
    assert row.split()[:2] == [ns, "2"]
    got = json.loads(ok(server.kubectl("get", "validatingwebhookconfiguration", ns, "-o",
                                       "json")))
    first = got["webhooks"][0]
    assert (first["failurePolicy"], first["matchPolicy"], first["timeoutSeconds"]) == \
        ("Fail", "Equivalent", 10)


def test_webhook_configurations_are_never_sent_to_webhooks(
        server: ApiServer, hooks: WebhookServer, ns: str, tmp_path: Path) -> None:
    down = {"url": f"https://127.0.0.1:{free_port()}/x", "caBundle": hooks.ca_bundle}
    entry = webhook("all.kboot.test", down, ns, resources=["*"], operations=("*",))
    entry.pop("namespaceSelector")  # everything, everywhere (cluster-scoped kinds included)
    entry["objectSelector"] = {"matchLabels": {"webhook-test": ns}}
    configure(server, ns, "ValidatingWebhookConfiguration", entry)
    # the configuration itself stays editable and deletable although its webhook is down
    ok(server.kubectl("label", "validatingwebhookconfiguration", ns, f"webhook-test={ns}"))
    ok(server.kubectl("delete", "validatingwebhookconfiguration", ns))


def test_every_apiserver_of_a_cluster_follows_configurations(tmp_path: Path) -> None:
    """Two apiservers on one etcd: a configuration written through one is enforced by the
    other as soon as its watch cache has it, and its removal likewise. Their own etcd: each
    test apiserver has its own encryption key, so on the session's shared etcd the second one
    could not decrypt Secrets earlier tests' apiservers left there and never became ready."""
    name = f"ha{next(_ids)}-{tmp_path.name[-6:]}".lower().replace("_", "-")
    with start_etcd() as etcd, start_apiserver(etcd.url) as first, \
            start_apiserver(etcd.url) as second:
        hook_server = WebhookServer(first.ca, tmp_path).start()
        try:
            reply = call(first, "POST", "/api/v1/namespaces",
                         {"metadata": {"name": name, "labels": {"webhook-test": name}}})
            assert reply.status == 201, reply.body
            configure(first, name, "ValidatingWebhookConfiguration",
                      webhook("deny.kboot.test", hook_server.client_config("/deny"), name,
                              resources=["configmaps"]))
            in_force(second, "validatingwebhookconfigurations", name)
            bad = yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                "name": "bad", "namespace": name, "labels": {"deny": "yes"}}})
            err = failed(second.kubectl("apply", "-f", "-", input=bad))
            assert 'admission webhook "deny.kboot.test" denied the request' in err
            ok(first.kubectl("delete", "validatingwebhookconfiguration", name))

            def gone() -> bool:
                reply = call(second, "GET", f"{GROUP}/validatingwebhookconfigurations"
                                            "?resourceVersion=0")
                return all(i["metadata"]["name"] != name for i in reply.body["items"])

            wait_until("the configuration gone from the second cache", gone, timeout=30,
                       interval=0.01)
            ok(second.kubectl("apply", "-f", "-", input=bad))
        finally:
            hook_server.stop()
            call(first, "DELETE", f"{GROUP}/validatingwebhookconfigurations/{name}")
            call(first, "DELETE", f"/api/v1/namespaces/{name}")


def test_exec_is_a_connect_webhooks_can_refuse(server: ApiServer, hooks: WebhookServer,
                                               ns: str, tmp_path: Path) -> None:
    with run_fake_kubelet(server, tmp_path) as kubelet:
        node = {"metadata": {"name": f"{ns}-node"},
                "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                           "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port}}}}
        assert call(server, "POST", "/api/v1/nodes", node).status == 201
        pod = {"metadata": {"name": "p"}, "spec": {
            "nodeName": f"{ns}-node", "containers": [{"name": "main", "image": "busybox"}]}}
        assert call(server, "POST", f"/api/v1/namespaces/{ns}/pods", pod).status == 201
        configure(server, ns, "ValidatingWebhookConfiguration",
                  webhook("connect.kboot.test", hooks.client_config("/refuse"), ns,
                          resources=["pods/exec"], operations=("CONNECT",)))
        err = failed(server.kubectl("exec", "-n", ns, "p", "--", "echo", "hi"))
        assert ('admission webhook "connect.kboot.test" denied the request: refused by the '
                'test webhook') in err
        review = [r for r in reviews_for(hooks, ns) if r["operation"] == "CONNECT"][-1]
        assert review["kind"]["kind"] == "PodExecOptions"
        assert review["subResource"] == "exec" and review["name"] == "p"
        assert review["object"]["command"] == ["echo", "hi"]
        assert review["object"]["container"] == "main"
        assert not any(r.startswith("/exec") for r in kubelet.requests)
        call(server, "DELETE", f"/api/v1/nodes/{ns}-node")


def test_subresource_rules_see_scale_binding_and_eviction(server: ApiServer,
                                                         hooks: WebhookServer, ns: str) -> None:
    """Rules naming ``deployments/scale``, ``pods/binding`` and ``pods/eviction`` are called
    for those writes with the subresource's own body (Scale, Binding, Eviction) — and not
    for writes of the main resources."""
    configure(server, ns, "ValidatingWebhookConfiguration",
              webhook("subresources.kboot.test", hooks.client_config("/refuse"), ns,
                      resources=["deployments/scale", "pods/binding", "pods/eviction"]))
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "web", "namespace": ns},
                  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}},
                                        "spec": {"containers": [{"name": "c",
                                                                 "image": "busybox"}]}}}}
    ok(server.kubectl("apply", "-f", "-", input=json.dumps(deployment)))  # main: allowed
    pod = {"metadata": {"name": "p"},
           "spec": {"containers": [{"name": "main", "image": "busybox"}]}}
    assert call(server, "POST", f"/api/v1/namespaces/{ns}/pods", pod).status == 201
    refusal = 'admission webhook "subresources.kboot.test" denied the request'
    assert refusal in failed(server.kubectl("scale", "-n", ns, "deployment/web",
                                            "--replicas=3"))
    binding = call(server, "POST", f"/api/v1/namespaces/{ns}/pods/p/binding",
                   {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
                    "target": {"kind": "Node", "name": "n1"}})
    assert binding.status == 400 and refusal in binding.body["message"], binding.body
    eviction = call(server, "POST", f"/api/v1/namespaces/{ns}/pods/p/eviction",
                    {"apiVersion": "policy/v1", "kind": "Eviction",
                     "metadata": {"name": "p", "namespace": ns}})
    assert eviction.status == 400 and refusal in eviction.body["message"], eviction.body
    seen = {r["subResource"]: r for r in reviews_for(hooks, ns) if r.get("subResource")}
    assert {sub: (r["kind"]["group"], r["kind"]["kind"], r["resource"]["resource"])
            for sub, r in seen.items()} == {
        "scale": ("autoscaling", "Scale", "deployments"),
        "binding": ("", "Binding", "pods"), "eviction": ("policy", "Eviction", "pods")}
    assert seen["scale"]["object"]["spec"]["replicas"] == 3
    assert seen["scale"]["oldObject"]["spec"]["replicas"] == 1
    assert seen["binding"]["object"]["target"]["name"] == "n1"
    scale = call(server, "GET", f"/apis/apps/v1/namespaces/{ns}/deployments/web/scale")
    assert scale.body["spec"]["replicas"] == 1  # nothing was stored
    pod_now = call(server, "GET", f"/api/v1/namespaces/{ns}/pods/p")
    assert pod_now.status == 200 and not pod_now.body["spec"].get("nodeName")


def test_match_conditions_select_the_requests_a_webhook_sees(
        server: ApiServer, hooks: WebhookServer, ns: str) -> None:
    configure(server, ns, "ValidatingWebhookConfiguration",
              webhook("conditions.kboot.test", hooks.client_config("/refuse"), ns,
                      resources=["configmaps"], matchConditions=[
                          {"name": "named-deny",
                           "expression": "object.metadata.name.startsWith('deny')"},
                          {"name": "not-admin",
                           "expression": "!('system:masters' in request.userInfo.groups) || "
                                         "request.operation == 'CREATE'"}]))
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keep"}}
    ok(server.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest)))
    manifest["metadata"]["name"] = "deny-me"
    err = failed(server.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest)))
    assert 'admission webhook "conditions.kboot.test" denied the request' in err
    assert [r["name"] for r in reviews_for(hooks, ns)] == ["deny-me"]
