"""kboot-dns: a small authoritative DNS server for ``<svc>.<ns>.svc.<domain>``.

``wire`` encodes/decodes the DNS messages (no third-party DNS library: the subset is small and
this keeps the control plane's dependencies to aiohttp and grpc), ``zone`` is the pure
records/answer logic, ``server`` the UDP+TCP listeners, ``main`` the informer wiring.
"""
