"""Probes and lifecycle hooks of a container (upstream's ``validateProbe``,
``validateLifecycle`` and ``validateHandler``), in upstream's paths and words.

A handler names exactly one action: probes choose among ``exec``, ``httpGet``, ``tcpSocket``
and ``grpc``, hooks among ``exec``, ``httpGet``, ``tcpSocket`` and ``sleep``
(``…livenessProbe: Required value: must specify a handler type``, ``…livenessProbe.tcpSocket:
Forbidden: may not specify more than 1 handler type``).  Probe counters are non-negative,
liveness and startup probes succeed after exactly one success (``successThreshold: Invalid
value: 2: must be 1``), a probe's own ``terminationGracePeriodSeconds`` is positive and is not
allowed on readiness probes.  Init containers have neither probes nor hooks, unless they are
sidecars (``restartPolicy: Always``), which are checked like regular containers.

Runs after defaulting, which (as upstream) fills zero probe counters and an empty ``httpGet``
path and scheme, so only values a user chose are judged here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kboot.controlplane.api.field_errors import (
    FieldError,
    check_enum,
    forbidden,
    in_range,
    invalid,
    required,
)
from kboot.controlplane.api.validation_containers import dicts, validate_port_num_or_name

Obj = dict[str, Any]
Action = Callable[[Obj, str, int], list[FieldError]]

PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_PROBE_ACTIONS = ("exec", "httpGet", "tcpSocket", "grpc")
_HOOK_ACTIONS = ("exec", "httpGet", "tcpSocket", "sleep")
_COUNTERS = ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
             "failureThreshold")
_HEADER = re.compile(r"^[-A-Za-z0-9]+$")
_INIT_ONLY = "may not be set for init containers without restartPolicy=Always"


def _exec(action: Obj, path: str, grace: int) -> list[FieldError]:
    return [] if action.get("command") else [required(f"{path}.command")]


def _http_get(action: Obj, path: str, grace: int) -> list[FieldError]:
    errors = [] if action.get("path") else [required(f"{path}.path")]
    errors += validate_port_num_or_name(action.get("port"), f"{path}.port")
    errors += check_enum(f"{path}.scheme", action.get("scheme"), ("HTTP", "HTTPS"))
    return errors + [invalid(f"{path}.httpHeaders", h.get("name"),
                             "a valid HTTP header must consist of alphanumeric characters or "
                             "'-' (e.g. 'X-Header-Name', regex used for validation is "
                             "'[-A-Za-z0-9]+')")
                     for h in dicts(action.get("httpHeaders"))
                     if not _HEADER.match(str(h.get("name", "")))]


def _tcp_socket(action: Obj, path: str, grace: int) -> list[FieldError]:
    return validate_port_num_or_name(action.get("port"), f"{path}.port")


def _grpc(action: Obj, path: str, grace: int) -> list[FieldError]:
    return in_range(f"{path}.port", action.get("port"), 1, 65535)


def _sleep(action: Obj, path: str, grace: int) -> list[FieldError]:
    seconds = action.get("seconds")
    if isinstance(seconds, int) and not 0 < seconds <= grace:
        return [invalid(path, seconds, "must be greater than 0 and less than "
                                       f"terminationGracePeriodSeconds ({grace})")]
    return []


_ACTIONS: dict[str, Action] = {"exec": _exec, "httpGet": _http_get, "tcpSocket": _tcp_socket,
                               "grpc": _grpc, "sleep": _sleep}


def validate_handler(handler: Obj, path: str, grace: int, *,
                     actions: tuple[str, ...]) -> list[FieldError]:
    """Exactly one of ``actions``: the first one given is checked, later ones are Forbidden."""
    given = [k for k in actions if isinstance(handler.get(k), dict)]
    if not given:
        return [required(path, "must specify a handler type")]
    errors = _ACTIONS[given[0]](handler[given[0]], f"{path}.{given[0]}", grace)
    return errors + [forbidden(f"{path}.{k}", "may not specify more than 1 handler type")
                     for k in given[1:]]


def _probe(kind: str, probe: Obj, path: str, grace: int) -> list[FieldError]:
    errors = validate_handler(probe, path, grace, actions=_PROBE_ACTIONS)
    for counter in _COUNTERS:
        errors += in_range(f"{path}.{counter}", probe.get(counter), 0)
    own_grace = probe.get("terminationGracePeriodSeconds")
    if isinstance(own_grace, int) and own_grace <= 0:
        errors.append(invalid(f"{path}.terminationGracePeriodSeconds", own_grace,
                              "must be greater than 0"))
    success = probe.get("successThreshold", 1)
    if kind != "readinessProbe" and success != 1:
        errors.append(invalid(f"{path}.successThreshold", success, "must be 1"))
    if kind == "readinessProbe" and own_grace is not None:
        errors.append(invalid(f"{path}.terminationGracePeriodSeconds", own_grace,
                              "must not be set for readinessProbes"))
    return errors


def validate_probes_and_hooks(c: Obj, path: str, grace: int, *,
                              init: bool) -> list[FieldError]:
    """``lifecycle`` and the three probes of container ``c`` at ``path``; ``grace`` is the pod's
    ``terminationGracePeriodSeconds`` (a hook may not sleep longer)."""
    if init and c.get("restartPolicy") != "Always":
        return [forbidden(f"{path}.{f}", _INIT_ONLY) for f in ("lifecycle", *PROBES)
                if isinstance(c.get(f), dict)]
    errors: list[FieldError] = []
    lifecycle = c.get("lifecycle")
    if isinstance(lifecycle, dict):
        errors += [e for hook in ("postStart", "preStop")
                   if isinstance(lifecycle.get(hook), dict)
                   for e in validate_handler(lifecycle[hook], f"{path}.lifecycle.{hook}", grace,
                                             actions=_HOOK_ACTIONS)]
    for kind in PROBES:
        if isinstance(c.get(kind), dict):
            errors += _probe(kind, c[kind], f"{path}.{kind}", grace)
    return errors
