"""Resource kinds and their pure rules: the registry of kinds, schemas (validation, defaulting,
OpenAPI v3, strategic-merge keys, ``kubectl explain``), patches, Table printers, selectors.

Nothing here does I/O: the apiserver applies these rules; clients may use them too.
"""
