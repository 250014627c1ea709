"""The capability tables, row by row: every sample a row declares goes through the gate.

Parametrized from ``TABLES`` so a new row is tested the moment it is added, and checked
against octavia-lib's data models so a new Octavia option cannot slip through undecided.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from octavia_lib.api.drivers import data_models as dm
from octavia_lib.api.drivers import exceptions

from octavia_loxilb.driver import capability
from octavia_loxilb.driver.capability_rules import FieldRule, Verdict, accept_any, show
from octavia_loxilb.driver.capability_tables import TABLES

MODELS: dict[str, type[dm.BaseDataModel]] = {
    "loadbalancers": dm.LoadBalancer,
    "listeners": dm.Listener,
    "pools": dm.Pool,
    "members": dm.Member,
    "healthmonitors": dm.HealthMonitor,
    "l7policies": dm.L7Policy,
    "l7rules": dm.L7Rule,
}

BASELINES: dict[str, dict[str, Any]] = {
    "loadbalancers": {"loadbalancer_id": "lb-1", "vip_address": "192.0.2.10",
                      "admin_state_up": True, "flavor": {}, "availability_zone": {},
                      "vip_qos_policy_id": None, "vip_sg_ids": []},
    "listeners": {"listener_id": "li-1", "loadbalancer_id": "lb-1", "protocol": "TCP",
                  "protocol_port": 80, "admin_state_up": True, "connection_limit": -1,
                  "timeout_client_data": 50000, "timeout_member_connect": 5000,
                  "timeout_member_data": 50000, "timeout_tcp_inspect": 0,
                  "client_authentication": "NONE", "allowed_cidrs": None,
                  "hsts_include_subdomains": False, "hsts_preload": False},
    "pools": {"pool_id": "po-1", "loadbalancer_id": "lb-1", "protocol": "TCP",
              "lb_algorithm": "ROUND_ROBIN", "admin_state_up": True,
              "session_persistence": None, "tls_enabled": False},
    "members": {"member_id": "me-1", "pool_id": "po-1", "address": "192.0.2.21",
                "protocol_port": 80, "weight": 1, "admin_state_up": True, "backup": False,
                "vnic_type": "normal"},
    "healthmonitors": {"healthmonitor_id": "hm-1", "pool_id": "po-1", "type": "TCP",
                       "delay": 5, "timeout": 1, "max_retries": 3, "max_retries_down": 3,
                       "admin_state_up": True},
}

GATED = [kind for kind in TABLES if not TABLES[kind].rejected]
ID_OF = {"loadbalancers": "loadbalancer_id", "listeners": "listener_id", "pools": "pool_id",
         "members": "member_id", "healthmonitors": "healthmonitor_id"}


def _rows(samples: str) -> list[Any]:
    cases = []
    for kind in GATED:
        for rule in TABLES[kind].fields:
            for value in getattr(rule, samples):
                cases.append(pytest.param(kind, rule, value,
                                          id=f"{kind}.{rule.field}={show(value)[:40]}"))
    return cases


def _model(kind: str, **fields: Any) -> dm.BaseDataModel:
    return MODELS[kind](**fields)


def _create(kind: str, model: dm.BaseDataModel) -> None:
    capability.check_create(kind, model)


@pytest.mark.parametrize("kind", list(MODELS))
def test_every_octavia_lib_field_has_a_decision(kind: str) -> None:
    params = set(inspect.signature(MODELS[kind].__init__).parameters) - {"self"}
    rows = {rule.field for rule in TABLES[kind].fields}
    assert rows == params


@pytest.mark.parametrize("kind", list(TABLES))
def test_rows_declare_the_samples_that_test_them(kind: str) -> None:
    if TABLES[kind].rejected:
        return
    for rule in TABLES[kind].fields:
        constrained = rule.check is not accept_any
        if rule.verdict in (Verdict.REJECTED, Verdict.DEFAULT_ONLY) or (
                rule.verdict is Verdict.SUPPORTED and constrained):
            assert rule.reject, f"{kind}.{rule.field} has no rejected sample"
        if rule.verdict in (Verdict.SUPPORTED, Verdict.DEFAULT_ONLY):
            assert rule.accept, f"{kind}.{rule.field} has no accepted sample"
        if rule.verdict is Verdict.REJECTED:
            assert rule.reason, f"{kind}.{rule.field} is rejected without a reason"


@pytest.mark.parametrize("kind", GATED)
def test_baselines_pass(kind: str) -> None:
    _create(kind, _model(kind, **BASELINES[kind]))


@pytest.mark.parametrize(("kind", "rule", "value"), _rows("accept"))
def test_accepted_sample_passes_create_and_update(kind: str, rule: FieldRule,
                                                  value: Any) -> None:
    _create(kind, _model(kind, **{**BASELINES[kind], rule.field: value}))
    new = _model(kind, **{ID_OF[kind]: BASELINES[kind][ID_OF[kind]], rule.field: value})
    capability.check_update(kind, _model(kind, **BASELINES[kind]), new)


@pytest.mark.parametrize(("kind", "rule", "value"), _rows("reject"))
def test_rejected_sample_names_option_and_value(kind: str, rule: FieldRule,
                                                value: Any) -> None:
    label = TABLES[kind].label
    with pytest.raises(exceptions.UnsupportedOptionError) as create_error:
        _create(kind, _model(kind, **{**BASELINES[kind], rule.field: value}))
    text = create_error.value.user_fault_string
    assert text.startswith(f"{label} {rule.field} {show(value)} is not supported by the "
                           "LoxiLB provider")
    new = _model(kind, **{ID_OF[kind]: BASELINES[kind][ID_OF[kind]], rule.field: value})
    with pytest.raises(exceptions.UnsupportedOptionError) as update_error:
        capability.check_update(kind, _model(kind, **BASELINES[kind]), new)
    assert update_error.value.user_fault_string == text
    assert BASELINES[kind][ID_OF[kind]] in update_error.value.operator_fault_string


@pytest.mark.parametrize(("kind", "rule", "value"), _rows("reject"))
def test_rejected_sample_is_caught_inside_a_fully_populated_create(
        kind: str, rule: FieldRule, value: Any) -> None:
    bad = {**BASELINES[kind], rule.field: value}
    lb = _tree(**{kind: bad})
    with pytest.raises(exceptions.UnsupportedOptionError) as error:
        capability.check_loadbalancer_create(lb)
    assert f"{TABLES[kind].label} {rule.field} " in error.value.user_fault_string


def _tree(**override: dict[str, Any]) -> dm.LoadBalancer:
    """A fully populated load balancer built from the baselines (one object overridden)."""
    def fields(kind: str) -> dict[str, Any]:
        return dict(override.get(kind, BASELINES[kind]))
    pool = dm.Pool(**fields("pools"), members=[dm.Member(**fields("members"))],
                   healthmonitor=dm.HealthMonitor(**fields("healthmonitors")))
    listener = dm.Listener(**fields("listeners"), default_pool_id="po-1", default_pool=pool)
    return dm.LoadBalancer(**fields("loadbalancers"), listeners=[listener], pools=[pool])


def test_fully_populated_baseline_tree_passes() -> None:
    capability.check_loadbalancer_create(_tree())


def test_unknown_field_with_a_value_is_refused_but_empty_passes() -> None:
    listener = dm.Listener(**BASELINES["listeners"])
    listener.brand_new_option = None  # type: ignore[attr-defined]
    capability.check_create("listeners", listener)
    listener.brand_new_option = "on"  # type: ignore[attr-defined]
    with pytest.raises(exceptions.UnsupportedOptionError, match="brand_new_option on"):
        capability.check_create("listeners", listener)
