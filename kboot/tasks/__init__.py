"""The idempotent task library. A task declares its facts and returns the commands it would
run (a :class:`~kboot.tasks.base.Plan`); it never executes anything. One module per domain;
:mod:`kboot.tasks.registry` maps Ansible module names to tasks."""

from __future__ import annotations
