"""One test per gotcha of API-NOTES §0 (items 1-20), against raw HTTP."""

from __future__ import annotations

import pytest

from tests.conftest import EmulatorFactory
from tests.contract.conftest import (
    CONFLICT,
    Raw,
    assert_framework_error,
    assert_loxi_error,
    rule_body,
)


def test_01_success_is_200_result_success(raw: Raw) -> None:
    """§0.1: every handled POST and DELETE answers 200 ``{"result":"Success"}``."""
    created = raw.post("/config/loadbalancer", rule_body())
    deleted = raw.delete("/config/loadbalancer/externalipaddress/10.0.0.100/port/80/protocol/tcp")
    for response in (created, deleted):
        assert response.status_code == 200
        assert response.json() == {"result": "Success"}
        assert response.text.endswith("\n")


def test_02_error_body_and_legacy_style(raw: Raw, emulator_factory: EmulatorFactory) -> None:
    """§0.2: errors carry code/fields:null/message/result; legacy mode is 200 with result."""
    raw.post("/config/loadbalancer", rule_body())
    again = raw.post("/config/loadbalancer", rule_body())
    assert_loxi_error(again, 409, "lbrule-exists error")
    assert again.json()["message"] == CONFLICT

    legacy = Raw(emulator_factory(datapath=False, legacy_errors=True))
    legacy.post("/config/loadbalancer", rule_body())
    old = legacy.post("/config/loadbalancer", rule_body())
    assert old.status_code == 200
    assert old.json() == {"result": "lbrule-exists error"}


def test_03_dsr_without_hash_is_a_200_error(raw: Raw) -> None:
    """§0.3: DSR with sel≠1 answers 200 with an error result and creates nothing."""
    response = raw.post("/config/loadbalancer", rule_body(("10.0.1.10", 80), mode=3, sel=0))
    assert response.status_code == 200
    assert response.json() == {
        "result": "Error: Only Hash Selection criteria allowed for DSR mode"
    }
    assert raw.rules() == []


def test_04_framework_errors_have_their_own_shape(raw: Raw) -> None:
    """§0.4: 422 (602/606), 400 bad JSON, 415 content type, 404 path, 405 with Allow."""
    body = rule_body()
    del body["endpoints"]
    assert_framework_error(raw.post("/config/loadbalancer", body), 422, 602)
    assert_framework_error(raw.post("/config/loadbalancer", rule_body(protocol="TCP")), 422, 606)
    bad_json = raw.session.post(
        raw.node.url + "/config/loadbalancer",
        data=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert_framework_error(bad_json, 400, 400)
    wrong_type = raw.session.post(
        raw.node.url + "/config/loadbalancer",
        data=b"{}",
        headers={"Content-Type": "text/plain"},
    )
    assert_framework_error(wrong_type, 415, 415)
    assert_framework_error(raw.get("/config/nothing/here"), 404, 404)
    not_allowed = raw.get("/config/loadbalancer/name/x")
    assert_framework_error(not_allowed, 405, 405)
    assert not_allowed.headers["Allow"] == "DELETE"


def test_05_rule_identity_ignores_name_mode_sel(raw: Raw) -> None:
    """§0.5: the key is VIP/proto/port/portMax/block/host; name, mode, sel are not in it."""
    assert raw.post("/config/loadbalancer", rule_body(name="a")).status_code == 200
    renamed = raw.post("/config/loadbalancer", rule_body(name="b", sel=1))
    assert renamed.status_code == 200
    assert len(raw.rules()) == 1
    assert raw.post("/config/loadbalancer", rule_body(block=7)).status_code == 200
    assert raw.post("/config/loadbalancer", rule_body(host="example.org")).status_code == 200
    assert raw.post("/config/loadbalancer", rule_body(portMax=90)).status_code == 200
    assert len(raw.rules()) == 4


def test_06_repost_updates_or_conflicts(raw: Raw) -> None:
    """§0.6: undetected fields alone give 409; with a real change only inactiveTimeOut applies."""
    raw.post("/config/loadbalancer", rule_body(name="orig", inactiveTimeOut=100))
    for field, value in (
        ("inactiveTimeOut", 50),
        ("probeTimeout", 5),
        ("probeRetries", 5),
        ("monitor", True),
        ("bgp", True),
        ("name", "other"),
        ("managed", True),
        ("privateIP", "10.9.9.9"),
    ):
        service = {"name": "orig", "inactiveTimeOut": 100, field: value}
        response = raw.post("/config/loadbalancer", rule_body(**service))
        assert_loxi_error(response, 409, "lbrule-exists error")
    changed = rule_body("10.0.1.10", "10.0.1.11", name="new", inactiveTimeOut=50, monitor=True)
    assert raw.post("/config/loadbalancer", changed).status_code == 200
    args = raw.rule()["serviceArguments"]
    assert args["name"] == "orig"
    assert args["inactiveTimeOut"] == 50
    assert "monitor" not in args


@pytest.mark.parametrize("count", [0, 33])
def test_07_endpoints_must_be_1_to_32(raw: Raw, count: int) -> None:
    """§0.7: an empty or oversized endpoint list is ``400 endpoints-range error``."""
    body = rule_body()
    body["endpoints"] = [
        {"endpointIP": f"10.0.1.{i + 1}", "targetPort": 80, "weight": 1} for i in range(count)
    ]
    assert_loxi_error(raw.post("/config/loadbalancer", body), 400, "endpoints-range error")


def test_08_removed_endpoints_keep_slots_until_rebuild(raw: Raw, emulator_factory) -> None:
    """§0.8: removed endpoints stay hidden in the list; past 32 the rule is rebuilt."""
    raw.post("/config/loadbalancer", rule_body(*[f"10.0.1.{i}" for i in range(1, 21)]))
    raw.post("/config/loadbalancer", rule_body(*[f"10.0.2.{i}" for i in range(1, 11)]))
    stored = raw.node.state.rules.rules[("10.0.0.100", "tcp", 80, 80, 0, "")]
    assert len(stored.endpoints) == 30
    assert sum(ep.removed for ep in stored.endpoints) == 20
    assert [e["endpointIP"] for e in raw.rule()["endpoints"]] == [
        f"10.0.2.{i}" for i in range(1, 11)
    ]
    raw.post("/config/loadbalancer", rule_body(*[f"10.0.3.{i}" for i in range(1, 6)]))
    assert len(stored.endpoints) == 5
    assert not any(ep.removed for ep in stored.endpoints)


def test_09_weights_are_stored_as_uint8_and_returned(raw: Raw) -> None:
    """§0.9: weights are kept (truncated to uint8) and returned whatever ``sel`` is."""
    raw.post("/config/loadbalancer", rule_body(("10.0.1.10", 80, 300), ("10.0.1.11", 80, 0)))
    weights = {e["endpointIP"]: e["weight"] for e in raw.rule()["endpoints"]}
    assert weights == {"10.0.1.10": 44, "10.0.1.11": 0}


def test_10_monitor_fixed_http_probe_rejected(raw: Raw) -> None:
    """§0.10: rule-level http/https probes are 400; existing endpoints keep their probe."""
    for probe in ("http", "https"):
        response = raw.post("/config/loadbalancer", rule_body(probetype=probe, probeport=80))
        assert_loxi_error(response, 400, "malformed-service-ptype error")
    raw.post("/config/loadbalancer", rule_body())
    update = rule_body("10.0.1.10", "10.0.1.11", probetype="ping", monitor=True)
    assert raw.post("/config/loadbalancer", update).status_code == 200
    hosts = raw.hosts()
    assert hosts["10.0.1.10_tcp_8080"]["probeType"] == "none"
    assert hosts["10.0.1.11_tcp_8080"]["probeType"] == "none"  # monitor still off: not probing
    assert "monitor" not in raw.rule()["serviceArguments"]


def test_11_get_shape(raw: Raw) -> None:
    """§0.11: lbAttr, omitempty, nulls, hidden fields, endpoint state and counter."""
    raw.post("/config/loadbalancer", rule_body(name="lsnr-1", probeTimeout=9, privateIP="1.1.1.1"))
    assert raw.get("/config/loadbalancer/all").json() == {
        "lbAttr": [
            {
                "allowedSources": None,
                "endpoints": [
                    {
                        "counter": "0:0",
                        "endpointIP": "10.0.1.10",
                        "state": "active",
                        "targetPort": 8080,
                        "weight": 1,
                    }
                ],
                "secondaryIPs": None,
                "serviceArguments": {
                    "externalIP": "10.0.0.100",
                    "inactiveTimeOut": 240,
                    "name": "lsnr-1",
                    "port": 80,
                    "protocol": "tcp",
                },
            }
        ]
    }


def test_11_rule_order_is_random(raw: Raw) -> None:
    """§0.11: rule order changes between calls (Go map iteration)."""
    for port in range(1, 11):
        raw.post("/config/loadbalancer", rule_body(port=port))
    orders = {tuple(r["serviceArguments"]["port"] for r in raw.rules()) for _ in range(20)}
    assert len(orders) > 1


def test_12_delete_by_name_always_200_and_no_get(raw: Raw) -> None:
    """§0.12: DELETE by name removes every match, 200 even with none; GET there is 405."""
    raw.post("/config/loadbalancer", rule_body(port=80, name="x"))
    raw.post("/config/loadbalancer", rule_body(port=81, name="x"))
    raw.post("/config/loadbalancer", rule_body(port=82, name="y"))
    assert raw.delete("/config/loadbalancer/name/x").json() == {"result": "Success"}
    assert [r["serviceArguments"]["name"] for r in raw.rules()] == ["y"]
    assert raw.delete("/config/loadbalancer/name/none").status_code == 200
    assert raw.get("/config/loadbalancer/name/y").status_code == 405


def test_13_delete_missing_tuple_is_404(raw: Raw) -> None:
    """§0.13: deleting a rule that does not exist gives ``404 no-rule error``."""
    response = raw.delete("/config/loadbalancer/externalipaddress/10.0.0.1/port/80/protocol/tcp")
    assert_loxi_error(response, 404, "no-rule error")
    assert response.json()["message"] == "Resource not found"


def test_14_protocol_lowercase_and_required(raw: Raw) -> None:
    """§0.14: no protocol is ``400 malformed-proto error``; ``TCP`` fails the enum (422)."""
    missing = raw.post("/config/loadbalancer", rule_body(protocol=None))
    assert_loxi_error(missing, 400, "malformed-proto error")
    upper = raw.post("/config/loadbalancer", rule_body(protocol="TCP"))
    assert_framework_error(upper, 422, 606)


def test_15_tokens_raw_header_and_500s(emulator_factory: EmulatorFactory) -> None:
    """§0.15: raw Authorization header; unknown token 500, only a missing one 401."""
    users = Raw(emulator_factory(datapath=False, users={"admin": "pw"}))
    token = users.post("/auth/login", {"username": "admin", "password": "pw"}).json()["token"]
    assert users.get("/config/loadbalancer/all", headers={"Authorization": token}).ok
    bearer = users.get("/config/loadbalancer/all", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 500
    assert bearer.json() == {"code": 500, "message": "Token not found"}
    assert users.get("/config/loadbalancer/all").status_code == 401

    manual = Raw(emulator_factory(datapath=False, manual_token="s3cret"))
    assert manual.get("/config/port/all", headers={"Authorization": "s3cret"}).ok
    wrong = manual.get("/config/port/all", headers={"Authorization": "nope"})
    assert wrong.status_code == 500
    assert wrong.json() == {"code": 500, "message": "invalid token"}


def test_16_nothing_persists_across_restart(raw: Raw) -> None:
    """§0.16: a restart wipes rules and probe hosts; nothing comes back by itself."""
    raw.post("/config/loadbalancer", rule_body())
    raw.post("/config/endpoint", {"hostName": "10.0.9.9", "probeType": "ping"})
    raw.hook("POST", "restart")
    assert raw.rules() == []
    assert raw.hosts() == {}


def test_17_bgp_flag_is_accepted_and_kept(raw: Raw) -> None:
    """§0.17: ``bgp`` is stored at creation and ``?bgp=true`` is accepted on DELETE.

    The emulator does not model BGP route reference counting (no BGP speaker).
    """
    raw.post("/config/loadbalancer", rule_body(bgp=True))
    assert raw.rule()["serviceArguments"]["bgp"] is True
    path = "/config/loadbalancer/externalipaddress/10.0.0.100/port/80/protocol/tcp?bgp=true"
    assert raw.delete(path).status_code == 200


def test_18_allowed_sources_only_on_first_28_rules(raw: Raw) -> None:
    """§0.18: allowedSources need a rule number ≤ 28; later rules get 400."""
    for port in range(1, 29):
        assert raw.post("/config/loadbalancer", rule_body(port=port)).status_code == 200
    late = raw.post("/config/loadbalancer", rule_body(port=29, sources=["192.0.2.0/24"]))
    assert_loxi_error(late, 400, "rule-allowed-src error")
    raw.delete("/config/loadbalancer/externalipaddress/10.0.0.100/port/5/protocol/tcp")
    reused = raw.post("/config/loadbalancer", rule_body(port=29, sources=["192.0.2.0/24"]))
    assert reused.status_code == 200
    assert raw.rule(29)["allowedSources"] == [{"prefix": "192.0.2.0/24"}]


def test_19_cistate_nil_vip_and_ipv4address_fail(raw: Raw) -> None:
    """§0.19: an empty cistate vip shows ``<nil>``; ipv4address failures are 200 fail."""
    assert raw.post("/config/cistate", {"instance": "llb-inst0", "state": "BACKUP"}).ok
    states = raw.get("/config/cistate/all").json()["Attr"]
    assert states == [{"instance": "llb-inst0", "state": "BACKUP", "sync": None, "vip": "<nil>"}]
    bad = raw.post("/config/ipv4address", {"dev": "eth0", "ipAddress": "not-a-cidr"})
    assert bad.status_code == 200
    assert bad.json() == {"result": "fail"}


def test_20_enum_case_sensitive_keys_case_insensitive(raw: Raw) -> None:
    """§0.20: keys match case-insensitively, unknown keys are ignored, enums are exact."""
    body = rule_body(Name="folded", unknownKey=1)
    body["ServiceArguments"] = body.pop("serviceArguments")
    assert raw.post("/config/loadbalancer", body).status_code == 200
    assert raw.rule()["serviceArguments"]["name"] == "folded"
    enum = raw.post("/config/loadbalancer", rule_body(port=81, probetype="PING"))
    assert_framework_error(enum, 422, 606)
