"""File-system facts: a path's stat with checksum, a file's content, a directory's entries."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from kboot.facts.base import ABSENT, Fact, quote
from kboot.facts.bulk import STAT, stdin_sum

_TYPES = {
    "regular file": "file",
    "regular empty file": "file",
    "directory": "directory",
    "symbolic link": "link",
    "fifo": "fifo",
    "socket": "socket",
    "character special file": "char",
    "block special file": "block",
}


@dataclass(frozen=True)
class FileStat:
    """A path as ``stat`` sees it (links are not followed). ``mode`` is the permission bits."""

    exists: bool
    type: str = ""  # file, directory, link, fifo, socket, char, block
    mode: int = 0
    owner: str = ""
    group: str = ""
    size: int = 0
    sha256: str | None = None  # regular files only
    link_target: str | None = None  # symlinks only

    def as_dict(self) -> dict[str, object]:
        """The Ansible ``stat`` result shape (``register``-ed by the ``stat`` task)."""
        return {
            "exists": self.exists,
            "isdir": self.type == "directory",
            "isreg": self.type == "file",
            "islnk": self.type == "link",
            "mode": f"{self.mode:04o}",
            "pw_name": self.owner,
            "gr_name": self.group,
            "size": self.size,
            "checksum": self.sha256,
            "lnk_target": self.link_target,
        }


ABSENT_FILE = FileStat(exists=False)


def parse_stat(output: str) -> FileStat:
    lines = output.splitlines()
    if not lines or lines[0].strip() == ABSENT:
        return ABSENT_FILE
    kind, mode, owner, group, size = lines[0].split("|", 4)
    ftype = _TYPES.get(kind, kind)
    extra = lines[1].strip() if len(lines) > 1 else None
    if extra and ftype == "file":
        extra = extra.split()[0]  # "<sha256>  -"
    return FileStat(
        exists=True,
        type=ftype,
        mode=int(mode, 8),
        owner=owner,
        group=group,
        size=int(size),
        sha256=extra if ftype == "file" else None,
        link_target=extra if ftype == "link" else None,
    )


def file_stat(path: str) -> Fact[FileStat]:
    """Type, mode, owner, group, size, and sha256 (regular files) or target (symlinks).

    The file is hashed from stdin: one process (no ``| cut``), and ``sha256sum`` never escapes
    the name (it prints ``-``). An unreadable file prints no hash line."""
    p = quote(path)
    command = (
        f"if [ -e {p} ] || [ -L {p} ]; then stat -c '%F|%a|%U|%G|%s' -- {p}; "
        f"if [ -L {p} ]; then readlink -- {p}; "
        f"elif [ -f {p} ]; then sha256sum <{p}; fi; "
        f"else echo {ABSENT}; fi"
    )
    return Fact(f"file:{path}", command, parse_stat, path=path, bulk=STAT,
                absent_test=f"[ ! -e {p} ] && [ ! -L {p} ]")


def predicted_stat(size: int, sha256: str, *, mode: int, owner: str, group: str) -> str:
    """What :func:`file_stat`'s command prints for a regular file of ``size`` bytes with the
    checksum ``sha256`` (all it needs: a big file's bytes are never read for it)."""
    kind = "regular file" if size else "regular empty file"
    return f"{kind}|{mode:o}|{owner}|{group}|{size}\n{stdin_sum(sha256)}"


def predicted_content(data: bytes) -> str:
    """What :func:`file_content`'s command prints for a regular file holding ``data``."""
    return base64.b64encode(data).decode("ascii")


def parse_identity(output: str) -> tuple[str, str]:
    user, _, group = output.strip().partition("\n")
    return user.strip(), group.strip()


def identity(become: bool) -> Fact[tuple[str, str]]:
    """The user and primary group that commands run as (with or without ``become``): who owns
    the files a task creates, so their stat can be predicted."""
    return Fact(f"identity:{'become' if become else 'user'}", "id -un; id -gn", parse_identity)


def parse_content(output: str) -> bytes | None:
    text = output.strip()
    if text == ABSENT:
        return None
    return base64.b64decode("".join(text.split()))


def file_content(path: str) -> Fact[bytes | None]:
    """A regular file's bytes (``None`` if absent); gathered only for ``--diff``."""
    p = quote(path)
    command = f"if [ -f {p} ]; then base64 -w0 -- {p}; echo; else echo {ABSENT}; fi"
    return Fact(f"content:{path}", command, parse_content, path=path,
                absent_test=f"[ ! -f {p} ]")


def parse_directory(output: str) -> list[str] | None:
    if output.strip() == ABSENT:
        return None
    return sorted(line for line in output.splitlines() if line)


def directory(path: str) -> Fact[list[str] | None]:
    """A directory's entry names, sorted (``None`` if it is not a directory)."""
    p = quote(path)
    command = f"if [ -d {p} ]; then ls -1A -- {p}; else echo {ABSENT}; fi"
    return Fact(f"dir:{path}", command, parse_directory, path=path, listing=True,
                absent_test=f"[ ! -d {p} ]")
