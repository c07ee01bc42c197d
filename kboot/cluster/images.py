"""``kboot image load``: push an OCI image tarball to hosts and import it into containerd
(no registry needed). The tar travels by checksum (an unchanged image is not sent again) and is
imported when it changed or containerd does not have the image (e.g. after ``kboot reset``)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

from kboot.errors import ConfigError

HOST_DIR = "/var/lib/kboot/images"


def image_names(tar_path: Path) -> list[str]:
    """The image names an OCI tarball declares (``index.json`` annotations)."""
    try:
        with tarfile.open(tar_path) as tar:
            member = tar.extractfile("index.json")
            index = json.loads(member.read()) if member else {}
    except (OSError, tarfile.TarError, KeyError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{tar_path}: not an OCI image tarball ({exc})") from None
    names = [m.get("annotations", {}).get("io.containerd.image.name", "")
             for m in index.get("manifests", [])]
    names = [n for n in names if n]
    if not names:
        raise ConfigError(f"{tar_path}: the image has no io.containerd.image.name annotation")
    return names


def load_playbook(tar_path: Path, *, hosts: str) -> list[dict[str, Any]]:
    """A one-play playbook pushing and importing ``tar_path`` on ``hosts``."""
    dest = f"{HOST_DIR}/{tar_path.name}"
    checks = " && ".join(f"ctr -n k8s.io images ls -q | grep -qxF '{n}'"
                         for n in image_names(tar_path))
    return [{
        "name": f"image load {tar_path.name}",
        "hosts": hosts,
        "gather_facts": False,
        "become": True,
        "tasks": [
            {"name": "image directory",
             "file": {"path": HOST_DIR, "state": "directory", "mode": "0755"}},
            {"name": "image pushed", "register": "pushed",
             "copy": {"src": str(tar_path.resolve()), "dest": dest, "mode": "0644"}},
            {"name": "image imported into containerd", "register": "imported",
             "shell": (f'if [ "{{{{ pushed.changed }}}}" = True ] || ! ( {checks} ); then '
                       f"ctr -n k8s.io image import --all-platforms {dest} >/dev/null "
                       "&& echo imported; fi"),
             "changed_when": "'imported' in imported.stdout"},
        ],
    }]
