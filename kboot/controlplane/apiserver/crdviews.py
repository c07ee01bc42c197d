"""A CustomResourceDefinition's served versions other than the storage one, as views.

The kind registry serves one strategy per kind: the CRD's storage version
(:mod:`.customresources`). A request to another ``served: true`` version
(``/apis/<group>/<v1beta1>/…``) is answered through a :class:`VersionView`: the request is
re-addressed to the storage version, its object body converted to it first, and every object
of the answer (an object, a list's items, a Table's rows, a watch event) converted back to the
requested version — so everything between (admission, storage, watch caches, RBAC, webhooks)
stays single-version. A body in the requested version is pruned, defaulted and validated with
*that* version's schema before it is converted (upstream validates in the request's version);
an answer is pruned and defaulted with it. A converted object is pruned silently with the
schema of the version it was converted to (upstream's schema coercion). ``deprecated``
versions add upstream's ``Warning``. One deviation: the storage version's strategy still
validates the converted object (upstream validates in the request's version only), so a
write through another version must satisfy both schemas.

Conversion is upstream's: ``strategy: None`` rewrites ``apiVersion`` only;
``strategy: Webhook`` sends a ``ConversionReview`` (:mod:`kboot.controlplane.apiserver.
conversion`) and a failure answers 500 ``conversion webhook for <gk> failed: …``.
Requests to the storage version pay nothing: :func:`find` is one dictionary lookup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kboot.controlplane.api.crd.paths import field_of
from kboot.controlplane.api.crd.pruning import prune
from kboot.controlplane.api.crd.resource import ResourceSchema
from kboot.controlplane.api.crd.versions import Version, version_of
from kboot.controlplane.apiserver import conversion
from kboot.controlplane.apiserver.bodies import invalid_body
from kboot.controlplane.apiserver.codec import dumps, media_type, wants_table
from kboot.controlplane.apiserver.customresources import CustomResourceStrategy
from kboot.controlplane.apiserver.errors import JsonObj, bad_request

if TYPE_CHECKING:
    from kboot.controlplane.apiserver.state import ServerState

_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml")


def deprecation_warnings(version: Version, api_version: str, kind: str) -> list[str]:
    """Upstream's warning for a deprecated version (its own text when the CRD gives one)."""
    if not version.deprecated:
        return []
    return [version.deprecation_warning or f"{api_version} {kind} is deprecated"]


def _schema(state: ServerState, strategy: CustomResourceStrategy, version: Version
            ) -> ResourceSchema:
    kind = strategy.kind
    api_version = f"{kind.group}/{version.name}"
    return state.kinds.memo(
        ("crdviews.schema", kind.group, kind.plural, version.name),
        lambda: ResourceSchema(version.schema, kind=kind.kind, namespaced=kind.namespaced,
                               api_version=api_version, scale=version.scale))


def _plural(parts: list[str]) -> str | None:
    rest = parts[3:]
    if len(rest) >= 3 and rest[0] == "namespaces":
        return rest[2]
    return rest[0] if rest else None


def find(state: ServerState, path: str) -> VersionView | None:
    """The view serving ``path`` when it addresses a custom resource in a served version that
    is not its storage version; None for every other path."""
    parts = path.split("/")[1:]
    if len(parts) < 4 or parts[0] != "apis":
        return None
    group, version, plural = parts[1], parts[2], _plural(parts)
    kind = state.kinds.lookup(group, plural or "")
    if kind is None or kind.version == version:
        return None
    strategy = state.kinds.strategy(kind)
    if not isinstance(strategy, CustomResourceStrategy):
        return None
    served = version_of(strategy.crd, version)
    if served is None or not served.served:
        return None
    return VersionView(state, strategy, served, _schema(state, strategy, served))


@dataclass
class VersionView:
    """One request to a non-storage version (see the module docstring)."""

    state: ServerState
    strategy: CustomResourceStrategy
    version: Version
    schema: ResourceSchema
    warnings: list[str] = field(default_factory=list)
    table: str | None = None  # includeObject, when the client asked for a Table
    sent_columns: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.strategy.kind.group}/{self.version.name}"

    @property
    def storage_api_version(self) -> str:
        return self.strategy.kind.api_version

    def storage_request(self, request: web.Request) -> web.Request:
        """``request`` re-addressed to the storage version; its body is converted when it is
        read (:data:`~.codec.BODY_FILTER`)."""
        from kboot.controlplane.apiserver.codec import BODY_FILTER, OBJECT_FILTER
        parts = request.rel_url.path.split("/")
        parts[3] = self.strategy.kind.version
        url = request.rel_url.with_path("/".join(parts))
        if request.rel_url.query_string:
            url = url.with_query(request.rel_url.query)
        headers = None
        if wants_table(request.headers.get("Accept", "")):
            # the Table is drawn here, from the converted objects, with this version's columns
            self.table = request.query.get("includeObject", "Metadata") or "Metadata"
            if self.table not in ("None", "Metadata", "Object"):
                raise bad_request("includeObject must be one of None, Metadata, Object, got "
                                  f'"{self.table}"')
            headers = {**request.headers, "Accept": "application/json"}
        clone = (request.clone(rel_url=url, headers=headers) if headers is not None
                 else request.clone(rel_url=url))
        clone[BODY_FILTER] = self.inbound
        clone[OBJECT_FILTER] = self.watched
        self.warnings = deprecation_warnings(self.version, self.api_version,
                                             self.strategy.kind.kind)
        return clone

    # --------------------------------------------------------------------------- requests

    async def inbound(self, request: web.Request, body: Any) -> Any:
        """A decoded request body, in the storage version. A whole object (create, update)
        is first pruned, defaulted and validated with the requested version's schema."""
        if not isinstance(body, dict) or body.get("apiVersion") != self.api_version:
            return body
        if media_type(request) not in _PATCH_TYPES and body.get("kind") == self.schema.kind:
            self._admit(body, request.query.get("fieldValidation", "Warn") or "Warn")
        stored = (await self._convert([body], self.storage_api_version))[0]
        if self.strategy.schema is not None:  # upstream's schema coercion after conversion
            prune(stored, self.strategy.schema.schema)
        return stored

    def _admit(self, body: JsonObj, validation: str) -> None:
        result = self.schema.admit(body, field_validation=validation)
        name = str((body.get("metadata") or {}).get("name") or "")
        if result.strict_errors:
            raise bad_request(f'{self.schema.kind} in version "{self.version.name}" cannot be '
                              f"handled as a {self.schema.kind}: strict decoding error: "
                              + ", ".join(result.strict_errors))
        errors = [e for e in result.errors if not e.field.startswith("metadata")]
        if errors:
            raise invalid_body(self.schema.kind, name, errors, group=self.strategy.kind.group)
        self.warnings.extend(result.warnings)

    # ---------------------------------------------------------------------------- answers

    def _stored(self, value: Any) -> bool:
        return (isinstance(value, dict) and value.get("apiVersion") == self.storage_api_version
                and value.get("kind") == self.schema.kind)

    async def outbound(self, value: Any) -> Any:
        """An answer (object, list, Table, watch event) with its objects in the requested
        version."""
        if not isinstance(value, dict):
            return value
        if self._stored(value):
            return (await self._read([value]))[0]
        list_kind = f"{self.schema.kind}List"
        if value.get("kind") == list_kind and value.get("apiVersion") == self.storage_api_version:
            out = dict(value, apiVersion=self.api_version)
            out["items"] = await self._read(list(value.get("items") or []))
            return out
        if value.get("kind") == "Table" and isinstance(value.get("rows"), list):
            out = dict(value)
            rows = [dict(r) for r in value["rows"] if isinstance(r, dict)]
            held = [r for r in rows if self._stored(r.get("object"))]
            for row, obj in zip(held, await self._read([r["object"] for r in held]),
                                strict=True):
                row["object"] = obj
            out["rows"] = rows
            return out
        if "type" in value and self._stored(value.get("object")):
            return {**value, "object": (await self._read([value["object"]]))[0]}
        return value

    async def watched(self, obj: Any) -> Any:
        """A watch event's object, converted (as a one-row Table when one was asked for)."""
        out = await self.outbound(obj)
        if self.table is None or not self._requested(out):
            return out
        table = self._table([out], include_columns=not self.sent_columns)
        self.sent_columns = True
        table["metadata"] = {"resourceVersion": field_of(out, "metadata").get(
            "resourceVersion", "")}
        return table

    def _requested(self, value: Any) -> bool:
        return (isinstance(value, dict) and value.get("apiVersion") == self.api_version
                and value.get("kind") == self.schema.kind)

    def _table(self, objs: list[JsonObj], *, include_columns: bool = True) -> JsonObj:
        viewed = replace(self.strategy, version=self.version)
        assert self.table is not None
        return viewed.to_table(objs, include_object=self.table, now=self.state.clock.now(),
                               include_columns=include_columns)

    def _as_table(self, value: Any) -> Any:
        if self._requested(value):
            table = self._table([value])
            table["metadata"] = {"resourceVersion": field_of(value, "metadata").get(
                "resourceVersion", "")}
            return table
        if isinstance(value, dict) and value.get("kind") == f"{self.schema.kind}List":
            table = self._table(list(value.get("items") or []))
            table["metadata"] = value.get("metadata") or {}
            return table
        return value

    async def _read(self, objs: list[JsonObj]) -> list[JsonObj]:
        converted = await self._convert(objs, self.api_version)
        return [self.schema.read(obj) for obj in converted]

    async def _convert(self, objs: list[JsonObj], to: str) -> list[JsonObj]:
        return await conversion.convert(self.state, self.strategy.crd, objs, to)

    async def answer(self, response: web.StreamResponse) -> web.StreamResponse:
        """A finished (non-streamed) JSON answer with its objects converted."""
        if self.warnings and not response.prepared:
            _add_warnings(response, self.warnings)
        if not isinstance(response, web.Response) or response.status >= 300:
            return response
        if response.content_type != "application/json" or not isinstance(response.body,
                                                                          bytes):
            return response
        converted = await self.outbound(json.loads(response.body))
        if self.table is not None:
            converted = self._as_table(converted)
        response.body = dumps(converted)
        return response


def _add_warnings(response: web.StreamResponse, warnings: list[str]) -> None:
    from kboot.controlplane.apiserver.crud import warning_headers
    extra = warning_headers(warnings)["Warning"]
    old = response.headers.get("Warning")
    response.headers["Warning"] = f"{old}, {extra}" if old else extra
