"""``kboot apply``: create or update objects from standard manifests (server-side apply, field
manager ``kboot``), for users without kubectl."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from kboot.cli.commands.get import (
    add_kubeconfig_arg,
    api_call_error,
    api_errors,
    kubeconfig_for,
    object_name,
)
from kboot.cluster.manifests import Manifest, load_manifests
from kboot.controlplane.client.errors import ApiError
from kboot.controlplane.client.sync import SyncClient

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXAMPLES = """examples:
  kboot apply inventories/prod.yaml -f examples/hello.yaml
  kboot apply inventories/prod.yaml -f manifests/            # every *.yaml|yml|json, sorted
  kubectl kustomize overlay | kboot apply inventories/prod.yaml -f -
  kboot apply inventories/prod.yaml -f app.yaml -n staging   # objects without a namespace
"""
FIELD_MANAGER = "kboot"


def register(subparsers: SubParsers) -> None:
    p = subparsers.add_parser("apply", help="create or update objects from manifests",
                              description=__doc__, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inventory", metavar="INVENTORY")
    p.add_argument("-f", "--filename", action="append", required=True, metavar="FILE|DIR|-",
                   help="manifest file, directory or - for stdin (repeatable)")
    p.add_argument("-n", "--namespace", metavar="NS",
                   help="namespace for namespaced objects that do not name one (default: default)")
    add_kubeconfig_arg(p)
    p.set_defaults(func=run)


def with_namespace(m: Manifest, namespace: str | None) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(json.dumps(m.obj, default=str))  # a plain JSON copy
    if m.kind.namespaced and not m.namespace:
        obj["metadata"]["namespace"] = namespace or "default"
    return obj


def outcome(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    if before is None:
        return "created"
    def rv(o: dict[str, Any]) -> object:
        return (o.get("metadata") or {}).get("resourceVersion")
    return "unchanged" if rv(before) == rv(after) else "configured"


def run(args: argparse.Namespace) -> int:
    manifests = load_manifests(args.filename, stdin=sys.stdin)
    failed = 0
    kubeconfig = kubeconfig_for(args)
    with api_errors(kubeconfig), SyncClient.from_kubeconfig(kubeconfig) as api:
        for m in manifests:
            obj = with_namespace(m, args.namespace)
            ns = obj["metadata"].get("namespace")
            try:
                before = api.get_or_none(m.kind, m.name, namespace=ns)
                after = api.apply(obj, field_manager=FIELD_MANAGER)
            except ApiError as err:
                if err.code and err.code >= 500:
                    raise api_call_error(err) from None
                sys.stderr.write(f"error: {m.where}: {object_name(m.kind, obj)}: {err.message}\n")
                failed += 1
                continue
            sys.stdout.write(f"{object_name(m.kind, obj)} {outcome(before, after)}\n")
    return 1 if failed else 0
