"""Key-range arithmetic shared by the backends: prefixes as half-open ranges.

etcd, SQLite and the memory store all see a prefix as ``[prefix, prefix_end(prefix))`` so that
ranges use ordered indexes; keys compare by code point, which for UTF-8 is byte order, the order
etcd uses.
"""

from __future__ import annotations


def prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix`` ("" = unbounded)."""
    chars = list(prefix)
    while chars:
        last = ord(chars[-1])
        if last < 0x10FFFF:
            chars[-1] = chr(last + 1)
            return "".join(chars)
        chars.pop()
    return ""


def range_start(prefix: str, start_after: str) -> str:
    """The first key a list may return: just after ``start_after`` when it lies in the range."""
    if start_after and start_after >= prefix:
        return start_after + "\x00"
    return prefix


def in_range(key: str, prefix: str) -> bool:
    return key.startswith(prefix)
