"""The bundled control plane: a Kubernetes-API-compatible system that runs on the cluster hosts.

asyncio throughout. Never imports the bootstrapper. Components meet only through API objects:
``apiserver`` is the only one that touches ``store``; ``scheduler``, ``controllers``, ``kubelet``,
``proxy``, ``ingress`` and ``dns`` talk to it through ``client``.
"""
