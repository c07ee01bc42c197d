"""``kboot delete``: delete the objects of manifests, or objects by kind and name."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from kboot.cli.commands.apply import with_namespace
from kboot.cli.commands.get import (
    add_kubeconfig_arg,
    api_call_error,
    api_errors,
    kubeconfig_for,
    object_name,
)
from kboot.cli.completion import complete, delete_targets
from kboot.cluster.manifests import load_manifests, resolve_kind
from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.client.errors import ApiError, NotFound
from kboot.controlplane.client.sync import SyncClient
from kboot.errors import ClusterError, UserError

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXAMPLES = """examples:
  kboot delete inventories/prod.yaml -f examples/hello.yaml
  kboot delete inventories/prod.yaml pod web-0 web-1 -n hello
  kboot delete inventories/prod.yaml namespace hello --wait   # until it is gone
"""
Target = tuple[ResourceKind, str, str | None]  # kind, name, namespace


def register(subparsers: SubParsers) -> None:
    p = subparsers.add_parser("delete", help="delete objects (from manifests or by name)",
                              description=__doc__, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inventory", metavar="INVENTORY")
    complete(p.add_argument("target", metavar="KIND NAME", nargs="*", help="a kind, then names"),
             delete_targets)
    p.add_argument("-f", "--filename", action="append", metavar="FILE|DIR|-",
                   help="delete the objects of these manifests")
    p.add_argument("-n", "--namespace", metavar="NS", help="namespace (default: default)")
    p.add_argument("--wait", action="store_true", help="wait until the objects are gone")
    p.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                   help="how long --wait waits (default 120)")
    add_kubeconfig_arg(p)
    p.set_defaults(func=run)


def targets(args: argparse.Namespace) -> list[Target]:
    if args.filename and args.target:
        raise UserError("give either -f FILE or KIND NAME…, not both")
    if args.filename:
        out = []
        for m in load_manifests(args.filename, stdin=sys.stdin):
            obj = with_namespace(m, args.namespace)
            out.append((m.kind, m.name, obj["metadata"].get("namespace")))
        # dependents first: reverse of the manifest order (namespaces last)
        return out[::-1]
    if len(args.target) < 2:
        raise UserError("expected -f FILE, or a KIND and at least one NAME")
    kind = resolve_kind(args.target[0])
    ns = (args.namespace or "default") if kind.namespaced else None
    return [(kind, name, ns) for name in args.target[1:]]


def _wait_gone(api: SyncClient, pending: list[Target], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while pending:
        pending = [t for t in pending if api.get_or_none(t[0], t[1], namespace=t[2]) is not None]
        if not pending:
            return
        if time.monotonic() > deadline:
            left = ", ".join(f"{t[0].kind.lower()}/{t[1]}" for t in pending)
            raise ClusterError(f"still present after {timeout:.0f}s: {left}")
        time.sleep(1)


def run(args: argparse.Namespace) -> int:
    todo = targets(args)
    missing, deleted = 0, []
    kubeconfig = kubeconfig_for(args)
    with api_errors(kubeconfig), SyncClient.from_kubeconfig(kubeconfig) as api:
        for kind, name, ns in todo:
            label = object_name(kind, {"metadata": {"name": name}})
            try:
                api.delete(kind, name, namespace=ns)
            except NotFound:
                sys.stderr.write(f'Error from server (NotFound): {kind.plural} "{name}" '
                                 "not found\n")
                missing += 1
                continue
            except ApiError as err:
                raise api_call_error(err) from None
            sys.stdout.write(f"{label} deleted\n")
            deleted.append((kind, name, ns))
        if args.wait:
            _wait_gone(api, deleted, args.timeout)
    # kubectl delete -f fails on NotFound too; both say which ones
    return 1 if missing else 0
