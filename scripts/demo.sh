#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine (as root): install what is needed, build a local
# lab (3 control-plane + 2 worker machines), bring up an HA cluster on it with `kboot up`, deploy
# the example application and show it with kubectl and a request through its Service.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
NAME=${KBOOT_DEMO_NAME:-demo}
INVENTORY="inventories/lab-$NAME.yaml"

echo "== kboot lab up: 3 control-plane + 2 worker machines"
kboot lab up --name "$NAME" --control-planes 3 --workers 2 --subnet "${KBOOT_DEMO_SUBNET:-10.77.0.0/24}"
echo "== kboot up $INVENTORY"
kboot up "$INVENTORY"
kboot kubeconfig "$INVENTORY" --merge --context "kboot-$NAME"

echo "== the example application (examples/hello.yaml)"
kubectl apply -f examples/hello.yaml
kubectl -n hello rollout status deployment/hello --timeout=120s
kubectl get nodes,pods,svc -o wide -A
NODE_IP=$(kubectl get node "$NAME-w1" -o jsonpath='{.status.addresses[0].address}')
echo "== a request through the Service (NodePort 30080 on $NAME-w1, $NODE_IP)"
curl -sS --max-time 5 "http://$NODE_IP:30080/"
echo "== done. Remove everything with: kboot lab down --name $NAME"
