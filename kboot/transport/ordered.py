"""Sending on a channel without being overtaken by paramiko's automatic CLOSE.

When the server closes a channel (the command ended), paramiko's transport thread answers with
its own CLOSE at once, while ``Channel.sendall``/``shutdown_write`` build their message under the
channel lock but put it on the wire *after* releasing it. A message that lands behind our CLOSE
refers to a channel OpenSSH has already freed, and OpenSSH answers by dropping the whole
connection ("packet referred to nonexistent channel"), failing every command in flight on it.

Here each message is checked and sent while holding the channel lock, which the close handler
also needs, so nothing is sent after the server's EOF and nothing can follow our CLOSE. (paramiko
itself avoids sending under the lock because a key re-exchange could then stall; that stall is
bounded by ``clear_to_send_timeout`` and re-exchanges happen every few hundred MiB.)
"""

from __future__ import annotations

import paramiko
from paramiko.common import cMSG_CHANNEL_DATA, cMSG_CHANNEL_EOF


def _finished(chan: paramiko.Channel) -> bool:
    return bool(chan.closed or chan.eof_received or chan.eof_sent)


def _send_message(chan: paramiko.Channel, m: paramiko.Message) -> None:
    chan.transport._send_user_message(m)  # type: ignore[union-attr]


def send_data(chan: paramiko.Channel, data: bytes) -> bool:
    """Send ``data``; False if the server finished first (the rest is dropped)."""
    sent = 0
    while sent < len(data):
        with chan.lock:
            if _finished(chan):
                return False
            size: int = chan._wait_for_send_window(len(data) - sent)  # type: ignore[attr-defined]
            if size == 0 or _finished(chan):
                return False
            m = paramiko.Message()
            m.add_byte(cMSG_CHANNEL_DATA)
            m.add_int(chan.remote_chanid)
            m.add_string(data[sent:sent + size])
            _send_message(chan, m)
        sent += size
    return True


def send_eof(chan: paramiko.Channel) -> bool:
    """Half-close our side (the command sees end of stdin), unless the server finished."""
    with chan.lock:
        if _finished(chan):
            return False
        m = paramiko.Message()
        m.add_byte(cMSG_CHANNEL_EOF)
        m.add_int(chan.remote_chanid)
        chan.eof_sent = True
        _send_message(chan, m)
    return True
