"""Named retry policies of the transport (tenacity). Only *connecting* is ever retried: a command
may have had effects, so commands are never re-run by the transport."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import TypeVar

import paramiko
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


def is_transient_connect_error(exc: BaseException) -> bool:
    """Network-level failures worth another attempt; auth and host-key refusals are not."""
    if isinstance(exc, paramiko.AuthenticationException | paramiko.BadHostKeyException):
        return False
    return isinstance(exc, OSError | socket.timeout | EOFError | paramiko.SSHException)


def ssh_connect_policy(retries: int) -> Retrying:
    """``connect``: ``retries`` further attempts after the first, 0.5 s doubling up to 4 s."""
    return Retrying(
        stop=stop_after_attempt(max(0, retries) + 1),
        wait=wait_exponential(multiplier=0.5, max=4),
        retry=retry_if_exception(is_transient_connect_error),
        before_sleep=before_sleep_log(log, logging.INFO),
        reraise=True,
    )


def with_connect_retries(retries: int, fn: Callable[[], T]) -> T:
    return ssh_connect_policy(retries)(fn)


def _channel_refused(exc: BaseException) -> bool:
    # paramiko keeps one "saved exception" per connection, so a thread whose open was refused
    # while another's was too may see the generic message instead of ChannelException.
    return isinstance(exc, paramiko.ChannelException) or (
        isinstance(exc, paramiko.SSHException) and "Unable to open channel" in str(exc))


def channel_open_policy() -> Retrying:
    """Opening a session channel: the server may refuse briefly while it still counts channels
    we just closed (OpenSSH ``MaxSessions``). Nothing has run yet, so retrying is safe."""
    return Retrying(
        stop=stop_after_attempt(30),
        wait=wait_exponential(multiplier=0.005, max=0.2),
        retry=retry_if_exception(_channel_refused),
        reraise=True,
    )
