"""A lab's persistent record in ``/var/lib/kboot/lab/<name>/state.json``.

It holds the lab's shape, its image, each node's nspawn process identity and cgroups, the
inventory it wrote and the active partitions: enough for another process (``kboot lab down``
after a ``lab up`` that crashed) to find and remove everything the lab made.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from kboot.lab.spec import LabSpec


@dataclass(frozen=True)
class NodeRecord:
    pid: int | None = None  # the nspawn launcher (None when stopped)
    start: int | None = None  # its start time, against pid reuse
    host_key: str = ""  # "ssh-ed25519 AAAA…"
    cgroups: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabState:
    spec: LabSpec
    image: str = "plain"
    inventory: str = ""
    nodes: dict[str, NodeRecord] = field(default_factory=dict)
    partitions: tuple[tuple[str, str], ...] = ()

    def with_node(self, name: str, record: NodeRecord) -> LabState:
        return replace(self, nodes={**self.nodes, name: record})

    def to_json(self) -> str:
        doc: dict[str, Any] = asdict(self)
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LabState:
        doc = json.loads(text)
        nodes = {
            name: NodeRecord(rec.get("pid"), rec.get("start"), rec.get("host_key", ""),
                             tuple(rec.get("cgroups", ())))
            for name, rec in doc.get("nodes", {}).items()
        }
        return cls(
            spec=LabSpec(**doc["spec"]),
            image=doc.get("image", "plain"),
            inventory=doc.get("inventory", ""),
            nodes=nodes,
            partitions=tuple((a, b) for a, b in doc.get("partitions", ())),
        )


def load(path: Path) -> LabState | None:
    try:
        return LabState.from_json(path.read_text())
    except FileNotFoundError:
        return None


def save(path: Path, state: LabState) -> None:
    """Write atomically (a crash never leaves half a state file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.to_json())
    os.replace(tmp, path)
