from __future__ import annotations

from pathlib import Path

import yaml

from kboot.cluster.kubeconfig import merge_into_file
from kboot.pki import build_kubeconfig, kubeconfig_yaml


def _admin(tmp: Path, server: str) -> Path:
    cfg = build_kubeconfig(cluster_name="lab", server=server, ca_pem=b"CA", user_name="admin",
                           token="secret-token")
    path = tmp / "admin.kubeconfig"
    path.write_text(kubeconfig_yaml(cfg))
    return path


def test_merge_keeps_other_contexts_and_replaces_same_name(tmp_path: Path) -> None:
    target = tmp_path / "config"
    target.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "other",
        "clusters": [{"name": "other", "cluster": {"server": "https://o:6443"}}],
        "users": [{"name": "other", "user": {"token": "t"}}],
        "contexts": [{"name": "other", "context": {"cluster": "other", "user": "other"}}],
    }))
    merge_into_file(_admin(tmp_path, "https://a:6443"), context="kboot-lab", target=target)
    merge_into_file(_admin(tmp_path, "https://b:6443"), context="kboot-lab", target=target)
    cfg = yaml.safe_load(target.read_text())
    assert [c["name"] for c in cfg["contexts"]] == ["other", "kboot-lab"]
    assert cfg["current-context"] == "kboot-lab"
    servers = {c["name"]: c["cluster"]["server"] for c in cfg["clusters"]}
    assert servers == {"other": "https://o:6443", "kboot-lab": "https://b:6443"}
    ctx = cfg["contexts"][1]["context"]
    assert ctx == {"cluster": "kboot-lab", "user": "kboot-lab"}
    assert oct(target.stat().st_mode & 0o777) == "0o600"
