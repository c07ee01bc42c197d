"""Admission webhooks, pure parts: configuration rules, matching, reviews, patches, and the
dispatcher's ordering and failure policy over a fake client (no network)."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from kboot.controlplane.api import defaults, validation
from kboot.controlplane.api.registry import lookup
from kboot.controlplane.api.status import StatusError
from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.errors import not_found
from kboot.controlplane.apiserver.webhooks.client import (
    CallError,
    destination,
    resolve_from_objects,
)
from kboot.controlplane.apiserver.webhooks.dispatcher import WebhookDispatcher
from kboot.controlplane.apiserver.webhooks.matching import (
    Attributes,
    Webhook,
    matches,
    rule_matches,
    webhooks_of,
)
from kboot.controlplane.apiserver.webhooks.review import (
    ReviewError,
    apply_patch,
    build_request,
    denial,
    read_response,
)

PODS = lookup("", "pods")
DEPLOYMENTS = lookup("apps", "deployments")
NODES = lookup("", "nodes")
NAMESPACES = lookup("", "namespaces")
VWC = lookup("admissionregistration.k8s.io", "validatingwebhookconfigurations")
MWC = lookup("admissionregistration.k8s.io", "mutatingwebhookconfigurations")
assert PODS and DEPLOYMENTS and NODES and NAMESPACES and VWC and MWC
USER = UserInfo("alice", groups=("devs",))


def hook_entry(name: str = "deny.example.com", **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name, "sideEffects": "None", "admissionReviewVersions": ["v1"],
        "clientConfig": {"url": "https://hooks.example.com/validate"},
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                   "resources": ["pods"]}],
    }
    entry.update(extra)
    return entry


def config(kind: str, *hooks: dict[str, Any], name: str = "cfg") -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
            "metadata": {"name": name}, "webhooks": list(hooks)}


def errors_of(obj: dict[str, Any]) -> list[str]:
    kind = MWC if obj["kind"] == "MutatingWebhookConfiguration" else VWC
    assert kind is not None
    return [str(e) for e in validation.validate(kind, defaults.apply_defaults(kind, obj))]


# ------------------------------------------------------------------ configuration rules


def test_defaults_are_upstreams() -> None:
    out = defaults.apply_defaults(MWC, config("MutatingWebhookConfiguration", hook_entry(
        clientConfig={"service": {"namespace": "ns", "name": "svc"}})))
    hook = out["webhooks"][0]
    assert (hook["failurePolicy"], hook["matchPolicy"], hook["timeoutSeconds"],
            hook["reinvocationPolicy"]) == ("Fail", "Equivalent", 10, "Never")
    assert hook["namespaceSelector"] == {} and hook["objectSelector"] == {}
    assert hook["rules"][0]["scope"] == "*"
    assert hook["clientConfig"]["service"]["port"] == 443


def test_a_valid_configuration_passes() -> None:
    assert errors_of(config("ValidatingWebhookConfiguration", hook_entry())) == []


@pytest.mark.parametrize(("change", "expected"), [
    ({"name": "short.name"}, "at least three segments"),
    ({"name": "Bad_Name.example.com"}, "webhooks[0].name: Invalid value"),
    ({"sideEffects": None}, "webhooks[0].sideEffects: Required value"),
    ({"sideEffects": "Some"}, 'supported values: "None", "NoneOnDryRun"'),
    ({"admissionReviewVersions": ["v1beta1"]}, "must include v1"),
    ({"timeoutSeconds": 31}, "between 1 and 30 seconds"),
    ({"failurePolicy": "Maybe"}, "webhooks[0].failurePolicy: Unsupported value"),
    ({"matchPolicy": "Loose"}, "webhooks[0].matchPolicy: Unsupported value"),
    ({"clientConfig": {}}, "exactly one of url or service is required"),
    ({"clientConfig": {"url": "https://a.example.com/", "service": {"namespace": "n",
                                                                     "name": "s"}}},
     "exactly one of url or service"),
    ({"clientConfig": {"url": "http://a.example.com/"}}, "'https' is the only allowed"),
    ({"clientConfig": {"url": "https://a.example.com/#frag"}}, "fragments are not permitted"),
    ({"clientConfig": {"url": "https://a.example.com/?x=1"}}, "query parameters are not"),
    ({"clientConfig": {"url": "https://u:p@a.example.com/"}}, "user information"),
    ({"clientConfig": {"service": {"namespace": "n", "name": "s", "path": "x"}}},
     "must start with a '/'"),
    ({"clientConfig": {"service": {"namespace": "n", "name": "s", "port": 70000}}},
     "must be between 1 and 65535"),
    ({"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}},
     "webhooks[0].namespaceSelector"),
    ({"matchConditions": [{"name": "c", "expression": "authorizer.group('').check()"}]},
     "the authorizer variable is not supported"),
    ({"matchConditions": [{"name": "c", "expression": "object.("}]},
     "webhooks[0].matchConditions[0].expression: Invalid value"),
    ({"matchConditions": [{"name": "c", "expression": "true"},
                          {"name": "c", "expression": "false"}]},
     "webhooks[0].matchConditions[1].name: Duplicate value"),
    ({"matchConditions": [{"expression": "true"}]},
     "webhooks[0].matchConditions[0].name: Required value"),
    ({"matchConditions": [{"name": f"c{i}", "expression": "true"} for i in range(65)]},
     "must have at most 64 items"),
    ({"rules": [{"operations": ["CREATE", "*"], "apiGroups": [""], "apiVersions": ["v1"],
                 "resources": ["pods"]}]}, "if '*' is present, must not specify other operations"),
    ({"rules": [{"operations": ["PATCH"], "apiGroups": [""], "apiVersions": ["v1"],
                 "resources": ["pods"]}]}, "operations[0]: Unsupported value"),
    ({"rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                 "resources": ["*/*", "pods"]}]}, "if '*/*' is present"),
    ({"rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                 "resources": ["pods/*", "pods/status"]}]}, "if 'pods/*' is present"),
    ({"rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                 "resources": ["pods"], "scope": "Global"}]}, "scope: Unsupported value"),
])
def test_invalid_webhooks_are_refused(change: dict[str, Any], expected: str) -> None:
    entry = hook_entry()
    for key, value in change.items():
        if value is None:
            entry.pop(key)
        else:
            entry[key] = value
    found = errors_of(config("ValidatingWebhookConfiguration", entry))
    assert any(expected in e for e in found), found


def test_webhook_names_are_unique_and_reinvocation_is_checked() -> None:
    found = errors_of(config("MutatingWebhookConfiguration", hook_entry(),
                             hook_entry(reinvocationPolicy="Always")))
    assert any("webhooks[1].name: Duplicate value" in e for e in found), found
    assert any("webhooks[1].reinvocationPolicy: Unsupported value" in e for e in found), found


# ------------------------------------------------------------------ matching


def attrs(kind: Any = PODS, op: str = "CREATE", sub: str = "", ns: str | None = "default",
          obj: dict[str, Any] | None = None, old: dict[str, Any] | None = None,
          dry_run: bool = False) -> Attributes:
    return Attributes(operation=op, kind=kind, subresource=sub, namespace=ns, name="x",
                      obj=obj if obj is not None else {"metadata": {"name": "x"}}, old=old,
                      dry_run=dry_run)


def rule(**extra: Any) -> dict[str, Any]:
    out = {"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"],
           "scope": "*"}
    out.update(extra)
    return out


@pytest.mark.parametrize(("the_rule", "request_attrs", "equivalent", "expected"), [
    (rule(), attrs(), False, True),
    (rule(operations=["UPDATE"]), attrs(), False, False),
    (rule(apiGroups=["apps"]), attrs(), False, False),
    (rule(resources=["pods"]), attrs(sub="status", op="UPDATE"), False, False),
    (rule(resources=["pods/status"]), attrs(sub="status", op="UPDATE"), False, True),
    (rule(resources=["*/status"]), attrs(sub="status", op="UPDATE"), False, True),
    (rule(resources=["pods/*"]), attrs(sub="status"), False, True),
    (rule(resources=["*"]), attrs(sub="status"), False, False),
    (rule(resources=["*/*"]), attrs(sub="status"), False, True),
    (rule(scope="Cluster"), attrs(), False, False),
    (rule(scope="Cluster"), attrs(kind=NODES, ns=None), False, True),
    (rule(scope="Namespaced"), attrs(kind=NODES, ns=None), False, False),
    # matchPolicy: another version of apps/deployments reaches the served apps/v1
    (rule(apiGroups=["apps"], apiVersions=["v1beta1"], resources=["deployments"]),
     attrs(kind=DEPLOYMENTS), True, True),
    (rule(apiGroups=["apps"], apiVersions=["v1beta1"], resources=["deployments"]),
     attrs(kind=DEPLOYMENTS), False, False),
    (rule(apiGroups=["extensions"], apiVersions=["v1beta1"], resources=["deployments"]),
     attrs(kind=DEPLOYMENTS), True, False),
])
def test_rule_matching(the_rule: dict[str, Any], request_attrs: Attributes, equivalent: bool,
                       expected: bool) -> None:
    assert rule_matches(the_rule, request_attrs, equivalent=equivalent) is expected


def parsed(**extra: Any) -> Webhook:
    entry = defaults.apply_defaults(VWC, config("ValidatingWebhookConfiguration",
                                                hook_entry(**extra)))
    return webhooks_of(entry, mutating=False)[0]


def labelled(labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": "x", "labels": labels}}


def test_selectors() -> None:
    hook = parsed(rules=[rule()], objectSelector={"matchLabels": {"hooked": "yes"}},
                  namespaceSelector={"matchLabels": {"team": "a"}})
    yes, no = labelled({"hooked": "yes"}), labelled({})
    assert matches(hook, attrs(obj=yes), {"team": "a"})
    assert not matches(hook, attrs(obj=yes), {"team": "b"})
    assert not matches(hook, attrs(obj=no), {"team": "a"})
    # updates: the old object's labels count too (upstream)
    assert matches(hook, attrs(op="UPDATE", obj=no, old=yes), {"team": "a"})
    # cluster-scoped kinds ignore namespaceSelector; Namespaces match by their own labels
    assert matches(hook, attrs(kind=NODES, ns=None, obj=yes), None)
    ns_yes = labelled({"team": "a", "hooked": "yes"})
    assert matches(hook, attrs(kind=NAMESPACES, ns=None, obj=ns_yes), None)
    assert not matches(hook, attrs(kind=NAMESPACES, ns=None, obj=yes), None)


def test_webhook_configurations_are_never_sent_to_webhooks() -> None:
    hook = parsed(rules=[rule()])
    assert not matches(hook, attrs(kind=VWC, ns=None), None)
    assert not matches(hook, attrs(kind=MWC, ns=None), None)


# ------------------------------------------------------------------ reviews and patches


def b64(ops: list[Any]) -> str:
    return base64.b64encode(json.dumps(ops).encode()).decode()


def response(uid: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": uid, **extra}}


def test_request_shape() -> None:
    body = build_request(attrs(kind=DEPLOYMENTS, op="UPDATE", sub="scale", dry_run=True,
                               old={"metadata": {"name": "x"}}), USER, uid="u1")
    req = body["request"]
    assert body["apiVersion"] == "admission.k8s.io/v1" and req["uid"] == "u1"
    assert req["kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert req["resource"] == {"group": "apps", "version": "v1", "resource": "deployments"}
    assert req["subResource"] == "scale" and req["namespace"] == "default"
    assert req["operation"] == "UPDATE" and req["dryRun"] is True
    assert req["userInfo"] == {"username": "alice", "groups": ["devs"]}
    assert req["options"]["kind"] == "UpdateOptions"


def test_responses() -> None:
    ops = [{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}]
    verdict = read_response(response("u", allowed=True, patchType="JSONPatch", patch=b64(ops),
                                     warnings=["careful"]), "u", mutating=True)
    assert verdict.allowed and verdict.patch == ops and verdict.warnings == ("careful",)
    for bad, why in [(response("other", allowed=True), "expected response.uid"),
                     (response("u"), "boolean 'allowed'"),
                     ({"kind": "Status"}, "AdmissionReview"),
                     (response("u", allowed=True, patchType="Merge", patch=b64(ops)),
                      "unsupported patch type"),
                     (response("u", allowed=True, patchType="JSONPatch", patch="%%"),
                      "not base64")]:
        with pytest.raises(ReviewError, match=why):
            read_response(bad, "u", mutating=True)


def test_patch_application() -> None:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}
    out = apply_patch(obj, [{"op": "add", "path": "/metadata/labels", "value": {"x": "1"}},
                            {"op": "replace", "path": "/spec", "value": {"a": 1}}], "m")
    assert out["metadata"]["labels"] == {"x": "1"} and out["spec"] == {"a": 1}
    assert "labels" not in obj["metadata"]  # the input is untouched
    with pytest.raises(ReviewError, match="does not apply"):
        apply_patch(obj, [{"op": "remove", "path": "/nope"}], "m")
    with pytest.raises(ReviewError, match="did not produce an object"):
        apply_patch(obj, [{"op": "replace", "path": "", "value": 3}], "m")


def test_denials_are_formatted_as_upstream() -> None:
    err = denial("deny.example.com", {"message": "no pods here", "code": 403})
    assert (err.code, err.message) == (
        403, 'admission webhook "deny.example.com" denied the request: no pods here')
    assert denial("d.example.com", {}).message == \
        'admission webhook "d.example.com" denied the request without explanation'
    assert denial("d.example.com", {"code": 200, "reason": "Nope"}).code == 400


def test_service_resolution() -> None:
    svc = {"spec": {"ports": [{"name": "https", "port": 443, "targetPort": 8443}]}}
    eps = {"subsets": [{"addresses": [{"ip": "10.244.1.5"}],
                        "ports": [{"name": "https", "port": 8443}]}]}
    assert resolve_from_objects(svc, eps, port=443) == ("10.244.1.5", 8443)
    with pytest.raises(CallError, match="no ready endpoints"):
        resolve_from_objects(svc, {"subsets": [{"notReadyAddresses": [{"ip": "10.0.0.1"}],
                                                "ports": [{"name": "https", "port": 1}]}]},
                             port=443)
    with pytest.raises(CallError, match="has no port 80"):
        resolve_from_objects(svc, eps, port=80)
    hook = parsed(clientConfig={"service": {"namespace": "ns", "name": "svc", "port": 443,
                                            "path": "/v"}}, timeoutSeconds=3)
    where = destination(hook, lambda ns, name, port: ("10.244.1.5", 8443))
    assert where.url == "https://10.244.1.5:8443/v?timeout=3s"
    assert where.server_name == "svc.ns.svc"


# ------------------------------------------------------------------ the dispatcher


class FakeStorage:
    """What the store holds; a cache may lag behind it."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}

    async def get(self, kind: Any, namespace: str | None, name: str) -> Any:
        try:
            return self.objects[kind.key(namespace, name)]
        except KeyError:
            raise not_found(kind, name) from None


@dataclass
class FakeCache:
    objects: dict[str, Any] = field(default_factory=dict)
    revision: int = 1
    storage: FakeStorage = field(default_factory=FakeStorage)


class FakeCaches:
    def __init__(self) -> None:
        self.caches: dict[str, FakeCache] = {}

    def peek(self, kind: Any) -> FakeCache:
        return self.caches.setdefault(kind.plural, FakeCache())

    async def get(self, kind: Any) -> FakeCache:
        return self.peek(kind)

    def put(self, kind: Any, obj: dict[str, Any]) -> None:
        cache = self.peek(kind)
        cache.objects[obj["metadata"]["name"]] = defaults.apply_defaults(kind, obj)
        cache.revision += 1


class FakeClient:
    """Answers per webhook name with a function of the review (or raises CallError)."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def call(self, hook: Webhook, review: dict[str, Any]) -> Any:
        self.calls.append(hook.name)
        answer = self.answers[hook.name]
        if isinstance(answer, Exception):
            raise answer
        return response(review["request"]["uid"], **answer(review["request"]))

    async def close(self) -> None:
        return None


def dispatcher(answers: dict[str, Any], *, validating: list[dict[str, Any]] = (),  # type: ignore[assignment]
               mutating: list[dict[str, Any]] = ()) -> tuple[WebhookDispatcher, FakeClient]:  # type: ignore[assignment]
    caches, client = FakeCaches(), FakeClient(answers)
    caches.put(VWC, config("ValidatingWebhookConfiguration", *validating, name="v"))
    caches.put(MWC, config("MutatingWebhookConfiguration", *mutating, name="m"))
    return WebhookDispatcher(caches, client), client  # type: ignore[arg-type]


def pod() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "namespace": "default",
                                                            "uid": "u-1"}, "spec": {}}


def add_label(key: str) -> Any:
    def answer(req: dict[str, Any]) -> dict[str, Any]:
        labels = (req["object"]["metadata"].get("labels") or {})
        if key in labels:
            return {"allowed": True}
        ops = ([{"op": "add", "path": "/metadata/labels", "value": {key: "1"}}] if not labels
               else [{"op": "add", "path": f"/metadata/labels/{key}", "value": "1"}])
        return {"allowed": True, "patchType": "JSONPatch", "patch": b64(ops)}
    return answer


def run(disp: WebhookDispatcher, request_attrs: Attributes) -> tuple[Any, list[str]]:
    return asyncio.run(disp.admit(request_attrs, USER, lambda obj: {**obj, "revalidated": True}))


def test_mutations_chain_then_validation_sees_the_result() -> None:
    seen: list[Any] = []

    def check(req: dict[str, Any]) -> dict[str, Any]:
        seen.append(req["object"]["metadata"]["labels"])
        return {"allowed": True, "warnings": ["validated"]}

    disp, client = dispatcher(
        {"a.example.com": add_label("a"), "b.example.com": add_label("b"),
         "v.example.com": check},
        mutating=[hook_entry("a.example.com"), hook_entry("b.example.com")],
        validating=[hook_entry("v.example.com")])
    obj, warnings = run(disp, attrs(obj=pod()))
    assert obj["metadata"]["labels"] == {"a": "1", "b": "1"} and obj["revalidated"]
    assert obj["metadata"]["uid"] == "u-1"
    assert seen == [{"a": "1", "b": "1"}] and warnings == ["validated"]
    assert client.calls == ["a.example.com", "b.example.com", "v.example.com"]


def test_reinvocation_if_needed() -> None:
    disp, client = dispatcher(
        {"a.example.com": add_label("a"), "b.example.com": add_label("b")},
        mutating=[hook_entry("a.example.com", reinvocationPolicy="IfNeeded"),
                  hook_entry("b.example.com")])
    run(disp, attrs(obj=pod()))
    assert client.calls == ["a.example.com", "b.example.com", "a.example.com"]


def test_denial_and_failure_policies() -> None:
    deny = {"d.example.com": lambda req: {"allowed": False,
                                          "status": {"message": "nope", "code": 403}}}
    disp, _ = dispatcher(deny, validating=[hook_entry("d.example.com")])
    with pytest.raises(StatusError) as err:
        run(disp, attrs(obj=pod()))
    assert err.value.code == 403 and "denied the request: nope" in err.value.message

    down = {"f.example.com": CallError("connection refused")}
    disp, _ = dispatcher(down, validating=[hook_entry("f.example.com")])
    with pytest.raises(StatusError) as err:
        run(disp, attrs(obj=pod()))
    assert err.value.code == 500
    assert err.value.message == ('Internal error occurred: failed calling webhook '
                                 '"f.example.com": connection refused')

    disp, client = dispatcher(down, validating=[hook_entry("f.example.com",
                                                           failurePolicy="Ignore")])
    obj, _ = run(disp, attrs(obj=pod()))
    assert obj["metadata"]["name"] == "x" and client.calls == ["f.example.com"]


def test_dry_run_needs_side_effect_free_webhooks() -> None:
    answers = {"s.example.com": lambda req: {"allowed": req["dryRun"] is True}}
    disp, _ = dispatcher(answers, validating=[hook_entry("s.example.com",
                                                         sideEffects="NoneOnDryRun")])
    run(disp, attrs(obj=pod(), dry_run=True))  # allowed: dryRun reached the webhook
    # a stored configuration from before validation (v1 refuses it on write): refused
    disp, client = dispatcher(answers, validating=[hook_entry("s.example.com")])
    cache = disp.caches.peek(VWC)
    cache.objects["v"]["webhooks"][0]["sideEffects"] = "Unknown"
    cache.revision += 1
    with pytest.raises(StatusError, match=r'"s\.example\.com" does not support dry run'):
        run(disp, attrs(obj=pod(), dry_run=True))
    assert client.calls == []


def test_configuration_changes_are_seen_per_cache_revision() -> None:
    disp, client = dispatcher({"v.example.com": lambda req: {"allowed": True}})
    run(disp, attrs(obj=pod()))
    assert client.calls == []
    disp.caches.put(VWC, config("ValidatingWebhookConfiguration",  # type: ignore[attr-defined]
                                hook_entry("v.example.com"), name="v"))
    run(disp, attrs(obj=pod()))
    assert client.calls == ["v.example.com"]


def test_a_namespace_not_yet_cached_is_read_from_the_store() -> None:
    """One store watch per kind: a namespace just created through another apiserver can be
    missing from this one's cache while a configuration written after it is cached. Its labels
    are then read from the store, so the configuration's namespaceSelector matches."""
    answers = {"n.example.com": lambda req: {"allowed": False, "status": {"message": "no"}}}
    disp, client = dispatcher(answers, validating=[hook_entry(
        "n.example.com", namespaceSelector={"matchLabels": {"team": "a"}})])
    store = disp.caches.peek(NAMESPACES).storage  # type: ignore[attr-defined]
    store.objects[NAMESPACES.key(None, "default")] = {
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "default", "labels": {"team": "a"}}}
    with pytest.raises(StatusError, match="denied the request: no"):
        run(disp, attrs(obj=pod()))
    # a namespace neither cached nor stored has no labels: the selector does not match
    obj, _ = run(disp, attrs(obj=pod(), ns="elsewhere"))
    assert obj["metadata"]["name"] == "x" and client.calls == ["n.example.com"]


def test_connect_options_are_sent_and_never_patched() -> None:
    seen: list[Any] = []

    def patcher(req: dict[str, Any]) -> dict[str, Any]:
        seen.append(req["kind"])
        return add_label("a")(req) if req["object"].get("metadata") else \
            {"allowed": True, "patchType": "JSONPatch",
             "patch": b64([{"op": "add", "path": "/command", "value": ["rm"]}])}

    connect = [rule(operations=["CONNECT"], resources=["pods/exec"])]
    disp, client = dispatcher({"m.example.com": patcher},
                              mutating=[hook_entry("m.example.com", rules=connect)])
    options = {"kind": "PodExecOptions", "apiVersion": "v1", "command": ["ls"]}
    obj, _ = run(disp, attrs(op="CONNECT", sub="exec", obj=options))
    assert obj == options and client.calls == ["m.example.com"]
    assert seen == [{"group": "", "version": "v1", "kind": "PodExecOptions"}]


def test_match_conditions_decide_whether_a_webhook_is_called() -> None:
    """All true → called; any false → skipped (even beside an error); an error alone →
    failurePolicy: Fail refuses (403), Ignore skips."""
    allow = {"allowed": True}
    names = ("all.example.com", "one-false.example.com", "error.example.com",
             "error-ignored.example.com")
    answers = {name: (lambda req: allow) for name in names}
    labelled = "has(object.metadata.labels) && object.metadata.labels['team'] == 'a'"
    disp, client = dispatcher(answers, validating=[
        hook_entry("all.example.com", matchConditions=[
            {"name": "create", "expression": "request.operation == 'CREATE'"},
            {"name": "pods", "expression": "request.resource.resource == 'pods'"},
            {"name": "no-old", "expression": "oldObject == null"}]),
        hook_entry("one-false.example.com", matchConditions=[
            {"name": "broken", "expression": "object.missing.field == 1"},
            {"name": "team", "expression": labelled}]),
        hook_entry("error-ignored.example.com", failurePolicy="Ignore", matchConditions=[
            {"name": "broken", "expression": "object.missing.field == 1"}])])
    run(disp, attrs(obj=pod()))
    assert client.calls == ["all.example.com"]

    disp, client = dispatcher(answers, validating=[hook_entry(
        "error.example.com", matchConditions=[
            {"name": "broken", "expression": "object.missing.field == 1"}])])
    with pytest.raises(StatusError) as err:
        run(disp, attrs(obj=pod()))
    assert err.value.code == 403 and client.calls == []
    assert 'webhook "error.example.com": matchCondition \'broken\' failed to evaluate' in \
        err.value.message
