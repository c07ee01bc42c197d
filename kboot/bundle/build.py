"""Building a bundle on the workstation: Debian packages, wheels and images.

Debian packages are resolved with the workstation's apt (``apt-cache depends --recurse``), minus
what every Debian system has (priority ``required``), downloaded with ``apt-get download`` and
indexed with ``dpkg-scanpackages`` into a flat repository. Wheels come from ``pip wheel`` of the
kboot source tree with the ``controlplane`` extra. Building is idempotent: present files with the
right names are kept, so a second build costs only the index step.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kboot.bundle.debrepack import repack_debs
from kboot.errors import ConfigError, KbootError

log = logging.getLogger(__name__)

DEFAULT_PACKAGES = (
    "etcd-server",
    "etcd-client",
    "containerd",
    "runc",
    "containernetworking-plugins",
    "haproxy",
    "iptables",
    "conntrack",
    "kmod",
    "ca-certificates",
)
# General system tools: installed where missing, never upgraded by kboot (their version is the
# host owner's business, and upgrading them costs dpkg time on every node). The node virtualenv
# needs no python3-venv: ``python3 -m venv --without-pip`` works with Debian's python3 alone, and
# naming python3-venv made apt upgrade the host's whole python3.11 to the bundle's point release
# (~6 s of dpkg CPU per node).
PRESENT_PACKAGES = ("iptables", "kmod", "ca-certificates")

# In the bundle's repository but installed only where needed (keepalived: control planes of a
# cluster with an api_vip; docker-registry: control planes of a cluster with the registry on).
OPTIONAL_PACKAGES = ("keepalived", "docker-registry")
# Only on etcd members (kboot.cluster.vars decides per host).
ETCD_PACKAGES = ("etcd-server", "etcd-client")
# The installer a node's virtualenv is made with, run from its wheel: ``python3 -m venv
# --without-pip`` then ``python pip-*.whl/pip install`` skips ensurepip's own pip install into
# every venv (~5 s of CPU per node).
INSTALLER = "pip"

_DEPENDS_FLAGS = (
    "--recurse",
    "--no-recommends",
    "--no-suggests",
    "--no-conflicts",
    "--no-breaks",
    "--no-replaces",
    "--no-enhances",
)


@dataclass(frozen=True)
class BundleManifest:
    packages: list[str]  # what hosts install: kboot's DEFAULT_PACKAGES at build time + extras
    debs: dict[str, str] = field(default_factory=dict)  # file name -> sha256
    wheels: dict[str, str] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)
    recipe: str = ""  # bundle_recipe() when built: package lists and Python requirements
    extra_packages: list[str] = field(default_factory=list)  # `kboot bundle build --package`

    @property
    def digest(self) -> str:
        """One hash over everything: changes when any file changes."""
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @property
    def kboot_wheel(self) -> str:
        """The file name of kboot's own wheel (shipped apart: it changes with every release)."""
        names = [w for w in self.wheels if w.startswith("kboot-")]
        if len(names) != 1:
            raise ConfigError(f"bundle: expected one kboot wheel, found {names or 'none'}")
        return names[0]

    @property
    def base_digest(self) -> str:
        """A hash over everything but kboot's own wheel: the large part that rarely changes."""
        base = {**asdict(self), "wheels": {k: v for k, v in self.wheels.items()
                                           if not k.startswith("kboot-")}}
        return hashlib.sha256(json.dumps(base, sort_keys=True).encode()).hexdigest()[:16]


def default_bundle_dir() -> Path:
    home = Path(os.environ.get("KBOOT_HOME", Path.home() / ".kboot"))
    return home / "bundle"


def _run(cmd: list[str], *, cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise KbootError(f"bundle: {' '.join(cmd[:3])} … failed:\n{proc.stderr.strip()[-2000:]}")
    return proc.stdout


def dependency_closure(packages: Iterable[str]) -> list[str]:
    """Real (non-virtual) packages the given ones need, recursively, without 'required' ones."""
    out = _run(["apt-cache", "depends", *_DEPENDS_FLAGS, *packages])
    names = sorted({ln.strip() for ln in out.splitlines() if ln and not ln.startswith((" ", "<"))})
    required = _required_packages(names)  # one apt-cache call, not one per package
    return [n for n in names if n not in required]


def _required_packages(names: list[str]) -> set[str]:
    out = _run(["apt-cache", "show", "--no-all-versions", *names])
    required: set[str] = set()
    for stanza in out.split("\n\n"):
        pkg = re.search(r"^Package: (\S+)", stanza, re.M)
        prio = re.search(r"^Priority: (\S+)", stanza, re.M)
        if pkg and prio and prio.group(1) == "required":
            required.add(pkg.group(1))
    return required


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _download_debs(debs: Path, packages: list[str]) -> None:
    """``debs`` holds exactly ``packages``: the missing downloaded, the no longer needed removed
    (they would be pushed to every host for nothing)."""
    debs.mkdir(parents=True, exist_ok=True)
    wanted = set(packages)
    for stale in [p for p in debs.glob("*.deb") if p.name.split("_", 1)[0] not in wanted]:
        stale.unlink()
    have = {p.name.split("_", 1)[0] for p in debs.glob("*.deb")}
    missing = [p for p in packages if p not in have]
    if missing:
        log.info("downloading %d Debian packages", len(missing))
        _run(["apt-get", "download", "-q", *missing], cwd=debs)
    repack_debs(debs)
    index = _run(["dpkg-scanpackages", "-m", "."], cwd=debs)
    (debs / "Packages").write_text(index)


SOURCE_STAMP = ".kboot-source"


def source_digest(source: Path) -> str:
    """A hash of what goes into kboot's own wheel (code, data, templates, playbooks)."""
    h = hashlib.sha256()
    files = [source / "pyproject.toml"]
    for part in ("kboot", "templates", "playbooks"):
        files += sorted(p for p in (source / part).rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        h.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _build_wheels(wheels: Path, source: Path, *, deps: bool = True) -> None:
    """kboot's wheel (rebuilt whenever its source changed) and, with ``deps``, its
    dependencies' wheels (pip keeps those already in ``wheels``)."""
    wheels.mkdir(parents=True, exist_ok=True)
    for old in wheels.glob("kboot-*.whl"):
        old.unlink()
    extra = [] if deps else ["--no-deps"]
    _run([sys.executable, "-m", "pip", "wheel", "-q", *extra, "--wheel-dir", str(wheels),
          f"{source}[controlplane]"])
    if deps:
        for old in wheels.glob(f"{INSTALLER}-*.whl"):
            old.unlink()
        _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
              "--dest", str(wheels), INSTALLER])
    (wheels / SOURCE_STAMP).write_text(source_digest(source))


def _requirements() -> list[str]:
    """kboot's Python requirements for cluster nodes (base + ``controlplane`` extra)."""
    try:
        project = tomllib.loads((source_tree() / "pyproject.toml").read_text())["project"]
        return sorted([*project.get("dependencies", []),
                       *project.get("optional-dependencies", {}).get("controlplane", [])])
    except ConfigError:  # an installed kboot
        return sorted(importlib.metadata.requires("kboot") or [])


def bundle_recipe(packages: Sequence[str]) -> str:
    """What a bundle is made of besides kboot's own code: the Debian packages (installed and
    optional) and kboot's Python requirements. When it changes, debs and wheels are refreshed."""
    blob = json.dumps({"packages": sorted(packages), "optional": sorted(OPTIONAL_PACKAGES),
                       "requires": _requirements(), "installer": INSTALLER}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def refresh_bundle(out: Path, manifest: BundleManifest) -> BundleManifest:
    """Bring an existing bundle up to date with this kboot: the debs and dependency wheels when
    the recipe changed (a new package or requirement), kboot's own wheel when its source did.
    Returns the manifest, rewritten when anything changed."""
    extras = list(manifest.extra_packages)
    packages = bundle_packages(extras)
    changed = False
    if manifest.recipe != bundle_recipe(packages) or manifest.packages != packages:
        log.info("the bundle's packages or Python requirements changed: refreshing it")
        _download_debs(out / "debs", dependency_closure([*packages, *OPTIONAL_PACKAGES]))
        with contextlib.suppress(ConfigError):  # wheels are built from a source tree only
            _build_wheels(out / "wheels", source_tree())
        changed = True
    elif repack_debs(out / "debs"):  # a bundle built before debs were re-compressed
        (out / "debs" / "Packages").write_text(
            _run(["dpkg-scanpackages", "-m", "."], cwd=out / "debs"))
        changed = True
    changed = refresh_kboot_wheel(out) or changed
    return write_manifest(out, packages, extras) if changed else manifest


def bundle_packages(extras: Iterable[str] = ()) -> list[str]:
    """What hosts install from a bundle: this kboot's defaults, then the user's extras. A bundle
    built by an older kboot follows the current defaults when refreshed (its extras stay)."""
    return list(dict.fromkeys([*DEFAULT_PACKAGES, *extras]))


def refresh_kboot_wheel(out: Path) -> bool:
    """Rebuild kboot's own wheel when the source tree changed since the bundle was built;
    True when it did (the manifest must then be rewritten)."""
    try:
        source = source_tree()
    except ConfigError:
        return False  # an installed kboot: its bundle's wheel is what it is
    stamp = out / "wheels" / SOURCE_STAMP
    if stamp.exists() and stamp.read_text() == source_digest(source):
        return False
    log.info("kboot's source changed: rebuilding its wheel in the bundle")
    _build_wheels(out / "wheels", source, deps=False)
    return True


def _build_images(images: Path) -> None:
    from kboot.images import build_busybox, build_pause

    images.mkdir(parents=True, exist_ok=True)
    build_pause(images / "pause.tar")
    build_busybox(images / "busybox.tar")


def source_tree() -> Path:
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").exists():
        raise ConfigError(
            "bundle: kboot's source tree (pyproject.toml) was not found next to the package"
        )
    return root


def build_bundle(
    out: Path | None = None, *, extra_packages: Iterable[str] = (), wheels: bool = True,
    images: bool = True,
) -> BundleManifest:
    """Build (or refresh) a bundle in ``out`` and return its manifest (also written to disk)."""
    out = out or default_bundle_dir()
    extras = list(extra_packages)
    pkgs = bundle_packages(extras)
    _download_debs(out / "debs", dependency_closure([*pkgs, *OPTIONAL_PACKAGES]))
    if wheels:
        _build_wheels(out / "wheels", source_tree())
    if images:
        _build_images(out / "images")
    return write_manifest(out, pkgs, extras)


def write_manifest(out: Path, packages: list[str], extras: list[str] | None = None
                   ) -> BundleManifest:
    manifest = BundleManifest(
        packages=packages,
        extra_packages=extras or [],
        debs={p.name: _sha256(p) for p in sorted((out / "debs").glob("*.deb"))},
        wheels={p.name: _sha256(p) for p in sorted((out / "wheels").glob("*.whl"))},
        images={p.name: _sha256(p) for p in sorted((out / "images").glob("*.tar"))},
        recipe=bundle_recipe(packages),
    )
    (out / "manifest.json").write_text(json.dumps(asdict(manifest), indent=1, sort_keys=True))
    return manifest


def load_manifest(out: Path) -> BundleManifest:
    path = out / "manifest.json"
    if not path.exists():
        raise ConfigError(f"{path}: no bundle here (run `kboot bundle build` first)")
    data = json.loads(path.read_text())
    return BundleManifest(**data)
