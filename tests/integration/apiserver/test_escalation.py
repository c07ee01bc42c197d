"""RBAC escalation prevention against a real kboot-apiserver (issue 14): Roles, ClusterRoles,
RoleBindings and ClusterRoleBindings grant only what the writer holds, unless it has
``escalate``/``bind``; aggregated ClusterRoles count with the rules they gather."""

from __future__ import annotations

import uuid

import pytest

from kboot.cluster.addons import manifest_objects
from kboot.cluster.resources import templates_dir
from kboot.controlplane.client.sync import SyncClient
from tests.fixtures.apiserver import ApiServer, Identity
from tests.integration.apiserver.http import call
from tests.integration.apiserver.rbac_helpers import (
    ESCALATION,
    RBAC_GROUP,
    admin_create,
    assert_escalation_refused,
    binding,
    can,
    grant,
    role_path,
    rule,
    wait_can,
    wait_until,
)

pytestmark = pytest.mark.integration
WRITE_RBAC = ["create", "update", "patch", "get"]


@pytest.fixture
def ns(namespace: str) -> str:
    return namespace


def _user(server: ApiServer, tag: str) -> Identity:
    return server.identity(f"{tag}-{uuid.uuid4().hex[:6]}", ("dev",))


def test_rolebinding_to_cluster_admin_refused_and_secrets_stay_hidden(
        server: ApiServer, ns: str) -> None:
    """The issue's chain: allowed only to create RoleBindings, bind yourself to cluster-admin,
    then read the namespace's Secrets."""
    me = _user(server, "rb")
    grant(server, ns, "rb-writer", me.name, [rule(WRITE_RBAC, ["rolebindings"], [RBAC_GROUP])])
    admin_create(server, f"/api/v1/namespaces/{ns}/secrets",
                 {"metadata": {"name": "db"}, "stringData": {"password": "x"}})
    wait_can(server, me, "create", "rolebindings", ns=ns, group=RBAC_GROUP)
    attack = call(server, "POST", role_path(ns, "rolebindings"),
                  binding("mine", "ClusterRole", "cluster-admin", me.name), identity=me)
    message = assert_escalation_refused(attack, "rolebindings", "mine")
    assert f'user "{me.name}" (groups=["dev" "system:authenticated"])' in message
    assert '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}' in message
    assert message.endswith('{NonResourceURLs:["*"], Verbs:["*"]}')  # every rule of the role
    assert call(server, "GET", f"/api/v1/namespaces/{ns}/secrets/db", identity=me).status == 403
    assert call(server, "GET", role_path(ns, "rolebindings") + "/mine",
                identity=me).status == 404  # nothing was written


def test_rolebinding_with_bind_verb_is_allowed_only_in_its_namespace(
        server: ApiServer, ns: str) -> None:
    me = _user(server, "binder")
    grant(server, ns, "rb-binder", me.name,
          [rule(WRITE_RBAC, ["rolebindings"], [RBAC_GROUP]),
           rule(["bind"], ["clusterroles"], [RBAC_GROUP], names=["cluster-admin"])])
    wait_can(server, me, "bind", "clusterroles", ns=ns, group=RBAC_GROUP, name="cluster-admin")
    made = call(server, "POST", role_path(ns, "rolebindings"),
                binding("mine", "ClusterRole", "cluster-admin", me.name), identity=me)
    assert made.status == 201, made.body
    wait_can(server, me, "get", "secrets", ns=ns)
    assert not can(server, me, "get", "secrets", ns="kube-system")
    # bind is by name: another role is still checked against what the user holds
    other = call(server, "POST", role_path(ns, "rolebindings"),
                 binding("viewer", "ClusterRole", "admin", me.name), identity=me)
    assert other.status == 201, other.body  # covered now: cluster-admin holds everything here


def test_clusterrolebinding_self_promotion(server: ApiServer) -> None:
    me = _user(server, "crb")
    tag = uuid.uuid4().hex[:6]
    grant(server, None, f"crb-writer-{tag}", me.name,
          [rule(WRITE_RBAC, ["clusterrolebindings"], [RBAC_GROUP])])
    wait_can(server, me, "create", "clusterrolebindings", group=RBAC_GROUP)
    name = f"promote-{tag}"
    attack = call(server, "POST", role_path(None, "clusterrolebindings"),
                  binding(name, "ClusterRole", "cluster-admin", me.name), identity=me)
    message = assert_escalation_refused(attack, "clusterrolebindings", name)
    assert '{NonResourceURLs:["*"], Verbs:["*"]}' in message
    assert not can(server, me, "list", "secrets")
    # with bind on cluster-admin at the cluster scope the same binding is allowed
    grant(server, None, f"crb-bind-{tag}", me.name,
          [rule(["bind"], ["clusterroles"], [RBAC_GROUP], names=["cluster-admin"])])
    wait_can(server, me, "bind", "clusterroles", group=RBAC_GROUP, name="cluster-admin")
    made = call(server, "POST", role_path(None, "clusterrolebindings"),
                binding(name, "ClusterRole", "cluster-admin", me.name), identity=me)
    assert made.status == 201, made.body
    wait_can(server, me, "list", "secrets")
    assert call(server, "DELETE", role_path(None, "clusterrolebindings") + f"/{name}"
                ).status == 200


def test_role_with_star_on_star(server: ApiServer, ns: str) -> None:
    me = _user(server, "role")
    grant(server, ns, "role-writer", me.name, [rule(WRITE_RBAC, ["roles"], [RBAC_GROUP])])
    wait_can(server, me, "create", "roles", ns=ns, group=RBAC_GROUP)
    god = {"metadata": {"name": "god"}, "rules": [rule(["*"], ["*"], ["*"])]}
    assert_escalation_refused(call(server, "POST", role_path(ns, "roles"), god, identity=me),
                              "roles", "god")
    dry = call(server, "POST", role_path(ns, "roles") + "?dryRun=All", god, identity=me)
    assert dry.status == 403 and ESCALATION in dry.body["message"]
    # escalate on roles in this namespace lifts the check
    grant(server, ns, "role-escalate", me.name, [rule(["escalate"], ["roles"], [RBAC_GROUP])])
    wait_can(server, me, "escalate", "roles", ns=ns, group=RBAC_GROUP)
    assert call(server, "POST", role_path(ns, "roles"), god, identity=me).status == 201


def test_role_within_held_permissions_and_exact_missing_rules(
        server: ApiServer, ns: str) -> None:
    me = _user(server, "subset")
    grant(server, ns, "subset-writer", me.name,
          [rule(WRITE_RBAC, ["roles"], [RBAC_GROUP]), rule(["get", "list"], ["pods"]),
           rule(["get"], ["configmaps"], names=["settings"]),
           rule(["get"], ["*/status"], ["apps"])])
    wait_can(server, me, "create", "roles", ns=ns, group=RBAC_GROUP)
    held = {"metadata": {"name": "held"},
            "rules": [rule(["get"], ["pods"]), rule(["get"], ["configmaps"], names=["settings"]),
                      rule(["get"], ["deployments/status"], ["apps"])]}
    assert call(server, "POST", role_path(ns, "roles"), held, identity=me).status == 201
    wider = {"metadata": {"name": "wider"},
             "rules": [rule(["get", "list", "delete", "watch"], ["pods"]),
                       rule(["get"], ["configmaps"]),
                       rule(["get"], ["configmaps"], names=["other"])]}
    message = assert_escalation_refused(
        call(server, "POST", role_path(ns, "roles"), wider, identity=me), "roles", "wider")
    missing = message.split("not currently held:\n", 1)[1].splitlines()
    assert missing == ['{APIGroups:[""], Resources:["configmaps"], ResourceNames:["other"], '
                       'Verbs:["get"]}',
                       '{APIGroups:[""], Resources:["configmaps"], Verbs:["get"]}',
                       '{APIGroups:[""], Resources:["pods"], Verbs:["delete" "watch"]}']
    # updates are checked too: PUT and every PATCH flavour
    current = call(server, "GET", role_path(ns, "roles") + "/held", identity=me).body
    current["rules"].append(rule(["delete"], ["pods"]))
    put = call(server, "PUT", role_path(ns, "roles") + "/held", current, identity=me)
    assert_escalation_refused(put, "roles", "held")
    patch = {"rules": [rule(["*"], ["secrets"])]}
    merged = call(server, "PATCH", role_path(ns, "roles") + "/held", patch, identity=me,
                  content_type="application/merge-patch+json")
    assert_escalation_refused(merged, "roles", "held")
    applied = call(server, "PATCH", role_path(ns, "roles") + "/held?fieldManager=me&force=true",
                   {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "Role",
                    "metadata": {"name": "held"}, "rules": [rule(["*"], ["secrets"])]},
                   identity=me, content_type="application/apply-patch+yaml")
    assert_escalation_refused(applied, "roles", "held")
    # changing only finalizers (the garbage collector's fields) is never an escalation, even
    # on a role that grants more than the writer holds
    admin_create(server, role_path(ns, "roles"),
                 {"metadata": {"name": "big"}, "rules": [rule(["*"], ["secrets"])]})
    gc = call(server, "PATCH", role_path(ns, "roles") + "/big",
              {"metadata": {"finalizers": ["example.com/keep"]}}, identity=me,
              content_type="application/merge-patch+json")
    assert gc.status == 200, gc.body
    assert call(server, "PATCH", role_path(ns, "roles") + "/big",
                {"metadata": {"finalizers": None}},
                content_type="application/merge-patch+json").status == 200


def test_clusterrole_with_and_without_escalate(server: ApiServer) -> None:
    me = _user(server, "cr")
    tag = uuid.uuid4().hex[:6]
    grant(server, None, f"cr-writer-{tag}", me.name,
          [rule(WRITE_RBAC, ["clusterroles"], [RBAC_GROUP]), rule(["get"], ["nodes"])])
    wait_can(server, me, "create", "clusterroles", group=RBAC_GROUP)
    ok = {"metadata": {"name": f"node-reader-{tag}"}, "rules": [rule(["get"], ["nodes"])]}
    assert call(server, "POST", role_path(None, "clusterroles"), ok, identity=me).status == 201
    urls = {"metadata": {"name": f"urls-{tag}"},
            "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]}
    message = assert_escalation_refused(
        call(server, "POST", role_path(None, "clusterroles"), urls, identity=me),
        "clusterroles", f"urls-{tag}")
    assert message.endswith('{NonResourceURLs:["/metrics"], Verbs:["get"]}')
    grant(server, None, f"cr-escalate-{tag}", me.name,
          [rule(["escalate"], ["clusterroles"], [RBAC_GROUP])])
    wait_can(server, me, "escalate", "clusterroles", group=RBAC_GROUP)
    assert call(server, "POST", role_path(None, "clusterroles"), urls, identity=me).status == 201
    for name in (f"node-reader-{tag}", f"urls-{tag}"):
        assert call(server, "DELETE", role_path(None, "clusterroles") + f"/{name}"
                    ).status == 200


def test_aggregated_clusterrole(server: ApiServer, ns: str) -> None:
    tag = uuid.uuid4().hex[:6]
    label = {f"example.com/aggregate-{tag}": "true"}
    admin_create(server, role_path(None, "clusterroles"),
                 {"metadata": {"name": f"part-{tag}", "labels": label},
                  "rules": [rule(["get"], ["secrets"])]})
    aggregated = {"metadata": {"name": f"agg-{tag}"},
                  "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": label}]},
                  "rules": []}
    me = _user(server, "agg")
    grant(server, ns, "agg-binder", me.name, [rule(WRITE_RBAC, ["rolebindings"], [RBAC_GROUP])])
    grant(server, None, f"agg-writer-{tag}", me.name,
          [rule(WRITE_RBAC, ["clusterroles"], [RBAC_GROUP])])
    wait_can(server, me, "create", "clusterroles", group=RBAC_GROUP)
    # creating an aggregated role needs full authority: it can gather anything
    refused = call(server, "POST", role_path(None, "clusterroles"), aggregated, identity=me)
    assert refused.status == 403
    assert refused.body["message"] == (f'clusterroles.{RBAC_GROUP} "agg-{tag}" is forbidden: '
                                       "must have cluster-admin privileges to use the "
                                       "aggregationRule")
    admin_create(server, role_path(None, "clusterroles"), aggregated)
    # binding it is checked against the rules it gathers (its own rules are empty)
    wait_can(server, me, "create", "rolebindings", ns=ns, group=RBAC_GROUP)
    attack = call(server, "POST", role_path(ns, "rolebindings"),
                  binding("agg", "ClusterRole", f"agg-{tag}", me.name), identity=me)
    message = assert_escalation_refused(attack, "rolebindings", "agg")
    assert message.endswith('{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}')
    # and authorization grants those gathered rules
    admin_create(server, role_path(ns, "rolebindings"),
                 binding("agg", "ClusterRole", f"agg-{tag}", me.name))
    wait_can(server, me, "get", "secrets", ns=ns)
    for name in (f"agg-{tag}", f"part-{tag}", f"agg-writer-{tag}"):
        assert call(server, "DELETE", role_path(None, "clusterroles") + f"/{name}"
                    ).status == 200


def test_rolebinding_update_adding_self_is_refused(server: ApiServer, ns: str) -> None:
    admin_create(server, role_path(ns, "rolebindings"),
                 binding("admins", "ClusterRole", "admin", "someone-else"))
    me = _user(server, "upd")
    grant(server, ns, "upd-writer", me.name, [rule(WRITE_RBAC, ["rolebindings"], [RBAC_GROUP])])
    wait_can(server, me, "patch", "rolebindings", ns=ns, group=RBAC_GROUP)
    patch = [{"op": "add", "path": "/subjects/-",
              "value": {"kind": "User", "name": me.name, "apiGroup": RBAC_GROUP}}]
    reply = call(server, "PATCH", role_path(ns, "rolebindings") + "/admins", patch, identity=me,
                 content_type="application/json-patch+json")
    assert_escalation_refused(reply, "rolebindings", "admins")
    assert not can(server, me, "delete", "pods", ns=ns)


def test_binding_to_missing_role_without_bind_is_404(server: ApiServer, ns: str) -> None:
    me = _user(server, "missing")
    grant(server, ns, "missing-writer", me.name,
          [rule(WRITE_RBAC, ["rolebindings"], [RBAC_GROUP])])
    wait_can(server, me, "create", "rolebindings", ns=ns, group=RBAC_GROUP)
    reply = call(server, "POST", role_path(ns, "rolebindings"),
                 binding("ghost", "Role", "no-such-role", me.name), identity=me)
    assert reply.status == 404
    assert reply.body["message"] == f'roles.{RBAC_GROUP} "no-such-role" not found'


def test_cluster_identities_still_write_rbac(server: ApiServer, ns: str) -> None:
    """system:masters (kboot up's addons phase, kubectl as admin) and a component that holds
    ``*`` on ``*`` write RBAC objects without any escalation error."""
    controller = server.identity("system:kube-controller-manager")
    wait_can(server, controller, "create", "roles", ns=ns, group=RBAC_GROUP)
    wide = {"metadata": {"name": "wide"}, "rules": [rule(["*"], ["*"], ["*"])]}
    assert call(server, "POST", role_path(ns, "roles"), wide, identity=controller).status == 201
    admin_create(server, role_path(ns, "rolebindings"),
                 binding("root", "ClusterRole", "cluster-admin", "someone"))


def test_kubectl_shows_upstream_message(server: ApiServer, ns: str) -> None:
    me = _user(server, "kubectl")
    grant(server, ns, "kubectl-writer", me.name,
          [rule(WRITE_RBAC, ["rolebindings"], [RBAC_GROUP])])
    wait_can(server, me, "create", "rolebindings", ns=ns, group=RBAC_GROUP)
    out = server.kubectl("create", "rolebinding", "root", "--clusterrole=cluster-admin",
                         f"--user={me.name}", "-n", ns, identity=me)
    assert out.returncode == 1
    assert out.stderr.startswith(
        f'error: failed to create rolebinding: rolebindings.{RBAC_GROUP} "root" is forbidden: '
        f'user "{me.name}" (groups=["dev" "system:authenticated"]) {ESCALATION}:\n'
        '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}'), out.stderr
    wait_until(lambda: not can(server, me, "get", "secrets", ns=ns), "secrets stay forbidden")


def test_addons_phase_applies_rbac_as_admin(server: ApiServer) -> None:
    """``kboot up``'s addons phase server-side-applies kboot's RBAC objects with the admin
    credentials (``system:masters``), twice on a re-run: no escalation error either time."""
    path = templates_dir() / "ingress" / "kboot-ingress-rbac.yaml"
    objects = manifest_objects(path)
    assert {o["kind"] for o in objects} >= {"ClusterRole", "ClusterRoleBinding"}
    with SyncClient.from_kubeconfig(server.kubeconfig) as api:
        for _ in range(2):
            for obj in objects:
                api.apply(obj, field_manager="kboot")
    ingress = server.identity("system:kboot-ingress")
    wait_can(server, ingress, "list", "ingresses", group="networking.k8s.io")
