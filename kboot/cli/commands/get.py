"""``kboot get``: list or show cluster objects without kubectl (server-side Tables, like kubectl).

Also home of the helpers the other API commands share (``apply``, ``delete``, ``logs``,
``exec``): the ``--kubeconfig`` option and finding the cluster's admin kubeconfig.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import aiohttp
import yaml

from kboot.cli.commands.kubeconfig import admin_kubeconfig
from kboot.cli.completion import complete, kinds
from kboot.cluster.manifests import jsonpath, resolve_kind
from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.errors import ApiError, NotFound
from kboot.controlplane.client.rest import Client
from kboot.controlplane.client.streams import table
from kboot.controlplane.client.sync import SyncClient
from kboot.errors import ClusterError, UserError

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXAMPLES = """examples:
  kboot get inventories/prod.yaml nodes -o wide
  kboot get inventories/prod.yaml pods -n hello -o wide
  kboot get inventories/prod.yaml pods -A -l app=hello
  kboot get inventories/prod.yaml deploy hello -n hello -o yaml
  kboot get inventories/prod.yaml pods -n hello -o jsonpath='{.items[*].metadata.name}'
  kboot get inventories/prod.yaml svc -n hello -o name
"""
OUTPUTS = "wide|yaml|json|name|jsonpath=EXPR"


def add_kubeconfig_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", type=Path, metavar="PATH",
                   help="use this kubeconfig instead of the cluster's admin kubeconfig")


def kubeconfig_for(args: argparse.Namespace) -> Path:
    if args.kubeconfig is not None:
        if not args.kubeconfig.exists():
            raise UserError(f"--kubeconfig {args.kubeconfig}: no such file")
        return Path(args.kubeconfig)
    return admin_kubeconfig(args.inventory)[1]


def api_call_error(err: ApiError) -> ClusterError:
    return ClusterError(f"the API answered {err}")


@contextlib.contextmanager
def api_errors(kubeconfig: Path) -> Iterator[None]:
    """Turn a server failure or an unreachable apiserver into one clear error (exit 1); the
    server's 4xx answers pass through for the command to word."""
    try:
        yield
    except ApiError as err:
        if err.code and 400 <= err.code < 500:
            raise
        raise api_call_error(err) from None
    except (aiohttp.ClientError, OSError, TimeoutError) as err:
        raise ClusterError(f"cannot reach the API server of {kubeconfig}: "
                           f"{err or type(err).__name__}") from None


def register(subparsers: SubParsers) -> None:
    p = subparsers.add_parser("get", help="list or show objects (no kubectl needed)",
                              description=__doc__, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inventory", metavar="INVENTORY")
    complete(p.add_argument("kind", metavar="KIND",
                            help="pods, po, deployments, deploy.apps, nodes, …"), kinds)
    p.add_argument("names", metavar="NAME", nargs="*", help="only these objects")
    p.add_argument("-n", "--namespace", metavar="NS", help="namespace (default: default)")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    p.add_argument("-l", "--selector", metavar="SELECTOR", help="label selector, e.g. app=web")
    p.add_argument("-o", "--output", metavar="FORMAT", help=OUTPUTS)
    add_kubeconfig_arg(p)
    p.set_defaults(func=run)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """kubectl's plain layout: upper-case headers, columns left-aligned, 3 spaces apart."""
    cols = [h.upper() for h in headers]
    widths = [len(h) for h in cols]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=False)]
    lines = []
    for row in [cols, *rows]:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def table_lines(tbl: dict[str, Any], *, wide: bool, namespace_column: bool) -> str:
    """A server-side Table as text; ``wide`` adds the priority > 0 columns."""
    defs = tbl.get("columnDefinitions") or []
    keep = [i for i, d in enumerate(defs) if wide or not d.get("priority")]
    headers = [defs[i].get("name", "") for i in keep]
    rows = []
    for row in tbl.get("rows") or []:
        cells = row.get("cells") or []
        out = [_cell(cells[i]) if i < len(cells) else "" for i in keep]
        if namespace_column:
            meta = (row.get("object") or {}).get("metadata") or {}
            out.insert(0, str(meta.get("namespace", "")))
        rows.append(out)
    if namespace_column:
        headers.insert(0, "Namespace")
    return format_table(headers, rows)


def as_table(answer: dict[str, Any]) -> dict[str, Any]:
    """A Table as is; a plain object or list (a server without Tables for it) as a NAME table."""
    if answer.get("kind") == "Table" or "columnDefinitions" in answer:
        return answer
    items = answer.get("items") if "items" in answer else [answer]
    return {"columnDefinitions": [{"name": "Name", "priority": 0}],
            "rows": [{"cells": [(i.get("metadata") or {}).get("name", "")], "object": i}
                     for i in items or []]}


def object_name(kind: ResourceKind, obj: dict[str, Any]) -> str:
    prefix = kind.kind.lower() + (f".{kind.group}" if kind.group else "")
    return f"{prefix}/{obj.get('metadata', {}).get('name', '')}"


def _objects(api: SyncClient, kind: ResourceKind, args: argparse.Namespace,
             namespace: str | None) -> list[dict[str, Any]]:
    if args.names:
        return [api.get(kind, n, namespace=namespace) for n in args.names]
    return api.list(kind, namespace=namespace, label_selector=args.selector)


def render_objects(kind: ResourceKind, objs: list[dict[str, Any]], output: str,
                   *, single: bool) -> str:
    """``-o yaml|json|name|jsonpath=`` of what the API returned (one object or a List)."""
    for obj in objs:
        obj.setdefault("apiVersion", kind.api_version)
        obj.setdefault("kind", kind.kind)
    data: dict[str, Any] = objs[0] if single and len(objs) == 1 else {
        "apiVersion": "v1", "kind": "List", "items": objs, "metadata": {"resourceVersion": ""}}
    if output == "name":
        return "".join(object_name(kind, o) + "\n" for o in objs)
    if output == "json":
        return json.dumps(data, indent=4) + "\n"
    if output == "yaml":
        return str(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    if output.startswith("jsonpath="):
        return jsonpath(output[len("jsonpath="):].strip("'"), data)
    raise UserError(f"-o {output}: unknown output format (one of {OUTPUTS})")


def _print_tables(api: SyncClient, kind: ResourceKind, args: argparse.Namespace,
                  namespace: str | None) -> int:
    wide = args.output == "wide"
    many_ns = kind.namespaced and namespace is None
    names = args.names or [None]

    def one(name: str | None) -> dict[str, Any]:
        async def fetch(c: ApiClient) -> dict[str, Any]:
            return await table(cast(Client, c), kind, namespace=namespace, name=name,
                               label_selector=args.selector)
        return api.run(fetch)

    tables = [as_table(one(name)) for name in names]
    merged = {**tables[0], "rows": [r for t in tables for r in t.get("rows") or []]}
    if not merged["rows"]:
        where = f" in {namespace} namespace" if namespace else ""
        sys.stderr.write(f"No resources found{where}.\n")
        return 0
    sys.stdout.write(table_lines(merged, wide=wide, namespace_column=many_ns))
    return 0


def run(args: argparse.Namespace) -> int:
    kind = resolve_kind(args.kind)
    output = args.output or ""
    if output not in ("", "wide", "yaml", "json", "name") and not output.startswith("jsonpath="):
        raise UserError(f"-o {output}: unknown output format (one of {OUTPUTS})")
    namespace = None
    if kind.namespaced and not args.all_namespaces:
        namespace = args.namespace or "default"
    kubeconfig = kubeconfig_for(args)
    with api_errors(kubeconfig), SyncClient.from_kubeconfig(kubeconfig) as api:
        try:
            if output in ("", "wide"):
                return _print_tables(api, kind, args, namespace)
            objs = _objects(api, kind, args, namespace)
        except NotFound as err:
            sys.stderr.write(f"Error from server (NotFound): {err.message}\n")
            return 1
        except ApiError as err:
            raise api_call_error(err) from None
    sys.stdout.write(render_objects(kind, objs, output, single=len(args.names) == 1))
    return 0
