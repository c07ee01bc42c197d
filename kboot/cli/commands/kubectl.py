"""``kboot kubectl``: the real kubectl, always on the cluster's admin kubeconfig (as ``k0s
kubectl`` and ``minikube kubectl`` are), so a user never points kubectl at the wrong cluster.

The cluster is named by its inventory (the first word, as every cluster command takes it) or,
without an inventory at hand, by ``--cluster NAME`` (its state in ``$KBOOT_HOME/clusters/NAME``).
Everything after it is kubectl's. kubectl replaces this process (exit code, signals and
terminals are kubectl's own); the kubeconfig is passed as ``KUBECONFIG``, so an explicit
``--kubeconfig``/``--context`` among kubectl's arguments still wins.
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from kboot.cli.commands.kubeconfig import admin_kubeconfig
from kboot.cluster.topology import state_dir
from kboot.errors import UserError

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXAMPLES = """examples:
  kboot kubectl inventories/prod.yaml get nodes -o wide
  kboot kubectl inventories/prod.yaml -n hello logs deploy/hello -f
  kboot kubectl --cluster prod get pods -A              # by cluster name, no inventory
  kboot kubectl --cluster prod -- -n kube-system get pods   # --cluster: -- before options
"""

KUBECONFIG = Path("kubeconfigs") / "admin.kubeconfig"  # inside a cluster's state directory


def register(subparsers: SubParsers) -> None:
    p = subparsers.add_parser("kubectl", help="kubectl with the cluster's admin kubeconfig",
                              description=__doc__, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cluster", metavar="NAME",
                   help="the cluster by name (its state directory) instead of an INVENTORY")
    p.add_argument("words", nargs=argparse.REMAINDER, metavar="INVENTORY ARGS",
                   help="the cluster's inventory (unless --cluster), then kubectl's arguments")
    p.set_defaults(func=run)


def cluster_kubeconfig(name: str) -> Path:
    """The admin kubeconfig of a cluster known to this workstation, by name."""
    path = state_dir(name) / KUBECONFIG
    if path.is_file():
        return path
    clusters = state_dir(name).parent
    known = sorted(d.name for d in clusters.iterdir() if (d / KUBECONFIG).is_file()) \
        if clusters.is_dir() else []
    there = f"clusters with one: {', '.join(known)}" if known else f"none in {clusters}"
    raise UserError(f"--cluster {name}: no admin kubeconfig at {path} ({there}); "
                    "`kboot up INVENTORY` writes it")


def _drop_dashes(words: list[str]) -> list[str]:
    return words[1:] if words[:1] == ["--"] else words


def kubectl_call(args: argparse.Namespace) -> tuple[Path, list[str]]:
    """The admin kubeconfig and kubectl's arguments from ``[INVENTORY] ARGS…``."""
    words = _drop_dashes(list(args.words))
    if args.cluster:
        return cluster_kubeconfig(args.cluster), words
    if not words:
        raise UserError("expected INVENTORY (or --cluster NAME), then kubectl's arguments, "
                        "e.g. kboot kubectl inventories/prod.yaml get nodes")
    return admin_kubeconfig(words[0])[1], _drop_dashes(words[1:])


def kubectl_exec(kubeconfig: Path, words: list[str],
                 environ: Mapping[str, str]) -> tuple[str, list[str], dict[str, str]]:
    """What to exec: kubectl's path, its argv and environment (``KUBECONFIG`` set)."""
    kubectl = shutil.which("kubectl", path=environ.get("PATH"))
    if kubectl is None:
        raise UserError("kubectl is not on PATH (scripts/kube-tools.sh installs the pinned "
                        "1.32 one); `kboot get/apply/logs/exec` work without it")
    return kubectl, ["kubectl", *words], {**environ, "KUBECONFIG": str(kubeconfig)}


def run(args: argparse.Namespace) -> int:
    path, argv, env = kubectl_exec(*kubectl_call(args), os.environ)
    os.execve(path, argv, env)
    return 1  # not reached
