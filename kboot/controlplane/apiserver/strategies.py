"""The built-in kinds' strategies: the generic :class:`~.strategy.Strategy` plus the kinds that
differ from it, each with upstream's reason.

:func:`builtin_strategy` picks the strategy of a ``ResourceKind`` from
:mod:`kboot.controlplane.api.registry`. A kind added to that registry gets the generic strategy
(with ``metadata.generation``) unless it is listed here: add a subclass (or a data-only entry in
:data:`_DATA`) for what is special about it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict

from kboot.controlplane.api import certificates, events
from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.apiserver import limitranger, priority, saadmission, sapullsecrets
from kboot.controlplane.apiserver.quotastrategies import LimitRangeStrategy, ResourceQuotaStrategy
from kboot.controlplane.apiserver.storageadmission import ClaimStrategy
from kboot.controlplane.apiserver.strategy import (
    JsonObj,
    Representation,
    Server,
    StorageOptions,
    Strategy,
)

if TYPE_CHECKING:
    from kboot.controlplane.apiserver.auth import UserInfo

# upstream's --event-ttl default: events expire on their own (a lease on the key)
EVENT_TTL_SECONDS = 3600


@dataclass(frozen=True)
class PodStrategy(Strategy):
    """Pods: no generation; the status sent on create is kept (static and mirror pods); a
    scheduled pod is deleted gracefully (its kubelet finishes with a grace-0 delete); the
    ServiceAccount admission (:mod:`.saadmission`) and its ``imagePullSecrets`` run on create."""

    generation: bool = False
    keeps_status_on_create: bool = True
    propagation_marks: bool = False

    def grace_seconds(self, obj: JsonObj, options: JsonObj) -> int:
        if not (obj.get("spec") or {}).get("nodeName"):
            return 0
        grace = options.get("gracePeriodSeconds")
        if grace is None:
            grace = (obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        return int(grace)

    def holds_removal(self, obj: JsonObj) -> bool:
        scheduled = bool((obj.get("spec") or {}).get("nodeName"))
        return scheduled and (obj.get("metadata") or {}).get("deletionGracePeriodSeconds") != 0

    async def admit_create(self, state: Server, obj: JsonObj) -> JsonObj:
        await saadmission.admit_pod(state, obj)  # the ServiceAccount admission plugin
        await sapullsecrets.add_pull_secrets(state, obj)  # its imagePullSecrets part
        await priority.admit_pod(state, obj)  # the Priority admission plugin
        return await limitranger.admit_pod(state, obj)  # the LimitRanger admission plugin


@dataclass(frozen=True)
class NamespaceStrategy(Strategy):
    """Namespaces: a delete moves them to ``Terminating``; ``spec.finalizers`` (the namespace
    controller's ``kubernetes``) hold the removal until the content is gone."""

    generation: bool = False
    keeps_status_on_create: bool = True

    def mark_terminating(self, obj: JsonObj) -> None:
        obj.setdefault("status", {})["phase"] = "Terminating"

    def holds_removal(self, obj: JsonObj) -> bool:
        return bool((obj.get("spec") or {}).get("finalizers"))


@dataclass(frozen=True)
class SecretStrategy(Strategy):
    """Secrets: ``stringData`` folds into ``data`` (upstream's conversion) and the stored
    value is encrypted at rest when an encryption config is given."""

    generation: bool = False
    storage: StorageOptions = field(default_factory=lambda: StorageOptions(encrypted=True))

    def normalize(self, obj: JsonObj) -> JsonObj:
        if "stringData" not in obj:
            return obj
        out = dict(obj)
        string_data = out.pop("stringData") or {}
        if isinstance(string_data, dict):
            data = dict(out.get("data") or {})
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            out["data"] = data
        return out


@dataclass(frozen=True)
class ServiceStrategy(Strategy):
    """Services: ClusterIP and NodePorts come from the server's allocators on every write."""

    async def admit_create(self, state: Server, obj: JsonObj) -> JsonObj:
        return state.allocators.admit(obj, None)

    def admit_update(self, state: Server, new: JsonObj, old: JsonObj) -> JsonObj:
        return state.allocators.admit(new, old)

    async def release(self, state: Server, obj: JsonObj) -> None:
        state.allocators.release(obj)


@dataclass(frozen=True)
class CertificateSigningRequestStrategy(Strategy):
    """CSRs: the requestor fields are the caller's, whatever the body says; the ``status``
    subresource keeps Approved/Denied, the ``approval`` subresource changes only those."""

    def prepare_for_create(self, obj: JsonObj, *, user: UserInfo | None) -> None:
        super().prepare_for_create(obj, user=user)
        if user is not None and isinstance(obj.get("spec"), dict):
            obj["spec"].update(certificates.requestor(user.name, user.uid, list(user.groups),
                                                      {}))

    def prepare_for_update(self, new: JsonObj, old: JsonObj, *, subresource: str | None
                           ) -> None:
        if subresource == "approval":
            certificates.only_approval(new, old)
        elif subresource == "status":
            certificates.keep_approval(new, old)


@dataclass(frozen=True)
class PriorityClassStrategy(Strategy):
    """PriorityClasses: no spec (no generation); at most one ``globalDefault`` (the Priority
    admission plugin's check, :mod:`.priority`)."""

    generation: bool = False

    async def admit_create(self, state: Server, obj: JsonObj) -> JsonObj:
        await priority.one_default(state, obj)
        return obj


_CORE, _RBAC = "", "rbac.authorization.k8s.io"
_SPECIAL: dict[tuple[str, str], type[Strategy]] = {
    (_CORE, "Pod"): PodStrategy,
    (_CORE, "Namespace"): NamespaceStrategy,
    (_CORE, "Secret"): SecretStrategy,
    (_CORE, "Service"): ServiceStrategy,
    ("certificates.k8s.io", "CertificateSigningRequest"): CertificateSigningRequestStrategy,
    ("scheduling.k8s.io", "PriorityClass"): PriorityClassStrategy,
    (_CORE, "PersistentVolumeClaim"): ClaimStrategy,
    (_CORE, "ResourceQuota"): ResourceQuotaStrategy,
    (_CORE, "LimitRange"): LimitRangeStrategy,
}


class Policy(TypedDict, total=False):
    """The data fields of a :class:`~.strategy.Strategy` (for kinds that differ only in data)."""

    generation: bool
    keeps_status_on_create: bool
    propagation_marks: bool
    strategic_merge: bool
    storage: StorageOptions


# kinds that differ only in data: no spec/status split (no generation), status kept on create
_DATA: dict[tuple[str, str], Policy] = {
    (_CORE, "Node"): {"generation": False, "keeps_status_on_create": True},
    (_CORE, "Event"): {"generation": False, "propagation_marks": False,
                       "storage": StorageOptions(ttl_seconds=EVENT_TTL_SECONDS)},
    # the same stored Events, shown with events.k8s.io/v1's field names (api/events.py)
    ("events.k8s.io", "Event"): {"generation": False, "propagation_marks": False,
                                 "storage": StorageOptions(ttl_seconds=EVENT_TTL_SECONDS,
                                                           stored_as=Representation(
                                                               events.to_core,
                                                               events.from_core))},
    **{key: {"generation": False} for key in (
        (_CORE, "ConfigMap"), (_CORE, "Endpoints"), (_CORE, "ServiceAccount"),
        ("discovery.k8s.io", "EndpointSlice"), ("coordination.k8s.io", "Lease"),
        ("apps", "ControllerRevision"), (_RBAC, "Role"), (_RBAC, "RoleBinding"),
        (_RBAC, "ClusterRole"), (_RBAC, "ClusterRoleBinding"))},
}


def builtin_strategy(kind: ResourceKind) -> Strategy:
    """The strategy of a kind from the built-in registry."""
    key = (kind.group, kind.kind)
    cls = _SPECIAL.get(key, Strategy)
    return cls(kind, **_DATA.get(key, Policy()))
