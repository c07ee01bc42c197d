"""Process lifecycle: the server stops cleanly on SIGTERM, even with open watches, and keeps
its data across a restart (SQLite)."""

from __future__ import annotations

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
