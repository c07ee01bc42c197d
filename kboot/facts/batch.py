"""Gathering many facts in one round trip: one script printing delimited sections, parsed back.

Each section starts with a marker line carrying a per-script random nonce, so no command output
can forge a section boundary. Every command runs in a subshell with stdin from /dev/null so it can
neither consume the script (fed on stdin) nor abort the others.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from kboot.facts.base import Fact, FactError

_MARK = "@@KBOOT-FACT"


def new_nonce() -> str:
    return secrets.token_hex(8)


def gather_script(facts: Sequence[Fact[Any]], nonce: str) -> str:
    """A POSIX shell script printing every fact's output in its own section."""
    lines = ["LC_ALL=C; export LC_ALL"]
    for index, fact in enumerate(facts):
        lines.append(f"printf '\\n%s\\n' '{_MARK} {nonce} {index}'")
        lines.append(f"( {fact.command}\n) </dev/null 2>/dev/null")
    lines.append(f"printf '\\n%s\\n' '{_MARK} {nonce} end'")
    return "\n".join(lines) + "\n"


def parse_gathered(facts: Sequence[Fact[Any]], stdout: str, nonce: str) -> dict[str, Any]:
    """Split ``stdout`` of :func:`gather_script` into sections and parse each fact's value."""
    sections: dict[int, list[str]] = {}
    current: list[str] | None = None
    complete = False
    prefix = f"{_MARK} {nonce} "
    for line in stdout.split("\n"):
        if line.startswith(prefix):
            tag = line[len(prefix):]
            if tag == "end":
                complete = True
                break
            current = sections.setdefault(int(tag), [])
        elif current is not None:
            current.append(line)
    if not complete:
        raise FactError("fact gathering output is truncated (the script did not finish)")
    values: dict[str, Any] = {}
    for index, fact in enumerate(facts):
        body = sections.get(index, [])
        if body and body[-1] == "":
            body = body[:-1]  # the newline printed before the next marker
        values[fact.key] = fact.value("\n".join(body))
    return values
