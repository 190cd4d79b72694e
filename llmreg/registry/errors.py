"""One exception tree for the registry. The CLI maps `Refused` to exit 1 and `BadInput` to exit 2."""
from __future__ import annotations


class RegistryError(Exception):
    """Base of every error the registry raises on purpose."""

    exit_code = 1


class BadInput(RegistryError):
    """The caller's input is malformed: a field is missing, unknown, mistyped or unsafe."""

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field
        self.detail: str | None = None  # the message without its field prefix (fields.fail sets it)
        self.sourced = False  # already prefixed with the file it came from


class Refused(RegistryError):
    """A valid request that the registry's rules refuse."""


class NotFound(Refused):
    """No such entry, version, stage holder or event."""


class GateFailed(Refused):
    """A lifecycle gate did not pass; `results` lists every gate checked."""

    def __init__(self, message: str, results: tuple = ()):
        super().__init__(message)
        self.results = results


class Forbidden(Refused):
    """The actor's roles do not allow the action."""


class Conflict(Refused):
    """Someone else changed the same state first (a racing promotion, a reused version)."""


class IntegrityError(Refused):
    """A checksum or the audit hash chain does not match what was recorded."""


class Unauthenticated(Forbidden):
    """No usable signing key, or the key is not the acting member's: refused before anything is written."""
