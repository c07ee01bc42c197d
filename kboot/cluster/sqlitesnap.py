"""What the backup and restore playbooks run against the embedded SQLite store.

A copy of a live SQLite database in WAL mode is not a ``cp``: committed transactions may still
sit in ``kboot.db-wal``, and a file copied while the apiserver writes can be torn. The copy is
taken with SQLite's online backup API (``Connection.backup``, from the ``python3`` every node
has) in one step, so it is one read transaction — consistent, and never blocking the apiserver's
writes (WAL readers do not block writers). The copy is switched to a rollback journal (one
self-contained file; the apiserver turns WAL back on when it opens it), checked with ``PRAGMA
integrity_check`` and renamed into place only then.

The restore swap is one shell script, built here and tested as data (see
:func:`swap_script`): the pushed copy is renamed over the database (atomic); the pre-restore
database stays as ``kboot.db.bak`` (with its WAL as ``kboot.db.bak-wal``, so the backup of the
old state is whole) until the cluster verified; stale ``-wal``/``-shm`` files of the old
database are removed so SQLite never replays them onto the restored one.
"""

from __future__ import annotations

import shlex

from kboot.cluster.vars import SQLITE_DIR

DB_NAME = "kboot.db"

# Run as ``python3 -c SCRIPT SOURCE DEST``; prints the copy's size in bytes.
_BACKUP_SCRIPT = """\
import os, sqlite3, sys
src_path, dest = sys.argv[1], sys.argv[2]
if not os.path.isfile(src_path):
    sys.exit(f"no embedded store database at {src_path} (is cluster.datastore sqlite?)")
part = dest + ".part"
for leftover in (part, part + "-journal"):
    if os.path.exists(leftover):
        os.unlink(leftover)
src = sqlite3.connect(src_path, timeout=30)
dst = sqlite3.connect(part)
src.backup(dst)
src.close()
dst.execute("PRAGMA journal_mode=DELETE")
check = dst.execute("PRAGMA integrity_check").fetchone()[0]
dst.close()
if check != "ok":
    os.unlink(part)
    sys.exit(f"the copy of {src_path} failed its integrity check: {check}")
os.chmod(part, 0o600)
os.replace(part, dest)
print(os.path.getsize(dest))
"""


def db_path(store_dir: str = SQLITE_DIR) -> str:
    return f"{store_dir}/{DB_NAME}"


def backup_command(dest: str, *, store_dir: str = SQLITE_DIR) -> str:
    """A consistent copy of the live database at ``dest`` (written as ``dest.part`` first)."""
    return shlex.join(["python3", "-c", _BACKUP_SCRIPT, db_path(store_dir), dest])


def swap_script(pushed: str, *, store_dir: str = SQLITE_DIR) -> str:
    """Put the pushed copy ``pushed`` in place of the (stopped) apiserver's database.

    Idempotent, and converging when re-run after an interruption anywhere: an existing ``.bak``
    is the pre-restore database of an earlier, unfinished run and is kept; the database itself
    is replaced by one ``rename``, so it is always either the old one or the restored one.
    """
    d = shlex.quote(store_dir)
    db = shlex.quote(db_path(store_dir))
    src = shlex.quote(pushed)
    return "\n".join([
        "set -e",
        "umask 077",
        f"mkdir -p -m 0700 {d}",
        f"chmod 0700 {d}",
        f"cp {src} {db}.restore",
        f"sync {db}.restore",
        # keep the pre-restore database whole: its WAL first, then the file (a hard link, so
        # the database path never goes missing); a .bak already there is the older one
        f"if [ ! -e {db}.bak ] && [ -e {db} ]; then",
        f"  if [ -e {db}-wal ]; then mv {db}-wal {db}.bak-wal; fi",
        f"  ln {db} {db}.bak",
        "fi",
        f"rm -f {db}-wal {db}-shm {db}.restore-journal",
        f"mv {db}.restore {db}",
        f"sync {d}",
    ])


def cleanup_paths(store_dir: str = SQLITE_DIR) -> list[str]:
    """What a verified restore leaves behind in the store's directory."""
    db = db_path(store_dir)
    return [f"{db}.bak", f"{db}.bak-wal", f"{db}.bak-shm", f"{db}.restore"]
