"""Which ServiceAccount a verified token speaks for, checked against live objects as upstream.

The signature and expiry are :mod:`.tokens`' business; this module decides whether a token with
a good signature still names a user (upstream ``pkg/serviceaccount``):

- **Bound tokens** (``iss`` is the apiserver's ``--service-account-issuer``; TokenRequest issues
  them): an ``aud`` claim must share an audience with the apiserver's own
  ``--api-audiences`` (default: the issuer) — a token minted for another service is no key to
  the API; a token without ``aud`` counts as issued for the apiserver. The ServiceAccount must
  still exist with the ``uid`` in the token (deleted and recreated under the same name is a
  different account), and so must the object the token is bound to (a Pod, Secret or Node):
  deleted, or replaced by a new object of the same name, ends the token. An object being
  deleted counts as gone once its ``deletionTimestamp`` is a minute old (upstream's leeway).
- **Legacy tokens** (``iss: kubernetes/serviceaccount``, stored in a
  ``kubernetes.io/service-account-token`` Secret): valid while that Secret exists, is not being
  deleted, is not labelled ``kubernetes.io/legacy-token-invalid-since`` and holds exactly this
  token, and the ServiceAccount exists with the claimed uid.

Everything is read from the watch cache through an :data:`ObjectLookup`, so a check costs a few
dict lookups and never touches the store.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kboot.controlplane.apiserver import tokens

JsonObj = dict[str, Any]
ObjectLookup = Callable[[str, str, str], JsonObj | None]  # (plural, namespace, name) → object
LEGACY_ISSUER = "kubernetes/serviceaccount"
LEGACY_PREFIX = "kubernetes.io/serviceaccount/"
INVALID_SINCE_LABEL = "kubernetes.io/legacy-token-invalid-since"  # upstream's token cleaner
LEEWAY = datetime.timedelta(seconds=60)
_BOUND_KINDS = (("pod", "pods"), ("secret", "secrets"), ("node", "nodes"))


@dataclass(frozen=True)
class TokenPolicy:
    """The apiserver's issuer (``--service-account-issuer``) and the audiences it accepts
    (``--api-audiences``; empty: the issuer)."""

    issuer: str = tokens.ISSUER
    audiences: tuple[str, ...] = ()

    @property
    def api_audiences(self) -> tuple[str, ...]:
        return self.audiences or (self.issuer,)


@dataclass(frozen=True)
class ServiceAccountIdentity:
    namespace: str
    name: str
    uid: str


class TokenRejected(tokens.TokenError):
    """The token is well signed but does not (or no longer does) name a ServiceAccount."""


def validate(claims: Mapping[str, Any], raw: str, *, policy: TokenPolicy,
             objects: ObjectLookup, now: datetime.datetime) -> ServiceAccountIdentity:
    """The ServiceAccount ``claims`` (of the token ``raw``) speak for; TokenRejected otherwise."""
    issuer = claims.get("iss")
    if issuer == LEGACY_ISSUER:
        return _legacy(claims, raw, objects)
    if issuer != policy.issuer:
        raise TokenRejected(f"token issuer {issuer!r} is not {policy.issuer!r}")
    _check_audience(claims.get("aud"), policy.api_audiences)
    _check_not_before(claims.get("nbf"), now)
    k8s = claims.get("kubernetes.io")
    if not isinstance(k8s, Mapping):
        raise TokenRejected("kubernetes.io claim is missing")
    namespace, account = _text(k8s.get("namespace")), _ref(k8s.get("serviceaccount"))
    if account is None or not namespace:
        raise TokenRejected("namespace or serviceaccount claim is missing")
    _check_subject(claims.get("sub"), namespace, account[0])
    _require_live(objects, "serviceaccounts", namespace, account, now)
    for claim, plural in _BOUND_KINDS:
        if claim in k8s:
            bound = _ref(k8s.get(claim))
            if bound is None:
                raise TokenRejected(f"{claim} claim is malformed")
            _require_live(objects, plural, "" if plural == "nodes" else namespace, bound, now)
    return ServiceAccountIdentity(namespace, account[0], account[1])


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _ref(value: Any) -> tuple[str, str] | None:
    """(name, uid) of a ``{"name", "uid"}`` claim."""
    if not isinstance(value, Mapping) or not _text(value.get("name")):
        return None
    return _text(value.get("name")), _text(value.get("uid"))


def _check_audience(aud: Any, accepted: tuple[str, ...]) -> None:
    if aud is None or aud == []:
        return  # a token without audiences was issued for the apiserver itself
    wanted = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else None
    if wanted is None or not any(a in accepted for a in wanted):
        raise TokenRejected(f"token audiences {aud!r} is invalid for the target audiences "
                            f"{list(accepted)!r}")


def _check_not_before(nbf: Any, now: datetime.datetime) -> None:
    if isinstance(nbf, int | float) and not isinstance(nbf, bool) and (
            nbf > (now + LEEWAY).timestamp()):
        raise TokenRejected("token is not valid yet")


def _check_subject(sub: Any, namespace: str, name: str) -> None:
    if sub != f"system:serviceaccount:{namespace}:{name}":
        raise TokenRejected("sub claim is invalid")


def _deleted_before(obj: JsonObj, limit: datetime.datetime) -> bool:
    stamp = (obj.get("metadata") or {}).get("deletionTimestamp")
    if not isinstance(stamp, str):
        return False
    try:
        when = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return True
    return when < limit


def _require_live(objects: ObjectLookup, plural: str, namespace: str, ref: tuple[str, str],
                  now: datetime.datetime) -> None:
    name, uid = ref
    obj = objects(plural, namespace, name)
    if obj is None or _deleted_before(obj, now - LEEWAY):
        raise TokenRejected(f"{plural} {namespace}/{name} has been deleted")
    actual = str((obj.get("metadata") or {}).get("uid") or "")
    if actual != uid:
        raise TokenRejected(f"{plural} {namespace}/{name} UID ({actual}) does not match "
                            f"claim ({uid})")


def _legacy(claims: Mapping[str, Any], raw: str, objects: ObjectLookup
            ) -> ServiceAccountIdentity:
    namespace = _text(claims.get(LEGACY_PREFIX + "namespace"))
    secret_name = _text(claims.get(LEGACY_PREFIX + "secret.name"))
    name = _text(claims.get(LEGACY_PREFIX + "service-account.name"))
    uid = _text(claims.get(LEGACY_PREFIX + "service-account.uid"))
    if not (namespace and secret_name and name and uid):
        raise TokenRejected("legacy token claims are incomplete")
    _check_subject(claims.get("sub"), namespace, name)
    secret = objects("secrets", namespace, secret_name)
    meta = (secret or {}).get("metadata") or {}
    if secret is None or meta.get("deletionTimestamp") or (meta.get("labels") or {}).get(
            INVALID_SINCE_LABEL):
        raise TokenRejected("Token has been invalidated")
    try:
        stored = base64.b64decode(str((secret.get("data") or {}).get("token") or ""),
                                  validate=True)
    except (binascii.Error, ValueError):
        stored = b""
    if not hmac.compare_digest(stored, raw.encode()):
        raise TokenRejected("Token does not match server's copy")
    account = objects("serviceaccounts", namespace, name)
    if account is None or (account.get("metadata") or {}).get("deletionTimestamp"):
        raise TokenRejected(f"ServiceAccount {namespace}/{name} has been deleted")
    actual = str((account.get("metadata") or {}).get("uid") or "")
    if actual != uid:
        raise TokenRejected(f"ServiceAccount UID ({actual}) does not match claim ({uid})")
    return ServiceAccountIdentity(namespace, name, uid)
