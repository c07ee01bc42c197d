"""``/openapi/v3`` (and ``/openapi/v2``) for the kinds served right now.

The built-in group-versions keep their documents from :mod:`kboot.controlplane.api.openapi`
(built from ``schemas.json``, immutable). A group-version served only by kinds registered at run
time gets a document built from each kind's :meth:`~.strategy.Strategy.openapi_schema`. The
root and the run-time documents are memoised per registry generation, so a kind registered or
unregistered shows up (or disappears) with a new hash.
"""

from __future__ import annotations

import hashlib
import json

from kboot.controlplane.api import openapi, openapi_v2
from kboot.controlplane.api.registry import KINDS
from kboot.controlplane.apiserver.errors import JsonObj
from kboot.controlplane.apiserver.kinds import KindRegistry


def _normalize(group_version: str) -> str:
    gv = group_version.strip("/")
    if gv.startswith(("api/", "apis/")):
        return gv
    return f"apis/{gv}" if "/" in gv else f"api/{gv}"


def _custom(kinds: KindRegistry, path: str) -> tuple[bytes, str] | None:
    def build() -> tuple[bytes, str] | None:
        served = [(s, k) for s in kinds.strategies() for k in s.served_kinds()
                  if openapi.gv_path(k) == path]
        if not served:
            return None
        doc = openapi.custom_document([(k, s.openapi_schema_of(k)) for s, k in served])
        body = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        return body, hashlib.sha512(body).hexdigest().upper()[:128]
    return kinds.memo(("openapi.document", path), build)


def document(kinds: KindRegistry, group_version: str) -> bytes | None:
    """The serialized document of ``api/v1``, ``apis/<g>/<v>`` (None: not served)."""
    path = _normalize(group_version)
    if path in openapi.builtin_paths():
        return openapi.openapi_document_bytes(path)
    found = _custom(kinds, path)
    return found[0] if found else None


def root(kinds: KindRegistry) -> JsonObj:
    """Body of ``GET /openapi/v3``: every served group-version with its document's hash."""
    def build() -> JsonObj:
        builtin = openapi.builtin_paths()
        paths = {}
        for path in sorted({openapi.gv_path(k) for k in kinds.served_kinds()}):
            if path in builtin:
                digest = openapi.document_hash(path)
            else:
                custom = _custom(kinds, path)
                digest = custom[1] if custom else None
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
        return {"paths": paths}
    return kinds.memo("openapi.root", build)


def v2(kinds: KindRegistry) -> tuple[bytes, bytes]:
    """``/openapi/v2`` as (JSON, protobuf): the built-in kinds' definitions plus those of the
    kinds registered at run time, memoised per registry generation."""
    def build() -> tuple[bytes, bytes]:
        extra: JsonObj = {}
        for strategy in kinds.strategies():
            rk = strategy.kind
            if rk in KINDS:
                continue
            ref, list_ref = openapi.schema_names(rk)
            extra[ref] = openapi_v2.from_v3(strategy.openapi_schema())
            extra[list_ref] = openapi_v2.list_definition(rk.group, rk.version, rk.kind, ref)
        if not extra:
            return openapi_v2.builtin_document_bytes()
        return openapi_v2.serialize(openapi_v2.openapi_v2_document(extra))
    return kinds.memo("openapi.v2", build)
