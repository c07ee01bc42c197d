"""Server-side Table rendering (``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``).

:func:`to_table` turns objects of one kind into a ``meta.k8s.io/v1 Table`` with upstream's
printer columns (from :mod:`.printers_core` and :mod:`.printers_apps`; kinds without a printer
get Name and Created At).  Columns with ``priority`` 1 show only with ``kubectl -o wide``.  Ages
are rendered here, as kube-apiserver does.  For watch events render a one-object table per event
(``include_columns=False`` after the first: kubectl 1.32 only reads the first definitions).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from kboot.controlplane.api import events
from kboot.controlplane.api.certificates import CSR_PRINTER
from kboot.controlplane.api.networkpolicy import NETWORK_POLICY_PRINTER
from kboot.controlplane.api.printers_apps import APPS_PRINTERS
from kboot.controlplane.api.printers_autoscaling import AUTOSCALING_PRINTERS
from kboot.controlplane.api.printers_base import (
    NAME,
    Column,
    Printer,
    column,
    human_duration,
    meta,
)
from kboot.controlplane.api.printers_batch import BATCH_PRINTERS
from kboot.controlplane.api.printers_core import CORE_PRINTERS
from kboot.controlplane.api.printers_storage import STORAGE_PRINTERS
from kboot.controlplane.api.quotas import PRINTER as QUOTA_PRINTER
from kboot.controlplane.api.schemas import KindRef, resolve_kind
from kboot.controlplane.api.webhookconfigs import WEBHOOK_CONFIGURATION_PRINTER

__all__ = ["human_duration", "printer_columns", "to_table"]

log = logging.getLogger(__name__)

PRINTERS: dict[str, Printer] = {**CORE_PRINTERS, **APPS_PRINTERS, **AUTOSCALING_PRINTERS,
                                **BATCH_PRINTERS,
                                "CertificateSigningRequest": CSR_PRINTER,
                                "NetworkPolicy": NETWORK_POLICY_PRINTER,
                                "ResourceQuota": QUOTA_PRINTER,
                                "ValidatingWebhookConfiguration": WEBHOOK_CONFIGURATION_PRINTER,
                                "MutatingWebhookConfiguration": WEBHOOK_CONFIGURATION_PRINTER,
                                **STORAGE_PRINTERS}

_DEFAULT = Printer(
    (NAME, column("Created At", "date", "CreationTimestamp is a timestamp representing the "
                                        "server time when this object was created.")),
    lambda obj, now: [meta(obj).get("creationTimestamp") or "<unknown>"],
)


def printer_for(kind: KindRef) -> Printer:
    return PRINTERS.get(resolve_kind(kind).kind, _DEFAULT)


def printer_columns(kind: KindRef) -> list[Column]:
    """Column definitions for ``kind`` (the ``columnDefinitions`` of its tables)."""
    return [dict(c) for c in printer_for(kind).columns]


def _cells(printer: Printer, obj: Mapping[str, Any], now: datetime) -> list[Any]:
    """A row's cells; a malformed object (wrong types where printers read) renders as
    ``<unknown>`` cells rather than failing the whole list."""
    try:
        return printer.cells(obj, now)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError):
        log.debug("cannot print %s", meta(obj).get("name"), exc_info=True)
        width = len(printer.columns) - (1 if printer.name_first else 0)
        return ["<unknown>"] * width


def _row_object(obj: Mapping[str, Any], include_object: str) -> Any:
    if include_object == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": meta(obj)}


def to_table(
    kind: KindRef,
    objects: Iterable[Mapping[str, Any]],
    *,
    include_object: str = "Metadata",
    now: datetime | None = None,
    resource_version: str = "",
    continue_token: str = "",
    include_columns: bool = True,
) -> dict[str, Any]:
    """A ``Table`` of ``objects``; ``include_object`` is the ``includeObject`` query value
    (``None``, ``Metadata`` (default) or ``Object``); ``now`` defaults to the current UTC time."""
    printer = printer_for(kind)
    moment = now or datetime.now(UTC)
    rows = []
    # events.k8s.io Events print as the core Events they are stored as (upstream's one printer)
    shown = events.to_core if resolve_kind(kind).group == "events.k8s.io" else dict
    for obj in objects:
        cells = _cells(printer, shown(dict(obj)), moment)
        if printer.name_first:
            cells = [meta(obj).get("name", ""), *cells]
        row: dict[str, Any] = {"cells": cells}
        if include_object != "None":
            row["object"] = _row_object(obj, include_object)
        rows.append(row)
    metadata: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": printer_columns(kind) if include_columns else [],
        "rows": rows,
    }
