#!/usr/bin/env bash
# Regenerate the committed CRI stubs from kboot/controlplane/kubelet/cri/api.proto.
# Imports in the generated *_grpc.py are rewritten to be package-relative.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-kboot/controlplane/kubelet/cri}"
PY="${PYTHON:-.venv/bin/python}"
"$PY" -m grpc_tools.protoc -Ikboot/controlplane/kubelet/cri --python_out="$OUT" \
  --grpc_python_out="$OUT" kboot/controlplane/kubelet/cri/api.proto
sed -i 's/^import api_pb2 as api__pb2/from . import api_pb2 as api__pb2/' "$OUT/api_pb2_grpc.py"
