"""Pure pieces of the apiserver: routing, codecs, continue tokens, RBAC rules, node references,
tokens, discovery, watch classification, metrics."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kboot.controlplane.apiserver import codec, discovery, tokens
from kboot.controlplane.apiserver.authz import Attributes, rule_allows
from kboot.controlplane.apiserver.errors import StatusError
from kboot.controlplane.apiserver.kinds import KindRegistry
from kboot.controlplane.apiserver.listing import decode_continue, encode_continue
from kboot.controlplane.apiserver.metrics import Metrics
from kboot.controlplane.apiserver.routing import UnknownResource, parse_path, verb_for
from kboot.controlplane.apiserver.watch import classify
from kboot.controlplane.apiserver.watchcache import CacheEvent

KINDS = KindRegistry.builtin()


@pytest.mark.parametrize(("path", "expected"), [
    ("/api/v1/pods", ("pods", None, None, None)),
    ("/api/v1/namespaces/a/pods", ("pods", "a", None, None)),
    ("/api/v1/namespaces/a/pods/p/status", ("pods", "a", "p", "status")),
    ("/api/v1/namespaces/a", ("namespaces", None, "a", None)),
    ("/api/v1/namespaces/a/status", ("namespaces", None, "a", "status")),
    ("/api/v1/nodes/n1", ("nodes", None, "n1", None)),
    ("/apis/apps/v1/namespaces/x/deployments/d/scale", ("deployments", "x", "d", "scale")),
    ("/apis/rbac.authorization.k8s.io/v1/clusterroles", ("clusterroles", None, None, None)),
])
def test_parse_path(path: str, expected: tuple[str, str | None, str | None, str | None]) -> None:
    t = parse_path(path, KINDS)
    assert t is not None
    assert (t.kind.plural, t.namespace, t.name, t.subresource) == expected


@pytest.mark.parametrize("path", ["/api/v1/widgets", "/api/v1/pods/p", "/apis/apps/v2/deployments",
                                  "/api/v1/namespaces/a/pods/p/bogus",
                                  "/api/v1/namespaces/a/configmaps/c/scale"])
def test_parse_path_unknown(path: str) -> None:
    with pytest.raises(UnknownResource):
        parse_path(path, KINDS)


def test_non_resource_paths() -> None:
    assert parse_path("/api", KINDS) is None and parse_path("/apis/apps/v1", KINDS) is None
    assert parse_path("/version", KINDS) is None


@pytest.mark.parametrize(("method", "path", "watch", "verb"), [
    ("GET", "/api/v1/pods", False, "list"), ("GET", "/api/v1/pods", True, "watch"),
    ("GET", "/api/v1/namespaces/a/pods/p", False, "get"),
    ("DELETE", "/api/v1/namespaces/a/pods", False, "deletecollection"),
    ("POST", "/api/v1/namespaces/a/pods/p/binding", False, "create"),
    ("GET", "/api/v1/namespaces/a/pods/p/exec", False, "create"),
    ("PATCH", "/api/v1/namespaces/a/pods/p/status", False, "patch"),
])
def test_verbs(method: str, path: str, watch: bool, verb: str) -> None:
    target = parse_path(path, KINDS)
    assert target is not None and verb_for(method, target, watch=watch) == verb


def test_decode_detects_duplicates_and_rejects_garbage() -> None:
    d = codec.decode(b'{"a":1,"a":2,"b":{"c":1,"c":2}}', "application/json")
    assert d.value == {"a": 2, "b": {"c": 2}} and sorted(d.duplicates) == ["a", "c"]
    y = codec.decode(b"a: 1\na: 2\n", "application/yaml")
    assert y.value == {"a": 2} and y.duplicates == ["a"]
    for raw, ctype in [(b"{", "application/json"), (b"a: [", "application/yaml"),
                       (b"\xff\xfe", "application/yaml"), (b"[" * 100000, "application/json")]:
        with pytest.raises(StatusError) as err:
            codec.decode(raw, ctype)
        assert err.value.code == 400
    with pytest.raises(StatusError) as err:
        codec.decode(b"{}", "application/vnd.kubernetes.protobuf")
    assert err.value.code == 415


@pytest.mark.parametrize(("accept", "table", "aggregated"), [
    ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json", True, None),
    ("application/json, */*", False, None),
    ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
     "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
     "application/json", False, "v2"),
    ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList", False,
     "v2beta1"),
])
def test_accept_negotiation(accept: str, table: bool, aggregated: str | None) -> None:
    assert codec.wants_table(accept) is table
    assert codec.aggregated_discovery_version(accept) == aggregated


def test_continue_token_roundtrip_and_garbage() -> None:
    token = encode_continue(42, "ns/name")
    assert "=" not in token and decode_continue(token) == (42, "ns/name")
    for bad in ("!!!", "e30", encode_continue(0, "x")):
        with pytest.raises(StatusError) as err:
            decode_continue(bad)
        assert err.value.code == 400


@pytest.mark.parametrize(("rule", "attrs", "allowed"), [
    ({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
     Attributes("get", "", "pods"), True),
    ({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
     Attributes("list", "", "pods"), False),
    ({"apiGroups": ["apps"], "resources": ["*"], "verbs": ["*"]},
     Attributes("delete", "apps", "deployments"), True),
    ({"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]},
     Attributes("get", "", "pods", "log"), False),
    ({"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
     Attributes("get", "", "pods", "log"), True),
    ({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"],
      "resourceNames": ["a"]}, Attributes("get", "", "configmaps", name="b"), False),
    ({"nonResourceURLs": ["/apis/*"], "verbs": ["get"]},
     Attributes("get", path="/apis/apps/v1"), True),
    ({"nonResourceURLs": ["/version"], "verbs": ["get"]}, Attributes("get", path="/api"), False),
])
def test_rbac_rule_matching(rule: dict[str, object], attrs: Attributes, allowed: bool) -> None:
    assert rule_allows(rule, attrs) is allowed


@pytest.mark.parametrize("key", [rsa.generate_private_key(65537, 2048),
                                 ec.generate_private_key(ec.SECP256R1())])
def test_service_account_tokens(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> None:
    now = 1_700_000_000.0  # the server's clock, passed in
    token = tokens.issue(key, namespace="ns", name="sa", uid="u1", expires_in=60, now=now)
    claims = tokens.verify(key.public_key(), token, now=now + 59)
    assert claims["sub"] == "system:serviceaccount:ns:sa"
    assert (claims["iat"], claims["exp"]) == (int(now), int(now) + 60)
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.verify(key.public_key(), token, now=now + 61)
    head, body, sig = token.split(".")
    with pytest.raises(tokens.TokenError):
        tokens.verify(key.public_key(), f"{head}.{body}x.{sig}", now=now)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(tokens.TokenError):
        tokens.verify(other, token, now=now)


def test_discovery_documents() -> None:
    core = discovery.resource_list(KINDS, "", "v1")
    assert core is not None
    names = {r["name"]: r for r in core["resources"]}
    assert names["pods"]["categories"] == ["all"] and names["pods"]["shortNames"] == ["po"]
    assert names["pods/eviction"]["group"] == "policy"
    apps = discovery.resource_list(KINDS, "apps", "v1")
    assert apps is not None
    scale = {r["name"]: r for r in apps["resources"]}["deployments/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    agg = discovery.aggregated(KINDS, False)
    assert agg["kind"] == "APIGroupDiscoveryList"
    groups = {i["metadata"]["name"] for i in agg["items"]}
    assert {"apps", "batch", "rbac.authorization.k8s.io"} <= groups and "" not in groups
    core_agg = discovery.aggregated(KINDS, True)["items"][0]["versions"][0]["resources"]
    pods = next(r for r in core_agg if r["resource"] == "pods")
    assert pods["scope"] == "Namespaced"
    assert {s["subresource"] for s in pods["subresources"]} >= {"status", "log", "exec"}


def _ev(kind: str, labels: dict[str, str], prev: dict[str, str] | None) -> CacheEvent:
    obj = {"metadata": {"name": "x", "namespace": "a", "labels": labels}}
    old = None if prev is None else {"metadata": {"name": "x", "namespace": "a", "labels": prev}}
    return CacheEvent(kind, 5, obj, old)


@pytest.mark.parametrize(("event", "seen"), [
    (_ev("ADDED", {"a": "1"}, None), "ADDED"),
    (_ev("ADDED", {"a": "2"}, None), None),
    (_ev("MODIFIED", {"a": "1"}, {"a": "1"}), "MODIFIED"),
    (_ev("MODIFIED", {"a": "2"}, {"a": "1"}), "DELETED"),
    (_ev("MODIFIED", {"a": "1"}, {"a": "2"}), "ADDED"),
    (_ev("DELETED", {"a": "1"}, {"a": "1"}), "DELETED"),
])
def test_watch_selection_changes(event: CacheEvent, seen: str | None) -> None:
    def matches(obj: dict[str, object]) -> bool:
        return bool(obj["metadata"]["labels"].get("a") == "1")  # type: ignore[index]
    result = classify(event, matches, None)
    assert (result[0] if result else None) == seen
    assert classify(event, lambda o: True, "other-namespace") is None


def test_metrics_render() -> None:
    m = Metrics()
    m.observe(verb="LIST", group="", resource="pods", code=200, seconds=0.02)
    m.observe(verb="LIST", group="", resource="pods", code=200, seconds=3)
    m.watch_started("", "pods")
    text = m.render()
    assert 'apiserver_request_total{code="200",group="",resource="pods",verb="LIST"} 2' in text
    assert ('apiserver_request_duration_seconds_bucket{group="",resource="pods",verb="LIST",'
            'le="0.025"} 1') in text
    assert 'le="+Inf"} 2' in text
    assert 'apiserver_registered_watchers{group="",resource="pods"} 1' in text
