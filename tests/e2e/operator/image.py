"""The test operator's image, built locally with no download: busybox and this host's Python
(the ``python`` stand-in's layers), the official Kubernetes client with every distribution it
requires (copied from the test virtualenv — the same 3.11 ABI — with the shared libraries of
its native extensions), and ``webapp_operator.py``."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

from kboot.images.busybox import busybox_entries
from kboot.images.oci import BuiltImage, Entry, ImageConfig, layer_tar, write_image
from kboot.images.standins import python_entries, shared_libraries

IMAGE = "kboot.io/webapp-operator:1"
SITE = "opt/operator/site-packages"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+")


def _closure(root: str) -> list[importlib.metadata.Distribution]:
    """``root`` and every distribution it requires (extras left out)."""
    seen: dict[str, importlib.metadata.Distribution] = {}
    todo = [root]
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        seen[name] = dist
        for req in dist.requires or []:
            if "extra ==" not in req:
                match = _NAME.match(req)
                if match:
                    todo.append(match.group(0))
    return list(seen.values())


def _package_entries() -> list[Entry]:
    entries: list[Entry] = []
    native: list[Path] = []
    for dist in _closure("kubernetes"):
        for file in dist.files or []:
            source = Path(str(dist.locate_file(file)))
            if not source.is_file() or ".." in file.parts or "__pycache__" in file.parts:
                continue
            entries.append(Entry(f"{SITE}/{file}", data=source.read_bytes()))
            if source.suffix == ".so":
                native.append(source)
    for lib in sorted(shared_libraries(native)):
        entries.append(Entry(lib.lstrip("/"), data=Path(lib).read_bytes(), mode=0o755))
    return entries


def build_operator_image(out: Path) -> BuiltImage:
    """Write the image tarball to ``out``."""
    script = Path(__file__).with_name("webapp_operator.py").read_bytes()
    layers = [layer_tar(busybox_entries()), layer_tar(python_entries(Path("/usr/bin/python3"))),
              layer_tar(_package_entries()),
              layer_tar([Entry("opt/operator/webapp_operator.py", data=script)])]
    config = ImageConfig(cmd=("python3", "/opt/operator/webapp_operator.py"), env=(
        "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1",
        f"PYTHONPATH=/{SITE}"))
    return write_image(out, name=IMAGE, layers=layers, config=config)
