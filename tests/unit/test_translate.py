"""The translator: every Octavia → LoxiLB mapping, on trees shaped like the driver-agent's."""

from __future__ import annotations

from typing import Any

import pytest
from octavia_lib.api.drivers import data_models as dm

from octavia_loxilb.loxilb.models import MAX_ENDPOINTS, Mode, Sel
from octavia_loxilb.reconcile import naming, weights
from octavia_loxilb.reconcile.desired import DesiredState, TranslateSettings
from octavia_loxilb.reconcile.translate import translate

VIP = "192.0.2.10"


def member(n: int, **fields: Any) -> dm.Member:
    values: dict[str, Any] = dict(
        member_id=f"m{n}", address=f"10.0.0.{n}", protocol_port=8080, weight=1
    )
    values.update(fields)
    return dm.Member(**values)


def pool(pool_id: str = "p1", members: list[dm.Member] | None = None, **fields: Any) -> dm.Pool:
    values: dict[str, Any] = dict(
        pool_id=pool_id,
        lb_algorithm="ROUND_ROBIN",
        protocol="TCP",
        members=members if members is not None else [member(1), member(2)],
    )
    values.update(fields)
    return dm.Pool(**values)


def listener(
    listener_id: str = "l1", default_pool: dm.Pool | None = None, **fields: Any
) -> dm.Listener:
    values: dict[str, Any] = dict(
        listener_id=listener_id,
        protocol="TCP",
        protocol_port=80,
        timeout_client_data=50000,
    )
    if default_pool is not None:
        values.update(default_pool=default_pool, default_pool_id=default_pool.pool_id)
    values.update(fields)
    return dm.Listener(**values)


def tree(
    listeners: list[dm.Listener] | None = None, pools: list[dm.Pool] | None = None, **fields: Any
) -> dict[str, Any]:
    """A load balancer dict as ``DriverLibrary.get_loadbalancer`` returns it."""
    if pools is None:
        pools = [pool()]
    if listeners is None:
        listeners = [listener(default_pool=pools[0])]
    values: dict[str, Any] = dict(
        loadbalancer_id="lb1", vip_address=VIP, listeners=listeners, pools=pools
    )
    values.update(fields)
    return dm.LoadBalancer(**values).to_dict(recurse=True, render_unsets=True)


def only_rule(state: DesiredState):  # type: ignore[no-untyped-def]
    assert len(state.rules) == 1, state
    return state.rules[0]


def test_basic_listener_becomes_one_rule() -> None:
    state = translate(tree())
    desired = only_rule(state)
    service = desired.rule.service
    assert (service.external_ip, service.port, service.protocol) == (VIP, 80, "tcp")
    assert service.name == "oct-l1"
    assert service.sel == Sel.RR
    assert service.mode == Mode.FULLNAT
    assert service.monitor is True and service.probetype == "none"
    assert service.inactive_timeout == 50
    assert {(e.ip, e.port, e.weight) for e in desired.rule.endpoints} == {
        ("10.0.0.1", 8080, 1),
        ("10.0.0.2", 8080, 1),
    }
    assert desired.listener_id == "l1" and desired.pool_id == "p1"
    assert desired.member_ids == ("m1", "m2")
    assert state.vips == (VIP,)
    assert not state.idle_listeners and not state.unplaceable and not state.listener_errors


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [("TCP", "tcp"), ("HTTP", "tcp"), ("HTTPS", "tcp"), ("UDP", "udp"), ("SCTP", "sctp")],
)
def test_protocol_mapping(protocol: str, expected: str) -> None:
    p = pool(protocol="UDP" if protocol == "UDP" else "TCP")
    state = translate(tree([listener(default_pool=p, protocol=protocol)], [p]))
    assert only_rule(state).rule.service.protocol == expected


def test_unsupported_listener_protocol_is_an_error() -> None:
    p = pool()
    state = translate(tree([listener(default_pool=p, protocol="TERMINATED_HTTPS")], [p]))
    assert not state.rules
    assert "TERMINATED_HTTPS" in state.listener_errors["l1"]


@pytest.mark.parametrize(
    ("algorithm", "persistence", "sel"),
    [
        ("ROUND_ROBIN", None, Sel.RR),
        ("LEAST_CONNECTIONS", None, Sel.LEAST_CONNECTION),
        ("SOURCE_IP_PORT", None, Sel.HASH),
        ("SOURCE_IP", None, Sel.PERSIST),
        ("ROUND_ROBIN", {"type": "SOURCE_IP"}, Sel.PERSIST),
        ("LEAST_CONNECTIONS", {"type": "SOURCE_IP"}, Sel.PERSIST),
    ],
)
def test_algorithm_mapping(algorithm: str, persistence: dict | None, sel: Sel) -> None:
    p = pool(lb_algorithm=algorithm, session_persistence=persistence)
    state = translate(tree([listener(default_pool=p)], [p]))
    assert only_rule(state).rule.service.sel == sel


def test_unequal_weights_use_weighted_round_robin_percentages() -> None:
    p = pool(members=[member(1, weight=1), member(2, weight=3)])
    desired = only_rule(translate(tree([listener(default_pool=p)], [p])))
    assert desired.rule.service.sel == Sel.PRIORITY
    assert [e.weight for e in desired.rule.endpoints] == [25, 75]


def test_equal_weights_keep_plain_round_robin() -> None:
    p = pool(members=[member(1, weight=7), member(2, weight=7)])
    desired = only_rule(translate(tree([listener(default_pool=p)], [p])))
    assert desired.rule.service.sel == Sel.RR
    assert [e.weight for e in desired.rule.endpoints] == [1, 1]


def test_weights_ignored_outside_round_robin() -> None:
    p = pool(lb_algorithm="LEAST_CONNECTIONS", members=[member(1, weight=1), member(2, weight=9)])
    desired = only_rule(translate(tree([listener(default_pool=p)], [p])))
    assert [e.weight for e in desired.rule.endpoints] == [1, 1]


def test_weight_zero_members_are_left_out_and_reported_drained() -> None:
    p = pool(members=[member(1, weight=0), member(2, weight=5), member(3, weight=10)])
    state = translate(tree([listener(default_pool=p)], [p]))
    desired = only_rule(state)
    assert desired.member_ids == ("m2", "m3")
    assert [e.weight for e in desired.rule.endpoints] == [33, 66]
    assert state.drained_members == {"m1"}
    assert "m1" not in state.unplaceable


def test_only_weight_zero_members_means_no_rule() -> None:
    p = pool(members=[member(1, weight=0)])
    state = translate(tree([listener(default_pool=p)], [p]))
    assert not state.rules and "l1" in state.idle_listeners


@pytest.mark.parametrize(
    "relative",
    [[1, 256], [1] * 31 + [256], [3, 3, 4], [256] * 32, list(range(1, 33)), [1, 2], [100]],
)
def test_normalised_weights_fit_loxilb(relative: list[int]) -> None:
    shares = weights.normalize(relative)
    assert sum(shares) <= 100
    assert all(s >= 1 for s in shares)
    ordered = sorted(range(len(relative)), key=lambda i: relative[i])
    assert [shares[i] for i in ordered] == sorted(shares), "order of weights is kept"


def test_disabled_member_is_not_an_endpoint() -> None:
    p = pool(members=[member(1), member(2, admin_state_up=False)])
    state = translate(tree([listener(default_pool=p)], [p]))
    assert only_rule(state).member_ids == ("m1",)
    assert state.disabled_members == {"m2"}


def test_listener_without_enabled_members_has_no_rule() -> None:
    p = pool(members=[member(1, admin_state_up=False)])
    state = translate(tree([listener(default_pool=p)], [p]))
    assert not state.rules
    assert state.idle_listeners == {"l1": "no enabled member with a weight above 0"}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"listener": {"admin_state_up": False}}, "listener disabled"),
        ({"pool": {"admin_state_up": False}}, "default pool disabled"),
        ({"lb": {"admin_state_up": False}}, "load balancer disabled"),
    ],
)
def test_disabled_objects_leave_the_listener_idle(change: dict, reason: str) -> None:
    p = pool(**change.get("pool", {}))
    lb = tree(
        [listener(default_pool=p, **change.get("listener", {}))], [p], **change.get("lb", {})
    )
    state = translate(lb)
    assert not state.rules and state.idle_listeners == {"l1": reason}


def test_listener_without_pool_is_idle() -> None:
    state = translate(tree([listener()], [pool()]))
    assert not state.rules and state.idle_listeners == {"l1": "no default pool"}


def test_pool_found_by_id_when_not_nested() -> None:
    lb = tree()
    lb["listeners"][0]["default_pool"] = None
    assert only_rule(translate(lb)).pool_id == "p1"


def test_nested_pool_used_when_pools_list_lacks_it() -> None:
    lb = tree()
    lb["pools"] = []
    assert only_rule(translate(lb)).member_ids == ("m1", "m2")


def test_deleting_sets_remove_objects_and_their_children() -> None:
    lb = tree()
    assert not translate(lb, deleting={"loadbalancers": {"lb1"}}).rules
    assert not translate(lb, deleting={"listeners": {"l1"}}).rules
    assert "l1" not in translate(lb, deleting={"listeners": {"l1"}}).listener_ids()
    assert translate(lb, deleting={"pools": {"p1"}}).idle_listeners == {"l1": "no default pool"}
    assert only_rule(translate(lb, deleting={"members": {"m1"}})).member_ids == ("m2",)
    state = translate(lb, deleting={"members": {"m1", "m2"}})
    assert not state.rules and "l1" in state.idle_listeners


def test_the_33rd_member_is_unplaceable() -> None:
    members = [member(n, address=f"10.0.{n // 200}.{n % 200 + 1}") for n in range(34)]
    p = pool(members=members)
    state = translate(tree([listener(default_pool=p)], [p]))
    desired = only_rule(state)
    assert len(desired.rule.endpoints) == MAX_ENDPOINTS
    assert desired.member_ids == tuple(f"m{n}" for n in range(32))
    assert set(state.unplaceable) == {"m32", "m33"}
    assert "32" in state.unplaceable["m32"]


def test_timeout_conversion_and_bounds() -> None:
    for millis, seconds in [(50000, 50), (1, 1), (1500, 2), (0, 1), (10**9, 86400)]:
        p = pool()
        state = translate(tree([listener(default_pool=p, timeout_client_data=millis)], [p]))
        assert only_rule(state).rule.service.inactive_timeout == seconds
    p = pool(protocol="UDP")
    state = translate(
        tree([listener(default_pool=p, protocol="UDP", timeout_client_data=None)], [p])
    )
    assert only_rule(state).rule.service.inactive_timeout == 20


def test_allowed_cidrs_become_allowed_sources_in_canonical_form() -> None:
    p = pool()
    lst = listener(default_pool=p, allowed_cidrs=["10.1.0.0/16", "192.0.2.7/24", "10.1.0.0/16"])
    desired = only_rule(translate(tree([lst], [p])))
    assert desired.rule.allowed_sources == ("10.1.0.0/16", "192.0.2.0/24")


def test_proxy_v2_pool_sets_proxyprotocolv2() -> None:
    p = pool(protocol="PROXYV2")
    assert only_rule(translate(tree([listener(default_pool=p)], [p]))).rule.service.proxyprotocolv2
    q = pool(protocol="TCP")
    assert not only_rule(
        translate(tree([listener(default_pool=q)], [q]))
    ).rule.service.proxyprotocolv2


def test_mode_from_settings_and_flavor() -> None:
    lb = tree()
    assert (
        only_rule(translate(lb, settings=TranslateSettings(mode=Mode.DNAT))).rule.service.mode
        == Mode.DNAT
    )
    flavored = tree(flavor={"lb_mode": "onearm"})
    assert only_rule(translate(flavored)).rule.service.mode == Mode.ONEARM
    unknown = translate(tree(flavor={"lb_mode": "warp"}))
    assert only_rule(unknown).rule.service.mode == Mode.FULLNAT and unknown.warnings


def test_dsr_forces_hash_and_needs_equal_ports() -> None:
    p = pool(members=[member(1, protocol_port=80), member(2, protocol_port=8080)])
    state = translate(tree([listener(default_pool=p)], [p], flavor={"lb_mode": "dsr"}))
    desired = only_rule(state)
    assert desired.rule.service.sel == Sel.HASH and desired.member_ids == ("m1",)
    assert "DSR" in state.unplaceable["m2"]


def test_name_prefix_and_no_colon() -> None:
    state = translate(tree(), settings=TranslateSettings(name_prefix="lb-x-"))
    assert only_rule(state).rule.name == "lb-x-l1"
    with pytest.raises(ValueError):
        TranslateSettings(name_prefix="oct:")
    assert naming.listener_id_of("lb-x-", "lb-x-l1") == "l1"
    assert naming.listener_id_of("oct-", "other") is None


def test_duplicate_rule_key_is_a_listener_error() -> None:
    p, q = pool("p1"), pool("p2", members=[member(5)])
    lb = tree([listener("l1", p), listener("l2", q, protocol="HTTP")], [p, q])
    state = translate(lb)
    assert only_rule(state).listener_id == "l1"
    assert "port 80" in state.listener_errors["l2"]


def test_additional_vips_get_their_own_rules_and_families_are_respected() -> None:
    p = pool(members=[member(1), member(2, address="2001:db8::2")])
    lb = tree(
        [listener(default_pool=p)],
        [p],
        additional_vips=[{"ip_address": "2001:db8::10", "subnet_id": "s"}],
    )
    state = translate(lb)
    by_vip = {d.rule.service.external_ip: d for d in state.rules}
    assert set(by_vip) == {VIP, "2001:db8::10"}
    assert by_vip[VIP].member_ids == ("m1",)
    assert by_vip["2001:db8::10"].member_ids == ("m1", "m2")
    assert not state.unplaceable
    only_v6 = pool(members=[member(2, address="2001:db8::2")])
    state = translate(tree([listener(default_pool=only_v6)], [only_v6]))
    assert not state.rules and "NAT46" in state.unplaceable["m2"]


def hm(**fields: Any) -> dm.HealthMonitor:
    values: dict[str, Any] = dict(
        healthmonitor_id="hm1", type="TCP", delay=7, timeout=3, max_retries=3
    )
    values.update(fields)
    return dm.HealthMonitor(**values)


@pytest.mark.parametrize(
    ("monitor", "probe_type", "port", "probe_req"),
    [
        (hm(type="TCP"), "tcp", 8080, ""),
        (hm(type="UDP-CONNECT"), "udp", 8080, ""),
        (hm(type="PING"), "ping", 0, ""),
        (hm(type="HTTP", url_path="/healthz"), "http", 8080, "healthz"),
        (hm(type="HTTPS", url_path="/a/b"), "https", 8080, "a/b"),
        (hm(type="HTTP"), "http", 8080, ""),
    ],
)
def test_health_monitor_probes(
    monitor: dm.HealthMonitor, probe_type: str, port: int, probe_req: str
) -> None:
    p = pool(healthmonitor=monitor)
    state = translate(tree([listener(default_pool=p)], [p]))
    assert set(state.probes) == {"10.0.0.1_tcp_8080", "10.0.0.2_tcp_8080"}
    probe = state.probes["10.0.0.1_tcp_8080"]
    assert probe.name == "10.0.0.1_tcp_8080"
    assert (probe.probe_type, probe.probe_port, probe.probe_req) == (probe_type, port, probe_req)
    assert probe.host == "10.0.0.1"
    assert probe.probe_duration == 7 and probe.inactive_retries == 3


def test_probe_uses_monitor_address_and_port_and_retries_down() -> None:
    p = pool(
        members=[member(1, monitor_address="10.9.9.9", monitor_port=9000)],
        healthmonitor=hm(max_retries_down=5, max_retries=2),
    )
    state = translate(tree([listener(default_pool=p)], [p]))
    probe = state.probes["10.0.0.1_tcp_8080"]
    assert (probe.host, probe.probe_port, probe.inactive_retries) == ("10.9.9.9", 9000, 5)


def test_probe_key_follows_the_rule_protocol() -> None:
    p = pool(protocol="UDP", healthmonitor=hm(type="UDP-CONNECT"))
    state = translate(tree([listener(default_pool=p, protocol="UDP")], [p]))
    assert set(state.probes) == {"10.0.0.1_udp_8080", "10.0.0.2_udp_8080"}


def test_no_monitor_disabled_monitor_or_deleted_monitor_means_probe_none() -> None:
    for p, deleting in [
        (pool(), {}),
        (pool(healthmonitor=hm(admin_state_up=False)), {}),
        (pool(healthmonitor=hm()), {"healthmonitors": {"hm1"}}),
    ]:
        state = translate(tree([listener(default_pool=p)], [p]), deleting=deleting)
        assert {pr.probe_type for pr in state.probes.values()} == {"none"}
        assert set(state.probes) == {"10.0.0.1_tcp_8080", "10.0.0.2_tcp_8080"}


def test_retries_are_at_least_one() -> None:
    p = pool(healthmonitor=hm(max_retries=None, max_retries_down=None))
    state = translate(tree([listener(default_pool=p)], [p]))
    assert {pr.inactive_retries for pr in state.probes.values()} == {1}


def test_fully_populated_tree() -> None:
    web = pool(
        "web",
        members=[member(1, weight=2), member(2, weight=1), member(3, admin_state_up=False)],
        healthmonitor=hm(type="HTTP", url_path="/ok"),
        session_persistence=None,
    )
    dns = pool(
        "dns",
        protocol="UDP",
        lb_algorithm="SOURCE_IP_PORT",
        members=[member(11, protocol_port=53), member(12, protocol_port=53)],
        healthmonitor=hm(healthmonitor_id="hm2", type="UDP-CONNECT"),
    )
    spare = pool("spare", members=[member(21)])
    listeners = [
        listener("http", web, protocol="HTTP", allowed_cidrs=["0.0.0.0/0"]),
        listener("dns", dns, protocol="UDP", protocol_port=53, timeout_client_data=30000),
        listener("off", spare, protocol_port=8443, admin_state_up=False),
        listener("empty", protocol_port=9000),
    ]
    state = translate(tree(listeners, [web, dns, spare]))
    rules = {d.listener_id: d for d in state.rules}
    assert set(rules) == {"http", "dns"}
    assert rules["http"].rule.service.sel == Sel.PRIORITY
    assert [e.weight for e in rules["http"].rule.endpoints] == [66, 33]
    assert rules["http"].rule.allowed_sources == ("0.0.0.0/0",)
    assert rules["dns"].rule.service.sel == Sel.HASH
    assert rules["dns"].rule.service.protocol == "udp"
    assert rules["dns"].rule.service.inactive_timeout == 30
    assert state.idle_listeners == {"off": "listener disabled", "empty": "no default pool"}
    assert state.disabled_members == {"m3"}
    assert state.probes["10.0.0.11_udp_53"].probe_type == "udp"
    assert state.probes["10.0.0.1_tcp_8080"].probe_req == "ok"
    assert state.listener_ids() == {"http", "dns", "off", "empty"}


def test_translate_is_deterministic_and_does_not_mutate_input() -> None:
    import copy

    lb = tree()
    before = copy.deepcopy(lb)
    assert translate(lb) == translate(lb)
    assert lb == before


def test_settings_from_config_options() -> None:
    from oslo_config import cfg

    from octavia_loxilb.conf import register_opts

    conf = register_opts(cfg.ConfigOpts())
    conf([])
    assert TranslateSettings.from_conf(conf) == TranslateSettings()
    conf.set_override("rule_name_prefix", "cloud1-", group="loxilb")
    conf.set_override("default_lb_mode", "dnat", group="loxilb")
    assert TranslateSettings.from_conf(conf) == TranslateSettings("cloud1-", Mode.DNAT)
    with pytest.raises(ValueError):
        conf.set_override("rule_name_prefix", "a:b", group="loxilb")
