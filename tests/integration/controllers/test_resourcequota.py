"""The resourcequota controller against a real apiserver: a finished pod stops counting, so the
quota admits new pods again."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.integration.apiserver.http import call

from .cluster import PREFIX, ControlPlane, cleanup_strays, wait_for

pytestmark = pytest.mark.integration
NS = "quota-controller"


@pytest.fixture
def cp() -> Iterator[ControlPlane]:
    cleanup_strays()
    with start_apiserver("memory://") as srv:
        cp = ControlPlane(srv, Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")))
        try:
            cp.controller_manager()
            yield cp
        finally:
            for name in list(cp.procs):
                cp.stop(name)
            shutil.rmtree(cp.work, ignore_errors=True)


def _pod(name: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "namespace": NS},
                       "spec": {"containers": [{"name": "c", "image": "x"}]}})


def _used_pods(server: ApiServer) -> str | None:
    quota = call(server, "GET", f"/api/v1/namespaces/{NS}/resourcequotas/q").body
    return str((quota.get("status") or {}).get("used", {}).get("pods"))


def test_finished_pods_free_the_quota(cp: ControlPlane) -> None:
    cp.kubectl("create", "namespace", NS)
    cp.kubectl("create", "quota", "q", "-n", NS, "--hard=pods=1")
    cp.kubectl("apply", "-f", "-", input=_pod("first"))
    refused = cp.server.kubectl("apply", "-f", "-", input=_pod("second"))
    assert "exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1" in \
        refused.stderr, refused.stderr
    status = call(cp.server, "PATCH", f"/api/v1/namespaces/{NS}/pods/first/status",
                  {"status": {"phase": "Succeeded"}},
                  content_type="application/merge-patch+json")
    assert status.status == 200, status.body
    wait_for("the finished pod released", lambda: _used_pods(cp.server) == "0", cp=cp)
    cp.kubectl("apply", "-f", "-", input=_pod("second"))
    assert _used_pods(cp.server) == "1"
