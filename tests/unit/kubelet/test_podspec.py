"""Pure pod → CRI translation: quantities, resources, DNS, hostPorts, env precedence."""

from __future__ import annotations

import pytest

from kboot.controlplane.kubelet import podspec
from tests.unit.kubelet.helpers import StaticLookup, pod


@pytest.mark.parametrize(("text", "value"), [
    ("500m", 0.5), ("2", 2.0), ("64Mi", 64 * 2**20), ("1Gi", 2**30), ("1k", 1000.0),
    ("1.5", 1.5), (3, 3.0), ("100M", 1e8),
])
def test_parse_quantity(text: str | int, value: float) -> None:
    assert podspec.parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize(("res", "period", "quota", "shares", "memory"), [
    ({}, 0, 0, 2, 0),
    ({"requests": {"cpu": "250m"}}, 0, 0, 256, 0),
    ({"limits": {"cpu": "500m", "memory": "128Mi"}}, 100_000, 50_000, 512, 128 * 2**20),
    ({"limits": {"cpu": "1m"}}, 100_000, 1000, 2, 0),
])
def test_resources(res: dict, period: int, quota: int, shares: int,  # type: ignore[type-arg]
                   memory: int) -> None:
    r = podspec.resources({"name": "c", "resources": res})
    assert (r.cpu_period, r.cpu_quota, r.cpu_shares, r.memory_limit_in_bytes) == (
        period, quota, shares, memory)


def test_sandbox_config_dns_ports_labels() -> None:
    p = pod(containers=[{"name": "c", "image": "i", "ports": [
        {"containerPort": 80, "hostPort": 8080}, {"containerPort": 9090}]}],
        dnsConfig={"options": [{"name": "ndots", "value": "2"}], "searches": ["x.example"]})
    node = podspec.NodeSettings(log_root="/logs", cgroup_root="/kp",
                                cluster_dns=("10.96.0.10",))
    cfg = podspec.sandbox_config(p, node)
    assert cfg.dns_servers == ("10.96.0.10",)
    assert cfg.dns_searches == ("default.svc.cluster.local", "svc.cluster.local",
                                "cluster.local", "x.example")
    assert cfg.dns_options == ("ndots:5", "ndots:2")
    assert [(m.container_port, m.host_port) for m in cfg.port_mappings] == [(80, 8080)]
    assert cfg.log_directory == "/logs/default_p1_uid-p1"
    assert cfg.cgroup_parent == "/kp/poduid-p1"
    assert cfg.labels[podspec.LABEL_UID] == "uid-p1"


def test_dns_policy_default_and_host_network() -> None:
    node = podspec.NodeSettings(cluster_dns=("10.96.0.10",))
    assert podspec.sandbox_config(pod(dnsPolicy="Default"), node).dns_servers == ()
    host = podspec.sandbox_config(pod(hostNetwork=True), node)
    assert host.dns_servers == () and host.host_network


def test_env_precedence_optional_refs_and_expansion() -> None:
    lookup = StaticLookup(configmaps={("default", "cm"): {"A": "from-cm", "B": "b"}})
    c = {"name": "c", "image": "i", "envFrom": [{"configMapRef": {"name": "cm"}},
                                                  {"secretRef": {"name": "gone",
                                                                 "optional": True}}],
         "env": [{"name": "A", "value": "explicit"}, {"name": "C", "value": "$(B)-$(NOPE)"},
                 {"name": "D", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "zz",
                                                                 "optional": True}}},
                 {"name": "L", "valueFrom": {"fieldRef": {
                     "fieldPath": "metadata.labels['tier']"}}}]}
    p = pod(containers=[c])
    p["metadata"]["labels"] = {"tier": "front"}
    env = dict(podspec.resolve_env(p, c, lookup))
    assert env == {"A": "explicit", "B": "b", "C": "b-$(NOPE)", "L": "front"}


def test_references_cover_env_and_volumes() -> None:
    c = {"name": "c", "image": "i", "envFrom": [{"secretRef": {"name": "s1"}}],
         "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm1", "key": "k"}}}]}
    p = pod(containers=[c], volumes=[{"name": "v", "secret": {"secretName": "s2"}},
                                     {"name": "w", "configMap": {"name": "cm2"}}])
    assert podspec.references(p) == {("secrets", "s1"), ("secrets", "s2"),
                                     ("configmaps", "cm1"), ("configmaps", "cm2")}


def test_container_config_log_path_and_attempt() -> None:
    c = {"name": "app", "image": "i", "command": ["sh"], "args": ["-c", "echo $(X)"]}
    cfg = podspec.container_config(pod(containers=[c]), c, attempt=3, envs=[("X", "1")],
                                   mounts=())
    assert cfg.log_path == "app/3.log" and cfg.attempt == 3
    assert cfg.args == ("-c", "echo 1")


def test_security_context_pod_defaults_and_container_overrides() -> None:
    c = {"name": "c", "image": "i", "securityContext": {"runAsUser": 1000,
                                                         "readOnlyRootFilesystem": True}}
    p = pod(containers=[c], securityContext={"runAsUser": 5, "runAsGroup": 7})
    cfg = podspec.container_config(p, c, attempt=0, envs=[], mounts=())
    assert (cfg.run_as_user, cfg.run_as_group, cfg.readonly_rootfs) == (1000, 7, True)
