"""Moving bytes to one host: run a command, put and get files. Knows nothing of tasks.

Implementations: :mod:`.ssh` (paramiko, one persistent connection per host), :mod:`.local`
(the workstation itself) and :mod:`.fake` (scripted results for unit tests, shipped in the package
so users can test their own playbooks). All satisfy :class:`.base.Transport`.
"""

from __future__ import annotations

from kboot.transport.base import RunResult, Transport

__all__ = ["RunResult", "Transport"]
