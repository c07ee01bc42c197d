"""The bundled control plane: a Kubernetes-API-compatible system that runs on the cluster hosts.

asyncio throughout. Never imports the bootstrapper. Components meet only through API objects:
``apiserver`` is the only one that touches ``store``; ``scheduler``, ``controllers``, ``kubelet``,
``proxy``, ``ingress`` and ``dns`` talk to it through ``client``.
"""

import os

# gRPC (the CRI client, the etcd client) registers fork handlers that run in every child forked
# while it is active. uvloop spawns subprocesses with a plain fork(), so the kubelet's `ctr`
# execs ran gRPC's handler in the child, which sometimes aborted there before exec ("Check
# failed: next_worker->state == KICKED", the exec ending with SIGABRT — seen in the upstream
# client's test_pod_apis under load). No component uses gRPC in a forked child: turn fork
# support off before any submodule imports grpc (an explicit setting in the environment wins).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
