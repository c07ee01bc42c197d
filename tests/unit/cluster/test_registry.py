"""The cluster registry's inventory settings, credentials, certificate and rendered config."""

from __future__ import annotations

import base64
import json
import tomllib
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from cryptography import x509

from kboot import pki
from kboot.cluster.imagepush import pull_secret
from kboot.cluster.pki import ensure_pki
from kboot.cluster.registry import (
    DEFAULT_MIRRORS,
    add_registry_files,
    ensure_credentials,
    registry_settings,
    registry_vars,
)
from kboot.cluster.topology import Node, Topology
from kboot.errors import InventoryError
from kboot.images.push import Target, target
from kboot.inventory import Connection, Group, Host, Inventory
from kboot.templating import render_file

TEMPLATES = Path(__file__).resolve().parents[3] / "templates"
CP1 = Node("cp1", "10.0.0.11", control_plane=True, etcd=True, worker=False)
CP2 = Node("cp2", "10.0.0.12", control_plane=True, etcd=True, worker=False)
W1 = Node("w1", "10.0.0.21", control_plane=False, etcd=False, worker=True)
TOPO = Topology("t", (CP1, CP2, W1), "10.244.0.0/16", "10.96.0.0/16", "cluster.local",
                "10.0.0.10", False)


def _inventory(registry: object = None) -> Inventory:
    hosts = {"cp1": Host("cp1", Connection(address="10.0.0.11"))}
    cluster = {"name": "t"} if registry is None else {"name": "t", "registry": registry}
    return Inventory("inv.yaml", hosts, {"control_plane": Group("control_plane", ("cp1",))},
                     cluster=cluster)


def test_settings_default_on_and_user_mirrors_added() -> None:
    assert registry_settings(_inventory()).enabled
    assert not registry_settings(_inventory(False)).enabled
    s = registry_settings(_inventory({"mirrors": ["registry.example.com", "myreg:5000"],
                                      "upstream": True}))
    assert s.mirrors == (*DEFAULT_MIRRORS, "registry.example.com", "myreg:5000") and s.upstream


@pytest.mark.parametrize(("value", "field"), [
    ("yes", "cluster.registry"), ({"mirrors": "docker.io"}, "cluster.registry.mirrors"),
    ({"mirrors": ["a/b"]}, "cluster.registry.mirrors"), ({"upstream": "no"},
                                                         "cluster.registry.upstream"),
    ({"mirror": []}, "cluster.registry")])
def test_bad_settings_name_the_field(value: object, field: str) -> None:
    with pytest.raises(InventoryError) as err:
        registry_settings(_inventory(value))
    assert field in str(err.value) and "inv.yaml" in str(err.value)


def test_credentials_are_private_stable_and_in_the_htpasswd_files(tmp_path: Path) -> None:
    creds = ensure_credentials(tmp_path)
    assert ensure_credentials(tmp_path) == creds
    store = tmp_path / "registry"
    assert (store / "credentials.json").stat().st_mode & 0o777 == 0o600
    before = (store / "private.htpasswd").read_bytes()
    ensure_credentials(tmp_path)
    assert (store / "private.htpasswd").read_bytes() == before  # no new salt, no re-push
    users = dict(line.split(":", 1) for line in before.decode().splitlines())
    assert set(users) == {creds.push_user, creds.pull_user}
    assert bcrypt.checkpw(creds.pull_password.encode(), users[creds.pull_user].encode())
    push_users = (store / "push.htpasswd").read_text().split(":")[0]
    assert push_users == creds.push_user  # the pull user cannot push to the public store


def test_certificate_sans_and_files_for_control_planes_only(tmp_path: Path) -> None:
    result = ensure_pki(tmp_path, TOPO)
    add_registry_files(result, tmp_path, TOPO)
    dests = {f.dest for f in result.files["cp2"]}
    assert {"/etc/kboot/pki/registry.crt", "/etc/kboot/registry-private.htpasswd"} <= dests
    assert not any("registry" in f.dest for f in result.files["w1"])
    cert = pki.load_pair(tmp_path / "registry", "registry")
    assert cert is not None
    san = cert.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    assert ips == {"10.0.0.11", "10.0.0.12", "10.0.0.10", "127.0.0.1"}
    assert "registry.kboot.internal" in san.get_values_for_type(x509.DNSName)


def _vars(tmp_path: Path, **settings: object) -> dict[str, Any]:
    inv = _inventory(settings or None)
    return {"inventory_hostname": "w1", "pki_dir": "/etc/kboot/pki",
            **registry_vars(registry_settings(inv), TOPO, ensure_credentials(tmp_path))}


def _mirror(values: dict[str, Any], host: str) -> dict[str, Any]:
    return next(m for m in values["registry_mirrors"] if m["host"] == host)


def test_hosts_toml_sends_pulls_to_the_cluster_registry_only_unless_upstream(
        tmp_path: Path) -> None:
    values = _vars(tmp_path)
    hub = _mirror(values, "docker.io")
    doc = tomllib.loads(render_file(TEMPLATES / "containerd/hosts.toml.j2",
                                    {**values, "mirror": hub, "store": "mirror"}))
    assert doc["server"] == "https://127.0.0.1:5000/v2/docker.io" and doc["override_path"]
    assert list(doc["host"]) == ["https://127.0.0.1:5000/v2/docker.io",
                                 "https://10.0.0.11:5000/v2/docker.io",
                                 "https://10.0.0.12:5000/v2/docker.io"]
    assert all(h["ca"] == "/etc/kboot/pki/ca.crt" for h in doc["host"].values())
    up = _vars(tmp_path, upstream=True)
    hub = _mirror(up, "docker.io")
    doc = tomllib.loads(render_file(TEMPLATES / "containerd/hosts.toml.j2",
                                    {**up, "mirror": hub, "store": "mirror"}))
    assert doc["server"] == "https://registry-1.docker.io" and "override_path" not in doc
    private = tomllib.loads(render_file(TEMPLATES / "containerd/hosts.toml.j2", {
        **values, "store": "private",
        "mirror": {"host": "registry.kboot.internal", "namespace": "", "upstream": ""}}))
    assert private["server"] == "https://127.0.0.1:5002/v2"


def test_haproxy_fronts_the_mirror_and_private_instances(tmp_path: Path) -> None:
    base = {"apiserver_endpoints": [{"name": "cp1", "address": "10.0.0.11"}], "api_vip": ""}
    text = render_file(TEMPLATES / "haproxy/haproxy.cfg.j2", {**base, **_vars(tmp_path)})
    assert "bind 127.0.0.1:5000" in text and "bind 127.0.0.1:5002" in text
    assert "server cp2 10.0.0.12:5002 check check-ssl" in text
    assert "http-check expect status 401" in text  # the private instance wants credentials
    off = render_file(TEMPLATES / "haproxy/haproxy.cfg.j2", {**base, **_vars(
        tmp_path, enabled=False)})
    assert "5000" not in off


def test_registry_config_mirror_is_read_only_and_anonymous() -> None:
    common = {"rootdirectory": "/s", "addr": "10.0.0.11:5000", "http_secret": "x",
              "certificate": "/c", "key": "/k"}
    mirror = render_file(TEMPLATES / "registry/config.yml.j2",
                         {**common, "instance": "mirror", "readonly": True, "htpasswd": ""})
    push = render_file(TEMPLATES / "registry/config.yml.j2",
                       {**common, "instance": "push", "readonly": False, "htpasswd": "/h"})
    assert "readonly:\n      enabled: true" in mirror and "auth:" not in mirror
    assert "readonly:" not in push and "path: /h" in push


def test_names_map_to_stores_and_repositories() -> None:
    assert target("docker.io/library/busybox:latest") == Target(
        "public", "docker.io/library/busybox", "latest")
    assert target("myreg:5000/a/b:1").repository == "myreg-5000/a/b"
    assert target("registry.kboot.internal/team/app:1").store == "private"


def test_pull_secret_carries_the_pull_user_for_the_private_host(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBOOT_HOME", str(tmp_path))
    secret = pull_secret(_inventory(), name="regcred", namespace="apps")
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    creds = ensure_credentials(tmp_path / "clusters" / "t")
    assert config["auths"]["registry.kboot.internal"]["username"] == creds.pull_user
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
