"""LoxiLB's two error worlds: handler errors mapped by needle, and framework errors.

LoxiLB turns an internal error string into an HTTP status by case-insensitive substring
matching, first table row wins (API-NOTES §1.2). The go-swagger framework answers before the
handler runs with its own body shape (§1.3). Keeping both here lets the state code raise plain
LoxiLB error strings and leaves the wire form to one place.
"""

from __future__ import annotations

import json
from typing import Any

SUCCESS: dict[str, str] = {"result": "Success"}

_CONFLICT = "Resource conflict: Resource already exists OR dependency not found"

# (status, message, needles) in LoxiLB's order; the first needle found wins (§1.2).
# "host-args" and "host-parse" cover the 400s §3.1 documents for /config/endpoint.
NEEDLE_TABLE: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        404,
        "Resource not found",
        (
            "not-exists",
            "not found",
            "no such",
            "ephost-notfound",
            "host-notfound",
            "no-rule error",
            "no bfd session",
        ),
    ),
    (
        401,
        "Invalid authentication credentials",
        ("invalid token", "token is expired", "token not fou", "user not found"),
    ),
    (
        409,
        _CONFLICT,
        (
            "lbrule-exist error",
            "lbrule-exists error",
            " exists",
            " existing ",
            "lb rule-referred",
            "cant modify",
            "ep-host add failed as cluster node",
        ),
    ),
    (
        400,
        "Malformed arguments for API call",
        (
            "malformed",
            "invalid ",
            "range",
            "service-args error",
            "non-udp-n3-args error",
            "secondaryip-args",
            "host-args",
            "host-parse",
            "hostarm-args error",
            "unknown ep-host-state",
            "rule-allowed-src error",
            "proto error",
        ),
    ),
    (
        403,
        "Capacity insufficient",
        (
            "capacity",
            "rule-hwm",
            " hwm",
            "loxilb bgp mode is disabled",
            "running in bgp only mode",
        ),
    ),
    (503, "Maintenance mode", ("not-ready", "timeout", "maintenance")),
)


class LoxiError(Exception):
    """An error LoxiLB's handler returns; ``raw`` is the internal error string."""

    def __init__(self, raw: str) -> None:
        super().__init__(raw)
        self.raw = raw


class FrameworkError(Exception):
    """An error go-swagger returns before the handler runs (§1.3): ``{"code","message"}``."""

    def __init__(
        self, status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


def classify(raw: str) -> tuple[int, str]:
    """The (status, message) LoxiLB sends for an internal error string (§1.2)."""
    lowered = raw.lower()
    for status, message, needles in NEEDLE_TABLE:
        if any(needle in lowered for needle in needles):
            return status, message
    return 500, raw


def message_for_status(status: int, raw: str) -> str:
    """The ``message`` LoxiLB pairs with a status; unmapped statuses carry the raw error."""
    for known, message, _ in NEEDLE_TABLE:
        if known == status:
            return message
    return raw


def error_reply(raw: str, legacy: bool) -> tuple[int, dict[str, Any]]:
    """Status and body for a handler error, in the v0.9.8.5+ or the legacy style (§0.2)."""
    if legacy:
        return 200, {"result": raw}
    status, message = classify(raw)
    return status, {"code": status, "fields": None, "message": message, "result": raw}


def unprocessable(code: int, message: str) -> FrameworkError:
    """A schema validation error: body codes ≥ 600 are sent as HTTP 422 (§1.3)."""
    return FrameworkError(422, code, message)


def go_json(payload: Any) -> bytes:
    """Encode like Go's ``encoding/json``: compact, HTML characters escaped, trailing newline."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return (text + "\n").encode()
