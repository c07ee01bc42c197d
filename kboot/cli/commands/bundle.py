"""``kboot bundle build``: gather what hosts need on the workstation (air-gapped install)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from kboot.bundle import build_bundle, default_bundle_dir

EPILOG = """examples:
  kboot bundle build                      # into ~/.kboot/bundle (KBOOT_HOME)
  kboot bundle build -o /srv/kboot-bundle --package tcpdump
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "bundle",
        help="build the offline bundle (debs, wheels, images) pushed to hosts",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bsub = p.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)
    b = bsub.add_parser("build", help="build or refresh a bundle", epilog=EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("-o", "--output", type=Path, default=None,
                   help=f"bundle directory (default {default_bundle_dir()})")
    b.add_argument("--package", action="append", default=[],
                   help="an extra Debian package to include (repeatable)")
    b.add_argument("--no-wheels", action="store_true", help="skip building kboot's wheels")
    b.add_argument("--no-images", action="store_true", help="skip building the OCI images")
    b.set_defaults(func=_build)


def _build(args: argparse.Namespace) -> int:
    out = args.output or default_bundle_dir()
    console = Console()
    with console.status(f"building bundle in {escape(str(out))}"):
        manifest = build_bundle(
            out,
            extra_packages=args.package,
            wheels=not args.no_wheels,
            images=not args.no_images,
        )
    console.print(
        f"bundle {manifest.digest} in {escape(str(out))}: {len(manifest.debs)} debs, "
        f"{len(manifest.wheels)} wheels, {len(manifest.images)} images"
    )
    return 0
