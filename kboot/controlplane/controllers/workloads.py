"""Registers the workload controllers that live in their own modules (StatefulSet,
DaemonSet, Job) with the manager; importing this module is enough."""

from __future__ import annotations
