"""Gathering many ``file_stat`` facts with one ``stat`` and one ``sha256sum`` process.

Run one by one, every file fact costs a subshell plus ``stat`` plus ``sha256sum`` — a handful of
forks per path, which on a busy host (or many netns hosts on one machine) dominated a no-op
re-run. Here all stat-able paths of a gathering go to a single ``stat`` call, regular files to a
single ``sha256sum``, and only symlinks still cost one ``readlink`` each. The per-path outputs
are then rebuilt byte for byte as :func:`kboot.facts.files.file_stat`'s own command prints them,
so parsers, caches and the digests guards compare stay exactly as without bulk gathering.

Paths containing a newline or a backslash (which ``sha256sum`` escapes when it names a file)
keep their own command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kboot.facts.base import ABSENT, Fact, quote

STAT = "stat"  # Fact.bulk value of file_stat facts
_STAT_FORMAT = "%F|%a|%U|%G|%s|%n"


def stdin_sum(digest: str) -> str:
    """What ``sha256sum <file`` prints (stdin is named ``-``), as ``file_stat`` hashes."""
    return f"{digest}  -"


def bulk_facts(facts: Sequence[Fact[Any]]) -> list[Fact[Any]]:
    """The facts gathered in bulk (when at least two can be)."""
    chosen = [f for f in facts if f.bulk == STAT and f.path is not None
              and "\n" not in f.path and "\\" not in f.path]
    return chosen if len(chosen) > 1 else []


def bulk_script(facts: Sequence[Fact[Any]], mark: str) -> list[str]:
    """Script lines printing the sections ``stat``, ``sum`` and ``link <i>`` after ``mark``."""
    paths = [quote(str(f.path)) for f in facts]
    words = " ".join(paths)
    lines = [
        f"printf '\\n%s\\n' '{mark} stat'",
        f"stat -c '{_STAT_FORMAT}' -- {words} </dev/null 2>/dev/null",
        f"printf '\\n%s\\n' '{mark} sum'",
        f"set --; for p in {words}; do "
        'if [ -f "$p" ] && [ ! -L "$p" ]; then set -- "$@" "$p"; fi; done',
        '[ $# -eq 0 ] || sha256sum -- "$@" </dev/null 2>/dev/null',
    ]
    for i, p in enumerate(paths):
        lines.append(f"[ ! -L {p} ] || {{ printf '\\n%s\\n' '{mark} link {i}'; "
                     f"readlink -- {p} </dev/null 2>/dev/null; }}")
    return lines


def bulk_outputs(facts: Sequence[Fact[Any]], sections: Mapping[str, list[str]]
                 ) -> dict[str, str]:
    """Each fact's output as its own command would have printed it."""
    stats: dict[str, str] = {}
    for line in sections.get("stat", []):
        parts = line.split("|", 5)
        if len(parts) == 6:
            stats[parts[5]] = "|".join(parts[:5])
    sums: dict[str, str] = {}
    for line in sections.get("sum", []):
        digest, _, rest = line.partition(" ")
        if rest:
            sums[rest[1:]] = digest
    outputs: dict[str, str] = {}
    for i, fact in enumerate(facts):
        path = str(fact.path)
        head = stats.get(path)
        if head is None:
            outputs[fact.key] = ABSENT
            continue
        kind = head.split("|", 1)[0]
        if kind == "symbolic link":
            extra = "\n".join(_trim(sections.get(f"link {i}", [])))
        elif kind in ("regular file", "regular empty file"):
            extra = stdin_sum(sums[path]) if path in sums else ""  # unreadable: no sum
        else:
            extra = ""
        outputs[fact.key] = f"{head}\n{extra}" if extra else head
    return outputs


def _trim(body: list[str]) -> list[str]:
    return body[:-1] if body and body[-1] == "" else body
