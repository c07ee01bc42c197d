"""What a host looks like now. Each fact is a shell command plus a pure parser of its output.

Facts never run anything themselves (they never import the transport): the runner gathers all the
facts a run of tasks needs in one round trip with :func:`kboot.facts.batch.gather_script` and
parses the sections back with :func:`kboot.facts.batch.parse_gathered`. So a parser is tested as
data: command output in, value out.
"""

from __future__ import annotations

from kboot.facts.base import Fact, FactError, quote

__all__ = ["Fact", "FactError", "quote"]
