"""The shared jump-host pool: one connection per route prefix, closed with its last user."""

from __future__ import annotations

from typing import Any

from kboot.transport.jumppool import JumpPool


class FakeTransport:
    def __init__(self) -> None:
        self.active = True

    def is_active(self) -> bool:
        return self.active


class FakeClient:
    def __init__(self) -> None:
        self.transport = FakeTransport()
        self.closed = 0

    def get_transport(self) -> FakeTransport:
        return self.transport

    def close(self) -> None:
        self.closed += 1
        self.transport.active = False


def test_shared_refcounted_and_replaced_when_dead() -> None:
    pool = JumpPool()
    made: list[FakeClient] = []

    def connect() -> Any:
        made.append(FakeClient())
        return made[-1]

    a = pool.acquire("bastion", connect)
    b = pool.acquire("bastion", connect)
    other = pool.acquire("other", connect)
    assert a is b and a is not other and len(made) == 2 and len(pool) == 2
    pool.release("bastion")
    assert made[0].closed == 0
    made[0].transport.active = False  # the bastion connection died
    c = pool.acquire("bastion", connect)
    assert c is made[2] and made[0].closed == 1
    pool.release("bastion")
    pool.release("bastion")
    assert made[2].closed == 1 and len(pool) == 1
    pool.release("other")
    assert len(pool) == 0 and made[1].closed == 1
