"""kboot-apiserver: the Kubernetes-compatible REST server over the revisioned store.

Layout (one module per concern): ``main`` (flags, TLS, startup/shutdown), ``app`` (dispatch,
authentication/authorization hooks, error rendering, metrics), ``routing`` (path → target, verb),
``codec`` (bodies, Accept negotiation), ``crud``/``listing``/``watch``/``patching``/
``subresources`` (handlers), ``kubeletproxy`` (log/exec/attach to kubelets), ``admission`` and
``rules`` (server-populated fields, defaults, validation, managedFields via
:mod:`kboot.controlplane.api`), ``writes`` (guarded read-modify-write), ``storage`` (objects ↔
store keys/bytes, encryption), ``watchcache``, ``auth``/``tokens``/``authz``/``nodeauth``
(authentication, RBAC, Node authorizer), ``bootstrap`` (default objects), ``allocators``
(ClusterIP/NodePort), ``compaction``, ``metrics``, ``discovery``, ``encryption``. See
docs/apiserver.md.
"""
