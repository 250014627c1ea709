"""Which routes a data port's Neutron subnet brings to an appliance (``port_routes``)."""

from __future__ import annotations

from octavia_loxilb.appliance.compute import SubnetInfo
from octavia_loxilb.appliance.network_config import port_routes

CIDR = "10.0.0.10/24"


def _subnet(gateway: str | None = "10.0.0.1",
            host_routes: tuple[tuple[str, str], ...] = ()) -> SubnetInfo:
    return SubnetInfo("subnet-1", "net-1", "10.0.0.0/24", gateway, host_routes)


def test_host_routes_then_the_default_via_the_gateway() -> None:
    subnet = _subnet(host_routes=(("172.16.0.0/12", "10.0.0.254"),))
    assert port_routes(subnet, CIDR, True) == [("172.16.0.0/12", "10.0.0.254"),
                                               ("0.0.0.0/0", "10.0.0.1")]
    assert port_routes(subnet, CIDR, False) == [("172.16.0.0/12", "10.0.0.254")]


def test_no_gateway_no_default() -> None:
    assert port_routes(_subnet(gateway=None), CIDR, True) == []


def test_a_default_host_route_wins_over_the_gateway() -> None:
    subnet = _subnet(host_routes=(("0.0.0.0/0", "10.0.0.253"),))
    assert port_routes(subnet, CIDR, True) == [("0.0.0.0/0", "10.0.0.253")]


def test_unreachable_nexthops_and_other_families_are_skipped() -> None:
    subnet = _subnet(gateway="192.0.2.1", host_routes=(
        ("172.16.0.0/12", "192.0.2.9"),      # nexthop off the port's subnet
        ("2001:db8::/32", "10.0.0.254"),     # not IPv4
        ("bogus", "10.0.0.254"),
        ("192.168.7.1/16", "10.0.0.254"),    # host bits set: canonical form
        ("192.168.0.0/16", "10.0.0.250"),    # the same destination again: first wins
    ))
    assert port_routes(subnet, CIDR, True) == [("192.168.0.0/16", "10.0.0.254")]
