"""The vocabulary of the capability tables: rows, verdicts and reusable value checks.

A value check returns ``None`` when LoxiLB can honour the value and otherwise a short
reason (``""`` means "use the row's reason"). Unset fields never reach a check: the gate
only looks at fields that are set.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

from octavia_loxilb.driver.objects import Fields

Check = Callable[[Any], "str | None"]

PROVIDER = "the LoxiLB provider"


class Verdict(enum.Enum):
    """What the provider does with a field."""

    SUPPORTED = "supported"            # realised in LoxiLB, within the row's limits
    INFORMATIONAL = "informational"    # identity or bookkeeping, no data-plane effect
    NESTED = "nested"                  # child objects, each gated by its own table
    DEFAULT_ONLY = "default only"      # only the value Octavia fills in by default
    REJECTED = "rejected"              # any set (non-empty) value is refused


@dataclasses.dataclass(frozen=True)
class FieldRule:
    """One row of a capability table.

    ``accept``/``reject`` are sample values: the tests feed every one of them through the
    gate, and the documentation shows them, so a row is its own specification.
    """

    field: str
    verdict: Verdict
    loxilb: str
    check: Check
    reason: str = ""
    accept: tuple[Any, ...] = ()
    reject: tuple[Any, ...] = ()


@dataclasses.dataclass(frozen=True)
class Context:
    """What the gate knows about an object's surroundings (only in nested creates)."""

    vip_address: str | None = None
    listener_protocol: str | None = None


@dataclasses.dataclass(frozen=True)
class Problem:
    """Why a value is refused: the option, the offending value and a reason."""

    field: str
    value: Any
    reason: str = ""


CrossCheck = Callable[[Fields, Context], "Problem | None"]


@dataclasses.dataclass(frozen=True)
class CrossRule:
    """A rule over several fields of one object (or the object and its context)."""

    name: str
    description: str
    check: CrossCheck


@dataclasses.dataclass(frozen=True)
class KindTable:
    """Everything the gate knows about one object kind."""

    kind: str
    label: str
    fields: tuple[FieldRule, ...]
    cross: tuple[CrossRule, ...] = ()
    rejected: str | None = None

    def row(self, field: str) -> FieldRule | None:
        for rule in self.fields:
            if rule.field == field:
                return rule
        return None


def show(value: Any) -> str:
    """A value as the user typed it (strings bare, the rest as JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and "type" in value:
        return str(value["type"])
    try:
        return json.dumps(value, default=str, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def is_empty(value: Any) -> bool:
    """``None``, ``False`` and empty strings/collections mean "not asked for"."""
    if value is None or value is False:
        return True
    return isinstance(value, (str, list, tuple, dict, set)) and not value


def accept_any(value: Any) -> str | None:
    return None


def must_be_empty(value: Any) -> str | None:
    return None if is_empty(value) else ""


def one_of(*allowed: Any) -> Check:
    names = ", ".join(show(a) for a in allowed)

    def check(value: Any) -> str | None:
        if value is None or value in allowed:
            return None
        return f"supported values are {names}"
    return check


def is_bool(value: Any) -> str | None:
    return None if value is None or isinstance(value, bool) else "must be true or false"


def int_between(low: int, high: int, unit: str = "") -> Check:
    suffix = f" {unit}" if unit else ""

    def check(value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"must be between {low} and {high}{suffix}"
        return None
    return check


def exactly(expected: Any, what: str) -> Check:
    def check(value: Any) -> str | None:
        if value is None or value == expected:
            return None
        return f"only {what} {show(expected)} can be honoured"
    return check


def ip_literal(value: Any) -> str | None:
    if value is None:
        return None
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return "must be an IP address"
    return None


def ipv4_cidrs(max_items: int) -> Check:
    def check(value: Any) -> str | None:
        if is_empty(value):
            return None
        if not isinstance(value, (list, tuple)):
            return "must be a list of CIDRs"
        if len(value) > max_items:
            return f"LoxiLB allowedSources takes at most {max_items} prefixes"
        for cidr in value:
            try:
                network = ipaddress.ip_network(str(cidr), strict=False)
            except ValueError:
                return f"{cidr} is not a CIDR"
            if network.version != 4:
                return f"{cidr}: LoxiLB allowedSources takes IPv4 prefixes only"
        return None
    return check


def source_ip_persistence(value: Any) -> str | None:
    """Only plain SOURCE_IP persistence: LoxiLB's persist timeout cannot be set."""
    if is_empty(value):
        return None
    if not isinstance(value, Mapping):
        return "must be an object with a type"
    kind = value.get("type")
    if kind != "SOURCE_IP":
        return "LoxiLB only persists by source IP (type SOURCE_IP)"
    for option in ("cookie_name", "persistence_timeout", "persistence_granularity"):
        if not is_empty(value.get(option)):
            return (f"{option} cannot be honoured: LoxiLB's source-IP persistence has a "
                    "fixed timeout and granularity")
    return None


def same_family(address: Any, reference: Any) -> bool:
    """Whether two addresses are of one IP family (unknown or unparsable: assume yes)."""
    try:
        return (ipaddress.ip_address(str(address)).version
                == ipaddress.ip_address(str(reference)).version)
    except ValueError:
        return True


def in_collection(allowed: Collection[str]) -> str:
    return ", ".join(sorted(allowed))
