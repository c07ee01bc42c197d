"""Which registries a failed pull went to, for the container's ``ErrImagePull`` message.

containerd's own error says only that a name was "not found"; with kboot's mirrors the name
(``docker.io/library/x``) was looked up in the cluster registry, not on Docker Hub, and the
user needs to know that to fix it (``kboot image push``). The hosts come from the same
``hosts.toml`` containerd read (``[host."URL"]`` tables, then ``server``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from kboot.controlplane.kubelet.pullsecrets import image_host_and_path


def registries(image: str, hosts_dir: str) -> list[str]:
    """The URLs containerd tries for ``image`` (empty: no hosts.toml for its registry)."""
    if not hosts_dir:
        return []
    host, _ = image_host_and_path(image)
    path = Path(hosts_dir) / host / "hosts.toml"
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []
    urls = list((doc.get("host") or {}).keys())
    server = doc.get("server")
    if isinstance(server, str) and server not in urls:
        urls.append(server)
    return urls


def resolved_through(image: str, hosts_dir: str) -> str:
    """`` (registries tried: …)`` or the empty string."""
    urls = registries(image, hosts_dir)
    if not urls:
        return ""
    return (f" (registries tried: {', '.join(urls)}; an image the cluster registry lacks is "
            "added with `kboot image push`)")
