"""Property-based fuzzing of the whole REST surface: no 5xx, every 4xx a ``Status``.

Every served kind and verb (create, replace, the four patch types, status, delete with options,
list/get with query parameters), the subresources (scale, binding, eviction, approval,
TokenRequest, SelfSubjectAccessReview) and headers (Content-Type, Accept) are fuzzed against
one real ``kboot-apiserver`` (SQLite store) started for this module. Bodies are the kinds' valid
seeds with a few fields replaced by junk at paths taken from the kind's schema, encoded as JSON
or YAML (YAML brings its own types: dates, timestamps, integer keys, binary, sets).

CI runs a bounded number of examples per property (about a minute on two cores); a longer run:

    KBOOT_FUZZ_EXAMPLES=2000 pytest tests/integration/apiserver/test_fuzz.py -q

A survey (every 5xx listed instead of stopping at the first, plus the server log with their
tracebacks): ``KBOOT_FUZZ_SURVEY=/some/dir``.

``concurrent_probes`` runs checks that must hold *while* the fuzzer runs: a ``/readyz`` prober
whose every probe must be answered.
"""

from __future__ import annotations

import json
import logging
import shutil
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kboot.controlplane.api.registry import ResourceKind
from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.fixtures.readyz import ReadyzProber
from tests.integration.apiserver.fuzzing import (
    FUZZ_KINDS,
    NS,
    PATCH_TYPES,
    TARGET,
    Client,
    check_reply,
    collection,
    encode,
    fields_by_category,
    item,
    junk,
    kind_named,
    max_examples,
    paths_of,
    pointer,
    scalar_junk,
    schema_paths,
    seed,
    set_path,
    survey_dir,
    typed_value,
    yaml_junk,
)

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)



def _fuzz(default_examples: int) -> settings:
    """Bounded examples (``KBOOT_FUZZ_EXAMPLES`` overrides), no deadline, no example database
    (a failing example is printed; CI runs start fresh)."""
    return settings(max_examples=max_examples(default_examples), deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[ApiServer]:
    with start_apiserver("sqlite") as server:
        yield server
        survey = survey_dir()
        if survey is not None:  # keep the server log: its tracebacks locate each 5xx
            shutil.copy(server.log_file, survey / "apiserver.log")


@pytest.fixture(scope="module")
def concurrent_probes(fuzz_server: ApiServer) -> Iterator[None]:
    """``/readyz`` probed every 50 ms for as long as the fuzzer runs: every probe must be answered
    200 (the server never stops serving health checks while a client sends garbage). Latency is
    a benchmark's business, not a test's (``benchmarks/apiserver/bench_readyz.py`` has a
    random-garbage phase next to idle), so the figures are only logged here."""
    with ReadyzProber(fuzz_server, interval=0.05) as prober:
        yield
    assert len(prober.probes) >= 10, "the prober hardly ran while the fuzzer did"
    failed = [p for p in prober.probes if p.status != 200]
    assert not failed, f"{len(failed)} of {len(prober.probes)} /readyz probes failed: {failed[:5]}"
    waits = sorted(p.seconds for p in prober.probes)
    log.info("/readyz while fuzzing: %d probes, p50 %.1f ms, p99 %.1f ms, max %.1f ms",
             len(waits), 1000 * waits[len(waits) // 2], 1000 * waits[int(len(waits) * 0.99)],
             1000 * waits[-1])


@pytest.fixture(scope="module")
def client(fuzz_server: ApiServer, concurrent_probes: None) -> Iterator[Client]:
    """A client on a server holding one valid ``fuzz-target`` of every kind."""
    c = Client("127.0.0.1", fuzz_server.port, fuzz_server.ssl_context())
    for body in ({"metadata": {"name": NS}},):
        assert c.request("POST", "/api/v1/namespaces", json.dumps(body).encode()).status == 201
    for kind in FUZZ_KINDS:
        reply = c.request("POST", collection(kind), encode(seed(kind), "json"),
                          {"Content-Type": "application/json"})
        assert reply.status in (201, 409), reply.describe()
    sa = c.request("POST", collection(kind_named("ServiceAccount")),
                   encode(seed(kind_named("ServiceAccount"), "default"), "json"),
                   {"Content-Type": "application/json"})
    assert sa.status in (201, 409), sa.describe()
    yield c
    c.close()


def _send(client: Client, method: str, path: str, value: Any, media: str,
          query: dict[str, str] | None = None) -> None:
    try:
        body = encode(value, media)
    except (ValueError, TypeError, UnicodeEncodeError):
        body = encode(value, "json")
        media = "application/json"
    params = {"fieldManager": "fuzz", **(query or {})}
    reply = client.request(method, f"{path}?{urllib.parse.urlencode(params)}", body,
                           {"Content-Type": media})
    check_reply(reply)


@st.composite
def mutated(draw: st.DrawFn, kind: ResourceKind, *, partial: bool = False) -> Any:
    """The kind's seed (or an empty patch) with 1-4 fields set to junk (YAML types too)."""
    obj: Any = {} if partial else seed(kind)
    groups = fields_by_category(kind)
    for _ in range(draw(st.integers(1, 4))):
        path, schema = draw(st.sampled_from(groups[draw(st.sampled_from(sorted(groups)))]))
        if path[:2] == ("metadata", "name") and not partial and draw(st.booleans()):
            continue
        value = draw(st.one_of(typed_value(schema), junk(), yaml_junk))
        obj = set_path(obj, path, value)
    if draw(st.integers(0, 9)) == 0:  # sometimes the whole document or metadata is junk
        obj = draw(junk()) if draw(st.booleans()) else {**obj, "metadata": draw(scalar_junk)}
    return obj


_kinds = st.sampled_from(FUZZ_KINDS)
_media = st.sampled_from(["application/json", "application/yaml"])


@_fuzz(60)
@given(data=st.data(), kind=_kinds, media=_media)
def test_create(client: Client, data: st.DataObject, kind: ResourceKind, media: str) -> None:
    body = data.draw(mutated(kind))
    if isinstance(body, dict) and isinstance(body.get("metadata"), dict):
        body["metadata"]["name"] = data.draw(st.sampled_from(["fz-a", "fz-b", "fz-c"]))
    _send(client, "POST", collection(kind), body, media,
          {"dryRun": "All"} if data.draw(st.booleans()) else None)


@_fuzz(60)
@given(data=st.data(), kind=_kinds, media=_media, status=st.booleans())
def test_replace(client: Client, data: st.DataObject, kind: ResourceKind, media: str,
                 status: bool) -> None:
    sub = "status" if status and "status" in kind.subresources else ""
    _send(client, "PUT", item(kind, sub=sub), data.draw(mutated(kind)), media,
          {"dryRun": "All"})


@st.composite
def json_patch(draw: st.DrawFn, kind: ResourceKind) -> Any:
    """A list of JSON-patch operations on existing and schema paths (sometimes not a list)."""
    existing = list(paths_of(seed(kind)))
    ops = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(existing) | st.sampled_from(schema_paths(kind)))
        op: dict[str, Any] = {"op": draw(st.sampled_from(
            ["add", "replace", "remove", "test", "move", "copy", "nope"])),
            "path": draw(st.just(pointer(path)) | st.sampled_from(["", "/", "/-", "~2", "a"])
                         | st.just(pointer(path) + "/-"))}
        if draw(st.booleans()):
            op["value"] = draw(junk())
        if op["op"] in ("move", "copy"):
            op["from"] = pointer(draw(st.sampled_from(existing)))
        if draw(st.integers(0, 5)) == 0:
            op[draw(st.sampled_from(["op", "path", "from", "value"]))] = draw(junk())
        ops.append(op)
    return ops if draw(st.integers(0, 9)) else draw(junk())


_DIRECTIVES = ("$patch", "$retainKeys", "$setElementOrder/containers",
               "$deleteFromPrimitiveList/finalizers", "$setElementOrder/finalizers")


@st.composite
def strategic(draw: st.DrawFn, kind: ResourceKind) -> Any:
    """A merge patch with strategic directives sprinkled in (valid and malformed)."""
    doc = draw(mutated(kind, partial=True))
    for _ in range(draw(st.integers(0, 2))):
        path = draw(st.sampled_from(list(paths_of(seed(kind)))))
        parent = path[:-1] if path and not isinstance(path[-1], int) else path
        doc = set_path(doc, (*parent, draw(st.sampled_from(_DIRECTIVES))),
                       draw(junk() | st.sampled_from(["replace", "delete", "merge"])))
    return doc


@_fuzz(100)
@given(data=st.data(), kind=_kinds, media=st.sampled_from(PATCH_TYPES), status=st.booleans())
def test_patch(client: Client, data: st.DataObject, kind: ResourceKind, media: str,
               status: bool) -> None:
    sub = "status" if status and "status" in kind.subresources else ""
    if media == "application/json-patch+json":
        body = data.draw(json_patch(kind))
    elif media == "application/apply-patch+yaml":
        body = data.draw(mutated(kind))
    else:
        body = data.draw(strategic(kind))
    query = {"dryRun": "All"}
    if data.draw(st.booleans()):
        query["force"] = data.draw(st.sampled_from(["true", "false", "x"]))
    _send(client, "PATCH", item(kind, sub=sub), body, media, query)


_SUBRESOURCE_CALLS = [
    ("Deployment", "scale"), ("ReplicaSet", "scale"), ("StatefulSet", "scale"),
    ("Pod", "binding"), ("Pod", "eviction"), ("CertificateSigningRequest", "approval"),
    ("ServiceAccount", "token"),
]


@st.composite
def shaped(draw: st.DrawFn, fields: dict[str, Any]) -> Any:
    """A body of roughly the expected shape (``fields``) with junk in random places."""
    doc: Any = json.loads(json.dumps(fields))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(list(paths_of(fields))[1:] or [("spec",)]))
        doc = set_path(doc, path, draw(junk() | yaml_junk))
    return doc if draw(st.integers(0, 7)) else draw(junk())


_SHAPES: dict[str, dict[str, Any]] = {
    "scale": {"apiVersion": "autoscaling/v1", "kind": "Scale",
              "metadata": {"name": TARGET, "resourceVersion": ""}, "spec": {"replicas": 1}},
    "binding": {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": TARGET,
                                                                    "annotations": {"a": "b"}},
                "target": {"apiVersion": "v1", "kind": "Node", "name": "n"}},
    "eviction": {"apiVersion": "policy/v1", "kind": "Eviction",
                 "metadata": {"name": TARGET}, "deleteOptions": {
                     "gracePeriodSeconds": 1, "propagationPolicy": "Background",
                     "dryRun": ["All"], "preconditions": {"uid": "u"}}},
    "approval": {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                 "metadata": {"name": TARGET}, "status": {"conditions": [
                     {"type": "Approved", "status": "True", "reason": "r"}]}},
    "token": {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
              "spec": {"audiences": ["a"], "expirationSeconds": 600,
                       "boundObjectRef": {"kind": "Pod", "name": "p", "uid": "u"}}},
    "ssar": {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
             "spec": {"resourceAttributes": {"verb": "get", "resource": "pods",
                                             "namespace": NS, "name": "x"},
                      "nonResourceAttributes": {"verb": "get", "path": "/x"}}},
}


@_fuzz(60)
@given(data=st.data(), call=st.sampled_from([*_SUBRESOURCE_CALLS, ("", "ssar")]),
       media=_media)
def test_subresources(client: Client, data: st.DataObject, call: tuple[str, str],
                      media: str) -> None:
    kind_name, sub = call
    body = data.draw(shaped(_SHAPES[sub]))
    if sub == "ssar":
        _send(client, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body,
              media)
        return
    kind = kind_named(kind_name)
    name = "default" if sub == "token" else TARGET
    if sub in ("scale", "approval"):
        method = data.draw(st.sampled_from(["GET", "PUT", "PATCH"]))
        if method == "PATCH":
            media = data.draw(st.sampled_from(PATCH_TYPES[1:3]))
            body = body.get("spec", body) if isinstance(body, dict) and sub == "scale" else body
            body = {"spec": body} if sub == "scale" else body
    else:
        method = "POST"
    dry = {"dryRun": "All"} if sub != "token" else {}
    _send(client, method, item(kind, name, sub), body, media, dry)


_PARAMS = ("limit", "continue", "resourceVersion", "resourceVersionMatch", "labelSelector",
           "fieldSelector", "timeoutSeconds", "propagationPolicy", "gracePeriodSeconds",
           "dryRun", "fieldValidation", "fieldManager", "orphanDependents", "pretty",
           "allowWatchBookmarks", "sendInitialEvents")
_VALUES = st.one_of(
    st.text(max_size=12), st.sampled_from([str(v) for v in (0, 1, -1, 2**31, 2**63 - 1, 2**63,
                                                            10**23, 10**30)]),
    st.sampled_from(["1e400", "NaN", "true", "All", "None", "Exact", "NotOlderThan",
                     "Background", "app=x", "app in (a,b)", "!app", "metadata.name=x",
                     "metadata.name=a\\", "a=b,c", "\ud800", "eyJ2IjoxfQ", "eyJydiI6MWU0MDB9",
                     "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MWU0MDAsInN0YXJ0IjoiIn0",
                     "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiJcdWQ4MDAifQ"]))


@_fuzz(80)
@given(kind=_kinds, named=st.booleans(), method=st.sampled_from(["GET", "DELETE"]),
       params=st.lists(st.tuples(st.sampled_from(_PARAMS), _VALUES), max_size=4),
       options=st.none() | junk(), table=st.booleans(), watch=st.integers(0, 9))
def test_queries(client: Client, kind: ResourceKind, named: bool, method: str,
                 params: list[tuple[str, str]], options: Any, table: bool, watch: int) -> None:
    path = item(kind) if named else collection(kind)
    query = [(k, v) for k, v in params if k != "timeoutSeconds"]
    if watch == 0 and method == "GET":  # one in ten reads is a watch, over in a second
        query += [("watch", "true"), ("timeoutSeconds", "1")]
    body = None
    if method == "DELETE":
        query.append(("dryRun", "All"))
        if not named:
            query = [(k, v) for k, v in query if k != "labelSelector"]
            query.append(("labelSelector", "fuzz-never-matches"))
        if options is not None:
            body = encode(options, "json")
    accept = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json" if table
              else "application/json")
    encoded = urllib.parse.urlencode(query, errors="surrogatepass")
    reply = client.request(method, f"{path}?{encoded}", body,
                           {"Accept": accept, "Content-Type": "application/json"})
    if reply.status == 504 and isinstance(reply.body, dict):
        causes = (reply.body.get("details") or {}).get("causes") or [{}]
        assert causes[0].get("reason") == "ResourceVersionTooLarge", reply.describe()
        return
    check_reply(reply)


_CONTENT_TYPES = st.sampled_from([
    "application/json", "application/yaml", "application/vnd.kubernetes.protobuf",
    *PATCH_TYPES, "text/plain", "", "application/json; charset=latin1", "*/*", "a/b;c=d",
    "multipart/form-data; boundary=x"])


@_fuzz(60)
@given(data=st.data(), kind=_kinds, method=st.sampled_from(["POST", "PUT", "PATCH"]),
       ctype=_CONTENT_TYPES, accept=st.sampled_from([
           "application/json", "application/yaml", "*/*", "text/html", "",
           "application/vnd.kubernetes.protobuf", "application/json;as=Table;g=meta.k8s.io",
           "application/json;as=Table;v=v9;g=meta.k8s.io", "application/json;q=x"]))
def test_headers(client: Client, data: st.DataObject, kind: ResourceKind, method: str,
                 ctype: str, accept: str) -> None:
    path = collection(kind) if method == "POST" else item(kind)
    body = data.draw(st.just(seed(kind)) | mutated(kind))
    raw = encode(body, "yaml" if "yaml" in ctype else "json")
    headers = {"Accept": accept}
    if ctype:
        headers["Content-Type"] = ctype
    reply = client.request(method, f"{path}?dryRun=All&fieldManager=fuzz", raw, headers)
    check_reply(reply)

