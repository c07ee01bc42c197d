"""Authentication: who is calling (client certificate, static/bootstrap token, ServiceAccount JWT).

Upstream's rules: a client certificate verified against ``--client-ca-file`` names the user by CN
and the groups by O; a bearer token from ``--token-auth-file`` (CSV ``token,user,uid,"g1,g2"``)
or a bootstrap token (``<id>.<secret>``, in that file or as a ``bootstrap-token-<id>`` Secret in
``kube-system``) maps to its user; a ServiceAccount JWT maps to
``system:serviceaccount:<ns>:<name>`` while :mod:`.satokens` finds it still valid (issuer,
audience, the account and the bound object alive with the token's uids). Everything else is
anonymous and gets 401 — including credentials that are not printable ASCII (an HTTP header may
carry any byte; no token kboot issues or reads contains such bytes).
"""

from __future__ import annotations

import csv
import hmac
import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kboot.controlplane.api import bootstraptokens
from kboot.controlplane.apiserver import satokens, tokens
from kboot.controlplane.client.clock import Clock, LoopClock

log = logging.getLogger(__name__)

BOOTSTRAP_TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
PRINTABLE_ASCII_RE = re.compile(r"^[\x21-\x7e]+$")


@dataclass(frozen=True)
class UserInfo:
    """Who a request acts as. ``extra`` is upstream's ``user.Info.GetExtra()`` as sorted
    ``(key, values)`` pairs (hashable: per-user rule sets are memoised on this object); only
    impersonation (``Impersonate-Extra-<key>``) sets it today."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def to_json(self) -> dict[str, object]:
        """``authentication.k8s.io/v1`` ``UserInfo`` (empty fields left out, as upstream): what
        ``kubectl auth whoami`` and admission webhooks' reviews carry."""
        info: dict[str, object] = {"username": self.name}
        if self.uid:
            info["uid"] = self.uid
        if self.groups:
            info["groups"] = list(self.groups)
        if self.extra:
            info["extra"] = {key: list(values) for key, values in self.extra}
        return info

    @property
    def node_name(self) -> str | None:
        """The node this identity speaks for (``system:node:<name>`` in ``system:nodes``)."""
        if self.name.startswith("system:node:") and "system:nodes" in self.groups:
            return self.name.removeprefix("system:node:")
        return None


def _authenticated(name: str, groups: list[str], uid: str = "") -> UserInfo:
    all_groups = [*groups, "system:authenticated"]
    return UserInfo(name, tuple(dict.fromkeys(all_groups)), uid)


def from_peercert(cert: dict[str, Any] | None) -> UserInfo | None:
    """The user of a verified client certificate (``ssl`` peercert dict)."""
    if not cert:
        return None
    cn, orgs = "", []
    for rdn in cert.get("subject", ()):
        for attr, value in rdn:
            if attr == "commonName":
                cn = value
            elif attr == "organizationName":
                orgs.append(value)
    return _authenticated(cn, orgs) if cn else None


def load_token_file(path: str) -> dict[str, UserInfo]:
    """Parse a static token file: ``token,user,uid[,"group1,group2"]`` per line."""
    users: dict[str, UserInfo] = {}
    for row in csv.reader(io.StringIO(Path(path).read_text())):
        if not row or row[0].startswith("#") or len(row) < 3:
            continue
        token, user, uid = (c.strip() for c in row[:3])
        groups = [g.strip() for g in row[3].split(",") if g.strip()] if len(row) > 3 else []
        if BOOTSTRAP_TOKEN_RE.match(token) and not groups:
            groups = ["system:bootstrappers"]  # a bootstrap token joins as a bootstrapper
        users[token] = _authenticated(user, groups, uid)
    return users


class Authenticator:
    """Resolves a request's credentials to a :class:`UserInfo` (or None = anonymous).

    ``objects`` reads the watch cache (bootstrap-token Secrets, ServiceAccounts and the objects
    tokens are bound to); without it no bootstrap-Secret or ServiceAccount token is accepted.
    """

    def __init__(self, *, static_tokens: dict[str, UserInfo] | None = None,
                 sa_keys: Sequence[tokens.PublicKey] = (),
                 objects: satokens.ObjectLookup | None = None,
                 token_policy: satokens.TokenPolicy | None = None,
                 clock: Clock | None = None) -> None:
        self.static_tokens = static_tokens or {}
        self.sa_keys = list(sa_keys)  # several while a signing-key rotation runs
        self.objects = objects
        self.token_policy = token_policy or satokens.TokenPolicy()
        self.clock: Clock = clock or LoopClock()

    def authenticate(self, peercert: dict[str, Any] | None,
                     authorization: str | None) -> UserInfo | None:
        user = from_peercert(peercert)
        if user is not None:
            return user
        if authorization and authorization[:7].lower() == "bearer ":
            return self.from_token(authorization[7:].strip())
        return None

    def from_token(self, token: str) -> UserInfo | None:
        if not PRINTABLE_ASCII_RE.match(token):
            return None
        for known, user in self.static_tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return user
        m = BOOTSTRAP_TOKEN_RE.match(token)
        if m:
            return self._bootstrap_secret_user(m.group(1), m.group(2))
        if self.sa_keys and token.count(".") == 2:
            return self._service_account(token)
        return None

    def _bootstrap_secret_user(self, token_id: str, secret: str) -> UserInfo | None:
        obj = (self.objects("secrets", bootstraptokens.NAMESPACE,
                            bootstraptokens.secret_name(token_id)) if self.objects else None)
        if not obj or obj.get("type") != bootstraptokens.SECRET_TYPE:
            return None
        data = bootstraptokens.data(obj)
        if not hmac.compare_digest(data.get("token-secret", ""), secret):
            return None
        if data.get("usage-bootstrap-authentication") != "true":
            return None
        if bootstraptokens.is_expired(obj, self.clock.now()):
            log.info("rejected expired bootstrap token %s", token_id)
            return None
        extra = [g for g in data.get("auth-extra-groups", "").split(",") if g]
        return _authenticated(f"system:bootstrap:{token_id}", ["system:bootstrappers", *extra])

    def _service_account(self, token: str) -> UserInfo | None:
        if self.objects is None:
            return None
        try:
            claims = tokens.verify_any(self.sa_keys, token, now=self.clock.time())
            sa = satokens.validate(claims, token, policy=self.token_policy,
                                   objects=self.objects, now=self.clock.now())
        except tokens.TokenError as err:  # incl. satokens.TokenRejected
            log.debug("rejected service-account token: %s", err)
            return None
        return _authenticated(f"system:serviceaccount:{sa.namespace}:{sa.name}",
                              ["system:serviceaccounts", f"system:serviceaccounts:{sa.namespace}"],
                              sa.uid)
