"""Typed LoxiLB failures, mapped from HTTP status plus LoxiLB's ``result`` text.

Callers branch on the class (``RuleExists`` is not an error for an identical rule,
``NotFound`` on delete means "already gone", ``Unavailable`` is worth retrying), so the
mapping lives here once. Two error styles reach us (API-NOTES §0.2, §1.2, §1.3):

* v0.9.8.5+: a non-2xx status with ``{"code","message","result"}`` (or the framework's
  ``{"code","message"}``);
* v0.9.8.4 and earlier: ``200 {"result":"<raw error>"}``. These carry no status, so the
  class is chosen by the same needle table LoxiLB itself uses for the status (§1.2).
"""

from __future__ import annotations

from typing import Any

SUCCESS = "success"


class LoxiLBError(Exception):
    """A LoxiLB call failed; carries what the node said and which node said it."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        result: str | None = None,
        node: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.result = result
        self.node = node
        self.method = method
        self.path = path
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = " ".join(p for p in (self.node, self.method, self.path) if p)
        status = f"HTTP {self.status}: " if self.status is not None else ""
        detail = self.result if self.result and self.result != self.message else ""
        text = f"{status}{self.message}" + (f" ({detail})" if detail else "")
        return f"{where}: {text}" if where else text


class NotFound(LoxiLBError):
    """404, or a legacy ``not-exists``/``no-rule``/``not found`` result."""


class Conflict(LoxiLBError):
    """409: a conflicting object, or a change LoxiLB refuses (``cant modify ...``)."""


class RuleExists(Conflict):
    """``409 lbrule-exists error``: the POSTed rule equals the stored one (§0.6)."""


class InvalidRequest(LoxiLBError):
    """400/422 and other framework rejections (405, 406, 415): the request is wrong."""


class AuthenticationError(LoxiLBError):
    """401, the 500 ``invalid token``/``Token not found`` forms (§0.15), or a refused login."""


class CapacityError(LoxiLBError):
    """403: LoxiLB is out of a resource (``rule-hwm``, capacity) or in a restricted mode."""


class Unavailable(LoxiLBError):
    """The node could not answer: 503 maintenance, a connection error or a timeout.

    ``outcome_unknown`` is True when the request may have reached LoxiLB and been applied
    (a read timeout, a connection reset after sending, a gateway timeout); a write must
    then be resolved by reading back, never replayed blindly.
    """

    def __init__(self, message: str, *, outcome_unknown: bool = False, **kwargs: Any) -> None:
        self.outcome_unknown = outcome_unknown
        super().__init__(message, **kwargs)


class TLSError(Unavailable):
    """The TLS handshake failed (untrusted server certificate, refused client certificate)."""


class ServerError(LoxiLBError):
    """Any other 5xx, including LoxiLB's catch-all 500 with the raw error string."""


# LoxiLB's own status mapping (handler/common.go:66-150), first match wins (§1.2).
_NEEDLES: tuple[tuple[int, tuple[str, ...]], ...] = (
    (404, ("not-exists", "not found", "no such", "ephost-notfound", "host-notfound",
           "no-rule error", "no bfd session")),
    (401, ("invalid token", "token is expired", "token not fou", "user not found")),
    (409, ("lbrule-exist error", "lbrule-exists error", " exists", " existing ",
           "lb rule-referred", "cant modify", "ep-host add failed as cluster node")),
    (400, ("malformed", "invalid ", "range", "service-args error", "non-udp-n3-args error",
           "secondaryip-args", "host-args error", "hostarm-args error",
           "unknown ep-host-state", "rule-allowed-src error", "proto error")),
    (403, ("capacity", "rule-hwm", " hwm", "loxilb bgp mode is disabled",
           "running in bgp only mode")),
    (503, ("not-ready", "timeout", "maintenance")),
)

# The DSR/sel check answers 200 in every version (§0.3); it is a request error.
_ALWAYS_INVALID = ("only hash selection criteria",)

_TOKEN_NEEDLES = ("invalid token", "token not found", "token is expired")


def status_for_result(result: str) -> int:
    """The status LoxiLB v0.9.8.5+ would send for a raw error string (§1.2)."""
    lowered = result.lower()
    for status, needles in _NEEDLES:
        if any(needle in lowered for needle in needles):
            return status
    return 500


def _is_rule_exists(text: str) -> bool:
    lowered = text.lower()
    return "lbrule-exists error" in lowered and "cant modify" not in lowered


def _class_for(status: int, text: str) -> type[LoxiLBError]:
    lowered = text.lower()
    if status == 404:
        return NotFound
    if status == 409:
        return RuleExists if _is_rule_exists(text) else Conflict
    if status == 401:
        return AuthenticationError
    if status == 403:
        return AuthenticationError if "permission denied" in lowered else CapacityError
    if status in (502, 503, 504):
        return Unavailable
    if status >= 500:
        return AuthenticationError if any(n in lowered for n in _TOKEN_NEEDLES) else ServerError
    return InvalidRequest


def _body_texts(body: Any) -> tuple[str, str | None]:
    """(message, result) from any body shape LoxiLB or its framework sends."""
    if isinstance(body, dict):
        result = body.get("result")
        message = body.get("message") or result or ""
        return str(message), (str(result) if result is not None else None)
    if body is None:
        return "", None
    return str(body).strip(), None


def result_failure(body: Any) -> str | None:
    """The raw error string of a 2xx body that is nevertheless a failure, else None.

    A 2xx counts as success unless its body carries a ``result`` that is not ``Success``
    (legacy errors, the DSR quirk, ipv4address's ``{"result":"fail"}``).
    """
    if isinstance(body, dict) and "result" in body:
        result = str(body.get("result") or "")
        if result.strip().lower() != SUCCESS:
            return result
    return None


def error_from_response(
    status: int,
    body: Any,
    *,
    node: str | None = None,
    method: str | None = None,
    path: str | None = None,
) -> LoxiLBError | None:
    """The error a response stands for, or None when it is a success."""
    where: dict[str, Any] = {"node": node, "method": method, "path": path}
    if 200 <= status < 300:
        failure = result_failure(body)
        if failure is None:
            return None
        lowered = failure.lower()
        if any(needle in lowered for needle in _ALWAYS_INVALID):
            cls: type[LoxiLBError] = InvalidRequest
        else:
            cls = _class_for(status_for_result(failure), failure)
        return _build(cls, failure, status=status, result=failure, gateway=False, **where)
    message, result = _body_texts(body)
    text = " ".join(t for t in (message, result or "") if t)
    cls = _class_for(status, text)
    return _build(cls, message or f"HTTP {status}", status=status, result=result,
                  gateway=status in (502, 504), **where)


def _build(
    cls: type[LoxiLBError], message: str, *, gateway: bool, **kwargs: Any
) -> LoxiLBError:
    if issubclass(cls, Unavailable):
        return cls(message, outcome_unknown=gateway, **kwargs)
    return cls(message, **kwargs)
