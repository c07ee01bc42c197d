"""The ResourceQuota admission step (upstream's ``ResourceQuota`` plugin), with the store at hand.

Every create in a namespace is charged to the namespace's quotas that cover it: the new
``status.used`` is written with the quota's resourceVersion as a precondition (upstream's
optimistic-concurrency update inside admission), so concurrent creates — on one apiserver or on
several sharing the store — never push usage past ``spec.hard``; a lost race re-reads and
re-checks. A create that would pass a hard limit is 403 with upstream's ``exceeded quota``
sentence; a pod without the compute requests a quota limits is 403 ``must specify …``. A
dry-run is checked but not charged; a create the store then refuses gives its charge back (the
quota controller, :mod:`kboot.controlplane.controllers.resourcequota`, corrects any other
drift). The arithmetic is pure, in :mod:`kboot.controlplane.api.quotas`.

Most namespaces have no quota, and reading the namespace's quotas from the store on every create
cost one store round trip of the create's two. Upstream's plugin asks its quota informer's
lister and reads the store only when the lister has none (and then remembers that answer for
30 s, so a quota created through another apiserver can be missed for that long). Here the
quotas watch cache is only the hint: when it holds no quota of the namespace, :func:`admit`
returns the namespace's quota prefix and the create is written *on condition that no key exists
under it*, in the same atomic store write (``Store.create(absent=…)``); a quota that exists by
then — created a moment ago, through this apiserver or another one, not yet in the cache —
fails the write, and :func:`admit_exact` charges it before the create is written again. So a
create is never stored uncharged past a quota that existed before it, with no extra read.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from kboot.controlplane.api import quotas
from kboot.controlplane.api.registry import ResourceKind, lookup
from kboot.controlplane.apiserver.errors import JsonObj, StatusError, conflict, forbidden

if TYPE_CHECKING:
    from kboot.controlplane.apiserver.strategy import Server

QUOTAS = lookup("", "resourcequotas")
assert QUOTAS is not None
# a create racing this many other writes to the same quota gives up with 409 (upstream retries
# its quota update a few times, then answers a conflict)
ATTEMPTS = 64


async def _quotas(state: Server, namespace: str) -> list[JsonObj]:
    assert QUOTAS is not None
    return (await state.storage.list(QUOTAS, namespace)).items


async def recalculate(state: Server, quota: JsonObj) -> dict[str, Fraction]:
    """The quota's usage counted from the store (for a quota whose status lacks a name)."""
    namespace = quota["metadata"].get("namespace")
    hard = (quota.get("spec") or {}).get("hard") or {}
    objects: list[tuple[str, str, JsonObj]] = []
    for plural, group in sorted(quotas.sources(hard)):
        kind = state.storage.kinds.lookup(group, plural)
        if kind is None or not kind.namespaced:
            continue
        objects += [(plural, group, o) for o in (await state.storage.list(kind, namespace)).items]
    return quotas.total(objects, quota)


async def initial_status(state: Server, quota: JsonObj) -> None:
    """A new quota's ``status`` (in place): its hard limits and the usage already there, so
    admission is exact from the first write on (upstream waits for the controller)."""
    hard = dict((quota.get("spec") or {}).get("hard") or {})
    quota["status"] = {"hard": hard, "used": quotas.render(await recalculate(state, quota))}


async def _charged(state: Server, quota: JsonObj, delta: dict[str, Fraction]) -> JsonObj:
    """``quota`` with ``delta`` added to ``status.used`` (a missing name counted first)."""
    hard = (quota.get("spec") or {}).get("hard") or {}
    status = dict(quota.get("status") or {})
    used = dict(status.get("used") or {})
    if any(name not in used for name in hard):
        used = {**quotas.render(await recalculate(state, quota)), **used}
    status.update(hard=dict(hard), used=used)
    current = {**quota, "status": status}
    new_used = quotas.charge(current, delta)
    return {**current, "status": {**status, "used": {**used, **quotas.render(
        {k: v for k, v in new_used.items() if k in hard})}}}


def _refused(kind: ResourceKind, obj: JsonObj, message: str) -> StatusError:
    name = obj["metadata"].get("name") or ""
    return forbidden(kind.plural, kind.group, name,
                     f'{kind.plural}{"." + kind.group if kind.group else ""} "{name}" is '
                     f"forbidden: {message}")


def _prefix(namespace: str) -> str:
    """Where the namespace's quotas are stored (the storage layer's collection prefix)."""
    assert QUOTAS is not None
    return f"{QUOTAS.storage_prefix}{namespace}/"


def _none_cached(state: Server, namespace: str) -> bool:
    """The quotas watch cache is listed and holds no quota of ``namespace`` (a hint only)."""
    assert QUOTAS is not None
    cache = state.caches.caches.get((QUOTAS.group, QUOTAS.plural))
    if cache is None or not cache.ready.is_set():
        return False
    prefix = _prefix(namespace)
    return not any(key.startswith(prefix) for key in cache.objects)


async def admit(state: Server, kind: ResourceKind, obj: JsonObj, *, dry_run: bool = False
                ) -> str | None:
    """Charge the new ``obj`` to every quota of its namespace that covers it; 403 when one
    would be exceeded (what was already charged for ``obj`` is given back then).

    Returns the quota prefix the create must be stored under the condition of (``absent``)
    when the watch cache knows no quota in the namespace and nothing was read: the store
    refuses the write if one exists after all, and the caller then calls :func:`admit_exact`."""
    namespace = obj["metadata"].get("namespace")
    if namespace and not dry_run and _none_cached(state, namespace):
        return _prefix(namespace)
    await admit_exact(state, kind, obj, dry_run=dry_run)
    return None


async def admit_exact(state: Server, kind: ResourceKind, obj: JsonObj, *,
                      dry_run: bool = False) -> None:
    """:func:`admit` with the namespace's quotas read from the store."""
    namespace = obj["metadata"].get("namespace")
    if not namespace:
        return
    delta = quotas.usage(kind.plural, kind.group, obj)
    charged: list[str] = []
    try:
        for name in sorted(q["metadata"]["name"] for q in await _quotas(state, namespace)):
            if await _charge_one(state, kind, obj, name, delta, dry_run=dry_run):
                charged.append(name)
    except StatusError:
        if charged and not dry_run:
            await release(state, kind, obj, only=set(charged))
        raise


async def _charge_one(state: Server, kind: ResourceKind, obj: JsonObj, name: str,
                      delta: dict[str, Fraction], *, dry_run: bool) -> bool:
    """Charge ``delta`` to quota ``name`` under its resourceVersion, re-reading after a lost
    race; False when the quota does not cover ``obj`` (or is gone)."""
    assert QUOTAS is not None
    namespace = obj["metadata"]["namespace"]
    for _ in range(ATTEMPTS):
        try:
            quota = await state.storage.get(QUOTAS, namespace, name)
        except StatusError as exc:
            if exc.code == 404:
                return False
            raise
        hard = (quota.get("spec") or {}).get("hard") or {}
        if not quotas.matches(quota, kind.plural, kind.group, obj) or not set(delta) & set(hard):
            return False
        if not kind.group and kind.plural == "pods":
            missing = quotas.missing_requests(obj, hard)
            if missing:
                raise _refused(kind, obj, f"failed quota: {name}: {missing}")
        try:
            updated = await _charged(state, quota, delta)
        except quotas.QuotaRefused as exc:
            raise _refused(kind, obj, str(exc)) from None
        if dry_run:
            return False
        try:
            await state.storage.update(QUOTAS, updated,
                                       expected=int(quota["metadata"]["resourceVersion"]))
            return True
        except StatusError as exc:
            if exc.code != 409:
                raise
    raise conflict(QUOTAS, name, "please retry: too many concurrent writes to the quota")


async def release(state: Server, kind: ResourceKind, obj: JsonObj, *,
                  only: set[str] | None = None) -> None:
    """Give back the charge of a create that did not happen (the store refused it, or another
    quota did) or of an object just removed; ``only`` these quotas when given. Best effort:
    what a persistent conflict leaves is corrected by the quota controller."""
    namespace = obj["metadata"].get("namespace")
    if not namespace:
        return
    meta = {k: v for k, v in obj["metadata"].items()
            if k not in ("deletionTimestamp", "deletionGracePeriodSeconds")}
    delta = {k: -v for k, v in quotas.usage(kind.plural, kind.group,
                                            {**obj, "metadata": meta}).items()}
    for quota in await _quotas(state, namespace):
        name = quota["metadata"]["name"]
        if only is None or name in only:
            await _give_back(state, kind, obj, name, delta)


async def _give_back(state: Server, kind: ResourceKind, obj: JsonObj, name: str,
                     delta: dict[str, Fraction]) -> None:
    assert QUOTAS is not None
    for _ in range(ATTEMPTS):
        try:
            quota = await state.storage.get(QUOTAS, obj["metadata"]["namespace"], name)
        except StatusError:
            return
        used = (quota.get("status") or {}).get("used") or {}
        if not quotas.matches(quota, kind.plural, kind.group, obj) or not set(delta) & set(used):
            return
        new = quotas.charge(quota, delta)
        status = {**quota["status"], "used": {**used, **quotas.render(
            {k: max(v, Fraction(0)) for k, v in new.items() if k in used})}}
        try:
            await state.storage.update(QUOTAS, {**quota, "status": status},
                                       expected=int(quota["metadata"]["resourceVersion"]))
            return
        except StatusError as exc:
            if exc.code != 409:
                return
