"""Process lifecycle: the server stops cleanly on SIGTERM, even with open watches, and keeps
its data across a restart (SQLite)."""

from __future__ import annotations

import http.client
import signal
import ssl
import threading
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.apiserver import start_apiserver
from tests.integration.apiserver.http import call

pytestmark = pytest.mark.integration


def test_sigterm_with_open_watch_exits_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with start_apiserver(f"sqlite:///{db}") as server:
        assert call(server, "POST", "/api/v1/namespaces/default/configmaps",
                    {"metadata": {"name": "kept"}}).status == 201
        ctx: ssl.SSLContext = server.ssl_context()
        # one object on the watch (the server publishes ConfigMaps of its own in kube-system)
        req = urllib.request.Request(server.url + "/api/v1/configmaps?watch=true"
                                     "&fieldSelector=metadata.name%3Dkept")
        stream = urllib.request.urlopen(req, context=ctx, timeout=30)
        first = stream.readline()
        assert b'"ADDED"' in first
        outcome: list[object] = []

        def drain() -> None:
            try:
                outcome.append(stream.read())
            except Exception as err:  # an unterminated chunked stream
                outcome.append(err)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        server.process.send_signal(signal.SIGTERM)
        # open watches end at once (a watch left to its timeout would hold this for minutes)
        assert server.process.wait(timeout=60) == 0
        assert "shutting down" in server.log()
        reader.join(5)
        assert outcome == [b""], outcome  # the stream ended with its final chunk
    with start_apiserver(f"sqlite:///{db}") as again:
        kept = call(again, "GET", "/api/v1/namespaces/default/configmaps/kept")
        assert kept.status == 200 and kept.body["metadata"]["name"] == "kept"


def test_a_rewatch_during_shutdown_ends_at_once_and_closes_the_connection() -> None:
    """A client whose watch was ended by the shutdown re-watches on its kept-alive connection
    (the kboot informers do): that watch ends as soon as it is served, with ``Connection: close``
    (the listener is already closed, so the client goes to another apiserver). Before, it
    streamed until the server's drain gave up and cut it, holding every stop for 4 s."""
    with start_apiserver("memory://") as server:
        conn = http.client.HTTPSConnection("127.0.0.1", server.port,
                                           context=server.ssl_context(), timeout=30)
        path = "/api/v1/namespaces?watch=true&allowWatchBookmarks=true&timeoutSeconds=300"
        conn.request("GET", path)
        first = conn.getresponse()
        assert first.status == 200
        assert b'"ADDED"' in first.readline()
        server.process.send_signal(signal.SIGTERM)
        first.read()  # ended by the shutdown, with its final chunk
        conn.request("GET", path)  # the same connection, as an informer would
        again = conn.getresponse()
        body = again.read()  # complete: not cut off when the drain gives up
        assert again.status == 200 and again.getheader("Connection") == "close"
        assert body.count(b'"ADDED"') >= 4  # default, kube-system, kube-public, kube-node-lease
        assert server.process.wait(timeout=60) == 0
