"""CustomResourceDefinition support as pure functions: what the CRD serving layer calls.

Nothing here does I/O or knows the apiserver; every function takes plain JSON objects (a CRD,
a custom resource) and returns values or :class:`~kboot.controlplane.api.field_errors.FieldError`
lists, so the serving layer answers 422 with upstream's field paths and messages.

The public API, by the moment the serving layer needs it:

- **CRD writes**: :func:`definition.validate_crd` (names, scope, versions, schemas — structural
  rules, defaults, list/map types, CEL rules compiled — subresources, printer columns,
  conversion) and :func:`definition.validate_crd_update` (stored versions, scope immutability).
- **Names**: :func:`naming.calculate_names` (``status.acceptedNames``, ``NamesAccepted`` and
  ``Established`` conditions against built-in kinds and other CRDs of the group).
- **Serving a version**: :func:`versions.served_versions`, :func:`versions.storage_version`,
  :func:`versions.version_of` (per-version schema/subresources/columns, top-level fallbacks),
  :func:`versions.convert` (``conversion: None``: the apiVersion rewrite).
- **Custom resource writes and reads**: :class:`resource.ResourceSchema` compiled once per
  served version; ``admit(obj, old=..., field_validation=...)`` prunes, defaults, validates
  (schema, metadata, embedded resources, list types, CEL; updates ratchet) and returns an
  :class:`resource.Admitted` with errors and Strict/Warn unknown-field messages; ``read(obj)``
  prunes and defaults an object read from storage.
- **Status subresource and generation**: :mod:`writes` (``prepare_create``,
  ``prepare_update``, ``prepare_status_update``).
- **Tables, scale, OpenAPI**: :mod:`columns` (``additionalPrinterColumns`` → Table columns and
  cells), :mod:`scale` (``autoscaling/v1`` Scale from and onto a custom resource),
  :mod:`openapi` (:func:`openapi.object_schema`, the kind's OpenAPI schema a CRD-backed
  strategy's ``openapi_schema()`` returns — the apiserver's ``openapidocs`` turns it into the
  ``/openapi/v3`` document and ``/openapi/v2`` definitions — and :func:`openapi.resource_kind`:
  a CRD version as a :class:`~kboot.controlplane.api.registry.ResourceKind` to register).

How it maps onto the apiserver's per-kind ``Strategy`` (``apiserver/strategy.py``) for a
CRD-backed kind: ``unknown_fields`` → :func:`pruning.unknown_fields`; ``default`` →
``ResourceSchema.read`` (prune + default); ``validate`` → ``[e.cause() for e in
ResourceSchema.validate(obj, old=old)]``; ``prepare_for_create``/``prepare_for_update`` →
:mod:`writes`; ``to_table`` → :mod:`columns`; ``openapi_schema`` →
:func:`openapi.object_schema`.

A write of a custom resource, as the serving layer would do it::

    version = versions.version_of(crd, "v1")            # per-version schema, subresources
    schema = resource.ResourceSchema(version.schema, kind="Widget", namespaced=True)  # cache
    result = schema.admit(body, old=stored, field_validation="Strict")
    if result.strict_errors:    # 400: '<Kind> in version "v1" cannot be handled as a <Kind>:
        ...                     #       strict decoding error: ' + ", ".join(strict_errors)
    if result.errors:           # 422: field_errors.invalid_message(kind, name, result.errors)
        ...
    store(result.obj); warn(result.warnings)
"""
