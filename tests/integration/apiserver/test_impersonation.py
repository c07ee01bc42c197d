"""User impersonation against a real kboot-apiserver with the real kubectl 1.32 (``--as``,
``--as-group``, ``--as-uid``, ``auth can-i --as``, ``auth whoami --as``): the caller needs
``impersonate`` on everything it asks to become, and then acts with exactly the impersonated
identity's rights — RBAC, the Node authorizer and the escalation guard all see that identity."""

from __future__ import annotations

import http.client
import json
import uuid
from typing import Any

import pytest

from tests.fixtures.apiserver import ApiServer, Identity
from tests.integration.apiserver.http import Reply, call
from tests.integration.apiserver.rbac_helpers import (
    RBAC_GROUP,
    admin_create,
    assert_escalation_refused,
    binding,
    grant,
    role_path,
    rule,
    wait_can,
    wait_until,
)

pytestmark = pytest.mark.integration
AUTHN = "authentication.k8s.io"


def _name(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:6]}"


def _user(server: ApiServer, tag: str) -> Identity:
    return server.identity(_name(tag), ("dev",))


def raw(server: ApiServer, method: str, path: str, headers: list[tuple[str, str]],
        identity: Identity | None = None, body: Any = None) -> Reply:
    """One request with repeatable headers (urllib keeps one value per header name)."""
    host, port = server.url.removeprefix("https://").rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=server.ssl_context(identity),
                                       timeout=30)
    try:
        conn.putrequest(method, path)
        data = json.dumps(body).encode() if body is not None else b""
        for name, value in [("Accept", "application/json"), *headers]:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        resp = conn.getresponse()
        text = resp.read()
        return Reply(resp.status, dict(resp.getheaders()), json.loads(text) if text else None)
    finally:
        conn.close()


def whoami(server: ApiServer, *args: str, identity: Identity | None = None) -> dict[str, Any]:
    """``kubectl auth whoami`` (on a 403 it prints only "not enabled ... or you do not have
    permission", so refusals are asserted with other commands)."""
    done = server.kubectl("auth", "whoami", "-o", "json", *args, identity=identity)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)["status"]["userInfo"]
    assert isinstance(info, dict)
    return info


def allow_impersonate(server: ApiServer, who: Identity, resource: str, names: list[str],
                      *, group: str = "", ns: str | None = None) -> None:
    """A (Cluster)Role granting ``impersonate`` on ``resource`` (``plural[/subresource]``)
    ``names``, bound to ``who``; returns once the authorizer answers yes for every name."""
    grant(server, ns, _name("imp"), who.name, [rule(["impersonate"], [resource], [group], names)])
    plural, _, sub = resource.partition("/")
    for name in names:
        wait_until(lambda name=name: _may_impersonate(server, who, plural, sub, name, ns, group),
                   f"{who.name} may impersonate {resource} {name}")


def _may_impersonate(server: ApiServer, who: Identity, plural: str, sub: str, name: str,
                     ns: str | None, group: str) -> bool:
    attrs = {"verb": "impersonate", "resource": plural, "subresource": sub, "name": name,
             "namespace": ns or "", "group": group}
    reply = call(server, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                 {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "spec": {"resourceAttributes": attrs}}, identity=who)
    assert reply.status == 201, reply.body
    return bool(reply.body["status"]["allowed"])


def test_whoami_shows_the_caller_and_the_impersonated_identity(server: ApiServer) -> None:
    me = whoami(server)
    assert "system:masters" in me["groups"]
    bob = whoami(server, "--as=bob", "--as-group=ops", "--as-group=qa", "--as-uid=u-42")
    assert bob == {"username": "bob", "uid": "u-42",
                   "groups": ["ops", "qa", "system:authenticated"]}


def test_admin_impersonating_a_user_gets_exactly_that_users_rights(
        server: ApiServer, namespace: str) -> None:
    bob = _name("bob")
    denied = server.kubectl("get", "pods", "-n", namespace, f"--as={bob}")
    assert denied.returncode != 0
    assert (f'pods is forbidden: User "{bob}" cannot list resource "pods" in API group "" in '
            f'the namespace "{namespace}"') in denied.stderr
    assert server.kubectl("auth", "can-i", "list", "pods", "-n", namespace,
                          f"--as={bob}").stdout.strip() == "no"
    grant(server, namespace, "bob-reads-pods", bob, [rule(["get", "list"], ["pods"])])
    reader = server.identity(bob)
    wait_can(server, reader, "list", "pods", ns=namespace)
    allowed = server.kubectl("get", "pods", "-n", namespace, f"--as={bob}")
    assert allowed.returncode == 0, allowed.stderr
    assert server.kubectl("auth", "can-i", "list", "pods", "-n", namespace,
                          f"--as={bob}").stdout.strip() == "yes"
    assert server.kubectl("auth", "can-i", "get", "secrets", "-n", namespace,
                          f"--as={bob}").stdout.strip() == "no"
    # a group the impersonator adds counts as the impersonated user's own
    assert server.kubectl("auth", "can-i", "get", "secrets", "-n", namespace, f"--as={bob}",
                          "--as-group=system:masters").stdout.strip() == "yes"


def test_a_user_without_impersonate_is_refused_in_upstreams_words(server: ApiServer) -> None:
    alice = _user(server, "alice")
    done = server.kubectl("get", "namespaces", "--as=bob", identity=alice)
    assert done.returncode != 0
    assert (f'users "bob" is forbidden: User "{alice.name}" cannot impersonate resource '
            '"users" in API group "" at the cluster scope') in done.stderr
    reply = raw(server, "GET", "/api/v1/namespaces", [("Impersonate-User", "bob")], alice)
    assert (reply.status, reply.body["reason"]) == (403, "Forbidden")
    assert reply.body["details"] == {"name": "bob", "kind": "users"}


def test_impersonate_grant_is_per_name_and_per_group(server: ApiServer) -> None:
    alice, bob = _user(server, "alice"), _name("bob")
    allow_impersonate(server, alice, "users", [bob])
    assert whoami(server, f"--as={bob}", identity=alice) == {
        "username": bob, "groups": ["system:authenticated"]}
    other = server.kubectl("get", "namespaces", "--as=carol", identity=alice)
    assert 'users "carol" is forbidden' in other.stderr
    masters = server.kubectl("get", "namespaces", f"--as={bob}", "--as-group=system:masters",
                             identity=alice)
    assert masters.returncode != 0
    assert (f'groups "system:masters" is forbidden: User "{alice.name}" cannot impersonate '
            'resource "groups" in API group "" at the cluster scope') in masters.stderr
    uid = server.kubectl("get", "namespaces", f"--as={bob}", "--as-uid=1", identity=alice)
    assert f'uids.{AUTHN} "1" is forbidden' in uid.stderr
    allow_impersonate(server, alice, "groups", ["ops"])
    assert whoami(server, f"--as={bob}", "--as-group=ops", identity=alice)["groups"] == [
        "ops", "system:authenticated"]


def test_extras_need_their_userextras_grant(server: ApiServer) -> None:
    alice, bob = _user(server, "alice"), _name("bob")
    allow_impersonate(server, alice, "users", [bob])
    ask = [("Impersonate-User", bob), ("Impersonate-Extra-Scopes", "view")]
    path = f"/apis/{AUTHN}/v1/selfsubjectreviews"
    body = {"apiVersion": f"{AUTHN}/v1", "kind": "SelfSubjectReview"}
    refused = raw(server, "POST", path, ask, alice, body)
    assert refused.status == 403
    assert refused.body["message"].startswith(
        f'userextras.{AUTHN} "view" is forbidden: User "{alice.name}" cannot impersonate '
        f'resource "userextras/scopes" in API group "{AUTHN}"')
    allow_impersonate(server, alice, "userextras/scopes", ["view"], group=AUTHN)
    made = raw(server, "POST", path, ask, alice, body)
    assert made.status == 201, made.body
    assert made.body["status"]["userInfo"]["extra"] == {"scopes": ["view"]}


def test_groups_without_a_user_is_400(server: ApiServer) -> None:
    for headers in ([("Impersonate-Group", "ops"), ("Impersonate-Group", "qa")],
                    [("Impersonate-Uid", "1")]):
        reply = raw(server, "GET", "/api/v1/namespaces", headers)
        assert (reply.status, reply.body["reason"]) == (400, "BadRequest"), headers
        assert "without impersonating a user" in reply.body["message"]


def test_service_account_impersonation_needs_the_serviceaccounts_grant(
        server: ApiServer, namespace: str) -> None:
    alice = _user(server, "alice")
    account = f"system:serviceaccount:{namespace}:builder"
    allow_impersonate(server, alice, "users", [account])  # a users grant is not enough
    refused = server.kubectl("get", "pods", "-n", namespace, f"--as={account}", identity=alice)
    assert (f'serviceaccounts "builder" is forbidden: User "{alice.name}" cannot impersonate '
            f'resource "serviceaccounts" in API group "" in the namespace "{namespace}"'
            ) in refused.stderr
    allow_impersonate(server, alice, "serviceaccounts", ["builder"], ns=namespace)
    assert whoami(server, f"--as={account}", identity=alice) == {
        "username": account,
        "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}",
                   "system:authenticated"]}
    assert server.kubectl("auth", "can-i", "list", "secrets", "-n", namespace,
                          f"--as={account}", identity=alice).stdout.strip() == "no"


def test_a_node_cannot_impersonate_unless_granted(server: ApiServer, ns: str) -> None:
    node = server.identity(f"system:node:{ns}-n", ("system:nodes",))
    done = server.kubectl("get", "secrets", "-A", "--as=admin", "--as-group=system:masters",
                          identity=node)
    assert done.returncode != 0
    assert (f'users "admin" is forbidden: User "system:node:{ns}-n" cannot impersonate '
            'resource "users"') in done.stderr


def test_escalation_checks_use_the_impersonated_identity(
        server: ApiServer, namespace: str) -> None:
    """The admin (system:masters) may bind anything; impersonating a user who may only write
    RoleBindings, the same write is an escalation."""
    bob = _name("bob")
    grant(server, namespace, "bob-writes-bindings", bob,
          [rule(["create", "get"], ["rolebindings"], [RBAC_GROUP])])
    wait_can(server, server.identity(bob), "create", "rolebindings", ns=namespace,
             group=RBAC_GROUP)
    attack = raw(server, "POST", role_path(namespace, "rolebindings"),
                 [("Impersonate-User", bob)],
                 body=binding("mine", "ClusterRole", "cluster-admin", bob))
    message = assert_escalation_refused(attack, "rolebindings", "mine")
    assert f'user "{bob}" (groups=["system:authenticated"])' in message
    admin_create(server, role_path(namespace, "rolebindings"),
                 binding("as-admin", "ClusterRole", "cluster-admin", bob))  # without --as: fine


def test_can_i_list_as_a_service_account_shows_its_rules(
        server: ApiServer, namespace: str) -> None:
    """``kubectl auth can-i --list --as=system:serviceaccount:NS:SA`` (SelfSubjectRulesReview):
    the account's rules in the namespace, none of the admin's."""
    account = f"system:serviceaccount:{namespace}:builder"
    grant(server, namespace, "builder-reads-pods", "builder",
          [rule(["get", "list"], ["pods"])])
    # grant() binds a User; bind the ServiceAccount as well
    admin_create(server, role_path(namespace, "rolebindings"),
                 binding("builder-sa", "Role", "builder-reads-pods", "builder",
                         subject_kind="ServiceAccount"))
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"verb": "list", "resource": "pods",
                                              "namespace": namespace}}}
    wait_until(lambda: raw(server, "POST", "/apis/authorization.k8s.io/v1/"
                           "selfsubjectaccessreviews", [("Impersonate-User", account)],
                           body=review).body["status"]["allowed"],
               f"{account} may list pods")
    done = server.kubectl("auth", "can-i", "--list", "-n", namespace, f"--as={account}")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:] if line.split()}
    assert "[get list]" in rows["pods"]
    assert "*.*" not in rows  # the admin's cluster-admin rules did not come along
    mine = server.kubectl("auth", "can-i", "--list", "-n", namespace)
    assert "*.*" in mine.stdout
