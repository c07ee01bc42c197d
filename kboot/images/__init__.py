"""OCI image building without a registry (bootstrapper side; a leaf: no control-plane imports).

Public API::

    build_busybox(out, *, name=BUSYBOX_NAME, config=None) -> BuiltImage
    build_pause(out, *, name=PAUSE_NAME) -> BuiltImage
    build_from_directory(root, out, *, name, config, base_busybox=False) -> BuiltImage
    import_command(tar_path, *, namespace="k8s.io", snapshotter="") -> list[str]
"""

from __future__ import annotations

from pathlib import Path

from kboot.images.busybox import (
    BUSYBOX_NAME,
    PAUSE_NAME,
    BusyboxMissing,
    build_busybox,
    build_pause,
    busybox_entries,
)
from kboot.images.oci import (
    BuiltImage,
    Entry,
    ImageConfig,
    entries_from_directory,
    import_command,
    layer_tar,
    normalise_name,
    write_image,
)


def build_from_directory(root: Path, out: Path, *, name: str, config: ImageConfig,
                         base_busybox: bool = False) -> BuiltImage:
    """An image whose root filesystem is *root* (optionally over a busybox base layer)."""
    layers = [layer_tar(busybox_entries())] if base_busybox else []
    layers.append(layer_tar(entries_from_directory(root)))
    return write_image(out, name=name, layers=layers, config=config)


__all__ = [
    "BUSYBOX_NAME",
    "PAUSE_NAME",
    "BuiltImage",
    "BusyboxMissing",
    "Entry",
    "ImageConfig",
    "build_busybox",
    "build_from_directory",
    "build_pause",
    "import_command",
    "layer_tar",
    "normalise_name",
    "write_image",
]
