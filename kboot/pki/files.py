"""PKI material on disk: ``<name>.crt`` (0644) and ``<name>.key`` (0600), written atomically.

A write goes to a temporary file in the same directory (created with its final mode, so a key
is never readable by others even for an instant), is fsynced, then renamed over the target: an
interrupted run leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from kboot.errors import ConfigError
from kboot.pki.certs import CertKeyPair

KEY_MODE = 0o600
CERT_MODE = 0o644


def write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def pair_paths(directory: Path, name: str) -> tuple[Path, Path]:
    return directory / f"{name}.crt", directory / f"{name}.key"


def save_pair(pair: CertKeyPair, directory: Path, name: str) -> tuple[Path, Path]:
    """Write ``name.key`` then ``name.crt``; return their paths ``(cert, key)``."""
    cert_path, key_path = pair_paths(directory, name)
    write_atomic(key_path, pair.key_pem(), mode=KEY_MODE)
    write_atomic(cert_path, pair.cert_pem(), mode=CERT_MODE)
    return cert_path, key_path


def load_pair(directory: Path, name: str) -> CertKeyPair | None:
    """The saved pair, or None when either file is missing. Unreadable PEM is a ConfigError."""
    cert_path, key_path = pair_paths(directory, name)
    if not (cert_path.exists() and key_path.exists()):
        return None
    try:
        return CertKeyPair.from_pem(cert_path.read_bytes(), key_path.read_bytes())
    except ValueError as err:
        raise ConfigError(f"cannot read certificate pair {cert_path} / {key_path}: {err}") from err
