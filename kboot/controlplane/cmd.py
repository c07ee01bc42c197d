"""Console entry points of the control-plane components (``kboot-apiserver`` …).

Each component owns ``kboot.controlplane.<component>.main:main(argv) -> int``; this module only
dispatches, importing lazily so one component's dependencies never load in another's process.
"""

from __future__ import annotations

import importlib
import sys


def _run(component: str) -> None:
    module = importlib.import_module(f"kboot.controlplane.{component}.main")
    sys.exit(module.main(sys.argv[1:]))


def apiserver() -> None:
    _run("apiserver")


def scheduler() -> None:
    _run("scheduler")


def controller_manager() -> None:
    _run("controllers")


def kubelet() -> None:
    _run("kubelet")


def proxy() -> None:
    _run("proxy")


def ingress() -> None:
    _run("ingress")


def dns() -> None:
    _run("dns")


def hollow_nodes() -> None:
    _run("hollow")
