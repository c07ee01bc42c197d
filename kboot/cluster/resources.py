"""Where the shipped playbooks and templates are: the source tree's top-level ``playbooks/`` and
``templates/`` when running from a checkout, else the copies packaged under ``kboot/_data``."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]


def _find(name: str) -> Path:
    for candidate in (_PACKAGE.parent / name, _PACKAGE / "_data" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"kboot's {name}/ directory is missing from this installation")


def playbooks_dir() -> Path:
    return _find("playbooks")


def templates_dir() -> Path:
    return _find("templates")
