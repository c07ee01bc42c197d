"""imagePullSecrets: key matching, the credentials a pull is tried with, ErrImagePull hints."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from pathlib import Path

import pytest

from kboot.controlplane.kubelet import pullhints, pullsecrets
from kboot.controlplane.kubelet.cri.types import PullAuth
from tests.unit.kubelet.helpers import StaticLookup, harness, pod


def dockerconfigjson(auths: dict[str, tuple[str, str]]) -> dict[str, bytes]:
    doc = {"auths": {k: {"auth": base64.b64encode(f"{u}:{p}".encode()).decode()}
                     for k, (u, p) in auths.items()}}
    return {".dockerconfigjson": json.dumps(doc).encode()}


@pytest.mark.parametrize(("image", "key", "matches"), [
    ("busybox", "https://index.docker.io/v1/", True),
    ("busybox:1.36", "docker.io", True),
    ("library/busybox", "registry-1.docker.io", True),
    ("registry.kboot.internal/team/app:1", "registry.kboot.internal", True),
    ("registry.kboot.internal/team/app:1", "registry.kboot.internal/team", True),
    ("registry.kboot.internal/team/app:1", "registry.kboot.internal/other", False),
    ("registry.kboot.internal/team/app:1", "https://registry.kboot.internal/v2/", True),
    ("a.example.com/x:1", "*.example.com", True),
    ("a.b.example.com/x:1", "*.example.com", False),
    ("myreg:5000/x:1", "myreg", False),
    ("myreg:5000/x@sha256:" + "0" * 64, "myreg:5000", True),
    ("quay.io/x/y:1", "docker.io", False),
])
def test_key_matching(image: str, key: str, matches: bool) -> None:
    found = pullsecrets.credentials(image, [dockerconfigjson({key: ("u", "p")})])
    assert found == ([PullAuth(username="u", password="p")] if matches else [])


def test_dockercfg_and_most_specific_first() -> None:
    old = {".dockercfg": json.dumps({"registry.kboot.internal": {
        "username": "a", "password": "1"}}).encode()}
    new = dockerconfigjson({"registry.kboot.internal/team": ("b", "2")})
    found = pullsecrets.credentials("registry.kboot.internal/team/app:1", [old, new])
    assert [c.username for c in found] == ["b", "a"]
    assert pullsecrets.credentials("x", [{".dockerconfigjson": b"not json"}]) == []


def _hosts_dir(tmp_path: Path) -> Path:
    d = tmp_path / "certs.d" / "docker.io"
    d.mkdir(parents=True)
    (d / "hosts.toml").write_text(
        'server = "https://127.0.0.1:5000/v2/docker.io"\noverride_path = true\n'
        '[host."https://10.0.0.1:5000/v2/docker.io"]\n  capabilities = ["pull"]\n')
    return tmp_path / "certs.d"


def test_hint_names_the_registries_from_hosts_toml(tmp_path: Path) -> None:
    hint = pullhints.resolved_through("docker.io/library/nothere:latest", str(_hosts_dir(tmp_path)))
    assert "https://10.0.0.1:5000/v2/docker.io, https://127.0.0.1:5000/v2/docker.io" in hint
    assert pullhints.resolved_through("quay.io/x:1", str(tmp_path / "certs.d")) == ""


def test_private_image_runs_only_with_its_pull_secret(tmp_path: Path) -> None:
    image = "registry.kboot.internal/team/app:1"
    good = PullAuth(username="kboot-pull", password="s3cret")
    h = harness(tmp_path)
    h.runtime.pullable[image] = good
    h.worker.settings = dataclasses.replace(h.worker.settings,
                                            registry_hosts_dir=str(_hosts_dir(tmp_path)))
    lookup = StaticLookup(secrets={
        ("default", "wrong"): dockerconfigjson({"registry.kboot.internal": ("x", "y")}),
        ("default", "right"): dockerconfigjson({"registry.kboot.internal/team": (
            "kboot-pull", "s3cret")})})
    without = pod("a", containers=[{"name": "c", "image": image}])
    status = asyncio.run(h.worker.sync(without, lookup))
    waiting = status["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ErrImagePull"
    assert h.runtime.pull_auths == [None]
    h2 = harness(tmp_path / "2")
    h2.runtime.pullable[image] = good
    with_secret = pod("b", containers=[{"name": "c", "image": image}],
                      imagePullSecrets=[{"name": "wrong"}, {"name": "right"}, {"name": "gone"}])
    status = asyncio.run(h2.worker.sync(with_secret, lookup))
    assert "running" in status["containerStatuses"][0]["state"]
    assert h2.runtime.pull_auths == [good]  # the more specific key first: one pull


def test_failed_pull_of_a_mirrored_name_names_the_cluster_registry(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.worker.settings = dataclasses.replace(h.worker.settings,
                                            registry_hosts_dir=str(_hosts_dir(tmp_path)))
    status = asyncio.run(h.worker.sync(
        pod(containers=[{"name": "c", "image": "nothere", "imagePullPolicy": "Always"}]),
        StaticLookup()))
    waiting = status["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ErrImagePull"
    assert "https://127.0.0.1:5000/v2/docker.io" in waiting["message"]
    assert "kboot image push" in waiting["message"]
