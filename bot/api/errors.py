"""The API's error shape (SPEC §7): ``{"code", "message", "details", "correlation_id"}`` with a fixed status per
code family. Handlers raise ``ApiError``; the outer middleware renders it."""
from __future__ import annotations

from typing import Any

# code → HTTP status for the codes with a fixed status; 422 codes are open-ended (venue and policy reasons).
STATUS = {
    "INVALID_REQUEST": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "IDEMPOTENCY_CONFLICT": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "RATE_LIMITED": 429,
    "INTERNAL_ERROR": 500,
    "VENUE_UNAVAILABLE": 503,
    "NOT_READY": 503,
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    @classmethod
    def of(cls, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None) -> "ApiError":
        return cls(STATUS.get(code, 422), code, message, details, headers)

    def body(self, correlation_id: str) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details,
                "correlation_id": correlation_id}


def invalid(message: str, details: Any = None) -> ApiError:
    return ApiError(400, "INVALID_REQUEST", message, details)


def not_found(message: str = "not found", details: Any = None) -> ApiError:
    return ApiError(404, "NOT_FOUND", message, details)


def validation_details(exc: Any) -> list[dict[str, Any]]:
    """pydantic errors without the offending input (it may hold a secret)."""
    out = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = ".".join(str(part) for part in error.get("loc", ())) or "body"
        message = "unknown field" if error.get("type") == "extra_forbidden" else error.get("msg", "invalid")
        out.append({"field": loc, "message": message, "type": error.get("type")})
    return out
