"""Rule POST/GET/DELETE semantics of API-NOTES §2.3-§2.8, against raw HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from octavia_loxilb.emulator import rules as rules_module
from tests.contract.conftest import Raw, assert_loxi_error, rule_body

RULE_PATH = "/config/loadbalancer"
TUPLE = "/config/loadbalancer/externalipaddress/10.0.0.100/port/80/protocol/tcp"


def _ips(rule: dict[str, Any]) -> list[str]:
    return [e["endpointIP"] for e in rule["endpoints"]]


@pytest.mark.parametrize(
    ("service", "extra", "status", "result"),
    [
        ({"vip": "10.0.0.300"}, {}, 400, "malformed-service error"),
        ({"privateIP": "x"}, {}, 400, "malformed-service privateIP error"),
        ({"inactiveTimeOut": 86401}, {}, 400, "service-args error"),
        ({"inactiveTimeOut": -1}, {}, 400, "service-args error"),
        ({"probetype": "tcp"}, {}, 400, "malformed-service-pport error"),
        ({"probetype": "ping", "probeport": 9}, {}, 400, "malformed-service-pport error"),
        ({"probeport": 9}, {}, 400, "malformed-service-pport error"),
        ({"protocol": "icmp", "port": 80}, {}, 400, "malformed-service error"),
        (
            {"protocol": "udp", "proxyprotocolv2": True},
            {},
            500,
            "proxy-proto-v2 not tcp service error",
        ),
        ({"protocol": "tcp", "sel": 6}, {}, 400, "non-udp-n3-args error"),
        (
            {"protocol": "sctp"},
            {"secondary": ["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4"]},
            400,
            "secondaryIP-args len error",
        ),
        ({"portMax": 79}, {}, 400, "serv-port-args range error"),
        ({"protocol": "sctp"}, {"secondary": ["bad"]}, 400, "malformed-secIP error"),
        ({"protocol": "sctp"}, {"secondary": ["fd00::1"]}, 400, "malformed-secIP nat46 error"),
        ({"mode": 5}, {}, 400, "hostarm-args error"),
        ({}, {"eps": ["nope"]}, 400, "malformed-lbep error"),
        ({}, {"eps": ["fd00::5"]}, 400, "malformed-service nat46 error"),
        ({"mode": 3, "sel": 1}, {}, 400, "malformed-service dsr-port error"),
    ],
)
def test_create_checks(
    raw: Raw, service: dict[str, Any], extra: dict[str, Any], status: int, result: str
) -> None:
    """§2.3 step 3: each check's status and raw error string."""
    eps = extra.get("eps", ["10.0.1.10"])
    body = rule_body(*eps, secondary=extra.get("secondary"), **service)
    assert_loxi_error(raw.post(RULE_PATH, body), status, result)
    assert raw.rules() == []


def test_check_order_first_error_wins(raw: Raw) -> None:
    """§2.3: the VIP is checked before the endpoint count, the count before the protocol."""
    body = rule_body(vip="bad", protocol=None)
    body["endpoints"] = []
    assert_loxi_error(raw.post(RULE_PATH, body), 400, "malformed-service error")
    body["serviceArguments"]["externalIP"] = "10.0.0.1"
    assert_loxi_error(raw.post(RULE_PATH, body), 400, "endpoints-range error")


def test_secondary_ips_ignored_unless_sctp(raw: Raw) -> None:
    """§2.1: the handler copies secondaryIPs only for SCTP rules."""
    assert raw.post(RULE_PATH, rule_body(secondary=["bad", "x", "y", "z"])).ok
    assert raw.rule()["secondaryIPs"] is None
    sctp = rule_body(port=81, protocol="sctp", secondary=["10.0.0.101"])
    assert raw.post(RULE_PATH, sctp).ok
    assert raw.rule(81)["secondaryIPs"] == [{"secondaryIP": "10.0.0.101"}]


@pytest.mark.parametrize(
    ("protocol", "port", "timeout"),
    [("tcp", 80, 240), ("sctp", 80, 240), ("udp", 53, 20), ("icmp", 0, 20)],
)
def test_inactive_timeout_defaults(raw: Raw, protocol: str, port: int, timeout: int) -> None:
    """§2.1: inactiveTimeOut 0 becomes 240 for tcp/sctp and 20 otherwise."""
    target = ("10.0.1.10", 0) if protocol == "icmp" else "10.0.1.10"
    assert raw.post(RULE_PATH, rule_body(target, protocol=protocol, port=port)).ok
    assert raw.rule(port)["serviceArguments"]["inactiveTimeOut"] == timeout


def test_monitor_forced_by_probetype(raw: Raw) -> None:
    """§2.1: a probetype other than none forces monitor on; none does not."""
    raw.post(RULE_PATH, rule_body(port=80, probetype="tcp", probeport=8080))
    raw.post(RULE_PATH, rule_body(port=81, probetype="none"))
    assert raw.rule(80)["serviceArguments"]["monitor"] is True
    assert "monitor" not in raw.rule(81)["serviceArguments"]
    assert raw.rule(81)["serviceArguments"]["probetype"] == "none"


def test_endpoints_sorted_by_last_octet_first(raw: Raw) -> None:
    """§2.4: IPtonl order: 10.0.2.5 sorts before 10.0.1.20."""
    raw.post(RULE_PATH, rule_body("10.0.1.20", "10.0.2.5", "10.0.3.5", "9.0.0.1"))
    assert _ips(raw.rule()) == ["9.0.0.1", "10.0.2.5", "10.0.3.5", "10.0.1.20"]


def test_vip_is_canonicalised_in_the_key(raw: Raw) -> None:
    """§2.4: an IPv6 VIP in another spelling is the same rule."""
    assert raw.post(RULE_PATH, rule_body("fd00::10", vip="fd00:0::1")).ok
    assert_loxi_error(
        raw.post(RULE_PATH, rule_body("fd00::10", vip="fd00::1")), 409, "lbrule-exists error"
    )
    assert raw.rule()["serviceArguments"]["externalIP"] == "fd00::1"


def test_oper0_appends_new_and_hides_removed(raw: Raw) -> None:
    """§2.5: kept endpoints stay in place, new ones are appended in sorted order."""
    raw.post(RULE_PATH, rule_body("10.0.1.30", "10.0.1.10"))
    raw.post(RULE_PATH, rule_body("10.0.1.30", "10.0.1.5", "10.0.1.1"))
    assert _ips(raw.rule()) == ["10.0.1.30", "10.0.1.1", "10.0.1.5"]
    raw.post(RULE_PATH, rule_body("10.0.1.30", "10.0.1.1", "10.0.1.5", "10.0.1.10"))
    assert _ips(raw.rule()) == ["10.0.1.10", "10.0.1.30", "10.0.1.1", "10.0.1.5"]


def test_weight_change_alone_updates(raw: Raw) -> None:
    """§2.5: a weight change counts as a change and is applied in place."""
    raw.post(RULE_PATH, rule_body(("10.0.1.10", 8080, 10)))
    assert raw.post(RULE_PATH, rule_body(("10.0.1.10", 8080, 20))).ok
    assert raw.rule()["endpoints"][0]["weight"] == 20


@pytest.mark.parametrize(
    ("field", "value"),
    [("sel", 1), ("mode", 2), ("probetype", "none"), ("proxyprotocolv2", True)],
)
def test_detected_changes_update_in_place(raw: Raw, field: str, value: Any) -> None:
    """§2.5: sel, mode, probe settings and proxy protocol are change triggers."""
    raw.post(RULE_PATH, rule_body())
    assert raw.post(RULE_PATH, rule_body(**{field: value})).ok
    assert raw.rule()["serviceArguments"][field] == value


def test_allowed_sources_count_comparison_bug(raw: Raw) -> None:
    """§2.5: same count compares by 'equals every stored prefix', so swaps are missed."""
    raw.post(RULE_PATH, rule_body(sources=["192.0.2.0/24"]))
    same = raw.post(RULE_PATH, rule_body(sources=["192.0.2.0/24"]))
    assert same.ok  # one identical prefix counts as a change
    swapped = raw.post(RULE_PATH, rule_body(sources=["198.51.100.0/24"]))
    assert_loxi_error(swapped, 409, "lbrule-exists error")
    assert raw.rule()["allowedSources"] == [{"prefix": "192.0.2.0/24"}]
    more = raw.post(RULE_PATH, rule_body(sources=["198.51.100.0/24", "192.0.2.0/24"]))
    assert more.ok
    two_same = raw.post(RULE_PATH, rule_body(sources=["198.51.100.0/24", "192.0.2.0/24"]))
    assert_loxi_error(two_same, 409, "lbrule-exists error")


def test_allowed_sources_must_be_cidr(raw: Raw) -> None:
    """§2.1: every prefix must be in CIDR form, else ``400 rule-allowed-src error``."""
    response = raw.post(RULE_PATH, rule_body(sources=["192.0.2.1"]))
    assert_loxi_error(response, 400, "rule-allowed-src error")


def test_secondary_ip_change_is_500(raw: Raw) -> None:
    """§2.5 step 1: different secondary IPs give ``500 secIP modify error`` first."""
    raw.post(RULE_PATH, rule_body(protocol="sctp", secondary=["10.0.0.101"]))
    body = rule_body("10.0.1.11", protocol="sctp", secondary=["10.0.0.102"])
    assert_loxi_error(raw.post(RULE_PATH, body), 500, "secIP modify error")


@pytest.mark.parametrize(
    ("field", "value", "result"),
    [
        ("security", 1, "lbrule-exist error: cant modify rule security mode"),
        ("egress", True, "lbrule-exist error: cant modify rule egress mode"),
        ("mode", 4, "lbrule-exist error: cant modify fullproxy rule mode"),
    ],
)
def test_unmodifiable_fields_conflict(raw: Raw, field: str, value: Any, result: str) -> None:
    """§2.5 steps 3, 4, 6: security, egress and fullproxy switches are 409s."""
    raw.post(RULE_PATH, rule_body())
    response = raw.post(RULE_PATH, rule_body("10.0.1.11", **{field: value}))
    assert_loxi_error(response, 409, result)


def test_rejected_update_leaves_merge_side_effects(raw: Raw) -> None:
    """§2.5 edge case: a 409 after the merge keeps changed weights visible."""
    raw.post(RULE_PATH, rule_body(("10.0.1.10", 8080, 1)))
    rejected = raw.post(RULE_PATH, rule_body(("10.0.1.10", 8080, 9), security=1))
    assert rejected.status_code == 409
    assert raw.rule()["endpoints"][0]["weight"] == 9


def test_oper1_attach_merges_without_removing(raw: Raw) -> None:
    """§2.6: attach adds endpoints and removes none; an unchanged attach is 409."""
    raw.post(RULE_PATH, rule_body("10.0.1.10"))
    assert raw.post(RULE_PATH, rule_body("10.0.1.11", oper=1)).ok
    assert _ips(raw.rule()) == ["10.0.1.10", "10.0.1.11"]
    again = raw.post(RULE_PATH, rule_body("10.0.1.11", oper=1))
    assert_loxi_error(again, 409, "lbrule-exists error")


def test_oper1_on_missing_key_creates(raw: Raw) -> None:
    """§2.6: attach on a missing key simply creates the rule."""
    assert raw.post(RULE_PATH, rule_body(oper=1)).ok
    assert len(raw.rules()) == 1


def test_oper2_detach_really_removes_and_last_deletes(raw: Raw) -> None:
    """§2.6: detach removes matched endpoints; detaching the last deletes the rule."""
    raw.post(RULE_PATH, rule_body("10.0.1.10", "10.0.1.11"))
    assert raw.post(RULE_PATH, rule_body("10.0.1.11", "10.0.9.9", oper=2)).ok
    assert _ips(raw.rule()) == ["10.0.1.10"]
    stored = raw.node.state.rules.rules[("10.0.0.100", "tcp", 80, 80, 0, "")]
    assert len(stored.endpoints) == 1
    unmatched = raw.post(RULE_PATH, rule_body("10.0.9.9", oper=2))
    assert_loxi_error(unmatched, 409, "lbrule-exists error")
    assert raw.post(RULE_PATH, rule_body("10.0.1.10", oper=2)).json() == {"result": "Success"}
    assert raw.rules() == []


def test_oper2_on_missing_key_is_404(raw: Raw) -> None:
    """§2.3 step 4: detach on a missing key is ``404 lbrule not-exists error``."""
    assert_loxi_error(raw.post(RULE_PATH, rule_body(oper=2)), 404, "lbrule not-exists error")


def test_removed_endpoint_reactivates(raw: Raw) -> None:
    """§2.5: re-adding a hidden endpoint reuses its slot instead of appending."""
    raw.post(RULE_PATH, rule_body("10.0.1.10", "10.0.1.11"))
    raw.post(RULE_PATH, rule_body("10.0.1.11"))
    raw.post(RULE_PATH, rule_body("10.0.1.10", "10.0.1.11"))
    stored = raw.node.state.rules.rules[("10.0.0.100", "tcp", 80, 80, 0, "")]
    assert [ep.ip for ep in stored.endpoints] == ["10.0.1.10", "10.0.1.11"]
    assert _ips(raw.rule()) == ["10.0.1.10", "10.0.1.11"]


@pytest.mark.parametrize(
    "path",
    [
        "/config/loadbalancer/externalipaddress/10.0.0.100/port/90/portmax/95/protocol/tcp",
        "/config/loadbalancer/hosturl/any/externalipaddress/10.0.0.100/port/90/portmax/95/"
        "protocol/tcp",
    ],
)
def test_delete_port_range_variants(raw: Raw, path: str) -> None:
    """§2.7: portmax variants address range rules; ``any`` host means none."""
    raw.post(RULE_PATH, rule_body(port=90, portMax=95))
    assert raw.rule(90)["serviceArguments"]["portMax"] == 95
    assert raw.delete(path).json() == {"result": "Success"}
    assert raw.rules() == []


def test_delete_by_hosturl_and_block(raw: Raw) -> None:
    """§2.7: hosturl and the ``block`` query parameter are part of the deleted key."""
    raw.post(RULE_PATH, rule_body(host="a.example", block=3))
    plain = (
        "/config/loadbalancer/hosturl/a.example/externalipaddress/10.0.0.100/port/80/protocol/tcp"
    )
    assert_loxi_error(raw.delete(plain), 404, "no-rule error")
    assert raw.delete(plain + "?block=3").ok
    assert raw.rules() == []


@pytest.mark.parametrize(
    ("path", "result"),
    [
        ("externalipaddress/x/port/80/protocol/tcp", "malformed-service error"),
        (
            "externalipaddress/10.0.0.1/port/80/portmax/70/protocol/tcp",
            "serv-port-args range error",
        ),
        ("externalipaddress/10.0.0.1/port/80/protocol/foo", "malformed-proto error"),
    ],
)
def test_delete_argument_errors(raw: Raw, path: str, result: str) -> None:
    """§2.7: bad VIP, range or protocol in a tuple DELETE are 400s."""
    assert_loxi_error(raw.delete(f"/config/loadbalancer/{path}"), 400, result)


def test_delete_releases_and_delete_all(raw: Raw) -> None:
    """§2.7: delete removes the rule and its probe hosts; DELETE all is always 200."""
    raw.post(RULE_PATH, rule_body(port=80))
    raw.post(RULE_PATH, rule_body(port=81))
    assert raw.delete(TUPLE).ok
    assert [r["serviceArguments"]["port"] for r in raw.rules()] == [81]
    assert raw.delete("/config/loadbalancer/all").json() == {"result": "Success"}
    assert raw.rules() == []
    assert raw.hosts() == {}
    assert raw.delete("/config/loadbalancer/all").ok


def test_rule_numbers_exhaust_and_are_reused(raw: Raw, monkeypatch: pytest.MonkeyPatch) -> None:
    """§2.4: rule numbers come from a fixed pool (2048, shrunk here); then ``403 rule-hwm``."""
    monkeypatch.setattr(rules_module, "MAX_RULES", 3)
    for port in (1, 2, 3):
        assert raw.post(RULE_PATH, rule_body(port=port)).ok
    assert_loxi_error(raw.post(RULE_PATH, rule_body(port=4)), 403, "rule-hwm error")
    raw.delete("/config/loadbalancer/externalipaddress/10.0.0.100/port/2/protocol/tcp")
    assert raw.post(RULE_PATH, rule_body(port=4)).ok
    numbers = sorted(r.rule_num for r in raw.node.state.rules.rules.values())
    assert numbers == [1, 2, 3]


def test_get_shows_non_default_fields(raw: Raw) -> None:
    """§2.8: non-zero serviceArguments are listed; probereq/resp and timeouts never."""
    body = rule_body(
        ("10.0.1.10", 8080, 5),
        sel=2,
        mode=2,
        block=4,
        host="h.example",
        probetype="tcp",
        probeport=8080,
        probereq="ping",
        proberesp="pong",
        probeTimeout=30,
        probeRetries=3,
        managed=True,
        proxyprotocolv2=True,
        portMax=85,
        name="n:inst1",
    )
    assert raw.post(RULE_PATH, body).ok
    args = raw.rule()["serviceArguments"]
    assert args == {
        "block": 4,
        "externalIP": "10.0.0.100",
        "host": "h.example",
        "inactiveTimeOut": 240,
        "managed": True,
        "mode": 2,
        "monitor": True,
        "name": "n:inst1",
        "port": 80,
        "portMax": 85,
        "probeport": 8080,
        "probetype": "tcp",
        "protocol": "tcp",
        "proxyprotocolv2": True,
        "sel": 2,
    }
    stored = next(iter(raw.node.state.rules.rules.values()))
    assert stored.instance == "inst1"


def test_counter_comes_from_stored_endpoint(raw: Raw) -> None:
    """§2.8/§2.11: ``counter`` is ``<packets>:<bytes>`` of the endpoint's slot."""
    raw.post(RULE_PATH, rule_body())
    stored = next(iter(raw.node.state.rules.rules.values()))
    stored.endpoints[0].packets, stored.endpoints[0].bytes = 7, 700
    assert raw.rule()["endpoints"][0]["counter"] == "7:700"
