"""CustomResourceDefinition support as pure functions: what the CRD serving layer calls.

Nothing here does I/O or knows the apiserver; every function takes plain JSON objects (a CRD,
a custom resource) and returns values or :class:`~kboot.controlplane.api.field_errors.FieldError`
lists, so the serving layer answers 422 with upstream's field paths and messages.

The public API, by the moment the serving layer needs it:

- **CRD writes**: :func:`definition.validate_crd` (names, scope, versions, schemas — structural
  rules, defaults, list/map types, CEL rules compiled — subresources, printer columns,
  conversion) and :func:`definition.validate_crd_update` (stored versions, scope immutability).
- **Serving a version**: :func:`versions.served_versions`, :func:`versions.storage_version`,
  :func:`versions.version_of` (per-version schema/subresources/columns, top-level fallbacks),
  :func:`versions.convert` (``conversion: None``: the apiVersion rewrite).
- **Custom resource writes and reads**: :class:`resource.ResourceSchema` compiled once per
  served version; ``admit(obj, old=..., field_validation=...)`` prunes, defaults, validates
  (schema, metadata, embedded resources, list types, CEL) and returns an :class:`resource.Admitted`
  with errors and Strict/Warn unknown-field messages; ``read(obj)`` defaults an object read from
  storage.
- **Tables, scale, OpenAPI**: :mod:`columns` (``additionalPrinterColumns`` → Table columns and
  cells), :mod:`scale` (``autoscaling/v1`` Scale from and onto a custom resource),
  :mod:`openapi` (the per-group-version ``/openapi/v3`` document and the ``/openapi/v2``
  definitions of CRD kinds).
"""
