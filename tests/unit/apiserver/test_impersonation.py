"""Impersonation's rules without a server: which ``impersonate`` checks a request needs, what
identity results, and the 400/403 answers (the authorizer is a table of allowed attributes)."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from kboot.controlplane.apiserver.attributes import Attributes, Decision
from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.errors import StatusError
from kboot.controlplane.apiserver.impersonation import impersonate, requested, service_account

ALICE = UserInfo("alice", ("dev", "system:authenticated"))
MASTER = UserInfo("root", ("system:masters", "system:authenticated"))


class Table:
    """Allows exactly the listed attributes (and everything for ``system:masters``); records
    every question."""

    def __init__(self, *allowed: Attributes) -> None:
        self.allowed = set(allowed)
        self.asked: list[Attributes] = []

    def __call__(self, user: UserInfo, attrs: Attributes) -> Decision:
        self.asked.append(attrs)
        return Decision("system:masters" in user.groups or attrs in self.allowed)


def imp(kind: str, name: str, *, ns: str = "", group: str = "", sub: str = "") -> Attributes:
    return Attributes(verb="impersonate", resource=kind, name=name, namespace=ns, group=group,
                      subresource=sub)


def headers(*pairs: tuple[str, str]) -> CIMultiDict[str]:
    return CIMultiDict(pairs)


def test_no_headers_keeps_the_caller_and_asks_nothing() -> None:
    table = Table()
    assert impersonate(table, ALICE, headers(("Accept", "x"))) is ALICE
    assert table.asked == []


def test_user_and_groups_need_each_grant_and_get_system_authenticated() -> None:
    table = Table(imp("users", "bob"), imp("groups", "ops"))
    got = impersonate(table, ALICE, headers(("Impersonate-User", "bob"),
                                            ("Impersonate-Group", "ops")))
    assert got == UserInfo("bob", ("ops", "system:authenticated"))
    assert table.asked == [imp("users", "bob"), imp("groups", "ops")]


def test_refusal_names_the_first_thing_not_granted_in_upstreams_words() -> None:
    table = Table(imp("users", "bob"))
    with pytest.raises(StatusError) as err:
        impersonate(table, ALICE, headers(("Impersonate-User", "bob"),
                                          ("Impersonate-Group", "system:masters")))
    assert err.value.code == 403
    assert str(err.value.message) == (
        'groups "system:masters" is forbidden: User "alice" cannot impersonate resource '
        '"groups" in API group "" at the cluster scope')


def test_groups_without_a_user_is_a_bad_request() -> None:
    for pair in (("Impersonate-Group", "ops"), ("Impersonate-Uid", "1"),
                 ("Impersonate-Extra-scopes", "view")):
        with pytest.raises(StatusError) as err:
            impersonate(Table(), MASTER, headers(pair))
        assert err.value.code == 400, pair


def test_service_account_is_checked_in_its_namespace_and_gets_its_groups() -> None:
    table = Table(imp("serviceaccounts", "builder", ns="ci"))
    got = impersonate(table, ALICE, headers(("Impersonate-User",
                                             "system:serviceaccount:ci:builder")))
    assert got.groups == ("system:serviceaccounts", "system:serviceaccounts:ci",
                          "system:authenticated")
    assert table.asked == [imp("serviceaccounts", "builder", ns="ci")]
    with pytest.raises(StatusError) as err:  # a users grant is not a serviceaccounts grant
        impersonate(Table(imp("users", "system:serviceaccount:ci:builder")), ALICE,
                    headers(("Impersonate-User", "system:serviceaccount:ci:builder")))
    assert str(err.value.message).startswith('serviceaccounts "builder" is forbidden: User '
                                             '"alice" cannot impersonate resource '
                                             '"serviceaccounts" in API group "" in the '
                                             'namespace "ci"')


def test_uid_and_extras_are_checked_in_authentication_group() -> None:
    table = Table(imp("users", "bob"), imp("uids", "u-1", group="authentication.k8s.io"),
                  imp("userextras", "view", group="authentication.k8s.io", sub="scopes"))
    got = impersonate(table, ALICE, headers(("Impersonate-User", "bob"),
                                            ("Impersonate-Uid", "u-1"),
                                            ("Impersonate-Extra-Scopes", "view")))
    assert (got.uid, got.extra) == ("u-1", (("scopes", ("view",)),))
    with pytest.raises(StatusError) as err:
        impersonate(table, ALICE, headers(("Impersonate-User", "bob"),
                                          ("Impersonate-Extra-scopes", "edit")))
    assert str(err.value.message).startswith(
        'userextras.authentication.k8s.io "edit" is forbidden: User "alice" cannot impersonate '
        'resource "userextras/scopes" in API group "authentication.k8s.io"')


def test_extra_keys_are_lowercased_and_percent_decoded() -> None:
    wanted = requested(headers(("Impersonate-User", "bob"),
                               ("Impersonate-Extra-Example.com%2fTeam", "a"),
                               ("impersonate-extra-example.com%2fteam", "b")))
    assert wanted.extra == (("example.com/team", ("a", "b")),)


def test_anonymous_and_explicit_unauthenticated_are_not_made_authenticated() -> None:
    anon = impersonate(Table(), MASTER, headers(("Impersonate-User", "system:anonymous")))
    assert anon.groups == ("system:unauthenticated",)
    odd = impersonate(Table(), MASTER, headers(("Impersonate-User", "x"),
                                               ("Impersonate-Group", "system:unauthenticated")))
    assert odd.groups == ("system:unauthenticated",)


def test_the_callers_groups_never_leak_into_the_impersonated_identity() -> None:
    got = impersonate(Table(), MASTER, headers(("Impersonate-User", "bob")))
    assert got == UserInfo("bob", ("system:authenticated",))


@pytest.mark.parametrize("name", ["system:serviceaccount:ci", "system:serviceaccount:a:b:c",
                                  "system:serviceaccount:Bad:x", "system:serviceaccount::x"])
def test_malformed_service_account_names_are_plain_users(name: str) -> None:
    assert service_account(name) is None
