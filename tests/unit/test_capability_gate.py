"""The gate beyond single rows: merged updates, nested creates, cross-field rules, limits."""

from __future__ import annotations

from typing import Any

import pytest
from octavia_lib.api.drivers import data_models as dm
from octavia_lib.api.drivers import exceptions

from octavia_loxilb.driver import capability
from tests.unit.test_capability_table import BASELINES


def _refused(call: Any, *args: Any) -> str:
    with pytest.raises(exceptions.UnsupportedOptionError) as error:
        call(*args)
    return str(error.value.user_fault_string)


def _member(member_id: str, address: str = "192.0.2.21", **extra: Any) -> dm.Member:
    return dm.Member(**{**BASELINES["members"], "member_id": member_id, "address": address,
                        **extra})


def _pool(**extra: Any) -> dm.Pool:
    return dm.Pool(**{**BASELINES["pools"], **extra})


def _listener(**extra: Any) -> dm.Listener:
    return dm.Listener(**{**BASELINES["listeners"], **extra})


def _lb(**extra: Any) -> dm.LoadBalancer:
    return dm.LoadBalancer(**{**BASELINES["loadbalancers"], **extra})


# Merged updates: the object left behind decides.

def test_update_changing_algorithm_away_from_persistence_is_refused() -> None:
    old = _pool(session_persistence={"type": "SOURCE_IP"})
    new = dm.Pool(pool_id="po-1", lb_algorithm="LEAST_CONNECTIONS")
    text = _refused(capability.check_update, "pools", old, new)
    assert text.startswith("Pool session_persistence SOURCE_IP with lb_algorithm "
                           "LEAST_CONNECTIONS is not supported by the LoxiLB provider")


def test_update_adding_persistence_to_a_least_connections_pool_is_refused() -> None:
    old = _pool(lb_algorithm="LEAST_CONNECTIONS")
    new = dm.Pool(pool_id="po-1", session_persistence={"type": "SOURCE_IP"})
    assert "lb_algorithm LEAST_CONNECTIONS" in _refused(capability.check_update, "pools",
                                                         old, new)


def test_update_clearing_persistence_allows_least_connections() -> None:
    old = _pool(session_persistence={"type": "SOURCE_IP"})
    new = dm.Pool(pool_id="po-1", session_persistence=None, lb_algorithm="LEAST_CONNECTIONS")
    capability.check_update("pools", old, new)


def test_update_delay_below_existing_timeout_is_refused() -> None:
    old = dm.HealthMonitor(**{**BASELINES["healthmonitors"], "delay": 10, "timeout": 8})
    text = _refused(capability.check_update, "healthmonitors", old,
                    dm.HealthMonitor(healthmonitor_id="hm-1", delay=5))
    assert text.startswith("Health monitor timeout 8 (delay 5) is not supported")


def test_update_switching_monitor_to_http_keeps_the_method_rule() -> None:
    old = dm.HealthMonitor(**BASELINES["healthmonitors"])
    new = dm.HealthMonitor(healthmonitor_id="hm-1", type="HTTP", http_method="GET",
                           url_path="/", expected_codes="200")
    assert "http_method GET for a HTTP monitor" in _refused(
        capability.check_update, "healthmonitors", old, new)
    capability.check_update("healthmonitors", old, dm.HealthMonitor(
        healthmonitor_id="hm-1", type="HTTP", http_method="HEAD", expected_codes="200"))


def test_https_monitor_takes_get_and_refuses_head() -> None:
    monitor = {**BASELINES["healthmonitors"], "type": "HTTPS"}
    capability.check_create("healthmonitors", dm.HealthMonitor(**monitor, http_method="GET"))
    assert "http_method HEAD for a HTTPS monitor" in _refused(
        capability.check_create, "healthmonitors", dm.HealthMonitor(**monitor,
                                                                      http_method="HEAD"))


def test_update_of_an_unrelated_field_does_not_recheck_existing_children() -> None:
    members = [_member(f"m{i}", f"192.0.2.{i + 1}") for i in range(40)]
    old = _pool(members=members)
    capability.check_update("pools", old, dm.Pool(pool_id="po-1", name="renamed"))


def test_update_leaves_untouched_refusable_default_alone_only_if_default() -> None:
    old = _listener()
    capability.check_update("listeners", old, dm.Listener(listener_id="li-1",
                                                          timeout_member_data=50000))
    assert "timeout_member_data 1" in _refused(
        capability.check_update, "listeners", old,
        dm.Listener(listener_id="li-1", timeout_member_data=1))


# Fully populated creates: the gate walks the whole tree.

def test_nested_l7_policy_is_refused() -> None:
    policy = dm.L7Policy(l7policy_id="p1", action="REJECT", rules=[])
    lb = _lb(listeners=[_listener(l7policies=[policy])])
    assert "l7policies" in _refused(capability.check_loadbalancer_create, lb)


def test_nested_member_of_other_family_than_vip_is_refused() -> None:
    pool = _pool(members=[_member("m1", "2001:db8::5")])
    lb = _lb(listeners=[_listener(default_pool_id="po-1", default_pool=pool)])
    text = _refused(capability.check_loadbalancer_create, lb)
    assert text.startswith("Member address 2001:db8::5 (VIP 192.0.2.10) is not supported")


def test_ipv6_vip_with_ipv6_members_passes_and_ipv4_member_is_refused() -> None:
    good = _pool(members=[_member("m1", "2001:db8::5")])
    capability.check_loadbalancer_create(_lb(vip_address="2001:db8::10", pools=[good]))
    bad = _pool(members=[_member("m1", "192.0.2.5")])
    assert "Member address 192.0.2.5" in _refused(
        capability.check_loadbalancer_create, _lb(vip_address="2001:db8::10", pools=[bad]))


def test_monitor_address_of_other_family_than_member_is_refused() -> None:
    member = _member("m1", "192.0.2.5", monitor_address="2001:db8::9")
    assert "monitor_address 2001:db8::9" in _refused(capability.check_create, "members",
                                                     member)


def test_pool_must_fit_its_listener_in_a_nested_create() -> None:
    pool = _pool(protocol="UDP")
    lb = _lb(listeners=[_listener(default_pool_id="po-1", default_pool=pool)])
    text = _refused(capability.check_loadbalancer_create, lb)
    assert text.startswith("Pool protocol UDP on a TCP listener is not supported")


def test_pool_under_lb_pools_is_paired_through_its_listener_id() -> None:
    listener = _listener(listener_id="li-9", protocol="UDP", protocol_port=53)
    pool = _pool(pool_id="po-9", listener_id="li-9", protocol="TCP")
    lb = _lb(listeners=[listener], pools=[pool])
    assert "on a UDP listener" in _refused(capability.check_loadbalancer_create, lb)


@pytest.mark.parametrize(("listener", "pool"), [
    ("TCP", "PROXYV2"), ("HTTP", "PROXYV2"), ("HTTPS", "TCP"), ("UDP", "UDP"),
    ("SCTP", "SCTP"), ("TCP", "HTTP")])
def test_compatible_listener_pool_pairs_pass(listener: str, pool: str) -> None:
    tree = _lb(listeners=[_listener(protocol=listener, default_pool_id="po-1",
                                    default_pool=_pool(protocol=pool))])
    capability.check_loadbalancer_create(tree)


def test_nested_pool_with_more_than_32_members_is_refused() -> None:
    members = [_member(f"m{i}", f"192.0.2.{i + 1}") for i in range(33)]
    text = _refused(capability.check_loadbalancer_create, _lb(pools=[_pool(members=members)]))
    assert text.startswith("Pool members 33 is not supported")


def test_nested_monitor_is_gated() -> None:
    monitor = dm.HealthMonitor(**{**BASELINES["healthmonitors"], "type": "TLS-HELLO"})
    lb = _lb(pools=[_pool(healthmonitor=monitor)])
    assert "Health monitor type TLS-HELLO" in _refused(capability.check_loadbalancer_create, lb)


def test_children_given_as_plain_dicts_are_gated_too() -> None:
    listener = _listener(default_pool_id="po-1",
                         default_pool={"pool_id": "po-1", "protocol": "PROXY",
                                       "lb_algorithm": "ROUND_ROBIN"})
    assert "Pool protocol PROXY" in _refused(capability.check_loadbalancer_create,
                                             _lb(listeners=[listener]))


def test_listener_create_checks_only_the_pairing_of_an_existing_default_pool() -> None:
    members = [_member(f"m{i}", f"192.0.2.{i + 1}") for i in range(40)]
    existing = _pool(members=members)
    capability.check_create("listeners", _listener(default_pool_id="po-1",
                                                   default_pool=existing))
    udp_pool = _pool(protocol="UDP")
    assert "on a TCP listener" in _refused(
        capability.check_create, "listeners", _listener(default_pool_id="po-1",
                                                        default_pool=udp_pool))


def test_unset_fields_are_never_judged() -> None:
    capability.check_create("listeners", dm.Listener(listener_id="li-1"))
    capability.check_update("members", dm.Member(member_id="m"), dm.Member(member_id="m"))


# Batch updates.

def test_batch_of_32_members_passes_and_33_is_refused() -> None:
    members = [_member(f"m{i}", f"192.0.2.{i + 1}") for i in range(33)]
    capability.check_member_batch(members[:32])
    assert "Pool members 33" in _refused(capability.check_member_batch, members)


def test_batch_members_are_gated_individually() -> None:
    members = [_member("m1"), _member("m2", backup=True)]
    assert "Member backup true" in _refused(capability.check_member_batch, members)


# L7.

@pytest.mark.parametrize(("kind", "text"), [
    ("l7policies", "L7 policies are not supported by the LoxiLB provider"),
    ("l7rules", "L7 rules are not supported by the LoxiLB provider")])
def test_l7_kinds_are_refused_whatever_they_hold(kind: str, text: str) -> None:
    assert _refused(capability.check_fields, kind, {}) == text


def test_message_lists_every_problem_leading_with_what_the_user_chose() -> None:
    listener = _listener(connection_limit=10, protocol="TERMINATED_HTTPS",
                         tls_versions=["TLSv1.2"], alpn_protocols=["h2"])
    with pytest.raises(exceptions.UnsupportedOptionError) as error:
        capability.check_create("listeners", listener)
    text = error.value.user_fault_string
    assert text.startswith("Listener protocol TERMINATED_HTTPS is not supported")
    assert "connection_limit 10" in text and "tls_versions" in text and "alpn" in text
    assert error.value.operator_fault_string == f"Listener li-1: {text}"
