"""Waiting for real processes in integration tests: poll a condition under a generous deadline.

Tests never sleep and then assert: a fixed sleep is either too short on a loaded machine
(flaky) or too long everywhere (slow). They wait for the condition itself with
:func:`wait_until`, whose deadline only bounds a hang, or check that something *stays* true
over a window with :func:`stays` (for "the standby must not act" kinds of claims, where every
poll is an assertion). This is the one place integration tests pause between polls.
(Unit tests need neither: they run on a ``FakeClock`` or wait for the event loop to be idle.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(what: str, probe: Callable[[], T | None], *, timeout: float = 60.0,
               interval: float = 0.1, diagnose: Callable[[], str] | None = None) -> T:
    """Call ``probe`` until it returns something truthy, and return that.

    Fails after ``timeout`` seconds (a bound on a hang, not a claim about speed) with the last
    value and ``diagnose()``'s text (e.g. a component's log tail).
    """
    deadline = time.monotonic() + timeout
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            detail = f"\n{diagnose()}" if diagnose else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} "
                                 f"(last: {last!r}){detail}")
        time.sleep(interval)


def stays(what: str, probe: Callable[[], object], *, seconds: float,
          interval: float = 0.1) -> None:
    """Assert that ``probe()`` is truthy at every poll for ``seconds`` (a window to watch,
    failing at the first poll that breaks the claim)."""
    end = time.monotonic() + seconds
    while True:
        value = probe()
        assert value, f"{what} no longer holds (got {value!r})"
        if time.monotonic() > end:
            return
        time.sleep(interval)
