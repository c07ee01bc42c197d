"""Strategies of ``ResourceQuota`` and ``LimitRange`` (core/v1), and the PersistentVolumeClaim
one that runs the LimitRanger on claims.

A new quota starts with its ``status`` filled in (hard limits and the usage already in the
namespace, :func:`.resourcequota.initial_status`); a change of ``spec.hard`` is mirrored into
``status.hard`` at once and the controller recounts. A LimitRange's items get upstream's
defaults. Validation of both is in :mod:`kboot.controlplane.api.quotas` and
:mod:`kboot.controlplane.api.limitranges`.
"""

from __future__ import annotations

from dataclasses import dataclass

from kboot.controlplane.api import limitranges, quotas
from kboot.controlplane.apiserver import resourcequota
from kboot.controlplane.apiserver.strategy import JsonObj, Server, Strategy


@dataclass(frozen=True)
class ResourceQuotaStrategy(Strategy):
    """ResourceQuotas: no generation (upstream's strategy leaves it out); usage is status."""

    generation: bool = False

    def validate(self, obj: JsonObj, old: JsonObj | None) -> list[JsonObj]:
        return super().validate(obj, old) + [e.cause() for e in quotas.validate(obj, old)]

    async def admit_create(self, state: Server, obj: JsonObj) -> JsonObj:
        await resourcequota.initial_status(state, obj)
        return obj

    def admit_update(self, state: Server, new: JsonObj, old: JsonObj) -> JsonObj:
        hard = (new.get("spec") or {}).get("hard") or {}
        if hard == ((old.get("spec") or {}).get("hard") or {}):
            return new
        used = (new.get("status") or {}).get("used") or {}
        return {**new, "status": {**(new.get("status") or {}), "hard": dict(hard),
                                  "used": {k: v for k, v in used.items() if k in hard}}}


@dataclass(frozen=True)
class LimitRangeStrategy(Strategy):
    """LimitRanges: no generation; items defaulted as upstream (``default`` ← ``max`` …)."""

    generation: bool = False

    def default(self, obj: JsonObj) -> JsonObj:
        return limitranges.defaults(super().default(obj))

    def validate(self, obj: JsonObj, old: JsonObj | None) -> list[JsonObj]:
        return super().validate(obj, old) + [e.cause() for e in limitranges.validate(obj, old)]

