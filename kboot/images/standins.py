"""Small local stand-ins for the public images upstream test suites name (``busybox``,
``nginx``, ``python``), built from this machine's files — no downloads.

The official Kubernetes Python client's e2e tests start pods from ``busybox`` (``sh -c``
loops, exit codes), ``nginx`` (a web server on port 80) and ``python`` (``python -c`` socket
servers for port-forwarding). Pushed to the cluster registry as ``docker.io/library/NAME:latest``
they run unchanged on an air-gapped kboot cluster:

- ``busybox``: Debian's static busybox (:mod:`kboot.images.busybox`).
- ``nginx``: busybox ``httpd -f -p 80`` serving ``/usr/share/nginx/html`` with the usual
  "Welcome to nginx!" page; ``nginx`` on the PATH runs the same (its arguments ignored).
- ``python``: this host's ``/usr/bin/python3`` with its standard library and every shared
  library it and its extension modules load (found with ``ldd``), over busybox.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

from kboot.images.busybox import BUSYBOX, busybox_entries
from kboot.images.oci import BuiltImage, Entry, ImageConfig, entries_from_directory, layer_tar
from kboot.images.oci import write_image as _write

NGINX_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n"
              b"<body><h1>Welcome to nginx!</h1><p>kboot stand-in (busybox httpd).</p>"
              b"</body></html>\n")
NGINX_SCRIPT = b"#!/bin/sh\nexec httpd -f -p 80 -h /usr/share/nginx/html\n"
# parts of the standard library no test needs (tests, GUI, installers): about half its size
_SKIP = re.compile(r"(^|/)(test|tests|idlelib|tkinter|turtledemo|ensurepip|lib2to3|"
                   r"__pycache__|config-[^/]*)(/|$)")
_LDD_PATH = re.compile(r"(/\S+) \(0x[0-9a-f]+\)")


class StandInError(RuntimeError):
    """A stand-in cannot be built from this host (says what is missing)."""


def build_standins(out_dir: Path, *, python: Path = Path("/usr/bin/python3"),
                   busybox: Path = BUSYBOX) -> list[tuple[Path, BuiltImage]]:
    """``busybox.tar``, ``nginx.tar`` and ``python.tar`` in ``out_dir``."""
    base = layer_tar(busybox_entries(busybox))
    built = []
    for name, layers, config in (
        ("busybox", [base], ImageConfig(cmd=("sh",))),
        ("nginx", [base, layer_tar(_nginx_entries())],
         ImageConfig(cmd=("httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"),
                     exposed_ports=("80",))),
        ("python", [base, layer_tar(python_entries(python))],
         ImageConfig(cmd=("python3",), env=(
             "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
             "PYTHONDONTWRITEBYTECODE=1")))):
        path = out_dir / f"{name}.tar"
        built.append((path, _write(path, name=f"docker.io/library/{name}:latest",
                                   layers=layers, config=config)))
    return built


def _nginx_entries() -> list[Entry]:
    return [Entry("usr/share/nginx/html/index.html", data=NGINX_PAGE),
            Entry("usr/sbin/nginx", data=NGINX_SCRIPT, mode=0o755)]


def python_entries(python: Path) -> list[Entry]:
    """The interpreter, ``python``/``python3`` links, its standard library and shared
    libraries, at their host paths."""
    real = python.resolve()
    if not real.is_file():
        raise StandInError(f"{python}: no Python interpreter to build the python stand-in from")
    stdlib = Path(_query(real, "import sysconfig; print(sysconfig.get_paths()['stdlib'])"))
    entries = [Entry(str(real).lstrip("/"), data=real.read_bytes(), mode=0o755)]
    for link in ("usr/bin/python3", "usr/bin/python", "usr/local/bin/python",
                 "usr/local/bin/python3"):
        if link != str(real).lstrip("/"):
            entries.append(Entry(link, kind="symlink", target=str(real), mode=0o777))
    files = [e for e in entries_from_directory(stdlib, prefix=str(stdlib).lstrip("/"))
             if not _SKIP.search(e.path)]
    entries += files
    objects = [real, *(Path("/" + e.path) for e in files if e.path.endswith(".so"))]
    for lib in sorted(shared_libraries(objects)):
        entries.append(Entry(lib.lstrip("/"), data=Path(lib).read_bytes(), mode=0o755))
    return entries


def _query(python: Path, code: str) -> str:
    try:
        return subprocess.run([str(python), "-c", code], check=True, capture_output=True,
                              text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise StandInError(f"cannot run {python}: {exc}") from exc


def shared_libraries(objects: Iterable[Path]) -> set[str]:
    """Every library ``ldd`` resolves for ``objects`` (the loader included), by the path the
    loader looks for — its content read through any symlink."""
    found: set[str] = set()
    for obj in objects:
        out = subprocess.run(["ldd", str(obj)], capture_output=True, text=True,
                             check=False).stdout
        for match in _LDD_PATH.finditer(out):
            path = match.group(1)
            if os.path.isfile(path):
                found.add(path)
                found.add(os.path.realpath(path))
    return found
