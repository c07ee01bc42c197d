"""Per-kind strategies and the run-time kind registry: the generic write/read path names no
kind, each built-in kind's policy is what upstream's strategy says, and the registry tells its
followers about every change."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kboot.controlplane.api.registry import KINDS, ResourceKind
from kboot.controlplane.apiserver import strategies
from kboot.controlplane.apiserver.kinds import KindConflict, KindRegistry
from kboot.controlplane.apiserver.strategy import SchemalessStrategy, Strategy
from kboot.controlplane.client.clock import FakeClock
from tests.unit.apiserver.harness import async_test, running

APISERVER = Path(strategies.__file__).parent
# the generic path: what every kind goes through (subresource handlers such as binding, scale
# and eviction belong to their subresource, and tokenrequest/nodeauth to their feature)
GENERIC = ("admission", "crud", "patching", "writes", "listing", "watch", "watchcache",
           "storage", "rules", "routing", "discovery", "kinds", "strategy", "openapidocs",
           "app", "state")
KIND_NAMES = frozenset(k.kind for k in KINDS)
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def _kind_mentions(source: str) -> list[str]:
    """``x.kind == "Pod"``-style comparisons and string constants that are a kind's name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and node.value in KIND_NAMES:
            found.append(f"line {node.lineno}: {node.value!r}")
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            named = any(isinstance(s, ast.Attribute) and s.attr in ("kind", "plural")
                        for s in sides)
            literal = any(isinstance(s, ast.Constant | ast.Tuple | ast.Set | ast.List)
                          for s in sides)
            if named and literal:
                found.append(f"line {node.lineno}: compares .{'kind'} with a literal")
    return sorted(found)


@pytest.mark.parametrize("module", GENERIC)
def test_the_generic_path_names_no_kind(module: str) -> None:
    assert _kind_mentions((APISERVER / f"{module}.py").read_text()) == []


def test_the_check_finds_a_kind_branch() -> None:
    assert _kind_mentions('if kind.kind == "Pod":\n    pass\n') == [
        "line 1: 'Pod'", "line 1: compares .kind with a literal"]
    assert _kind_mentions('if kind.plural in ("pods", "nodes"):\n    pass\n') == [
        "line 1: compares .kind with a literal"]


def _strategy(kind: str) -> Strategy:
    registry = KindRegistry.builtin()
    found = next(k for k in registry.kinds() if k.kind == kind)
    return registry.strategy(found)


@pytest.mark.parametrize(("kind", "generation"), [
    ("Pod", False), ("Namespace", False), ("Node", False), ("Secret", False), ("Event", False),
    ("ConfigMap", False), ("ClusterRoleBinding", False), ("Lease", False),
    ("Deployment", True), ("Service", True), ("Job", True), ("CertificateSigningRequest", True),
])
def test_generation_policy(kind: str, generation: bool) -> None:
    assert _strategy(kind).generation is generation


def test_storage_options() -> None:
    assert _strategy("Secret").storage.encrypted
    assert _strategy("Event").storage.ttl_seconds == strategies.EVENT_TTL_SECONDS
    assert not _strategy("ConfigMap").storage.encrypted
    assert _strategy("ConfigMap").storage.ttl_seconds is None


def test_status_reset_on_create() -> None:
    for kind, kept in (("Pod", True), ("Node", True), ("Namespace", True),
                       ("Deployment", False)):
        obj = {"metadata": {"name": "x"}, "status": {"phase": "Running"}}
        _strategy(kind).prepare_for_create(obj, user=None)
        assert ("status" in obj) is kept, kind


def test_deletion_rules() -> None:
    pod, ns = _strategy("Pod"), _strategy("Namespace")
    scheduled = {"metadata": {"deletionGracePeriodSeconds": 30},
                 "spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 45}}
    assert pod.grace_seconds(scheduled, {}) == 45
    assert pod.grace_seconds(scheduled, {"gracePeriodSeconds": 0}) == 0
    assert pod.grace_seconds({"spec": {}}, {}) == 0
    assert pod.holds_removal(scheduled)
    assert not pod.holds_removal({**scheduled, "metadata": {"deletionGracePeriodSeconds": 0}})
    assert not pod.propagation_marks and _strategy("ReplicaSet").propagation_marks
    assert ns.holds_removal({"spec": {"finalizers": ["kubernetes"]}})
    terminating: dict[str, object] = {}
    ns.mark_terminating(terminating)
    assert terminating == {"status": {"phase": "Terminating"}}


def test_secret_string_data_folds_into_data() -> None:
    out = _strategy("Secret").normalize({"stringData": {"k": "v"}, "data": {"a": "Yg=="}})
    assert out == {"data": {"a": "Yg==", "k": "dg=="}}


WIDGETS = ResourceKind("example.com", "v1", "Widget", "widgets", True)


def test_registry_grows_and_shrinks_and_tells_followers() -> None:
    registry = KindRegistry.builtin()
    seen: list[tuple[str, str]] = []
    unsubscribe = registry.subscribe(lambda change, s: seen.append((change, s.kind.plural)))
    before = registry.generation
    built = registry.memo("doc", lambda: len(registry.kinds()))
    registry.register(SchemalessStrategy(WIDGETS))
    assert registry.lookup("example.com", "widgets") == WIDGETS
    assert registry.for_kind("example.com", "Widget") == WIDGETS
    assert registry.memo("doc", lambda: len(registry.kinds())) == built + 1  # rebuilt
    assert registry.generation == before + 1
    assert isinstance(registry.unregister("example.com", "widgets"), SchemalessStrategy)
    assert registry.lookup("example.com", "widgets") is None
    unsubscribe()
    registry.register(SchemalessStrategy(WIDGETS))
    assert seen == [("added", "widgets"), ("removed", "widgets")]


def test_registry_refuses_taken_names() -> None:
    registry = KindRegistry([SchemalessStrategy(WIDGETS)])
    same_kind = ResourceKind("example.com", "v1", "Widget", "gadgets", True)
    same_plural = ResourceKind("example.com", "v1", "Gadget", "widgets", True)
    for kind in (same_kind, same_plural):
        with pytest.raises(KindConflict, match="already served"):
            registry.register(SchemalessStrategy(kind))
    with pytest.raises(KeyError):
        registry.unregister("example.com", "gadgets")


def test_schemaless_strategy_keeps_objects_and_checks_metadata() -> None:
    strategy = SchemalessStrategy(WIDGETS)
    obj = {"metadata": {"name": "w", "namespace": "d"}, "spec": {"any": [1, {"x": None}]},
           "gone": None}
    assert strategy.default(obj) == {"metadata": {"name": "w", "namespace": "d"},
                                     "spec": {"any": [1, {"x": None}]}}
    assert strategy.unknown_fields(obj) == []
    assert strategy.validate(obj, None) == []
    causes = strategy.validate({"metadata": {"name": "Bad_Name", "namespace": "d"}}, None)
    assert [c["field"] for c in causes] == ["metadata.name"]


@async_test
async def test_the_server_stamps_time_from_its_clock() -> None:
    clock = FakeClock(start=datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC))
    async with running(clock=clock) as h:
        base = "/api/v1/namespaces/default/pods"
        pod = {"metadata": {"name": "p"}, "spec": {"nodeName": "n1",
               "terminationGracePeriodSeconds": 30, "containers": [{"name": "c",
                                                                     "image": "busybox"}]}}
        created = await h.json("POST", base, pod, expect=201)
        assert created["metadata"]["creationTimestamp"] == "2030-05-06T07:08:09Z"
        assert created["metadata"]["managedFields"][0]["time"] == "2030-05-06T07:08:09Z"
        await clock.advance(90)
        table = await h.json("GET", base, headers={"Accept": TABLE})
        assert table["rows"][0]["cells"][4] == "90s"  # AGE, from the server's clock
        deleting = await h.json("DELETE", f"{base}/p")
        assert deleting["metadata"]["deletionTimestamp"] == "2030-05-06T07:10:09Z"  # +90+30
