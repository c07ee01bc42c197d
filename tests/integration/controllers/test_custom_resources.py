"""Custom resources and the controllers: garbage collection through ownerReferences in both
directions (a Deployment owned by a custom resource, a custom resource owned by a Deployment)
and namespace deletion removing the custom resources in it — real apiserver, controller-manager,
scheduler and hollow nodes, driven with the real kubectl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.operator.webapp import WEBAPP_CRD, webapp
from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.integration.apiserver.crd_data import CRD_NAME, crontab, crontab_crd

from .cluster import ControlPlane, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with start_apiserver("memory://") as srv:
        yield srv


def _uid(cp: ControlPlane, *args: str) -> str:
    return str(json.loads(cp.kubectl("get", *args, "-o", "json"))["metadata"]["uid"])


def _absent(cp: ControlPlane, *args: str) -> bool:
    return cp.server.kubectl("get", *args).returncode != 0


def _owned_by(api_version: str, kind: str, name: str, uid: str) -> list[dict[str, object]]:
    return [{"apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
             "controller": True, "blockOwnerDeletion": True}]


def _deployment(name: str, owners: list[dict[str, object]]) -> dict[str, object]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "ownerReferences": owners},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}}


def test_garbage_collection_and_namespace_deletion_follow_custom_resources(
        cp: ControlPlane) -> None:
    cp.kubectl("apply", "-f", "-", input=json.dumps(crontab_crd()))
    cp.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=30s")

    # a Deployment owned by a custom resource goes with it
    cp.kubectl("create", "-f", "-", input=json.dumps(crontab("owner")))
    owner_uid = _uid(cp, "ct", "owner")
    cp.kubectl("create", "-f", "-", input=json.dumps(_deployment(
        "owned", _owned_by("stable.kboot.dev/v1", "CronTab", "owner", owner_uid))))
    cp.kubectl("delete", "ct", "owner", "--wait=false")
    wait_for("the Deployment owned by the CronTab is collected",
             lambda: _absent(cp, "deployment", "owned"), cp=cp)

    # a custom resource owned by a Deployment goes with it
    cp.kubectl("create", "-f", "-", input=json.dumps(_deployment("parent", [])))
    parent_uid = _uid(cp, "deployment", "parent")
    child = crontab("child")
    child["metadata"]["ownerReferences"] = _owned_by("apps/v1", "Deployment", "parent",
                                                     parent_uid)
    cp.kubectl("create", "-f", "-", input=json.dumps(child))
    cp.kubectl("delete", "deployment", "parent", "--wait=false")
    wait_for("the CronTab owned by the Deployment is collected",
             lambda: _absent(cp, "ct", "child"), cp=cp)

    # deleting a namespace deletes the custom resources in it
    cp.kubectl("create", "namespace", "tabs")
    cp.kubectl("create", "-n", "tabs", "-f", "-", input=json.dumps(crontab("inside")))
    cp.kubectl("delete", "namespace", "tabs", "--wait=false")
    wait_for("the namespace and its CronTab are gone",
             lambda: _absent(cp, "namespace", "tabs"), cp=cp)
    assert _absent(cp, "ct", "inside", "-n", "tabs")


def test_an_operator_on_the_official_python_client_owns_deployments(cp: ControlPlane) -> None:
    """The test operator (``tests/e2e/operator``, the Python client's watch loop) as a host
    process: a WebApp gets a Deployment owned by it; deleting the WebApp collects it. The lab
    e2e runs the same operator as a pod."""
    cp.kubectl("apply", "-f", "-", input=json.dumps(WEBAPP_CRD))
    cp.kubectl("wait", "--for=condition=Established", "crd/webapps.apps.kboot.dev",
               "--timeout=30s")
    script = Path(__file__).resolve().parents[2] / "e2e" / "operator" / "webapp_operator.py"
    log = cp.work / "operator.log"
    with log.open("wb") as out:
        operator = subprocess.Popen([sys.executable, str(script)], stdout=out,
                                    stderr=subprocess.STDOUT,
                                    env={**os.environ, "KUBECONFIG": str(cp.server.kubeconfig)})
    try:
        cp.kubectl("create", "-f", "-", input=json.dumps(webapp("shop", "nginx:1", 2)))
        wait_for("the operator's Deployment", lambda: not _absent(cp, "deployment", "shop-web"),
                 cp=cp)
        deployment = json.loads(cp.kubectl("get", "deployment", "shop-web", "-o", "json"))
        owner = deployment["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"]) == (
            "WebApp", "shop", _uid(cp, "webapp", "shop"))
        assert deployment["spec"]["replicas"] == 2
        wait_for("the WebApp's status names its Deployment", lambda: json.loads(cp.kubectl(
            "get", "wa", "shop", "-o", "json")).get("status", {}).get("deployment"), cp=cp)
        cp.kubectl("delete", "webapp", "shop", "--wait=false")
        wait_for("the owned Deployment is collected",
                 lambda: _absent(cp, "deployment", "shop-web"), cp=cp)
    finally:
        operator.terminate()
        operator.wait(10)
    text = log.read_text()  # the status write's MODIFIED event reconciles again: no crash
    assert "created deployment default/shop-web" in text and "Traceback" not in text, text
