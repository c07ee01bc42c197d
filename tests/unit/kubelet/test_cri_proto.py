"""The committed CRI stubs match api.proto, and key field numbers match upstream cri-api."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from kboot.controlplane.kubelet.cri import api_pb2 as pb

ROOT = Path(__file__).resolve().parents[3]
CRI = ROOT / "kboot/controlplane/kubelet/cri"


def _stub(path: Path) -> str:
    """The stub without the generator's own version stamp (a newer grpcio-tools patch release
    stamps its number; the committed, older one only makes the runtime check more lenient)."""
    return re.sub(r"GRPC_GENERATED_VERSION = '[^']*'", "GRPC_GENERATED_VERSION = ''",
                  path.read_text())


def test_generated_stubs_match_proto(tmp_path: Path) -> None:
    env_python = {"PYTHON": sys.executable}
    subprocess.run(["bash", str(ROOT / "scripts/gen-cri-proto.sh"), str(tmp_path)], check=True,
                   env={**env_python, "PATH": "/usr/bin:/bin"}, cwd=ROOT)
    for name in ("api_pb2.py", "api_pb2_grpc.py"):
        assert _stub(tmp_path / name) == _stub(CRI / name), name


def _number(message: str, field: str) -> int:
    return int(getattr(pb, message).DESCRIPTOR.fields_by_name[field].number)


def test_upstream_field_numbers() -> None:
    # Spot checks of numbers that are not simply sequential upstream.
    assert _number("LinuxSandboxSecurityContext", "run_as_group") == 8
    assert _number("LinuxContainerSecurityContext", "run_as_group") == 12
    assert _number("LinuxContainerSecurityContext", "no_new_privs") == 11
    assert _number("PodSandboxStatus", "labels") == 7
    assert _number("ContainerConfig", "linux") == 15
    assert _number("ContainerStatus", "log_path") == 15
    assert _number("PodSandboxConfig", "linux") == 8
    assert pb.DESCRIPTOR.package == "runtime.v1"
