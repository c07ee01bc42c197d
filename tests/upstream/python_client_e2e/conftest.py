"""Lets the vendored files import themselves as upstream does (``from kubernetes.e2e_test import
base``): the installed client has no ``e2e_test`` package, so this directory's ``kubernetes/``
is added to the installed package's search path. Which cluster they talk to is upstream's
``base.get_e2e_configuration()``: the kubeconfig named by ``KUBECONFIG`` (read when
``kubernetes.config`` is imported, so the runner sets it in the environment of a fresh
process)."""

from __future__ import annotations

from pathlib import Path

import kubernetes

_VENDORED = str(Path(__file__).resolve().parent / "kubernetes")
if _VENDORED not in kubernetes.__path__:
    kubernetes.__path__.append(_VENDORED)
