"""The root-CA publisher's pure parts: which CA, and the ConfigMap it publishes."""

from __future__ import annotations

from pathlib import Path

from kboot.controlplane.client.config import ClientConfig
from kboot.controlplane.controllers.rootca import KEY, NAME, root_ca, wanted_configmap


def test_the_root_ca_file_wins_then_the_kubeconfig_ca(tmp_path: Path) -> None:
    given = tmp_path / "root.pem"
    given.write_text("FILE")
    in_file = tmp_path / "kc.pem"
    in_file.write_text("KCFILE")
    config = ClientConfig(server="https://x", ca_data=b"KCDATA")
    assert root_ca(str(given), config) == "FILE"
    assert root_ca("", config) == "KCDATA"
    assert root_ca("", ClientConfig(server="https://x", ca_file=str(in_file))) == "KCFILE"
    assert root_ca("", ClientConfig(server="https://x")) == ""
    assert root_ca("", None) == ""


def test_the_published_map() -> None:
    cm = wanted_configmap("team", "PEM")
    assert (cm["metadata"]["name"], cm["metadata"]["namespace"]) == (NAME, "team")
    assert cm["data"] == {KEY: "PEM"}
