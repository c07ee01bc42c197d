"""A real containerd, configured by kboot's templates (config.toml + hosts.toml), pulling from
real docker-registry instances through the CRI: the mirror path, the private store and its
credentials, a never-pushed name, ``Always`` re-resolving a re-pushed tag."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kboot.cluster.imagepush import push_to_node
from kboot.controlplane.kubelet import pullhints
from kboot.controlplane.kubelet.cri.grpc_runtime import CriRuntime
from kboot.controlplane.kubelet.cri.types import PullAuth, RuntimeError_
from kboot.images import ImageConfig, build_busybox
from kboot.templating import render_string
from tests.integration.registry.harness import ROOT, Registry, run_registry
from tests.integration.registry.test_push import node
from tests.waiting import wait_until

PRIVATE = "registry.kboot.internal/team/app:1"


def _render(template: str, **values: object) -> str:
    return render_string((ROOT / "templates" / template).read_text(), values)


def write_hosts(reg: Registry, hosts_dir: Path, *, others: tuple[str, ...] = ()) -> None:
    """kboot's hosts.toml for docker.io (mirror) and the private host, at the test ports;
    ``reg`` stands for the node's haproxy, ``others`` for the control planes behind it."""
    common = {"registry_ports": reg.ports, "registry_upstream": False,
              "pki_dir": str(reg.ca_file.parent),
              "registry_endpoints": [{"name": a, "address": a} for a in others]}
    for host, ns, store in (("docker.io", "docker.io", "mirror"),
                            ("registry.kboot.internal", "", "private")):
        (hosts_dir / host).mkdir(parents=True, exist_ok=True)
        (hosts_dir / host / "hosts.toml").write_text(_render(
            "containerd/hosts.toml.j2", store=store, **common,
            mirror={"host": host, "namespace": ns, "upstream": ""}))


@contextlib.contextmanager
def run_containerd(work: Path, hosts_dir: Path) -> Iterator[str]:
    if shutil.which("containerd") is None:
        pytest.skip("containerd is not installed")
    sock = work / "containerd.sock"
    config = work / "config.toml"
    config.write_text(_render("containerd/config.toml.j2", containerd_root=str(work / "root"),
                              containerd_state=str(work / "state"), containerd_socket=str(sock),
                              containerd_snapshotter="native", containerd_hosts_dir=str(hosts_dir),
                              cni_conf_dir=str(work / "cni"), cni_bin_dir=str(work / "cni")))
    proc = subprocess.Popen(["containerd", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until("containerd's socket", sock.exists, timeout=30)
        yield f"unix://{sock}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        subprocess.run(["umount", "-R", str(work / "state")], capture_output=True, check=False)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, str, Path]]:
    # a short path: containerd's socket path must fit in sun_path
    work = Path(tempfile.mkdtemp(prefix="kbr-cri-"))
    try:
        with run_registry(tmp_path_factory.mktemp("reg")) as reg:
            write_hosts(reg, work / "certs.d")
            with run_containerd(work, work / "certs.d") as endpoint:
                yield reg, endpoint, work / "certs.d"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pull(endpoint: str, image: str, auth: PullAuth | None = None) -> str:
    async def go() -> str:
        rt = CriRuntime(endpoint)
        try:
            return await rt.pull_image(image, auth)
        finally:
            await rt.close()
    return asyncio.run(go())


def test_mirror_pull_then_always_sees_a_repushed_tag(setup: tuple[Registry, str, Path],
                                                     tmp_path: Path) -> None:
    reg, endpoint, _ = setup
    one = build_busybox(tmp_path / "1.tar", name="docker.io/library/busybox:latest")
    push_to_node(node(reg), [tmp_path / "1.tar"])
    assert pull(endpoint, "busybox") == one.config_digest
    two = build_busybox(tmp_path / "2.tar", name="docker.io/library/busybox:latest",
                        config=ImageConfig(cmd=("sh", "-c", "echo two")))
    push_to_node(node(reg), [tmp_path / "2.tar"])
    assert pull(endpoint, "docker.io/library/busybox:latest") == two.config_digest


def test_a_never_pushed_name_fails_and_the_hint_names_the_registry(
        setup: tuple[Registry, str, Path]) -> None:
    _, endpoint, hosts_dir = setup
    with pytest.raises(RuntimeError_, match="not found") as err:
        pull(endpoint, "docker.io/library/nothere:latest")
    hint = pullhints.resolved_through("nothere", str(hosts_dir))
    assert f"{err.value}{hint}".count("/v2/docker.io") >= 1


def test_a_private_image_needs_the_pull_credentials(setup: tuple[Registry, str, Path],
                                                    tmp_path: Path) -> None:
    reg, endpoint, _ = setup
    built = build_busybox(tmp_path / "p.tar", name=PRIVATE)
    push_to_node(node(reg), [tmp_path / "p.tar"])
    with pytest.raises(RuntimeError_, match="401"):
        pull(endpoint, PRIVATE)
    with pytest.raises(RuntimeError_, match="401"):
        pull(endpoint, PRIVATE, PullAuth(username="kboot-pull", password="wrong"))
    good = PullAuth(username=reg.creds.pull_user, password=reg.creds.pull_password)
    assert pull(endpoint, PRIVATE, good) == built.config_digest
