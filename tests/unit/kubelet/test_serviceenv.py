"""Service environment variables, after upstream's ``TestMakeEnvironmentVariables`` and
``envvars_test``: the master Service always, namespace Services with links on, headless and
IP-less Services skipped, the container's own env wins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.kubelet.podspec import resolve_env
from kboot.controlplane.kubelet.serviceenv import pod_service_env, service_env, service_vars


def _svc(ns: str, name: str, ip: str, *ports: dict[str, Any]) -> Obj:
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": ip, "ports": list(ports)}}


MASTER = _svc("default", "kubernetes", "1.2.3.1", {"name": "https", "port": 443,
                                                    "protocol": "TCP"})
SERVICES = [
    MASTER,
    _svc("test1", "test", "1.2.3.3", {"name": "tcp", "port": 8083, "protocol": "TCP"}),
    _svc("test1", "my-dns", "1.2.3.4", {"port": 53, "protocol": "UDP"},
         {"name": "tcp", "port": 53}),
    _svc("test1", "headless", "None", {"port": 80}),
    _svc("test1", "noip", "", {"port": 80}),
    _svc("other", "far", "1.2.3.9", {"port": 80}),
]


def test_master_service_variables_match_in_cluster_clients() -> None:
    assert service_vars(MASTER) == {
        "KUBERNETES_SERVICE_HOST": "1.2.3.1",
        "KUBERNETES_SERVICE_PORT": "443",
        "KUBERNETES_SERVICE_PORT_HTTPS": "443",
        "KUBERNETES_PORT": "tcp://1.2.3.1:443",
        "KUBERNETES_PORT_443_TCP": "tcp://1.2.3.1:443",
        "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_PORT": "443",
        "KUBERNETES_PORT_443_TCP_ADDR": "1.2.3.1",
    }


def test_links_cover_namespace_services_with_a_cluster_ip_only() -> None:
    env = service_env(SERVICES, "test1")
    assert env["MY_DNS_SERVICE_HOST"] == "1.2.3.4"
    assert env["MY_DNS_SERVICE_PORT"] == "53"
    assert env["MY_DNS_SERVICE_PORT_TCP"] == "53"
    assert env["MY_DNS_PORT"] == "udp://1.2.3.4:53"
    assert env["MY_DNS_PORT_53_UDP_PROTO"] == "udp"
    assert env["MY_DNS_PORT_53_TCP"] == "tcp://1.2.3.4:53"
    assert env["TEST_SERVICE_PORT_TCP"] == "8083"
    assert env["KUBERNETES_SERVICE_HOST"] == "1.2.3.1"
    assert not any(k.startswith(("HEADLESS_", "NOIP_", "FAR_")) for k in env)


def test_links_off_keeps_only_the_master_service() -> None:
    env = service_env(SERVICES, "test1", enable_service_links=False)
    assert {k.split("_")[0] for k in env} == {"KUBERNETES"}


def test_namespace_service_named_kubernetes_wins_over_the_master() -> None:
    local = _svc("test1", "kubernetes", "1.2.3.7", {"port": 8443})
    assert service_env([MASTER, local], "test1")["KUBERNETES_SERVICE_HOST"] == "1.2.3.7"
    assert service_env([local, MASTER], "test1")["KUBERNETES_SERVICE_HOST"] == "1.2.3.7"
    assert service_env([local, MASTER], "elsewhere")["KUBERNETES_SERVICE_HOST"] == "1.2.3.1"


def test_ipv6_cluster_ip_is_bracketed() -> None:
    env = service_vars(_svc("a", "v6", "fd00::1", {"port": 80}))
    assert env["V6_PORT"] == "tcp://[fd00::1]:80"


class _Lookup:
    def configmap(self, namespace: str, name: str) -> Mapping[str, str] | None:
        return None

    def secret(self, namespace: str, name: str) -> Mapping[str, bytes] | None:
        return None

    def token(self, namespace: str, service_account: str, audience: str) -> str | None:
        return None

    def services(self) -> list[Obj]:
        return SERVICES


def test_container_env_wins_and_can_refer_to_service_variables() -> None:
    pod: Obj = {"metadata": {"name": "p", "namespace": "test1"}, "spec": {}}
    container: Obj = {"name": "c", "env": [
        {"name": "TEST_SERVICE_HOST", "value": "mine"},
        {"name": "URL", "value": "https://$(KUBERNETES_SERVICE_HOST):$(TEST_SERVICE_PORT)"}]}
    lookup = _Lookup()
    env = dict(resolve_env(pod, container, lookup, service_env=pod_service_env(pod, lookup)))
    assert env["TEST_SERVICE_HOST"] == "mine"
    assert env["URL"] == "https://1.2.3.1:8083"
    assert env["KUBERNETES_PORT_443_TCP_ADDR"] == "1.2.3.1"
    pod["spec"]["enableServiceLinks"] = False
    assert "TEST_SERVICE_PORT" not in pod_service_env(pod, lookup)


def test_a_lookup_without_services_adds_nothing() -> None:
    assert pod_service_env({"metadata": {"name": "p"}}, object()) == {}
