"""Gathering many facts in one round trip: one script printing delimited sections, parsed back.

Each section starts with a marker line carrying a per-script random nonce, so no command output
can forge a section boundary. Every command runs as a command group with stdin from /dev/null so it
cannot consume the script (fed on stdin); fact commands never ``exit``, so no subshell (and no
fork) is needed to isolate them. File stats are gathered in bulk
(:mod:`kboot.facts.bulk`): one ``stat`` and one ``sha256sum`` for all paths, not a few
processes per path.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

from kboot.facts.base import ABSENT, Fact, FactError, quote
from kboot.facts.bulk import bulk_facts, bulk_outputs, bulk_script, stdin_sum

_MARK = "@@KBOOT-FACT"


def new_nonce() -> str:
    return secrets.token_hex(8)


def gather_script(facts: Sequence[Fact[Any]], nonce: str) -> str:
    """A POSIX shell script printing every fact's output in its own section."""
    lines = ["LC_ALL=C; export LC_ALL"]
    bulk = bulk_facts(facts)
    in_bulk = {f.key for f in bulk}
    for index, fact in enumerate(facts):
        if fact.key in in_bulk:
            continue
        lines.append(f"printf '\\n%s\\n' '{_MARK} {nonce} {index}'")
        lines.append(f"{{ {fact.command}\n}} </dev/null 2>/dev/null")
    if bulk:
        lines.extend(bulk_script(bulk, f"{_MARK} {nonce}"))
    lines.append(f"printf '\\n%s\\n' '{_MARK} {nonce} end'")
    return "\n".join(lines) + "\n"


def gathered_outputs(facts: Sequence[Fact[Any]], stdout: str, nonce: str) -> dict[str, str]:
    """Split ``stdout`` of :func:`gather_script` into each fact's raw output."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    complete = False
    prefix = f"{_MARK} {nonce} "
    for line in stdout.split("\n"):
        if line.startswith(prefix):
            tag = line[len(prefix):]
            if tag == "end":
                complete = True
                break
            current = sections.setdefault(tag, [])
        elif current is not None:
            current.append(line)
    if not complete:
        raise FactError("fact gathering output is truncated (the script did not finish)")
    bulk = bulk_facts(facts)
    outputs = bulk_outputs(bulk, sections) if bulk else {}
    for index, fact in enumerate(facts):
        if fact.key in outputs:
            continue
        body = sections.get(str(index), [])
        if body and body[-1] == "":
            body = body[:-1]  # the newline printed before the next marker
        outputs[fact.key] = "\n".join(body)
    return outputs


def parse_gathered(facts: Sequence[Fact[Any]], stdout: str, nonce: str) -> dict[str, Any]:
    """Split ``stdout`` of :func:`gather_script` into sections and parse each fact's value."""
    outputs = gathered_outputs(facts, stdout, nonce)
    return {fact.key: fact.value(outputs[fact.key]) for fact in facts}


def digest(output: str) -> str:
    """What a guard compares: sha256 of the output without trailing newlines."""
    return hashlib.sha256(output.rstrip("\n").encode()).hexdigest()


def guard_condition(facts: Sequence[tuple[Fact[Any], str]]) -> str:
    """A shell condition that holds when every fact still reads as it did.

    Used when tasks were planned with facts that an earlier *opaque* command of the same batch
    may have changed: the batch re-checks them on the host instead of paying a round trip, and
    stops for a re-plan only if one really changed. ``expected`` is the fact's earlier output:
    compared literally when short, by digest (see :func:`expectation`) when long. Absence is
    checked with the fact's ``absent_test`` (builtins: no subshell) when it has one."""
    checks = []
    for fact, expected in facts:
        read = f'g=$( {{ {fact.command}\n}} </dev/null 2>/dev/null )'
        if expected == ABSENT and fact.absent_test:
            checks.append(f"{{ {fact.absent_test}; }}")
        elif expected.startswith("sha256:"):
            checks.append(f'{{ {read}; [ "$(printf %s "$g" | sha256sum)" = '
                          f'"{stdin_sum(expected[7:])}" ]; }}')
        else:
            checks.append(f'{{ {read}; [ "$g" = {quote(expected)} ]; }}')
    return " && ".join(checks) if checks else "true"


def expectation(output: str) -> str:
    """How a guard recognises ``output`` again (command substitution drops trailing newlines)."""
    text = output.rstrip("\n")
    return text if len(text) <= 1024 else "sha256:" + digest(text)
