"""Dynamic admission webhooks (``admissionregistration.k8s.io/v1``), as kube-apiserver calls them.

- :mod:`.matching` — pure: which webhooks of the stored configurations a write reaches (rules,
  scope, matchPolicy, namespaceSelector, objectSelector).
- :mod:`.review` — pure: the ``AdmissionReview`` request, and reading a response (allowed,
  JSONPatch, warnings, denial Status).
- :mod:`.client` — one HTTPS round trip to a webhook (``caBundle``, bounded timeout,
  ``clientConfig.service`` resolved to a ready endpoint of the Service, or ``url``).
- :mod:`.dispatcher` — the admission step the write path calls: mutating webhooks in order
  (with reinvocation), re-validation of a mutated object, validating webhooks in parallel,
  ``failurePolicy`` on call errors. Configurations come from the watch cache, so every
  apiserver of an HA cluster follows changes through the store's watch.
"""
