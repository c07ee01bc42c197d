"""Registry credentials for a pull, from the pod's ``imagePullSecrets`` (as the kubelet's
credential keyring does).

Secrets of type ``kubernetes.io/dockerconfigjson`` (``{"auths": {KEY: {...}}}``) and
``kubernetes.io/dockercfg`` (``{KEY: {...}}``) are read; a KEY matches an image when its host
matches the image's registry host (``*`` globs one DNS label, a port must be equal) and its
path, if any, is a prefix of the image's repository. Docker Hub's legacy keys
(``https://index.docker.io/v1/``, ``index.docker.io``, ``registry-1.docker.io``) match
``docker.io`` images. The most specific keys come first; the kubelet tries each in turn.

The credentials go to the runtime without ``server_address``: containerd then offers them to
whichever host its ``hosts.toml`` resolves the name to — the cluster registry's mirror or
private endpoint, whose address is not the image's host (with a server address containerd
would withhold them from the mirror). ServiceAccount ``imagePullSecrets`` reach the pod spec
at admission (the apiserver copies them into pods that name none), as upstream.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kboot.controlplane.kubelet.cri.types import PullAuth

DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class _Entry:
    host: str
    path: str
    auth: PullAuth


def image_host_and_path(image: str) -> tuple[str, str]:
    """``busybox`` → (``docker.io``, ``library/busybox``), tag and digest dropped."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    first, _, rest = name.partition("/")
    if not rest:
        return "docker.io", f"library/{first}"
    if "." not in first and ":" not in first and first != "localhost":
        return "docker.io", name
    return first, rest


def _key_parts(key: str) -> tuple[str, str]:
    key = key.split("://", 1)[-1].rstrip("/")
    for suffix in ("/v1", "/v2"):
        key = key.removesuffix(suffix)
    host, _, path = key.partition("/")
    host = host.lower()
    return ("docker.io" if host in DOCKER_HUB else host), path


def _auth(doc: Mapping[str, object]) -> PullAuth | None:
    user, password = str(doc.get("username") or ""), str(doc.get("password") or "")
    encoded = str(doc.get("auth") or "")
    if encoded and not user:
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
    identity = str(doc.get("identitytoken") or "")
    if not (user or identity):
        return None
    return PullAuth(username=user, password=password, identity_token=identity)


def entries(secret: Mapping[str, bytes]) -> list[_Entry]:
    """The credentials of one Secret's data (unparseable data gives none)."""
    raw = secret.get(".dockerconfigjson") or secret.get(".dockercfg")
    if raw is None:
        return []
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return []
    auths = doc.get("auths", doc) if ".dockerconfigjson" in secret else doc
    out = []
    for key, value in (auths or {}).items() if isinstance(auths, dict) else []:
        auth = _auth(value) if isinstance(value, dict) else None
        if auth is not None:
            host, path = _key_parts(key)
            out.append(_Entry(host, path, auth))
    return out


def _host_matches(pattern: str, host: str) -> bool:
    p_name, _, p_port = pattern.partition(":")
    h_name, _, h_port = host.partition(":")
    p_labels, h_labels = p_name.split("."), h_name.split(".")
    return (p_port == h_port and len(p_labels) == len(h_labels)
            and all(fnmatch.fnmatchcase(h, p) for p, h in zip(p_labels, h_labels, strict=True)))


def credentials(image: str, secrets: Iterable[Mapping[str, bytes]]) -> list[PullAuth]:
    """The credentials to try for ``image``, most specific key first, duplicates dropped."""
    host, path = image_host_and_path(image)
    matched = [e for s in secrets for e in entries(s)
               if _host_matches(e.host, host.lower())
               and (not e.path or path == e.path or path.startswith(e.path + "/"))]
    matched.sort(key=lambda e: (-len(e.host), -len(e.path)))
    return list(dict.fromkeys(e.auth for e in matched))
