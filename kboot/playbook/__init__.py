"""Playbooks: loading (Ansible-compatible YAML with file:line errors), planning and running them
over the inventory with batched round trips, typed events and per-host results.

Library entry point: :func:`run_playbook`; the CLI (``kboot run``) and ``kboot.cluster`` use it.
"""

from __future__ import annotations

from kboot.playbook.events import (
    Event,
    EventCallback,
    Failure,
    HostFinished,
    HostResult,
    HostStarted,
    PhaseFinished,
    PhaseStarted,
    PlayFinished,
    PlayStarted,
    Recap,
    RunSummary,
    TaskResult,
    event_to_dict,
)
from kboot.playbook.model import Play, Playbook, TaskSpec
from kboot.playbook.parse import load_playbook
from kboot.playbook.runner import default_transports, run_playbook

__all__ = [
    "Event",
    "EventCallback",
    "Failure",
    "HostFinished",
    "HostResult",
    "HostStarted",
    "PhaseFinished",
    "PhaseStarted",
    "Play",
    "PlayFinished",
    "PlayStarted",
    "Playbook",
    "Recap",
    "RunSummary",
    "TaskResult",
    "TaskSpec",
    "default_transports",
    "event_to_dict",
    "load_playbook",
    "run_playbook",
]
