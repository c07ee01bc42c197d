"""Streaming and presentation requests the JSON verbs of :class:`~.rest.Client` do not cover:
pod logs (``pods/log``, optionally followed), exec over WebSocket ``v5.channel.k8s.io``, and
server-side Tables (``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``).

The v5 channel framing is pure (:func:`encode_frame`, :func:`decode_frame`,
:func:`exit_status`) so it is tested as data; :class:`ExecStream` is the thin WebSocket part.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from kboot.controlplane.client.api import Obj, Ref, resolve
from kboot.controlplane.client.errors import from_status
from kboot.controlplane.client.rest import Client

log = logging.getLogger(__name__)

STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
EXEC_PROTOCOL = "v5.channel.k8s.io"
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io, application/json"


def encode_frame(channel: int, data: bytes = b"") -> bytes:
    """One binary WebSocket message: the channel byte, then the payload."""
    if not 0 <= channel <= 255:
        raise ValueError(f"channel out of range: {channel}")
    return bytes((channel,)) + data


def close_frame(channel: int = STDIN) -> bytes:
    """The v5 CLOSE message saying the client will send nothing more on ``channel``."""
    return encode_frame(CLOSE, bytes((channel,)))


def decode_frame(message: bytes) -> tuple[int, bytes]:
    """``(channel, payload)``; an empty message is channel -1 (keep-alive, ignored)."""
    if not message:
        return -1, b""
    return message[0], bytes(message[1:])


def resize_frame(width: int, height: int) -> bytes:
    return encode_frame(RESIZE, json.dumps({"Width": width, "Height": height}).encode())


@dataclass(frozen=True)
class ExitStatus:
    code: int
    message: str = ""


def exit_status(payload: bytes) -> ExitStatus:
    """The remote command's outcome from the channel-3 Status JSON (as kubectl reads it)."""
    try:
        status = json.loads(payload or b"{}")
    except ValueError:
        return ExitStatus(1, payload.decode(errors="replace"))
    if not isinstance(status, dict) or status.get("status") == "Success":
        return ExitStatus(0)
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return ExitStatus(int(cause.get("message", "1")), "")
                except ValueError:
                    break
    return ExitStatus(1, str(status.get("message") or "remote command failed"))


def _session(client: Client) -> aiohttp.ClientSession:
    # The REST client's pooled session (same TLS identity); this module extends that client.
    session: aiohttp.ClientSession = client._session
    return session


async def _raise_for(resp: aiohttp.ClientResponse) -> None:
    if resp.status >= 400:
        text = await resp.text()
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("kind") != "Status":
            body = {"kind": "Status", "status": "Failure", "message": text[:500],
                    "code": resp.status, "reason": "Unknown"}
        raise from_status(body, code=resp.status)


async def table(client: Client, ref: Ref, *, namespace: str | None = None,
                name: str | None = None, label_selector: str | None = None) -> Obj:
    """The server-side Table for a list (or one object when ``name`` is given)."""
    kind = resolve(ref)
    url = client.config.server + kind.url_path(namespace, name)
    params = {"labelSelector": label_selector} if label_selector else None
    async with _session(client).get(url, params=params,
                                    headers={"Accept": TABLE_ACCEPT}) as resp:
        await _raise_for(resp)
        result: Obj = await resp.json(content_type=None)
        return result


def log_params(*, container: str | None = None, follow: bool = False,
               tail_lines: int | None = None, since_seconds: int | None = None,
               timestamps: bool = False) -> dict[str, str]:
    params: dict[str, str] = {}
    if container:
        params["container"] = container
    if follow:
        params["follow"] = "true"
    if tail_lines is not None:
        params["tailLines"] = str(tail_lines)
    if since_seconds is not None:
        params["sinceSeconds"] = str(since_seconds)
    if timestamps:
        params["timestamps"] = "true"
    return params


async def pod_log(client: Client, name: str, *, namespace: str,
                  params: dict[str, str]) -> AsyncIterator[bytes]:
    """The pod's log as chunks of bytes; with ``follow`` it lasts until the container ends."""
    url = client.config.server + resolve("pods").url_path(namespace, name) + "/log"
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    async with _session(client).get(url, params=params, timeout=timeout,
                                    headers={"Accept": "*/*"}) as resp:
        await _raise_for(resp)
        async for chunk in resp.content.iter_any():
            yield chunk


def exec_query(command: Sequence[str], *, container: str | None, stdin: bool,
               tty: bool) -> list[tuple[str, str]]:
    query = [("command", c) for c in command]
    if container:
        query.append(("container", container))
    query += [("stdin", "true" if stdin else "false"), ("stdout", "true"),
              ("stderr", "false" if tty else "true"), ("tty", "true" if tty else "false")]
    return query


async def _explain_refusal(client: Client, name: str, *, namespace: str,
                           container: str | None, code: int) -> None:
    """Raise the reason an exec upgrade was refused (the handshake error carries no body)."""
    pod = await client.get("pods", name, namespace=namespace)  # NotFound says it best
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    if container and container not in names:
        message = f"container {container} is not valid for pod {name}"
    elif not container and len(names) > 1:
        message = (f"a container name must be specified for pod {name}, "
                   f"choose one of: [{' '.join(map(str, names))}]")
    else:
        message = f"exec into pod {name} refused (HTTP {code})"
    raise from_status({"kind": "Status", "status": "Failure", "code": code or 400,
                       "message": message,
                       "reason": "InternalError" if code >= 500 else "BadRequest"},
                      code=code or 400)


class ExecStream:
    """One exec session: send stdin/resize/close, iterate ``(channel, payload)`` received.

    ``async with ExecStream.open(...) as s`` performs the WebSocket upgrade.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws

    @classmethod
    async def open(cls, client: Client, name: str, command: Sequence[str], *, namespace: str,
                   container: str | None = None, stdin: bool = False,
                   tty: bool = False) -> ExecStream:
        url = client.config.server + resolve("pods").url_path(namespace, name) + "/exec"
        query = exec_query(command, container=container, stdin=stdin, tty=tty)
        try:
            ws = await _session(client).ws_connect(
                url, params=query, protocols=(EXEC_PROTOCOL,), max_msg_size=0,
                timeout=aiohttp.ClientWSTimeout(ws_close=10.0), autoping=True)
        except aiohttp.WSServerHandshakeError as err:
            await _explain_refusal(client, name, namespace=namespace, container=container,
                                   code=err.status)
            raise AssertionError("unreachable") from None  # pragma: no cover
        if ws.protocol != EXEC_PROTOCOL:
            log.debug("exec negotiated %r", ws.protocol)
        return cls(ws)

    async def send_stdin(self, data: bytes) -> None:
        await self._ws.send_bytes(encode_frame(STDIN, data))

    async def close_stdin(self) -> None:
        await self._ws.send_bytes(close_frame(STDIN))

    async def resize(self, width: int, height: int) -> None:
        await self._ws.send_bytes(resize_frame(width, height))

    async def frames(self) -> AsyncIterator[tuple[int, bytes]]:
        async for msg in self._ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                channel, payload = decode_frame(msg.data)
                if channel >= 0:
                    yield channel, payload
            elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                return

    async def close(self) -> None:
        await self._ws.close()

    async def __aenter__(self) -> ExecStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
