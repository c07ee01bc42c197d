"""Building blocks of the property-based API fuzz suite (``test_fuzz.py``).

- :class:`Client` — one keep-alive HTTPS connection to the server under test (a fresh TLS
  handshake per request would make the suite ten times slower);
- :func:`check_reply` — the property every reply must have: no 5xx, and every 4xx a ``Status``
  (``kind: Status``, ``apiVersion: v1``, ``code`` equal to the HTTP status, a message; a 422
  lists ``details.causes`` whose ``field`` the message names);
- :data:`SEEDS` — a minimal valid object per served kind: the fuzzer mutates these, so most
  requests get past decoding into defaulting, validation, patching and storage;
- strategies — :func:`junk` (the values probes love: null, 2^31, 10^30, 1e400, lone surrogates,
  dates, nesting), :func:`schema_paths` (every field path a kind's schema defines, so mutations
  reach fields the seed does not set) and :func:`encode` (JSON or YAML, incl. YAML-only types).
"""

from __future__ import annotations

import base64
import datetime
import http.client
import json
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import strategies as st

from kboot.controlplane.api.registry import KINDS, ResourceKind
from kboot.controlplane.api.schemas import Schema, deref, kind_schema

NS = "fuzz"
TARGET = "fuzz-target"
BIG_FLOAT = "__kboot_fuzz_1e400__"  # encoded as the JSON number literal 1e400 (inf in Python)
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml")


def max_examples(default: int) -> int:
    """Examples per property: ``KBOOT_FUZZ_EXAMPLES`` overrides the CI default."""
    return int(os.environ.get("KBOOT_FUZZ_EXAMPLES", default))


# ------------------------------------------------------------------------------- client


@dataclass(frozen=True)
class Reply:
    method: str
    path: str
    status: int
    body: Any
    sent: bytes | None

    def describe(self) -> str:
        sent = (self.sent or b"")[:600].decode(errors="replace")
        got = repr(self.body)[:800]
        return f"{self.method} {self.path} -> {self.status}\n sent: {sent}\n got: {got}"


class Client:
    """A keep-alive HTTPS client; reconnects once when the server closed the connection."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext) -> None:
        self._args = (host, port, context)
        self._conn: http.client.HTTPSConnection | None = None

    def _connect(self) -> http.client.HTTPSConnection:
        host, port, context = self._args
        self._conn = http.client.HTTPSConnection(host, port, context=context, timeout=30)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        hdrs = {"Accept": "application/json", **(headers or {})}
        for attempt in (0, 1):
            conn = self._conn or self._connect()
            try:
                conn.request(method, path, body=body, headers=hdrs)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt:
                    raise
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Reply(method, path, resp.status, parsed, body)


def survey_dir() -> Path | None:
    """``KBOOT_FUZZ_SURVEY``: record 5xx replies there instead of failing (a survey run)."""
    where = os.environ.get("KBOOT_FUZZ_SURVEY")
    if not where:
        return None
    path = Path(where)
    path.mkdir(parents=True, exist_ok=True)
    return path


def problem(reply: Reply) -> str | None:
    """What is wrong with a reply (None when fine): a 5xx, a 4xx that is not a well-formed
    ``Status``, or a 422 whose causes do not name their fields in the message."""
    if reply.status >= 500:
        return "5xx"
    if reply.status < 400:
        return None
    body = reply.body
    if not isinstance(body, dict):
        return "4xx without a Status body"
    if body.get("kind") != "Status" or body.get("apiVersion") != "v1":
        return "4xx body is not a v1 Status"
    if body.get("status") != "Failure" or body.get("code") != reply.status:
        return "Status.status/code do not match the reply"
    if not body.get("message") or not body.get("reason"):
        return "Status without message or reason"
    if reply.status == 422:
        causes = (body.get("details") or {}).get("causes") or []
        if not causes:
            return "422 without details.causes"
        for cause in causes:
            if not cause.get("field") or cause["field"] not in body["message"]:
                return "422 cause without a field named in the message"
    return None


def check_reply(reply: Reply) -> None:
    """Fail on any :func:`problem` (in a survey run: record it and go on)."""
    found = problem(reply)
    if found is None:
        return
    survey = survey_dir()
    if survey is not None:
        with (survey / "replies.txt").open("a") as out:
            out.write(f"[{found}] {reply.describe()}\n")
        return
    raise AssertionError(f"{found}: {reply.describe()}")


# -------------------------------------------------------------------------------- seeds

_LABELS = {"app": "fuzz"}
_CONTAINERS = [{"name": "c", "image": "busybox:1.36"}]
_TEMPLATE = {"metadata": {"labels": _LABELS}, "spec": {"containers": _CONTAINERS}}
_WORKLOAD = {"selector": {"matchLabels": _LABELS}, "template": _TEMPLATE}
_RBAC = "rbac.authorization.k8s.io"
_RULES = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]
_SUBJECTS = [{"kind": "User", "name": "fuzz-user", "apiGroup": _RBAC}]

def _csr() -> str:
    """A real (base64 PEM) certificate request: CSR validation parses it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


SEEDS: dict[str, dict[str, Any]] = {
    "Namespace": {},
    "Node": {"spec": {"podCIDR": "10.244.9.0/24"}},
    "Pod": {"spec": {"containers": _CONTAINERS}},
    "Service": {"spec": {"selector": _LABELS, "ports": [{"port": 80, "targetPort": 8080}]}},
    "Endpoints": {"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]},
    "ConfigMap": {"data": {"a": "b"}},
    "Secret": {"type": "Opaque", "data": {"a": base64.b64encode(b"b").decode()}},
    "ServiceAccount": {},
    "Event": {"involvedObject": {"kind": "Pod", "name": "p", "namespace": NS},
              "reason": "Fuzz", "message": "m", "type": "Normal"},
    # the same stored Events in events.k8s.io's shape (its creates require the new fields)
    "events.k8s.io/Event": {"regarding": {"kind": "Pod", "name": "p", "namespace": NS},
                            "reason": "Fuzz", "note": "m", "type": "Normal", "action": "Fuzz",
                            "eventTime": "2026-01-01T00:00:00.000000Z",
                            "reportingController": "example.com/fuzz",
                            "reportingInstance": "fuzz-1"},
    "PersistentVolume": {"spec": {"capacity": {"storage": "1Gi"},
                                  "accessModes": ["ReadWriteOnce"],
                                  "hostPath": {"path": "/tmp/fuzz"}}},
    "PersistentVolumeClaim": {"spec": {"accessModes": ["ReadWriteOnce"],
                                       "resources": {"requests": {"storage": "1Gi"}}}},
    "Deployment": {"spec": {"replicas": 1, **_WORKLOAD}},
    "ReplicaSet": {"spec": {"replicas": 1, **_WORKLOAD}},
    "StatefulSet": {"spec": {"replicas": 1, "serviceName": "s", **_WORKLOAD}},
    "DaemonSet": {"spec": _WORKLOAD},
    "ControllerRevision": {"revision": 1, "data": {}},
    "Job": {"spec": {"template": {"spec": {"containers": _CONTAINERS,
                                           "restartPolicy": "Never"}}}},
    "Ingress": {"spec": {"rules": [{"host": "fuzz.example.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix",
         "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}]}},
    "IngressClass": {"spec": {"controller": "example.com/fuzz"}},
    "NetworkPolicy": {"spec": {"podSelector": {"matchLabels": _LABELS}, "ingress": [
        {"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
         "ports": [{"port": 80, "endPort": 90}]}]}},
    "EndpointSlice": {"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}]},
    "Lease": {"spec": {"holderIdentity": "fuzz"}},
    "CertificateSigningRequest": {"spec": {"signerName": "example.com/fuzz",
                                           "usages": ["client auth"], "request": _csr()}},
    "Role": {"rules": _RULES},
    "RoleBinding": {"roleRef": {"apiGroup": _RBAC, "kind": "Role", "name": "r"},
                    "subjects": _SUBJECTS},
    "ClusterRole": {"rules": _RULES},
    "ClusterRoleBinding": {"roleRef": {"apiGroup": _RBAC, "kind": "ClusterRole", "name": "r"},
                           "subjects": _SUBJECTS},
}


def seed(kind: ResourceKind, name: str = TARGET) -> dict[str, Any]:
    """A fresh (mutable) valid object of ``kind`` named ``name``."""
    meta: dict[str, Any] = {"name": name, "labels": dict(_LABELS)}
    if kind.namespaced:
        meta["namespace"] = NS
    body = json.loads(json.dumps(SEEDS.get(f"{kind.group}/{kind.kind}", SEEDS[kind.kind])))
    return {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": meta, **body}


def collection(kind: ResourceKind) -> str:
    base = f"/apis/{kind.group}/{kind.version}" if kind.group else "/api/v1"
    return f"{base}/namespaces/{NS}/{kind.plural}" if kind.namespaced else \
        f"{base}/{kind.plural}"


def item(kind: ResourceKind, name: str = TARGET, sub: str = "") -> str:
    return f"{collection(kind)}/{name}" + (f"/{sub}" if sub else "")


FUZZ_KINDS = tuple(k for k in KINDS if k.kind in SEEDS)


def kind_named(name: str) -> ResourceKind:
    return next(k for k in FUZZ_KINDS if k.kind == name)

# ------------------------------------------------------------------------------ strategies

_BIG_INTS = (2**31 - 1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**18,
             10**23, 10**30, -1, 0)
_STRINGS = ("", " ", "a", "A_b", "-", "a.*.com", "*.example.com", "1e400", "9" * 30,
            "\ud800", "\udfff", "é", "\x00", "a" * 300, "..", "/", "a/b", "1.5Gi", "100m",
            "abc-", "10.0.0.1", "::1", "0.0.0.0/0", "All", "true", "$patch", "$retainKeys",
            "${x}", "\\", "null", "2024-01-01T00:00:00Z")

scalar_junk = st.one_of(
    st.none(), st.booleans(), st.sampled_from(_BIG_INTS), st.integers(),
    st.sampled_from([0.5, -0.0, 1e300, BIG_FLOAT]), st.sampled_from(_STRINGS),
    st.text(max_size=6),
)


def junk() -> st.SearchStrategy[Any]:
    """Arbitrary JSON-ish values, biased towards the ones that break servers."""
    return st.recursive(
        scalar_junk,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
            st.sampled_from(_STRINGS[:12]) | st.text(max_size=5), inner, max_size=3),
        max_leaves=6)


yaml_junk = st.one_of(
    st.dates(min_value=datetime.date(1, 1, 1)),
    st.datetimes(timezones=st.just(datetime.UTC)),
    st.dictionaries(st.integers(-3, 3) | st.booleans() | st.floats(allow_nan=False),
                    st.text(max_size=3), min_size=1, max_size=2),
    st.binary(max_size=4), st.sets(st.integers(0, 3), max_size=2),
)


FieldPath = tuple[str | int, ...]


@cache
def schema_fields(kind: ResourceKind, max_depth: int = 7) -> tuple[tuple[FieldPath, Schema], ...]:
    """Every field path of ``kind``'s schema up to ``max_depth`` (list items as index 0, map
    values under key ``k``), with the field's schema."""
    found: list[tuple[FieldPath, Schema]] = []

    def walk(schema: Schema, path: FieldPath, seen: frozenset[str]) -> None:
        ref = schema.get("$ref", "")
        if ref in seen or len(path) > max_depth:
            return
        target = deref(schema)
        if target.get("type") == "array" and isinstance(target.get("items"), dict):
            found.append(((*path, 0), target["items"]))
            walk(target["items"], (*path, 0), seen | {ref})
            return
        for key, prop in (target.get("properties") or {}).items():
            if key in ("managedFields",):
                continue
            found.append(((*path, key), prop))
            walk(prop, (*path, key), seen | {ref})
        extra = target.get("additionalProperties")
        if isinstance(extra, dict):
            found.append(((*path, "k"), extra))

    walk(kind_schema(kind), (), frozenset())
    return tuple(found)


def schema_paths(kind: ResourceKind) -> tuple[FieldPath, ...]:
    return tuple(path for path, _ in schema_fields(kind))


def category(schema: Schema) -> str:
    """A field's shape: ``Quantity``, ``IntOrString``, ``integer``, ``string``, ``array``..."""
    ref = schema.get("$ref", "")
    if ref.endswith(("Quantity", "IntOrString")):
        return ref.rsplit(".", 1)[-1]
    return str(deref(schema).get("type") or "any")


@cache
def fields_by_category(kind: ResourceKind) -> dict[str, tuple[tuple[FieldPath, Schema], ...]]:
    """:func:`schema_fields` grouped by :func:`category`: drawing a category first makes the
    rare ones (quantities, int-or-strings, integers) as likely as the many strings."""
    groups: dict[str, list[tuple[FieldPath, Schema]]] = {}
    for path, schema in schema_fields(kind):
        groups.setdefault(category(schema), []).append((path, schema))
    return {name: tuple(items) for name, items in sorted(groups.items())}


_QUANTITIES = ("1", "0", "-1", "100m", "1.5Gi", "1e3", "1e400", "1e99999999", "1E-99999999",
               "0.0000000001", "1Ei", "9" * 40, "1.2.3", "+.5", "Infinity", "1e", "")


def typed_value(schema: Schema) -> st.SearchStrategy[Any]:
    """Values of the field's own type, at its edges (they pass typed decoding and reach the
    semantic rules): big and negative integers, odd strings, extreme quantities."""
    ref = schema.get("$ref", "")
    if ref.endswith("Quantity"):
        return st.sampled_from(_QUANTITIES)
    if ref.endswith("IntOrString"):
        return st.sampled_from((0, -1, 65536, 2**31 - 1, "", "http", "50%", "200%", "-5%",
                                "x" * 70, "1e400"))
    target = deref(schema)
    kind = target.get("type")
    if kind == "integer":
        return st.sampled_from((0, -1, 1, 65535, 65536, 2**31 - 1, -(2**31), 2**63 - 1,
                                -(2**63))) | st.integers(-(2**31), 2**31 - 1)
    if kind == "number":
        return st.sampled_from((0.0, -1.5, 1e308))
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        return st.sampled_from(_STRINGS) | st.text(max_size=10)
    if kind == "array":
        inner = target.get("items")
        return st.lists(typed_value(inner) if isinstance(inner, dict) else junk(), max_size=2)
    if kind == "object":
        return st.just({})
    return junk()


def set_path(obj: Any, path: tuple[str | int, ...], value: Any) -> Any:
    """``obj`` with ``value`` at ``path``, creating dicts/lists on the way (replacing scalars)."""
    if not path:
        return value
    key, rest = path[0], path[1:]
    if isinstance(key, int):
        items = obj if isinstance(obj, list) else []
        if not items:
            items = [{}]
        items[0] = set_path(items[0], rest, value)
        return items
    node = obj if isinstance(obj, dict) else {}
    node[key] = set_path(node.get(key), rest, value)
    return node


def paths_of(value: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every path inside a decoded JSON value (for JSON-patch ``path``s that exist)."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths_of(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths_of(v, (*prefix, i))


def pointer(path: tuple[str | int, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def encode(value: Any, media: str) -> bytes:
    """JSON (``1e400`` spelled as a number; lone surrogates escaped) or YAML."""
    if "yaml" in media:
        return yaml.safe_dump(value, allow_unicode=False).encode("utf-8", "surrogatepass")
    text = json.dumps(value, default=str)
    return text.replace(json.dumps(BIG_FLOAT), "1e400").encode()
