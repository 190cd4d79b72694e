"""Errors the gateway returns, in the OpenAI error shape.

Every failure a client can see is an `ApiError`: an HTTP status plus the body OpenAI clients
parse, `{"error": {"message", "type", "param", "code"}}`. The message is one line that names
the field and the fix, the same rule the registry's BadInput follows.
"""
from __future__ import annotations

from typing import Any

from llmreg.registry.errors import BadInput, Conflict, Forbidden, IntegrityError, NotFound, RegistryError


class ApiError(Exception):
    """A request-level failure with its HTTP status and OpenAI error fields."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers: dict[str, str] = {}  # e.g. Retry-After on 429/503

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad_request(message: str, *, param: str | None = None, code: str | None = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


def server_error(message: str, *, code: str, status: int = 500) -> ApiError:
    return ApiError(status, message, type="server_error", code=code)


def unhandled_error() -> ApiError:
    """What a client gets when the gateway itself failed (a bug, logged with its traceback)."""
    return server_error("the gateway failed while answering; see its log", code="internal_error")


def from_registry_error(exc: RegistryError, *, param: str | None = "model") -> ApiError:
    """Map the registry's exception tree onto HTTP statuses."""
    if isinstance(exc, IntegrityError):
        return server_error(str(exc), code="artifact_integrity")
    if isinstance(exc, NotFound):
        return ApiError(404, str(exc), param=param, code="model_not_found")
    if isinstance(exc, BadInput):
        return ApiError(400, str(exc), param=exc.field or param, code="invalid_value")
    if isinstance(exc, Forbidden):
        return ApiError(403, str(exc), type="permission_error", code="forbidden")
    if isinstance(exc, Conflict):
        return ApiError(409, str(exc), code="conflict")
    return server_error(str(exc), code="registry_error")
