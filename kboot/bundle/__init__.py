"""What cluster hosts need, gathered on the workstation so hosts need no network (air-gapped).

A bundle is a directory: ``debs/`` (the Debian packages and their dependencies not part of a
minimal Debian, with a flat-repository ``Packages`` index apt can install from), ``wheels/``
(kboot and its control-plane dependencies), ``images/`` (OCI tarballs: the sandbox image and the
example images) and ``manifest.json`` (what is in it, with sha256 sums). ``kboot up`` pushes it to
every host and installs from it.
"""

from __future__ import annotations

from kboot.bundle.build import (
    DEFAULT_PACKAGES,
    BundleManifest,
    build_bundle,
    default_bundle_dir,
    load_manifest,
)

__all__ = [
    "DEFAULT_PACKAGES",
    "BundleManifest",
    "build_bundle",
    "default_bundle_dir",
    "load_manifest",
]
