"""``kboot image``: build OCI image tarballs locally, push them to the cluster registry (or
import them on every host of a cluster without one), list what the registry holds.

Examples::

    kboot image build --from-busybox kboot.io/busybox:1.35 -o busybox.tar
    kboot image build --pause -o pause.tar
    kboot image load web.tar -i inventories/prod.yaml             # every host imports it
    kboot image build ./site --name kboot.io/web:1 --base-busybox -o web.tar --cmd httpd -f -p 80
    kboot image push web.tar app-oci/ -i inventories/prod.yaml     # every control plane's registry
    kboot image list -i inventories/prod.yaml
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
  kboot image build --standins -o images/      # busybox, nginx, python as docker.io/library/*
  kboot image push images/*.tar saved.tar oci-dir/ -i inventories/prod.yaml
  kboot image list -i inventories/prod.yaml
  kboot image pull-secret -i inventories/prod.yaml -n apps | kubectl apply -f -
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("image", help="build, push, list and load container images",
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
    build.add_argument("--standins", action="store_true",
                       help="busybox, nginx and python stand-ins (docker.io/library/NAME:latest)"
                            " built from this machine, into the -o directory")
    build.add_argument("--base-busybox", action="store_true",
                       help="put the directory over a busybox base layer")
    build.add_argument("--entrypoint", nargs="+", default=[], help="image Entrypoint")
    build.add_argument("--cmd", nargs=argparse.REMAINDER, default=[],
                       help="image Cmd (everything after it)")
    build.add_argument("--env", action="append", default=[], metavar="K=V")
    build.add_argument("--workdir", default="")
    build.add_argument("--expose", action="append", default=[], metavar="PORT[/PROTO]")
    build.add_argument("-o", "--output", type=Path, required=True,
                       help="output .tar (a directory with --standins)")
    build.set_defaults(func=run_build)
    load = sub.add_parser("load", help="push an image tarball to hosts and import it",
                          epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    load.add_argument("image", type=Path, metavar="IMAGE.tar")
    load.add_argument("-i", "--inventory", required=True, metavar="INVENTORY")
    complete(load.add_argument("--hosts", default="all", metavar="PATTERN",
                               help="which hosts (default: all)"), host_patterns)
    load.add_argument("-f", "--forks", type=int, default=20, metavar="N")
    load.set_defaults(func=run_load)
    push = sub.add_parser("push", help="push image tarballs / OCI layouts to the cluster registry",
                          epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    push.add_argument("images", type=Path, nargs="+", metavar="IMAGE.tar|DIR",
                      help="OCI layout (tar or directory) or docker-archive (docker save)")
    push.add_argument("-i", "--inventory", required=True, metavar="INVENTORY")
    push.add_argument("--chunk-size", type=int, default=0, metavar="BYTES",
                      help="upload blobs in chunks of BYTES (default: one streamed request)")
    push.set_defaults(func=run_push)
    listing = sub.add_parser("list", help="repositories and tags the cluster registry holds")
    listing.add_argument("-i", "--inventory", required=True, metavar="INVENTORY")
    for cmd in (push, listing):
        route = cmd.add_mutually_exclusive_group()
        route.add_argument("--via-ssh", dest="via_ssh", action="store_const", const=True,
                           help="reach the registries through SSH tunnels to the control planes "
                                "(default: only those whose port 5001 does not answer)")
        route.add_argument("--direct", dest="via_ssh", action="store_const", const=False,
                           help="never tunnel")
    listing.set_defaults(func=run_list)
    secret = sub.add_parser("pull-secret", help="print a Secret (YAML) for private images")
    secret.add_argument("-i", "--inventory", required=True, metavar="INVENTORY")
    secret.add_argument("--name", default="kboot-registry", help="Secret name")
    secret.add_argument("-n", "--namespace", default="default")
    secret.set_defaults(func=run_pull_secret)
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


def run_push(args: argparse.Namespace) -> int:
    from kboot.cluster.imagepush import push_images, require_complete
    from kboot.inventory import load_inventory

    console = Console(soft_wrap=True)
    report = push_images(load_inventory(args.inventory), args.images,
                         chunk_size=args.chunk_size, via_ssh=args.via_ssh)
    for node, stats in report.per_node.items():
        console.print(f"{node}: {stats.manifests} manifests, {stats.blobs_sent} blobs sent "
                      f"({stats.bytes_sent / 2**20:.1f} MiB), {stats.blobs_skipped} present",
                      markup=False, highlight=False)
    pushed = next(iter(report.per_node.values()), None)
    for ref in pushed.pushed if pushed else []:
        console.print(f"pushed {ref}", markup=False, highlight=False)
    require_complete(report)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from kboot.cluster.imagepush import list_images
    from kboot.inventory import load_inventory

    console = Console(soft_wrap=True)
    stores = list_images(load_inventory(args.inventory), via_ssh=args.via_ssh)
    for store, repos in stores.items():
        for repo, tags in repos.items():
            name = f"registry.kboot.internal/{repo}" if store == "private" else repo
            console.print(f"{name}  {' '.join(tags)}", markup=False, highlight=False)
    return 0


def run_pull_secret(args: argparse.Namespace) -> int:
    from kboot.cluster.imagepush import pull_secret
    from kboot.inventory import load_inventory

    secret = pull_secret(load_inventory(args.inventory), name=args.name,
                         namespace=args.namespace)
    print(yaml.safe_dump(secret, sort_keys=False), end="")
    return 0


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
    if args.standins:
        from kboot.images.standins import StandInError, build_standins
        try:
            built = build_standins(args.output)
        except StandInError as exc:
            raise UserError(str(exc)) from exc
        console = Console(soft_wrap=True)
        for path, image in built[:-1]:
            console.print(f"{image.name} {image.manifest_digest} -> {path}", markup=False,
                          highlight=False)
        args.output = built[-1][0]
        return built[-1][1]
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
