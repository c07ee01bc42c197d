"""Kubernetes' (Go RE2) regular expressions run by Python's ``re``.

CRD ``pattern``s are RE2 syntax.  Most of it reads the same in Python; the differences real CRDs
hit are handled here: inline flags in the middle of a pattern (``^((?i)sun|mon)day$``, used by
prometheus-operator) — Python only takes them at the start, so the rest of the enclosing group
(each alternative apart, since the flag spans alternatives) becomes a scoped ``(?i:…)`` group —
``\\z`` (end of text: Python's ``\\Z``) and the Unicode classes ``\\pL``/``\\p{L}``/``\\PL``.
Python accepts some things RE2 refuses (backreferences, lookarounds); such patterns are
accepted here although upstream would refuse the CRD.
"""

from __future__ import annotations

import re
from functools import lru_cache

_FLAGS = re.compile(r"\(\?([imsU]+)\)")
_CLASSES = {"L": r"[^\W\d_]", "N": r"\d", "Nd": r"\d"}


def translate(pattern: str) -> str:
    """The Python spelling of an RE2 pattern."""
    out: list[str] = []
    frames: list[list[str]] = [[]]   # per open group: the flags scoped in it so far
    i = 0
    in_class = False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            piece, i = _escape(pattern, i)
            out.append(piece)
            continue
        if in_class:
            in_class = char != "]"
            out.append(char)
            i += 1
            continue
        flags = _FLAGS.match(pattern, i)
        if flags and not (i == 0 and not out):
            out.append(f"(?{flags[1]}:")
            frames[-1].append(flags[1])
            i = flags.end()
            continue
        if char == "[":
            in_class = True
            out.append(char)
            if pattern[i + 1:i + 2] == "]" or pattern[i + 1:i + 3] == "^]":
                out.append(pattern[i + 1:i + 2 + (pattern[i + 1] == "^")])
                i += 1 + (pattern[i + 1] == "^")
        elif char == "(":
            frames.append([])
            out.append(char)
        elif char == ")":
            out.append(")" * len(frames[-1]) + ")")
            if len(frames) > 1:
                frames.pop()
        elif char == "|":
            scoped = frames[-1]
            out.append(")" * len(scoped) + "|" + "".join(f"(?{f}:" for f in scoped))
        else:
            out.append(char)
        i += 1
    out.append(")" * len(frames[0]))
    return "".join(out)


def _escape(pattern: str, i: int) -> tuple[str, int]:
    nxt = pattern[i + 1]
    if nxt == "z":
        return r"\Z", i + 2
    if nxt in "pP":
        if pattern[i + 2:i + 3] == "{":
            end = pattern.find("}", i + 3)
            name, stop = (pattern[i + 3:end], end + 1) if end > 0 else ("", i + 2)
        else:
            name, stop = pattern[i + 2:i + 3], i + 3
        cls = _CLASSES.get(name)
        if cls is not None:
            if nxt == "P":
                cls = "[^" + cls[1:] if cls.startswith("[") and not cls.startswith("[^") \
                    else (cls[:1] + cls[2:] if cls.startswith("[^") else r"\D")
            return cls, stop
    return pattern[i:i + 2], i + 2


@lru_cache(maxsize=1024)
def compile_re2(pattern: str) -> re.Pattern[str] | None:
    """The pattern compiled, or None when it is not a valid regular expression."""
    try:
        return re.compile(translate(pattern))
    except (re.error, RecursionError, OverflowError):
        return None
