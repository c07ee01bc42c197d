"""Which versions of a CRD are served and stored, and each version's effective settings.

``apiextensions.k8s.io/v1`` keeps schema, subresources and printer columns per version; the
top-level fields of older CRDs (``spec.validation``, ``spec.subresources``,
``spec.additionalPrinterColumns``) apply to every version that does not set its own.
``conversion: None`` converts between versions by rewriting ``apiVersion`` only
(:func:`convert`), as upstream's ``nopConverter`` does.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from kboot.controlplane.api.crd.paths import field_of, list_of

Obj = dict[str, Any]


@dataclass(frozen=True)
class Version:
    """A version's effective settings (per-version value, else the top-level one)."""

    name: str
    served: bool
    storage: bool
    schema: Obj | None
    subresources: Obj
    columns: list[Obj]
    deprecated: bool = False
    deprecation_warning: str | None = None

    @property
    def status_enabled(self) -> bool:
        return isinstance(self.subresources.get("status"), dict)

    @property
    def scale(self) -> Obj | None:
        scale = self.subresources.get("scale")
        return scale if isinstance(scale, dict) else None


def _spec(crd: Obj) -> Obj:
    spec = crd.get("spec")
    return spec if isinstance(spec, dict) else {}


def versions(crd: Obj) -> list[Version]:
    """Every version in ``spec.versions`` order, with top-level fallbacks applied."""
    spec = _spec(crd)
    top_schema = field_of(spec, "validation").get("openAPIV3Schema")
    out = []
    for v in list_of(spec, "versions"):
        if not isinstance(v, dict):
            continue
        schema = field_of(v, "schema").get("openAPIV3Schema") or top_schema
        out.append(Version(
            name=str(v.get("name") or ""), served=bool(v.get("served")),
            storage=bool(v.get("storage")),
            schema=schema if isinstance(schema, dict) else None,
            subresources=v.get("subresources") or field_of(spec, "subresources"),
            columns=list(v.get("additionalPrinterColumns")
                         or list_of(spec, "additionalPrinterColumns")),
            deprecated=bool(v.get("deprecated")),
            deprecation_warning=v.get("deprecationWarning")))
    return out


def version_of(crd: Obj, name: str) -> Version | None:
    return next((v for v in versions(crd) if v.name == name), None)


def served_versions(crd: Obj) -> list[Version]:
    """Served versions, in the order discovery lists them (upstream sorts by version priority:
    GA > beta > alpha, higher numbers first)."""
    return sorted((v for v in versions(crd) if v.served), key=lambda v: version_priority(v.name))


def storage_version(crd: Obj) -> Version | None:
    return next((v for v in versions(crd) if v.storage), None)


def version_priority(name: str) -> tuple[int, int, int, str]:
    """Kubernetes' version ordering key (``v2`` < … means *earlier in discovery*)."""
    found = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", name)
    if not found:
        return (3, 0, 0, name)
    major, stage, minor = int(found[1]), found[2], int(found[3] or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -major, -minor, name)


def group_version(crd: Obj, version: str) -> str:
    return f"{_spec(crd).get('group', '')}/{version}"


def convert(obj: Obj, crd: Obj, to_version: str) -> Obj:
    """``conversion: None``: the same object under ``<group>/<to_version>`` (a copy)."""
    strategy = field_of(_spec(crd), "conversion").get("strategy") or "None"
    if strategy != "None":
        raise NotImplementedError(f"conversion strategy {strategy!r} needs a webhook")
    out = copy.deepcopy(obj)
    out["apiVersion"] = group_version(crd, to_version)
    return out
