"""go-swagger framework errors (API-NOTES §1.3), error mapping (§1.2) and auth (§9)."""

from __future__ import annotations

from typing import Any

import pytest

from octavia_loxilb.emulator.errors import classify
from tests.conftest import EmulatorFactory
from tests.contract.conftest import Raw, assert_framework_error, assert_loxi_error, rule_body

RULE_PATH = "/config/loadbalancer"


def _post_bytes(raw: Raw, path: str, data: bytes, content_type: str | None) -> Any:
    headers = {"Content-Type": content_type} if content_type else {}
    return raw.session.post(raw.node.url + path, data=data, headers=headers, timeout=10)


def test_missing_body_is_602(raw: Raw) -> None:
    """§1.3: an empty body is ``attr in body is required``."""
    message = assert_framework_error(_post_bytes(raw, RULE_PATH, b"", None), 422, 602)
    assert message == "attr in body is required"


def test_missing_content_type_is_415(raw: Raw) -> None:
    """§1.3: a body without a JSON content type is 415 naming the type."""
    response = _post_bytes(raw, RULE_PATH, b"{}", None)
    message = assert_framework_error(response, 415, 415)
    assert "only [application/json] are allowed" in message


def test_json_with_charset_is_accepted(raw: Raw) -> None:
    """§1.1: ``application/json; charset=utf-8`` is JSON."""
    import json

    data = json.dumps(rule_body()).encode()
    assert _post_bytes(raw, RULE_PATH, data, "application/json; charset=utf-8").ok


@pytest.mark.parametrize(
    "data",
    [
        b'{"serviceArguments":{"externalIP":"1.1.1.1","port":"80"},"endpoints":[]}',
        b'{"serviceArguments":{"externalIP":"1.1.1.1","port":80.5},"endpoints":[]}',
        b'{"serviceArguments":{"externalIP":"1.1.1.1","port":80,"probeport":70000},'
        b'"endpoints":[]}',
        b"[1,2]",
    ],
)
def test_type_mismatch_is_400(raw: Raw, data: bytes) -> None:
    """§1.3: a JSON type mismatch (or an out-of-range integer) is a 400 parse error."""
    response = _post_bytes(raw, RULE_PATH, data, "application/json")
    message = assert_framework_error(response, 400, 400)
    assert message.startswith('parsing attr body from "" failed, because ')


@pytest.mark.parametrize(
    ("mutate", "code", "needle"),
    [
        (lambda b: b.pop("serviceArguments"), 602, "serviceArguments in body is required"),
        (lambda b: b["endpoints"][0].pop("weight"), 602, "endpoints.0.weight in body"),
        (lambda b: b["endpoints"][0].update(endpointIP=None), 602, "endpoints.0.endpointIP"),
        (lambda b: b["serviceArguments"].pop("externalIP"), 602, "externalIP in body is"),
        (lambda b: b["serviceArguments"].update(sel=9), 606, "should be one of [0 1 2 3 4 5 6]"),
        (lambda b: b["serviceArguments"].update(mode=6), 606, "mode in body should be one of"),
        (lambda b: b["serviceArguments"].update(security=3), 606, "security in body should"),
    ],
)
def test_validation_errors(raw: Raw, mutate: Any, code: int, needle: str) -> None:
    """§1.3: required (602) and enum (606) violations are 422 with the field path."""
    body = rule_body()
    mutate(body)
    message = assert_framework_error(raw.post(RULE_PATH, body), 422, code)
    assert needle in message


def test_only_first_validation_error_in_documented_order(raw: Raw) -> None:
    """§1.3: endpoints are checked before serviceArguments; mode before sel."""
    body = rule_body(sel=9, mode=9)
    body["endpoints"][0].pop("weight")
    assert "endpoints.0.weight" in assert_framework_error(raw.post(RULE_PATH, body), 422, 602)
    body = rule_body(sel=9, mode=9)
    assert "mode" in assert_framework_error(raw.post(RULE_PATH, body), 422, 606)


def test_zero_values_pass_required_checks(raw: Raw) -> None:
    """§1.3: presence is enough: port 0 and weight 0 pass; [] endpoints reach LoxiLB."""
    body = rule_body(("10.0.1.10", 0, 0), port=0, protocol="icmp")
    assert raw.post(RULE_PATH, body).ok
    empty = rule_body(port=81)
    empty["endpoints"] = []
    assert_loxi_error(raw.post(RULE_PATH, empty), 400, "endpoints-range error")


def test_path_parameter_type_is_601(raw: Raw) -> None:
    """§1.3: a non-number ``port`` path parameter is 422 with code 601."""
    path = "/config/loadbalancer/externalipaddress/10.0.0.1/port/abc/protocol/tcp"
    assert "port in path" in assert_framework_error(raw.delete(path), 422, 601)


def test_404_and_405_messages(raw: Raw) -> None:
    """§1.3: unknown path and wrong method carry go-openapi's messages."""
    assert assert_framework_error(raw.get("/nope"), 404, 404) == (
        "path /netlox/v1/nope was not found"
    )
    response = raw.session.put(raw.node.url + "/config/loadbalancer/all", timeout=10)
    message = assert_framework_error(response, 405, 405)
    assert message == "method PUT is not allowed, but [DELETE GET] are"
    assert set(response.headers["Allow"].split(",")) == {"DELETE", "GET"}


@pytest.mark.parametrize(
    ("raw_error", "status"),
    [
        ("no-rule error", 404),
        ("lbrule not-exists error", 404),
        ("User not found", 404),
        ("invalid token", 401),
        ("lbrule-exists error", 409),
        ("LB Rule-referred", 409),
        ("malformed-proto error", 400),
        ("endpoints-range error", 400),
        ("rule-allowed-src error", 400),
        ("rule-hwm error", 403),
        ("loxilb BGP mode is disabled", 403),
        ("maintenance", 503),
        ("secIP modify error", 500),
        ("proxy-proto-v2 not tcp service error", 500),
        ("bfd interval too low", 500),
    ],
)
def test_needle_table(raw_error: str, status: int) -> None:
    """§1.2: first-match needle mapping; unmatched strings are 500 with the raw message."""
    got, message = classify(raw_error)
    assert got == status
    if status == 500:
        assert message == raw_error


def test_legacy_errors_leave_framework_errors_alone(emulator_factory: EmulatorFactory) -> None:
    """§0.2/§11: legacy mode changes LoxiLB errors only, not go-swagger's."""
    raw = Raw(emulator_factory(datapath=False, legacy_errors=True))
    missing = raw.delete("/config/loadbalancer/externalipaddress/10.0.0.1/port/80/protocol/tcp")
    assert (missing.status_code, missing.json()) == (200, {"result": "no-rule error"})
    assert_framework_error(raw.post(RULE_PATH, rule_body(protocol="TCP")), 422, 606)


def test_no_auth_accepts_anything(raw: Raw) -> None:
    """§9: without auth flags any Authorization value is accepted; login is 501."""
    assert raw.get("/config/port/all", headers={"Authorization": "whatever"}).ok
    login = raw.post("/auth/login", {"username": "a", "password": "b"})
    assert login.status_code == 501
    assert login.json() == "operation auth.PostAuthLogin has not yet been implemented"


def test_user_service_login_logout(emulator_factory: EmulatorFactory) -> None:
    """§9: login returns a token; wrong password 200 {}; unknown user 404; logout revokes."""
    raw = Raw(emulator_factory(datapath=False, users={"admin": "pw"}))
    assert raw.get("/version").ok  # never needs a token
    assert raw.post("/auth/login", {"username": "admin", "password": "bad"}).json() == {}
    assert_loxi_error(
        raw.post("/auth/login", {"username": "eve", "password": "x"}), 404, "User not found"
    )
    token = raw.post("/auth/login", {"username": "admin", "password": "pw"}).json()["token"]
    headers = {"Authorization": token}
    assert raw.post(RULE_PATH, rule_body(), headers=headers).ok
    missing = raw.get("/config/loadbalancer/all")
    assert missing.json() == {"code": 401, "message": "unauthenticated for invalid credentials"}
    logout = raw.session.post(raw.node.url + "/auth/logout", headers=headers, timeout=10)
    assert (logout.status_code, logout.content) == (200, b"")
    assert raw.get("/config/loadbalancer/all", headers=headers).status_code == 500


def test_auth_runs_after_routing(emulator_factory: EmulatorFactory) -> None:
    """§1.3: the router answers 404 before authentication is checked."""
    raw = Raw(emulator_factory(datapath=False, manual_token="t"))
    assert raw.get("/nope").status_code == 404
    assert raw.get("/config/port/all").status_code == 401
