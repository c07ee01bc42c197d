"""The apiserver's YAML decode worker: a plain child process, one body at a time over a pipe.

Started by :mod:`.offload` (``python -c`` calling :func:`main`, the apiserver's pid as
argument). Each request on stdin is a frame (8-byte big-endian length, then the raw body); each
answer on stdout is a frame holding the pickled :class:`~.yamlbody.Outcome`. The worker ends on
end-of-file of stdin — the apiserver closes it when it shuts down, then waits for the worker —
and it ignores SIGTERM and SIGINT, so that a signal sent to the whole unit or terminal
(systemd's ``KillMode=control-group``, Ctrl-C) does not end it while the apiserver still
finishes in-flight requests. ``PR_SET_PDEATHSIG`` ends it with an apiserver killed outright.

Not :mod:`multiprocessing`: its ``spawn`` start method also starts a resource tracker process
that outlives the apiserver (it leaves only on end-of-file of a pipe every process holds until it
exits), and on machines where systemd gets no cgroup-empty notification (systemd-nspawn) any
process left in the unit when the main process exits kept every restart waiting for
``TimeoutStopSec`` (docs/architecture.md, "Process model and stopping").
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import struct
import sys
from typing import IO

HEADER = struct.Struct(">Q")
_PR_SET_PDEATHSIG = 1


def read_frame(stream: IO[bytes]) -> bytes | None:
    """One frame's payload; None at end-of-file (also a frame cut short by it)."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    payload = stream.read(size)
    return payload if len(payload) == size else None


def write_frame(stream: IO[bytes], payload: bytes) -> None:
    stream.write(HEADER.pack(len(payload)) + payload)
    stream.flush()


def _die_with_parent(parent: int) -> None:
    """End with the apiserver, even a SIGKILLed one (Linux ``prctl(PR_SET_PDEATHSIG)``;
    elsewhere the worker ends on end-of-file of its stdin, which a dead parent also gives)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid())
    from kboot.controlplane.apiserver.yamlbody import load_as_json  # after the signals are set

    stdin = sys.stdin.buffer
    stdout = os.fdopen(os.dup(1), "wb")  # the answers' pipe; anything printed goes to stderr
    os.dup2(2, 1)
    while (raw := read_frame(stdin)) is not None:
        write_frame(stdout, pickle.dumps(load_as_json(raw), protocol=pickle.HIGHEST_PROTOCOL))


if __name__ == "__main__":
    main()
