"""Where the apiserver is and who we are: a :class:`ClientConfig` from a kubeconfig file or
explicit parameters, and the TLS context it implies.

Inline ``*-data`` fields are supported; the client key only ever touches disk in a private
temporary file removed right after loading (``ssl`` can only load key files).
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class ClientConfig:
    server: str
    ca_file: str | None = None
    ca_data: bytes | None = None
    cert_file: str | None = None
    key_file: str | None = None
    cert_data: bytes | None = None
    key_data: bytes | None = None
    token: str | None = None
    insecure: bool = False
    user_agent: str = "kboot"

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.server.startswith("https://"):
            return None
        ctx = ssl.create_default_context()
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_file:
            ctx.load_verify_locations(cafile=self.ca_file)
        elif self.ca_data:
            ctx.load_verify_locations(cadata=self.ca_data.decode())
        if self.cert_file and self.key_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        elif self.cert_data and self.key_data:
            _load_chain_from_memory(ctx, self.cert_data, self.key_data)
        return ctx


def _load_chain_from_memory(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="kboot-client-") as tmp:
        cert_path, key_path = Path(tmp, "c.pem"), Path(tmp, "k.pem")
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        ctx.load_cert_chain(str(cert_path), str(key_path))


def _named(items: list[dict[str, Any]], name: str, what: str) -> dict[str, Any]:
    for item in items:
        if item.get("name") == name:
            return dict(item.get(what) or {})
    raise ValueError(f"kubeconfig has no {what} named {name!r}")


def _path(base: Path, value: str | None) -> str | None:
    if not value:
        return None
    return str(Path(value) if Path(value).is_absolute() else base / value)


def _data(value: str | None) -> bytes | None:
    return base64.b64decode(value) if value else None


def load_kubeconfig(path: str | os.PathLike[str], *, context: str | None = None) -> ClientConfig:
    """Read one context of a kubeconfig file (the current one by default)."""
    file = Path(path)
    doc = yaml.safe_load(file.read_text()) or {}
    ctx_name = context or doc.get("current-context")
    contexts = doc.get("contexts") or []
    if not ctx_name and contexts:
        ctx_name = contexts[0]["name"]
    ctx = _named(contexts, str(ctx_name), "context")
    cluster = _named(doc.get("clusters") or [], ctx["cluster"], "cluster")
    user = _named(doc.get("users") or [], ctx["user"], "user")
    base = file.parent
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = Path(_path(base, user["tokenFile"]) or "").read_text().strip()
    return ClientConfig(
        server=str(cluster["server"]).rstrip("/"),
        ca_file=_path(base, cluster.get("certificate-authority")),
        ca_data=_data(cluster.get("certificate-authority-data")),
        cert_file=_path(base, user.get("client-certificate")),
        key_file=_path(base, user.get("client-key")),
        cert_data=_data(user.get("client-certificate-data")),
        key_data=_data(user.get("client-key-data")),
        token=token,
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
    )
