"""Mapping of LoxiLB answers to error classes: both error styles (API-NOTES §0.2, §1.2, §1.3)."""

from __future__ import annotations

import pytest

from octavia_loxilb.loxilb import errors


def _loxilb_body(status: int, message: str, result: str) -> dict[str, object]:
    return {"code": status, "fields": None, "message": message, "result": result}


CURRENT_STYLE = [
    (404, _loxilb_body(404, "Resource not found", "no-rule error"), errors.NotFound),
    (409, _loxilb_body(409, "Resource conflict", "lbrule-exists error"), errors.RuleExists),
    (409, _loxilb_body(409, "Resource conflict",
                       "lbrule-exist error: cant modify rule security mode"), errors.Conflict),
    (409, _loxilb_body(409, "Resource conflict", "LB Rule-referred"), errors.Conflict),
    (400, _loxilb_body(400, "Malformed arguments for API call", "endpoints-range error"),
     errors.InvalidRequest),
    (422, {"code": 602, "message": "endpoints in body is required"}, errors.InvalidRequest),
    (400, {"code": 400, "message": "parsing attr body from \"\" failed"}, errors.InvalidRequest),
    (415, {"code": 415, "message": "unsupported media type"}, errors.InvalidRequest),
    (405, {"code": 405, "message": "method GET is not allowed, but [DELETE] are"},
     errors.InvalidRequest),
    (401, {"code": 401, "message": "unauthenticated for invalid credentials"},
     errors.AuthenticationError),
    (500, {"code": 500, "message": "Token not found"}, errors.AuthenticationError),
    (500, {"code": 500, "message": "invalid token"}, errors.AuthenticationError),
    (403, {"code": 403, "message": "Permission denied"}, errors.AuthenticationError),
    (403, _loxilb_body(403, "Capacity insufficient", "rule-hwm error"), errors.CapacityError),
    (503, _loxilb_body(503, "Maintenance mode", "not-ready"), errors.Unavailable),
    (500, _loxilb_body(500, "secIP modify error", "secIP modify error"), errors.ServerError),
    (502, "Bad Gateway", errors.Unavailable),
    (501, "operation auth.PostAuthLogin has not yet been implemented", errors.ServerError),
]


@pytest.mark.parametrize(("status", "body", "expected"), CURRENT_STYLE)
def test_non_2xx_answers_map_by_status_and_text(
    status: int, body: object, expected: type[errors.LoxiLBError]
) -> None:
    error = errors.error_from_response(status, body, node="n1", method="POST", path="/p")
    assert type(error) is expected
    assert error.status == status and error.node == "n1"


LEGACY_STYLE = [
    ("no-rule error", errors.NotFound),
    ("lbrule not-exists error", errors.NotFound),
    ("host-notfound error", errors.NotFound),
    ("lbrule-exists error", errors.RuleExists),
    ("lbrule-exist error: cant modify fullproxy rule mode", errors.Conflict),
    ("malformed-service error", errors.InvalidRequest),
    ("endpoints-range error", errors.InvalidRequest),
    ("rule-hwm error", errors.CapacityError),
    ("loxilb BGP mode is disabled", errors.CapacityError),
    ("not-ready", errors.Unavailable),
    ("invalid token", errors.AuthenticationError),
    ("Error: Only Hash Selection criteria allowed for DSR mode", errors.InvalidRequest),
    ("secIP modify error", errors.ServerError),
    ("fail", errors.ServerError),
]


@pytest.mark.parametrize(("result", "expected"), LEGACY_STYLE)
def test_legacy_200_errors_map_by_loxilbs_needle_table(
    result: str, expected: type[errors.LoxiLBError]
) -> None:
    error = errors.error_from_response(200, {"result": result})
    assert type(error) is expected
    assert error.result == result and error.status == 200


def test_needle_order_is_loxilbs_first_match() -> None:
    # "user not found" is listed under 401 but the 404 needle "not found" is tested first.
    assert errors.status_for_result("user not found") == 404
    assert errors.status_for_result("LB Rule-referred") == 409
    assert errors.status_for_result("something unheard of") == 500


@pytest.mark.parametrize("body", [{"result": "Success"}, {"lbAttr": []}, None, "text",
                                  {"token": "abc"}, {}])
def test_2xx_without_a_failing_result_is_success(body: object) -> None:
    assert errors.error_from_response(200, body) is None


def test_outcome_is_unknown_only_when_the_request_may_have_been_applied() -> None:
    maintenance = errors.error_from_response(503, {"code": 503, "result": "maintenance"})
    gateway_timeout = errors.error_from_response(504, "Gateway Timeout")
    legacy_not_ready = errors.error_from_response(200, {"result": "not-ready"})
    assert isinstance(maintenance, errors.Unavailable) and not maintenance.outcome_unknown
    assert isinstance(gateway_timeout, errors.Unavailable) and gateway_timeout.outcome_unknown
    assert isinstance(legacy_not_ready, errors.Unavailable)
    assert not legacy_not_ready.outcome_unknown


def test_message_names_node_call_and_loxilb_text() -> None:
    error = errors.error_from_response(
        409, _loxilb_body(409, "Resource conflict", "lbrule-exists error"),
        node="http://127.0.0.1:11111", method="POST", path="/config/loadbalancer")
    assert str(error) == ("http://127.0.0.1:11111 POST /config/loadbalancer: HTTP 409: "
                          "Resource conflict (lbrule-exists error)")
