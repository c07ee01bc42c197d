"""``kboot-ingress``: Ingress objects driving a real haproxy.

``routes`` turns API objects into a resolved routing table (pure), ``config`` renders that
table as haproxy configuration (pure, golden-file tested), ``haproxy`` owns the proxy process
(atomic writes, ``haproxy -c`` validation, hitless master-worker reloads) and ``controller``
wires informers, the debounced sync, Events and ``status.loadBalancer``. See docs/ingress.md.
"""
