"""kboot-proxy: Services (ClusterIP, NodePort, externalIPs) as iptables NAT rules.

``rules`` is the pure Services+Endpoints → rules function, ``iptables`` applies it atomically,
``main`` wires informers to both.
"""
