"""User impersonation: ``kubectl --as``, ``--as-group``, ``--as-uid`` (upstream's semantics).

A request may carry ``Impersonate-User``, ``Impersonate-Group`` (repeatable), ``Impersonate-Uid``
and ``Impersonate-Extra-<key>`` (repeatable) headers. The *authenticated* caller must be
authorized for verb ``impersonate`` on each thing it asks to become — ``users``/``groups`` (core
group, named by the user/group), ``serviceaccounts`` in the account's namespace when the user is
``system:serviceaccount:<ns>:<name>``, ``uids`` and ``userextras/<key>`` (group
``authentication.k8s.io``, named by the value) — or the request is refused with 403 before it
reaches anything else. Groups, a uid or extras without a user is a 400.

The identity returned then replaces the caller for the rest of the request — authorization
(RBAC, the Node authorizer), the RBAC escalation guard, admission, the access reviews — so an
impersonator gets exactly the impersonated user's rights, never its own: nothing of the caller's
identity (notably ``system:masters`` or ``system:nodes``) is carried over. Like upstream, the
impersonated user joins ``system:authenticated`` (``system:unauthenticated`` for
``system:anonymous``), and a service account given without groups gets its fixed ones.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from multidict import MultiMapping

from kboot.controlplane.api import names
from kboot.controlplane.apiserver.attributes import Attributes, Decision
from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.errors import (
    StatusError,
    bad_request,
    forbidden,
    forbidden_message,
)

USER_HEADER = "Impersonate-User"
GROUP_HEADER = "Impersonate-Group"
UID_HEADER = "Impersonate-Uid"
EXTRA_PREFIX = "Impersonate-Extra-"
AUTHN_GROUP = "authentication.k8s.io"
SA_PREFIX = "system:serviceaccount:"
ANONYMOUS = "system:anonymous"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"

Authorize = Callable[[UserInfo, Attributes], Decision]
Extra = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class Requested:
    """What the impersonation headers ask for (before any check)."""

    user: str
    groups: tuple[str, ...]
    uid: str
    extra: Extra

    @property
    def anything(self) -> bool:
        return bool(self.user or self.groups or self.uid or self.extra)


def requested(headers: MultiMapping[str]) -> Requested:
    """The impersonation headers of a request. An extra's key is the header's suffix, lower-cased
    and percent-decoded (HTTP header names cannot carry every key, e.g. ``/``)."""
    extra: dict[str, list[str]] = {}
    for header, value in headers.items():
        if header.lower().startswith(EXTRA_PREFIX.lower()):
            key = urllib.parse.unquote(header[len(EXTRA_PREFIX):].lower())
            extra.setdefault(key, []).append(value)
    return Requested(user=headers.get(USER_HEADER, ""),
                     groups=tuple(headers.getall(GROUP_HEADER, ())),
                     uid=headers.get(UID_HEADER, ""),
                     extra=tuple(sorted((k, tuple(v)) for k, v in extra.items())))


def service_account(user: str) -> tuple[str, str] | None:
    """``(namespace, name)`` of a ``system:serviceaccount:<ns>:<name>`` user, None for any other
    name (as upstream, a malformed one is just a user name)."""
    if not user.startswith(SA_PREFIX):
        return None
    parts = user[len(SA_PREFIX):].split(":")
    if len(parts) != 2 or names.is_dns1123_label(parts[0]) or names.is_dns1123_subdomain(parts[1]):
        return None
    return parts[0], parts[1]


def _checks(wanted: Requested) -> list[Attributes]:
    """Every ``impersonate`` authorization the request needs, in upstream's order."""
    checks: list[Attributes] = []
    account = service_account(wanted.user)
    if account is not None:
        checks.append(Attributes(verb="impersonate", resource="serviceaccounts",
                                 namespace=account[0], name=account[1]))
    elif wanted.user:
        checks.append(Attributes(verb="impersonate", resource="users", name=wanted.user))
    checks += [Attributes(verb="impersonate", resource="groups", name=g) for g in wanted.groups]
    checks += [Attributes(verb="impersonate", group=AUTHN_GROUP, resource="userextras",
                          subresource=key, name=value)
               for key, values in wanted.extra for value in values]
    if wanted.uid:
        checks.append(Attributes(verb="impersonate", group=AUTHN_GROUP, resource="uids",
                                 name=wanted.uid))
    return checks


def _refused(caller: UserInfo, attrs: Attributes) -> StatusError:
    """403 in upstream's words: ``users "bob" is forbidden: User "alice" cannot impersonate
    resource "users" in API group "" at the cluster scope``."""
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    qualified = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    message = forbidden_message(caller.name, attrs.verb, resource, attrs.group,
                                attrs.namespace or None)
    return forbidden(attrs.resource, attrs.group, attrs.name,
                     f'{qualified} "{attrs.name}" is forbidden: {message}')


def _groups(wanted: Requested) -> tuple[str, ...]:
    groups = list(wanted.groups)
    account = service_account(wanted.user)
    if account is not None and not groups:  # an account's groups are a fixed mapping
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{account[0]}"]
    if wanted.user == ANONYMOUS:
        if UNAUTHENTICATED not in groups:
            groups.append(UNAUTHENTICATED)
    elif AUTHENTICATED not in groups and UNAUTHENTICATED not in groups:
        groups.append(AUTHENTICATED)
    return tuple(dict.fromkeys(groups))


def impersonate(authorize: Authorize, caller: UserInfo, headers: MultiMapping[str]
                ) -> UserInfo:
    """The identity the request acts as: ``caller`` itself without impersonation headers, else
    the impersonated user once ``caller`` is authorized for every part of it (403/400 if not)."""
    wanted = requested(headers)
    if not wanted.anything:
        return caller
    if not wanted.user:
        raise bad_request("requested impersonation of groups, a uid or extra fields without "
                          f"impersonating a user (headers {GROUP_HEADER}, {UID_HEADER}, "
                          f"{EXTRA_PREFIX}<key> need {USER_HEADER})")
    for attrs in _checks(wanted):
        if not authorize(caller, attrs).allowed:
            raise _refused(caller, attrs)
    return UserInfo(wanted.user, _groups(wanted), wanted.uid, wanted.extra)
