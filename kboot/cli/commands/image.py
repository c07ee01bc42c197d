"""``kboot image``: build OCI image tarballs locally (no registry needed).

Examples::

    kboot image build --from-busybox kboot.io/busybox:1.35 -o busybox.tar
    kboot image build --pause -o pause.tar
  kboot image load web.tar -i inventories/prod.yaml             # every host imports it
    kboot image build ./site --name kboot.io/web:1 --base-busybox -o web.tar --cmd httpd -f -p 80
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from rich.console import Console

from kboot.cli.completion import complete, host_patterns
from kboot.errors import ConfigError, UserError
from kboot.images import (
    BUSYBOX_NAME,
    BuiltImage,
    BusyboxMissing,
    ImageConfig,
    build_busybox,
    build_from_directory,
    build_pause,
)

EXAMPLES = """examples:
  kboot image build --from-busybox kboot.io/busybox:1.35 -o busybox.tar
  kboot image build --pause -o pause.tar
  kboot image load web.tar -i inventories/prod.yaml             # every host imports it
  kboot image build ./site --name kboot.io/web:1 --base-busybox -o web.tar --cmd httpd -f -p 8080
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("image", help="build container images without a registry",
                                   epilog=EXAMPLES,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="image_command", metavar="ACTION")
    build = sub.add_parser("build", help="build an OCI image tarball", epilog=EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("directory", nargs="?", type=Path, help="root filesystem directory")
    build.add_argument("--name", help="image name, e.g. kboot.io/web:1")
    build.add_argument("--from-busybox", metavar="NAME", nargs="?", const=BUSYBOX_NAME,
                       help="a static-busybox image named NAME")
    build.add_argument("--pause", action="store_true", help="the CRI sandbox (pause) image")
    build.add_argument("--base-busybox", action="store_true",
                       help="put the directory over a busybox base layer")
    build.add_argument("--entrypoint", nargs="+", default=[], help="image Entrypoint")
    build.add_argument("--cmd", nargs=argparse.REMAINDER, default=[],
                       help="image Cmd (everything after it)")
    build.add_argument("--env", action="append", default=[], metavar="K=V")
    build.add_argument("--workdir", default="")
    build.add_argument("--expose", action="append", default=[], metavar="PORT[/PROTO]")
    build.add_argument("-o", "--output", type=Path, required=True, help="output .tar")
    build.set_defaults(func=run_build)
    load = sub.add_parser("load", help="push an image tarball to hosts and import it",
                          epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    load.add_argument("image", type=Path, metavar="IMAGE.tar")
    load.add_argument("-i", "--inventory", required=True, metavar="INVENTORY")
    complete(load.add_argument("--hosts", default="all", metavar="PATTERN",
                               help="which hosts (default: all)"), host_patterns)
    load.add_argument("-f", "--forks", type=int, default=20, metavar="N")
    load.set_defaults(func=run_load)
    parser.set_defaults(func=lambda _args: _usage(parser))


def run_load(args: argparse.Namespace) -> int:
    from kboot.cli.phases import PhaseRunner
    from kboot.cluster.images import load_playbook
    from kboot.inventory import load_inventory
    from kboot.playbook import load_playbook as parse_playbook
    from kboot.playbook.yamlload import load_yaml_text

    if not args.image.is_file():
        raise ConfigError(f"{args.image}: no such image tarball")
    inventory = load_inventory(args.inventory)
    data = yaml.safe_dump(load_playbook(args.image, hosts=args.hosts))
    book = parse_playbook(load_yaml_text(data, "<kboot image load>"))
    with PhaseRunner(inventory, Console(soft_wrap=True), forks=args.forks) as runner:
        outcome = runner.run(book, inventory)
    return 0 if outcome.ok else 1


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _config(args: argparse.Namespace, default_cmd: tuple[str, ...]) -> ImageConfig:
    env = ImageConfig().env + tuple(args.env)
    return ImageConfig(
        entrypoint=tuple(args.entrypoint),
        cmd=tuple(args.cmd) or default_cmd,
        env=env,
        working_dir=args.workdir,
        exposed_ports=tuple(args.expose),
    )


def _build(args: argparse.Namespace) -> BuiltImage:
    if args.pause:
        return build_pause(args.output)
    if args.from_busybox:
        return build_busybox(args.output, name=args.from_busybox, config=_config(args, ("sh",)))
    if args.directory is None:
        raise UserError("give a DIRECTORY, --from-busybox NAME or --pause")
    if not args.directory.is_dir():
        raise UserError(f"{args.directory}: not a directory")
    if not args.name:
        raise UserError("--name NAME:TAG is required when building from a directory")
    return build_from_directory(args.directory, args.output, name=args.name,
                                config=_config(args, ()), base_busybox=args.base_busybox)


def run_build(args: argparse.Namespace) -> int:
    try:
        image = _build(args)
    except BusyboxMissing as exc:
        raise UserError(str(exc)) from exc
    Console(soft_wrap=True).print(f"{image.name} {image.manifest_digest} -> {args.output}",
                                  markup=False, highlight=False)
    return 0
