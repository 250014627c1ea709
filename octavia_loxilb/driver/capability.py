"""The capability gate: refuse, before anything is queued, what LoxiLB cannot honour.

Runs on every create and update inside the API call, so a user gets a 501 naming the
option and its value instead of an object that later goes to ERROR or, worse, silently
behaves differently. Creates are checked recursively (a fully populated load balancer
brings its listeners, pools, members and monitors along); updates are checked on the
merged result (``old`` with ``new``'s set fields applied) because a change is only
acceptable if the object it leaves behind is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from octavia_lib.api.drivers import exceptions

from octavia_loxilb.driver.capability_rules import (
    PROVIDER,
    Context,
    KindTable,
    Problem,
    is_empty,
    show,
)
from octavia_loxilb.driver.capability_tables import TABLES
from octavia_loxilb.driver.objects import Fields, children, fields_of, merged, object_id

MAX_MEMBERS = 32
"""A LoxiLB rule holds 1..32 endpoints (API-NOTES §0.7)."""


def field_problems(table: KindTable, obj: Fields, ctx: Context) -> list[Problem]:
    """Every refused value of ``obj``: in table order, then unknown fields, then cross rules."""
    found: list[Problem] = []
    for rule in table.fields:
        if rule.field in obj:
            reason = rule.check(obj[rule.field])
            if reason is not None:
                found.append(Problem(rule.field, obj[rule.field], reason or rule.reason))
    for field, value in obj.items():
        if table.row(field) is None and not is_empty(value):
            found.append(Problem(field, value, "the LoxiLB provider does not know this option"))
    for cross in table.cross:
        problem = cross.check(obj, ctx)
        if problem is not None:
            found.append(problem)
    return found


def message(table: KindTable, problem: Problem) -> str:
    text = f"{table.label} {problem.field} {show(problem.value)} is not supported by {PROVIDER}"
    return f"{text}: {problem.reason}" if problem.reason else text


def _refuse(table: KindTable, obj: Fields, problems: Sequence[Problem]) -> None:
    """Raise naming every refused option, so one round trip shows the user all of them."""
    if not problems:
        return
    text = "; ".join(message(table, problem) for problem in problems)
    where = f"{table.label} {object_id(table.kind, obj) or '(new)'}"
    raise exceptions.UnsupportedOptionError(user_fault_string=text,
                                            operator_fault_string=f"{where}: {text}")


def check_fields(kind: str, obj: Fields, ctx: Context | None = None) -> None:
    """Gate one object's own fields (no recursion)."""
    table = TABLES[kind]
    if table.rejected:
        raise exceptions.UnsupportedOptionError(user_fault_string=table.rejected,
                                                operator_fault_string=table.rejected)
    _refuse(table, obj, field_problems(table, obj, ctx or Context()))


def check_member_count(members: Iterable[Any]) -> None:
    count = len(list(members))
    if count > MAX_MEMBERS:
        text = (f"Pool members {count} is not supported by {PROVIDER}: a LoxiLB rule holds "
                f"at most {MAX_MEMBERS} endpoints")
        raise exceptions.UnsupportedOptionError(user_fault_string=text,
                                                operator_fault_string=text)


def _check_pool_tree(pool: Fields, ctx: Context) -> None:
    check_fields("pools", pool, ctx)
    members = children(pool, "members")
    check_member_count(members)
    for member in members:
        check_fields("members", member, ctx)
    for monitor in children(pool, "healthmonitor"):
        check_fields("healthmonitors", monitor, ctx)


def _check_listener_tree(listener: Fields, ctx: Context) -> None:
    check_fields("listeners", listener, ctx)
    pool_ctx = Context(vip_address=ctx.vip_address, listener_protocol=listener.get("protocol"))
    for pool in children(listener, "default_pool"):
        _check_pool_tree(pool, pool_ctx)


def check_loadbalancer_create(loadbalancer: Any) -> None:
    """Gate a load balancer and, for a fully populated create, everything nested in it."""
    lb = fields_of(loadbalancer)
    ctx = Context(vip_address=lb.get("vip_address"))
    check_fields("loadbalancers", lb, ctx)
    listeners = children(lb, "listeners")
    protocol_of_pool: dict[str, str] = {}
    protocol_of_listener: dict[str, str] = {}
    for listener in listeners:
        _check_listener_tree(listener, ctx)
        protocol = listener.get("protocol")
        if protocol and listener.get("listener_id"):
            protocol_of_listener[listener["listener_id"]] = protocol
        if protocol and listener.get("default_pool_id"):
            protocol_of_pool[listener["default_pool_id"]] = protocol
    for pool in children(lb, "pools"):
        protocol = (protocol_of_pool.get(pool.get("pool_id", ""))
                    or protocol_of_listener.get(pool.get("listener_id", "")))
        _check_pool_tree(pool, Context(vip_address=ctx.vip_address,
                                       listener_protocol=protocol))


def check_create(kind: str, obj: Any) -> None:
    """Gate a standalone create.

    A new listener's ``default_pool`` is an existing pool: only its pairing with the
    listener is checked, not the pool again. A new pool brings whatever it nests.
    """
    if kind == "loadbalancers":
        check_loadbalancer_create(obj)
        return
    fields = fields_of(obj)
    if kind == "pools":
        _check_pool_tree(fields, Context())
        return
    check_fields(kind, fields)
    if kind == "listeners":
        pool_ctx = Context(listener_protocol=fields.get("protocol"))
        for pool in children(fields, "default_pool"):
            protocol = pool.get("protocol")
            _refuse(TABLES["pools"], pool, [p for p in field_problems(
                TABLES["pools"], {"protocol": protocol} if protocol else {}, pool_ctx)])


def check_update(kind: str, old: Any, new: Any) -> None:
    """Gate the object an update leaves behind: ``old`` with ``new``'s set fields."""
    check_fields(kind, merged(old, new))


def check_member_batch(members: Sequence[Any]) -> None:
    """Gate the complete new member list of a batch update."""
    check_member_count(members)
    for member in members:
        check_fields("members", fields_of(member))
