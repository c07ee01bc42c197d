"""The control plane has one exception root: every exception class defined under
``kboot.controlplane`` derives from ControlPlaneError (kboot/controlplane/errors.py)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import kboot.controlplane
from kboot.controlplane.errors import ControlPlaneError

_OPTIONAL = ("aetcd", "grpc", "uvloop")  # modules of components whose extras may be absent


def _exception_classes() -> list[type[BaseException]]:
    found = []
    for info in pkgutil.walk_packages(kboot.controlplane.__path__, "kboot.controlplane."):
        if "_pb2" in info.name or info.name.endswith("__main__"):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError as exc:
            if exc.name and exc.name.split(".")[0] in _OPTIONAL:
                continue
            raise
        found += [obj for _, obj in inspect.getmembers(module, inspect.isclass)
                  if issubclass(obj, BaseException) and obj.__module__ == info.name]
    return found


def test_every_control_plane_exception_has_the_one_root() -> None:
    classes = _exception_classes()
    assert len(classes) > 20
    strays = [f"{c.__module__}.{c.__qualname__}" for c in classes
              if not issubclass(c, ControlPlaneError)]
    assert strays == []


def test_no_control_plane_error_shadows_the_bootstrapper_names() -> None:
    import kboot.errors

    bootstrapper = {name for name, obj in vars(kboot.errors).items() if inspect.isclass(obj)}
    names = {c.__name__ for c in _exception_classes()} - {"ApiError"}
    assert names & bootstrapper == set()
