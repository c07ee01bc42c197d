"""The rendered configuration in a real haproxy, without the apiserver: every golden scenario
passes ``haproxy -c``; haproxy picks the same route as :func:`routes.route_for` for every
matching case; a rejected configuration never replaces the running one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from kboot.controlplane.ingress.config import RenderedConfig, render
from kboot.controlplane.ingress.haproxy import ConfigRejected, HAProxy, HAProxyPaths
from tests.fixtures.etcd import free_port
from tests.integration.ingress.harness import PREFIX, backend, cleanup_leftovers, request
from tests.unit.ingress.cases import MATCH_CASES, MATCH_SERVICES, SCENARIOS, matching_ingress
from tests.unit.ingress.objects import endpoints, ingress_class, service
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
HAPROXY = Path("/usr/sbin/haproxy")


@pytest.fixture
def workdir() -> Iterator[Path]:
    cleanup_leftovers()
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _paths(workdir: Path) -> HAProxyPaths:
    return HAProxyPaths(HAPROXY, workdir / "haproxy.cfg", workdir / "certs")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_golden_scenarios_pass_haproxy_check(name: str, workdir: Path) -> None:
    rendered = SCENARIOS[name]().render(certs_dir=str(workdir / "certs"))
    proxy = HAProxy(_paths(workdir))
    proxy._write_certs(rendered)
    (workdir / "haproxy.cfg").write_text(rendered.haproxy_cfg)
    asyncio.run(proxy._check(workdir / "haproxy.cfg"))  # raises ConfigRejected on failure


@contextlib.contextmanager
def _service_pods() -> Iterator[dict[str, int]]:
    with contextlib.ExitStack() as stack:
        yield {s: stack.enter_context(backend(s, "127.0.0.2"))[1] for s in MATCH_SERVICES}


def test_haproxy_routes_like_route_for(workdir: Path) -> None:
    with _service_pods() as ports:
        answers = asyncio.run(_serve_and_probe(workdir, ports, free_port()))
    expected = [service or "default" for _, _, service in MATCH_CASES]
    assert answers == expected
    assert not _haproxy_running(workdir)


def _haproxy_running(workdir: Path) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if str(workdir).encode() in cmdline.read_bytes():
                return True
    return False


async def _serve_and_probe(workdir: Path, ports: dict[str, int], http_port: int) -> list[str]:
    rendered = render([matching_ingress()], [ingress_class(default=True)],
                      [service(s, ("http", 80)) for s in MATCH_SERVICES],
                      [endpoints(s, ["127.0.0.2"], [("http", p)]) for s, p in ports.items()],
                      [], node_ips=["127.0.0.1"], http_port=http_port, https_port=0)
    proxy = HAProxy(_paths(workdir))
    try:
        assert await proxy.apply(rendered)
        assert not await proxy.apply(rendered)  # unchanged: no reload
        answers = await asyncio.to_thread(_probe, http_port)
        broken = replace(rendered, haproxy_cfg=rendered.haproxy_cfg + "\nbogus directive\n")
        with pytest.raises(ConfigRejected):
            await proxy.apply(broken)
        assert (workdir / "haproxy.cfg").read_text() == rendered.haproxy_cfg
        assert await asyncio.to_thread(_probe, http_port) == answers
        return answers
    finally:
        await proxy.stop()


def _probe(http_port: int) -> list[str]:
    return [request(http_port, host, p).body.split(" ")[0] for host, p, _ in MATCH_CASES]


def _version_cfg(port: int, version: int) -> RenderedConfig:
    cfg = (f"global\n    hard-stop-after 5s\ndefaults\n    mode http\n    timeout connect 1s\n"
           f"    timeout client 5s\n    timeout server 5s\nfrontend f\n"
           f"    bind 127.0.0.1:{port}\n    http-request return status 200 "
           f"content-type text/plain string v{version}\n")
    return RenderedConfig(haproxy_cfg=cfg, files={}, problems={}, ingresses=())


def test_back_to_back_reloads_are_never_lost(workdir: Path) -> None:
    """haproxy drops a SIGUSR2 that arrives while it re-executes for the previous one; each
    apply waits until the master took its reload, so the last configuration always wins."""
    port = free_port()

    async def scenario() -> tuple[list[str], int | None]:
        proxy = HAProxy(_paths(workdir))
        try:
            for version in range(1, 6):
                assert await proxy.apply(_version_cfg(port, version))
            served = [await asyncio.to_thread(_body, port) for _ in range(3)]
            state = await proxy._show_proc()
            return served, state.reloads if state else None
        finally:
            await proxy.stop()
    served, reloads = asyncio.run(scenario())
    assert served == ["v5"] * 3
    assert reloads == 4
    assert not _haproxy_running(workdir)
    assert not (workdir / "haproxy.master.sock").exists()


def _body(port: int) -> str:
    def new_body() -> str | None:  # old workers may answer until the new ones took over
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
        return body if body == "v5" else None

    return wait_until("the reloaded workers to answer", new_body, timeout=30, interval=0.05)
