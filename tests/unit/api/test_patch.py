"""JSON merge patch, JSON patch and strategic merge patch, as data."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kboot.controlplane.api.patch import (
    JsonPatchTestFailed,
    PatchError,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
)

# RFC 7386 appendix A
MERGE_CASES: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ({"spec": {"replicas": 1, "x": 2}}, {"spec": {"replicas": 3}},
     {"spec": {"replicas": 3, "x": 2}}),
]


@pytest.mark.parametrize(("doc", "patch", "expected"), MERGE_CASES)
def test_json_merge_patch(doc: Any, patch: Any, expected: Any) -> None:
    before = copy.deepcopy(doc)
    assert json_merge_patch(doc, patch) == expected
    assert doc == before  # pure


JSON_PATCH_CASES: list[tuple[Any, list[dict[str, Any]], Any]] = [
    ({"a": 1}, [{"op": "add", "path": "/b", "value": 2}], {"a": 1, "b": 2}),
    ({"a": [1, 3]}, [{"op": "add", "path": "/a/1", "value": 2}], {"a": [1, 2, 3]}),
    ({"a": [1]}, [{"op": "add", "path": "/a/-", "value": 2}], {"a": [1, 2]}),
    ({"a": 1, "b": 2}, [{"op": "remove", "path": "/a"}], {"b": 2}),
    ({"a": [1, 2, 3]}, [{"op": "remove", "path": "/a/1"}], {"a": [1, 3]}),
    ({"a": 1}, [{"op": "replace", "path": "/a", "value": 9}], {"a": 9}),
    ({"a": [1, 2]}, [{"op": "replace", "path": "/a/0", "value": 9}], {"a": [9, 2]}),
    ({"a": {"b": 1}}, [{"op": "move", "from": "/a/b", "path": "/c"}], {"a": {}, "c": 1}),
    ({"a": [1, 2]}, [{"op": "move", "from": "/a/0", "path": "/a/-"}], {"a": [2, 1]}),
    ({"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}],
     {"a": {"b": 1}, "c": {"b": 1}}),
    ({"a": 1}, [{"op": "test", "path": "/a", "value": 1},
                {"op": "replace", "path": "/a", "value": 2}], {"a": 2}),
    ({"a/b": 1, "m~n": 2}, [{"op": "replace", "path": "/a~1b", "value": 3},
                            {"op": "remove", "path": "/m~0n"}], {"a/b": 3}),
    ({"a": 1}, [{"op": "replace", "path": "", "value": {"z": 0}}], {"z": 0}),
    ({"metadata": {"labels": {"x": "1"}}},
     [{"op": "add", "path": "/metadata/labels/y", "value": "2"}],
     {"metadata": {"labels": {"x": "1", "y": "2"}}}),
]


@pytest.mark.parametrize(("doc", "ops", "expected"), JSON_PATCH_CASES)
def test_json_patch(doc: Any, ops: list[dict[str, Any]], expected: Any) -> None:
    before = copy.deepcopy(doc)
    assert json_patch(doc, ops) == expected
    assert doc == before


JSON_PATCH_ERRORS: list[tuple[Any, Any, int]] = [
    ({"a": 1}, {"op": "add"}, 400),
    ({"a": 1}, [{"op": "frobnicate", "path": "/a"}], 400),
    ({"a": 1}, [{"op": "add", "path": "a", "value": 1}], 400),
    ({"a": 1}, [{"op": "add", "path": "/a"}], 400),
    ({"a": 1}, [{"op": "remove", "path": "/b"}], 422),
    ({"a": 1}, [{"op": "replace", "path": "/b", "value": 1}], 422),
    ({"a": 1}, [{"op": "add", "path": "/x/y", "value": 1}], 422),
    ({"a": [1]}, [{"op": "add", "path": "/a/5", "value": 1}], 422),
    ({"a": [1]}, [{"op": "remove", "path": "/a/01"}], 422),
    ({"a": {"b": 1}}, [{"op": "move", "from": "/a", "path": "/a/b/c"}], 422),
    ({"a": 1}, [{"op": "copy", "path": "/b"}], 400),
    ({"a": 1}, [{"op": "test", "path": "/a", "value": 2}], 422),
]


@pytest.mark.parametrize(("doc", "ops", "code"), JSON_PATCH_ERRORS)
def test_json_patch_errors(doc: Any, ops: Any, code: int) -> None:
    with pytest.raises(PatchError) as info:
        json_patch(doc, ops)
    assert info.value.code == code


def test_json_patch_test_failure_is_typed_and_atomic() -> None:
    doc = {"a": 1}
    with pytest.raises(JsonPatchTestFailed):
        json_patch(doc, [{"op": "replace", "path": "/a", "value": 5},
                         {"op": "test", "path": "/a", "value": 1}])
    assert doc == {"a": 1}


def _pod(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


C1 = {"name": "a", "image": "nginx", "env": [{"name": "X", "value": "1"}],
      "ports": [{"containerPort": 80}], "args": ["x", "y"]}
C2 = {"name": "b", "image": "busybox"}

SMP_CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    # containers merge by name; scalar replaced inside
    ("Pod", _pod(containers=[C1, C2]),
     {"spec": {"containers": [{"name": "a", "image": "nginx:2"}]}},
     _pod(containers=[{**C1, "image": "nginx:2"}, C2])),
    # new container appended
    ("Pod", _pod(containers=[C2]), {"spec": {"containers": [{"name": "c", "image": "i"}]}},
     _pod(containers=[C2, {"name": "c", "image": "i"}])),
    # $patch: delete of a list item by merge key
    ("Pod", _pod(containers=[C1, C2]),
     {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}, _pod(containers=[C2])),
    # env merges by name inside a merged container; null deletes a field
    ("Pod", _pod(containers=[C1]),
     {"spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}],
                               "image": None}]}},
     _pod(containers=[{k: v for k, v in C1.items() if k != "image"}
                      | {"env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}])),
    # args is atomic: replaced
    ("Pod", _pod(containers=[C1]), {"spec": {"containers": [{"name": "a", "args": ["z"]}]}},
     _pod(containers=[{**C1, "args": ["z"]}])),
    # ports merge by containerPort
    ("Pod", _pod(containers=[C1]),
     {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 443}]}]}},
     _pod(containers=[{**C1, "ports": [{"containerPort": 80}, {"containerPort": 443}]}])),
    # tolerations replaced whole
    ("Pod", _pod(tolerations=[{"key": "a"}]), {"spec": {"tolerations": [{"key": "b"}]}},
     _pod(tolerations=[{"key": "b"}])),
    # list-level replace directive
    ("Pod", _pod(containers=[C1, C2]),
     {"spec": {"containers": [{"$patch": "replace"}, {"name": "z", "image": "z"}]}},
     _pod(containers=[{"name": "z", "image": "z"}])),
    # map-level replace directive
    ("Pod", {**_pod(), "metadata": {"name": "p", "labels": {"a": "1", "b": "2"}}},
     {"metadata": {"labels": {"$patch": "replace", "c": "3"}}},
     {**_pod(), "metadata": {"name": "p", "labels": {"c": "3"}}}),
    # map-level delete directive
    ("Pod", {**_pod(), "metadata": {"name": "p", "labels": {"a": "1"}}},
     {"metadata": {"labels": {"$patch": "delete"}}}, {**_pod(), "metadata": {"name": "p"}}),
    # finalizers merge as a set; $deleteFromPrimitiveList
    ("Pod", {**_pod(), "metadata": {"name": "p", "finalizers": ["a", "b"]}},
     {"metadata": {"finalizers": ["b", "c"], "$deleteFromPrimitiveList/finalizers": ["a"]}},
     {**_pod(), "metadata": {"name": "p", "finalizers": ["b", "c"]}}),
    # $setElementOrder
    ("Pod", _pod(containers=[C1, C2]),
     {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
               "containers": [{"name": "b", "image": "x"}]}},
     _pod(containers=[{**C2, "image": "x"}, C1])),
    # $retainKeys on deployment strategy (switch to Recreate)
    ("Deployment",
     {"spec": {"strategy": {"type": "RollingUpdate",
                            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}},
     {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
     {"spec": {"strategy": {"type": "Recreate"}}}),
    # volumes merge by name with retainKeys inside an item
    ("Pod", _pod(volumes=[{"name": "v", "emptyDir": {}}]),
     {"spec": {"volumes": [{"name": "v", "$retainKeys": ["name", "configMap"],
                            "configMap": {"name": "cm"}}]}},
     _pod(volumes=[{"name": "v", "configMap": {"name": "cm"}}])),
    # rollout restart annotation into a template
    ("Deployment", {"spec": {"template": {"metadata": {"labels": {"app": "d"}}}}},
     {"spec": {"template": {"metadata": {"annotations": {
         "kubectl.kubernetes.io/restartedAt": "now"}}}}},
     {"spec": {"template": {"metadata": {"labels": {"app": "d"}, "annotations": {
         "kubectl.kubernetes.io/restartedAt": "now"}}}}}),
    # merge into a missing list: directives stripped
    ("Pod", _pod(), {"spec": {"containers": [{"name": "a", "image": "x", "tty": None}]}},
     _pod(containers=[{"name": "a", "image": "x"}])),
    # service ports merge by port
    ("Service", {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}},
     {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}},
     {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}}),
    # unknown fields: lists replace, maps merge
    ("ConfigMap", {"data": {"a": "1"}, "x": [1, 2]}, {"data": {"b": "2"}, "x": [3]},
     {"data": {"a": "1", "b": "2"}, "x": [3]}),
]


@pytest.mark.parametrize(("kind", "doc", "patch", "expected"), SMP_CASES)
def test_strategic_merge_patch(
    kind: str, doc: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    before = copy.deepcopy(doc)
    patch_before = copy.deepcopy(patch)
    assert strategic_merge_patch(kind, doc, patch) == expected
    assert doc == before
    assert patch == patch_before


@pytest.mark.parametrize(
    "patch",
    [["not", "a", "map"],
     {"spec": {"containers": [{"image": "no-name"}]}},
     {"spec": {"containers": ["string"]}},
     {"metadata": {"$patch": "explode"}},
     {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}],
)
def test_strategic_merge_patch_errors(patch: Any) -> None:
    with pytest.raises(PatchError):
        strategic_merge_patch("Pod", _pod(containers=[C1]), patch)


def _names(containers: list[str]) -> dict[str, Any]:
    return _pod(containers=[{"name": n, "image": n} for n in containers])


@pytest.mark.parametrize(
    ("server", "order", "patched", "expected"),
    [(["a", "b", "c"], ["c", "a"], ["c"], ["b", "c", "a"]),
     (["a", "b", "c"], ["b", "a"], ["b"], ["b", "a", "c"]),
     (["a", "b", "c"], ["a", "d", "b", "c"], ["d"], ["a", "d", "b", "c"]),
     (["a", "b"], ["b", "a"], [], ["b", "a"]),
     (["x", "a", "y", "b"], ["b", "a"], [], ["x", "y", "b", "a"])],
)
def test_set_element_order(server: list[str], order: list[str], patched: list[str],
                           expected: list[str]) -> None:
    patch = {"spec": {"$setElementOrder/containers": [{"name": n} for n in order],
                      "containers": [{"name": n, "image": n} for n in patched]}}
    out = strategic_merge_patch("Pod", _names(server), patch)
    assert [c["name"] for c in out["spec"]["containers"]] == expected


def test_set_element_order_for_primitive_sets() -> None:
    doc = {"metadata": {"finalizers": ["a", "b", "c"]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"]}}
    assert strategic_merge_patch("Pod", doc, patch)["metadata"]["finalizers"] == ["c", "b", "a"]
