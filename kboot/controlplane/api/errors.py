"""The errors the pure API rules raise; each carries the HTTP code and ``reason`` the apiserver
answers with, so the server maps them to a ``Status`` without a table of its own.

    ApiRuleError(ControlPlaneError, ValueError)   code, reason
    ├── SelectorError                 400 BadRequest: bad selector, unsupported field label
    ├── PatchError                    400 BadRequest (malformed patch) / 422 Invalid (cannot apply)
    │   └── JsonPatchTestFailed       422: a JSON-patch ``test`` operation did not match
    └── ApplyConflict                 409 Conflict: server-side apply field-manager conflicts
"""

from __future__ import annotations

from dataclasses import dataclass

from kboot.controlplane.errors import ControlPlaneError


class ApiRuleError(ControlPlaneError, ValueError):
    code = 400
    reason = "BadRequest"

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
            self.reason = "Invalid" if code == 422 else self.reason

    @property
    def message(self) -> str:
        return str(self.args[0])


class SelectorError(ApiRuleError):
    """A selector that cannot be parsed or names an unsupported field."""


class PatchError(ApiRuleError):
    """A patch that is malformed (400) or cannot be applied to the document (422); ``field``
    names where in the document it failed (``spec.ports[0]``), for the 422's cause."""

    field = ""


class JsonPatchTestFailed(PatchError):
    code = 422
    reason = "Invalid"


@dataclass(frozen=True)
class ConflictCause:
    """One field owned by another manager: ``field`` like ``.spec.replicas``."""

    field: str
    manager: str
    api_version: str = ""

    @property
    def owner(self) -> str:
        """``conflict with "m" using apps/v1`` (upstream's cause message)."""
        using = f" using {self.api_version}" if self.api_version else ""
        return f'conflict with "{self.manager}"{using}'


class ApplyConflict(ApiRuleError):
    """Server-side apply touched fields that other managers own (and ``force`` was false)."""

    code = 409
    reason = "Conflict"

    def __init__(self, causes: list[ConflictCause]) -> None:
        self.causes = causes
        names = "; ".join(f"{c.owner}: {c.field}" for c in causes)
        super().__init__(f"Apply failed with {len(causes)} conflict"
                         f"{'s' if len(causes) != 1 else ''}: {names}")
