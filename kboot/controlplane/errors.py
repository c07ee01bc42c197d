"""The control plane's exception hierarchy: one root, drawn here, each branch defined next to
the code that raises it.

Every error a control-plane process expects (bad input, a refused request, a missing object,
an unreachable store or runtime) derives from :class:`ControlPlaneError`, so a process entry
point (:func:`kboot.controlplane.client.component.run_process`) can log it as one line and
exit non-zero, while anything else is a bug and keeps its traceback. The bootstrapper's root
is :class:`kboot.errors.KbootError`; the two halves share no exception classes (the control
plane never imports the bootstrapper).

Two classes carry a Kubernetes ``Status`` and are named apart on purpose: the server raises
:class:`~kboot.controlplane.api.status.StatusError` to *answer* with a Status; the client
raises :class:`~kboot.controlplane.client.errors.ApiError` (one subclass per reason) when it
*receives* one.

::

    ControlPlaneError
    ├── api.status.StatusError             the apiserver answers with a failure Status
    │                                      (apiserver.errors.ApiError is its old name there)
    ├── api.errors.ApiRuleError            a pure API rule refused its input (also ValueError)
    │   ├── SelectorError                  400: bad selector, unsupported field label
    │   ├── CronError                      a cron schedule or time zone does not parse
    │   ├── PriorityRefused                403: a pod's priority class is unknown or overridden
    │   ├── quotas.QuotaRefused            403: a write would exceed a ResourceQuota
    │   ├── PatchError                     400/422: malformed patch, cannot apply
    │   │   └── JsonPatchTestFailed        422: a JSON-patch ``test`` did not match
    │   ├── ApplyConflict                  409: server-side apply field-manager conflicts
    │   ├── crd.resource.SchemaCompileError   422: a CRD schema's CEL rules do not compile
    │   ├── crd.celfuncs.CelFunctionError  a CEL extension function got arguments it refuses
    │   └── crd.jsonpath.JSONPathError     a printer-column/scale JSONPath outside the subset
    ├── api.disruption.EvictionRefused     429/403: a disruption budget forbids an eviction
    ├── store.base.StoreError              the revisioned store refused or failed
    │   ├── KeyExists, KeyNotFound, RevisionConflict, Compacted
    │   └── StoreUnavailable
    ├── apiserver.tokens.TokenError        a bearer token is malformed, badly signed, expired
    │   └── satokens.TokenRejected         … or names no live ServiceAccount / bound object
    ├── apiserver.routing.UnknownResource  a path names no served resource
    ├── apiserver.decodelimits.DecodeLimitError   a body exceeds a decode bound (also ValueError)
    ├── apiserver.webhooks.client.CallError   an admission webhook could not be called
    │   └── review.ReviewError             … or answered outside the AdmissionReview protocol
    ├── apiserver.encryption.EncryptionError       a value cannot be decrypted
    │   └── EncryptionConfigError          the encryption configuration file is unusable
    ├── client.errors.ApiError             the client received a failure Status
    │   ├── BadRequest, Unauthorized, Forbidden, NotFound, Expired, Invalid
    │   ├── Conflict
    │   │   └── AlreadyExists
    │   ├── TooManyRequests                429 (``retry_after``)
    │   └── ServerUnavailable              5xx
    ├── controllers.disruption.ScaleUnknown   a budget's pods' controller is not known yet
    ├── client.workqueue.ShutDown          the queue was shut down (workers exit)
    ├── kubelet.podspec.ContainerConfigError   a pod refers to something missing
    ├── kubelet.cri.types.RuntimeError_    a CRI call failed (``code``: gRPC status)
    │   └── NotFoundError
    ├── kubelet.tlsbootstrap.BootstrapError    no client certificate can be had
    ├── dns.wire.WireError                 a DNS message cannot be parsed (also ValueError)
    ├── portforward.spdy.FrameError        a port-forward peer sent bytes that are not SPDY/3.1
    ├── portforward.dial.DialError         nothing accepted a forwarded connection in the pod
    ├── portforward.channels.PortsError    a port-forward ``ports`` query is not a list of TCP ports
    ├── proxy.iptables.IptablesError       iptables-restore failed (also RuntimeError)
    ├── ingress.tls.SecretError            a Secret cannot serve TLS (also ValueError)
    └── ingress.haproxy.ConfigRejected     ``haproxy -c`` refused a generated configuration
"""

from __future__ import annotations


class ControlPlaneError(Exception):
    """Base of every expected control-plane error; ``str(err)`` says what and where."""
