"""tests/charts/db (StatefulSet + volumeClaimTemplates, PDB, NetworkPolicy, backup CronJob,
headless and client Services, ConfigMap, Secret, ServiceAccount) through a real Helm 3 against
an in-process control plane: install, upgrade, rollback, uninstall, namespace deletion.

Persistence off runs with ``--wait`` (hollow nodes start the pods). Persistence on runs without
``--wait``: no StorageClass is served yet, so the claims the StatefulSet controller creates stay
Pending and so do the pods; the test still proves the claims are made from the templates and
that deleting the namespace removes them (the pvc-protection finalizer is released)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.helm import Helm
from tests.integration.controllers.cluster import ControlPlane, wait_for

pytestmark = pytest.mark.integration
CHART = str(Path(__file__).resolve().parents[2] / "charts" / "db")
KINDS = {"StatefulSet", "Service", "PodDisruptionBudget", "NetworkPolicy", "CronJob",
         "ConfigMap", "Secret", "ServiceAccount"}


def namespace_gone(cp: ControlPlane, ns: str) -> bool:
    r = cp.server.kubectl("get", "namespace", ns)
    return r.returncode != 0 and "NotFound" in r.stderr


def release_kinds(cp: ControlPlane, ns: str, release: str) -> set[str]:
    out = cp.kubectl("get", "sts,svc,pdb,netpol,cronjob,cm,secret,sa", "-n", ns, "-o", "json",
                     "-l", f"app.kubernetes.io/instance={release}")
    return {o["kind"] for o in json.loads(out)["items"]}


def lifecycle(cp: ControlPlane, helm: Helm, ns: str, *values: str) -> None:
    waiting = ["--wait", "--timeout=120s"]
    helm.ok("install", "pg", CHART, "-n", ns, "--create-namespace", *values, *waiting)
    assert release_kinds(cp, ns, "pg") == KINDS
    helm.ok("upgrade", "pg", CHART, "-n", ns, *values, "--set", "config.max_connections=200",
            "--set", "backup.schedule=0 3 * * *", *waiting)
    assert cp.kubectl("get", "cronjob", "pg-db-backup", "-n", ns, "-o",
                      "jsonpath={.spec.schedule}") == "0 3 * * *"
    helm.ok("rollback", "pg", "1", "-n", ns, *waiting)
    assert cp.kubectl("get", "cronjob", "pg-db-backup", "-n", ns, "-o",
                      "jsonpath={.spec.schedule}") == "@daily"
    history = json.loads(helm.ok("history", "pg", "-n", ns, "-o", "json"))
    assert [h["status"] for h in history] == ["superseded", "superseded", "deployed"]
    helm.ok("uninstall", "pg", "-n", ns, *waiting)
    assert release_kinds(cp, ns, "pg") == set()
    cp.kubectl("delete", "namespace", ns, "--wait=false")
    wait_for(f"namespace {ns} gone", lambda: namespace_gone(cp, ns), cp=cp)


def test_db_chart_without_persistence_waits_for_ready_pods(cp: ControlPlane,
                                                           helm: Helm) -> None:
    lifecycle(cp, helm, "db-ephemeral", "--set", "persistence.enabled=false")


def test_db_chart_with_persistence_makes_claims_and_namespace_deletion_finishes(
        cp: ControlPlane, helm: Helm) -> None:
    ns = "db-persistent"
    helm.ok("install", "pg", CHART, "-n", ns, "--create-namespace")
    claims = wait_for("claim of pod 0", lambda: json.loads(cp.kubectl(
        "get", "pvc", "-n", ns, "-o", "json"))["items"], cp=cp)
    assert claims[0]["metadata"]["name"] == "data-pg-db-0"
    assert claims[0]["spec"]["resources"]["requests"]["storage"] == "1Gi"
    helm.ok("upgrade", "pg", CHART, "-n", ns, "--set", "replicaCount=3")
    helm.ok("rollback", "pg", "1", "-n", ns)
    assert cp.kubectl("get", "sts", "pg-db", "-n", ns, "-o",
                      "jsonpath={.spec.replicas}") == "2"
    helm.ok("uninstall", "pg", "-n", ns)
    assert cp.kubectl("get", "pvc", "-n", ns, "-o", "name").strip()  # retained, as upstream
    cp.kubectl("delete", "namespace", ns, "--wait=false")
    wait_for(f"namespace {ns} gone", lambda: namespace_gone(cp, ns), cp=cp)
