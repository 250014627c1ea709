"""Flavor and availability-zone metadata: what the provider advertises and accepts."""

from __future__ import annotations

from typing import Any

import pytest
from octavia_lib.api.drivers import exceptions

from octavia_loxilb.driver import flavor
from octavia_loxilb.driver.provider import LoxiLBProviderDriver


def test_advertised_flavor_metadata_is_a_flat_key_description_dict() -> None:
    metadata = LoxiLBProviderDriver().get_supported_flavor_metadata()
    assert set(metadata) == {"lb_mode", "loxilb_group", "topology", "deployment",
                             "compute_flavor", "image", "vip_mode"}
    assert all(isinstance(v, str) and v for v in metadata.values())


def test_advertised_availability_zone_metadata() -> None:
    metadata = LoxiLBProviderDriver().get_supported_availability_zone_metadata()
    assert set(metadata) == {"loxilb_group", "compute_zone"}
    assert all(isinstance(v, str) and v for v in metadata.values())


@pytest.mark.parametrize("metadata", [
    {}, {"lb_mode": "fullnat"}, {"lb_mode": "dnat"}, {"lb_mode": "onearm"},
    {"topology": "SINGLE"}, {"loxilb_group": "edge_1.a-b"},
    {"lb_mode": "dnat", "loxilb_group": "g", "topology": "SINGLE"},
    {"deployment": "external"}, {"deployment": "appliance"},
    {"deployment": "appliance", "topology": "ACTIVE_STANDBY", "compute_flavor": "c1",
     "image": "0b8c2f4e-8b0a-4b8e-9a57-9c3e4c1b2a10", "vip_mode": "arp"}])
def test_valid_flavors_pass(metadata: dict[str, Any]) -> None:
    LoxiLBProviderDriver().validate_flavor(metadata)


@pytest.mark.parametrize(("metadata", "expected"), [
    ({"colour": "blue"}, "Flavor metadata key colour is not supported by the LoxiLB "
                         "provider: supported keys are compute_flavor, deployment, image, "
                         "lb_mode, loxilb_group, topology, vip_mode"),
    ({"lb_mode": "dsr"}, "Flavor lb_mode dsr is not supported by the LoxiLB provider: "
                         "supported values are fullnat, dnat, onearm"),
    ({"topology": "ACTIVE_STANDBY"}, "Flavor topology ACTIVE_STANDBY is not supported by the "
                                     "LoxiLB provider: needs deployment appliance"),
    ({"topology": "ACTIVE_ACTIVE", "deployment": "appliance"},
     "Flavor topology ACTIVE_ACTIVE is not supported by the LoxiLB provider: ACTIVE_ACTIVE "
     "would need every appliance to advertise the VIP over BGP"),
    ({"topology": "RING"}, "Flavor topology RING is not supported by the LoxiLB provider: "
                           "supported values are SINGLE, ACTIVE_STANDBY"),
    ({"deployment": "cloud"}, "Flavor deployment cloud is not supported by the LoxiLB "
                              "provider: supported values are external, appliance"),
    ({"compute_flavor": "c1"}, "Flavor compute_flavor c1 is not supported by the LoxiLB "
                               "provider: needs deployment appliance"),
    ({"deployment": "appliance", "vip_mode": "routed"},
     "Flavor vip_mode routed is not supported by the LoxiLB provider: routed VIPs"),
    ({"deployment": "appliance", "loxilb_group": "g"},
     "Flavor loxilb_group g is not supported by the LoxiLB provider: deployment appliance"),
    ({"deployment": "appliance", "image": ""}, "Flavor image  is not supported"),
    ({"loxilb_group": "bad name"}, "Flavor loxilb_group bad name is not supported"),
    ({"loxilb_group": 7}, "Flavor loxilb_group 7 is not supported"),
    ({"loxilb_group": "x" * 65}, "Flavor loxilb_group " + "x" * 65 + " is not supported"),
    (["lb_mode"], "Flavor metadata "),
])
def test_invalid_flavors_name_the_key_and_value(metadata: Any, expected: str) -> None:
    with pytest.raises(exceptions.UnsupportedOptionError) as error:
        LoxiLBProviderDriver().validate_flavor(metadata)
    assert error.value.user_fault_string.startswith(expected)


def test_unknown_key_is_reported_before_bad_values() -> None:
    with pytest.raises(exceptions.UnsupportedOptionError, match="metadata key zzz"):
        flavor.validate_flavor({"lb_mode": "dsr", "zzz": 1})


def test_availability_zone_validation() -> None:
    driver = LoxiLBProviderDriver()
    driver.validate_availability_zone({})
    driver.validate_availability_zone({"loxilb_group": "rack-2"})
    driver.validate_availability_zone({"compute_zone": "nova"})
    with pytest.raises(exceptions.UnsupportedOptionError) as error:
        driver.validate_availability_zone({"zone": "nova"})
    assert error.value.user_fault_string == (
        "Availability zone metadata key zone is not supported by the LoxiLB "
        "provider: supported keys are compute_zone, loxilb_group")
    with pytest.raises(exceptions.UnsupportedOptionError, match="loxilb_group -x"):
        driver.validate_availability_zone({"loxilb_group": "-x"})
