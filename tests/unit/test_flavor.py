"""Flavor and availability-zone metadata: what the provider advertises and accepts."""

from __future__ import annotations

from typing import Any

import pytest
from octavia_lib.api.drivers import exceptions

from octavia_loxilb.driver import flavor
from octavia_loxilb.driver.provider import LoxiLBProviderDriver


def test_advertised_flavor_metadata_is_a_flat_key_description_dict() -> None:
    metadata = LoxiLBProviderDriver().get_supported_flavor_metadata()
    assert set(metadata) == {"lb_mode", "loxilb_group", "topology"}
    assert all(isinstance(v, str) and v for v in metadata.values())


def test_advertised_availability_zone_metadata() -> None:
    metadata = LoxiLBProviderDriver().get_supported_availability_zone_metadata()
    assert set(metadata) == {"loxilb_group"}
    assert isinstance(metadata["loxilb_group"], str)


@pytest.mark.parametrize("metadata", [
    {}, {"lb_mode": "fullnat"}, {"lb_mode": "dnat"}, {"lb_mode": "onearm"},
    {"topology": "SINGLE"}, {"loxilb_group": "edge_1.a-b"},
    {"lb_mode": "dnat", "loxilb_group": "g", "topology": "SINGLE"}])
def test_valid_flavors_pass(metadata: dict[str, Any]) -> None:
    LoxiLBProviderDriver().validate_flavor(metadata)


@pytest.mark.parametrize(("metadata", "expected"), [
    ({"colour": "blue"}, "Flavor metadata key colour is not supported by the LoxiLB "
                         "provider: supported keys are lb_mode, loxilb_group, topology"),
    ({"lb_mode": "dsr"}, "Flavor lb_mode dsr is not supported by the LoxiLB provider: "
                         "supported values are fullnat, dnat, onearm"),
    ({"topology": "ACTIVE_STANDBY"}, "Flavor topology ACTIVE_STANDBY is not supported by the "
                                     "LoxiLB provider: appliance topologies are not "
                                     "available in external-cluster mode"),
    ({"topology": "ACTIVE_ACTIVE"}, "Flavor topology ACTIVE_ACTIVE is not supported by the "
                                    "LoxiLB provider: appliance topologies are not "
                                    "available in external-cluster mode"),
    ({"topology": "RING"}, "Flavor topology RING is not supported by the LoxiLB provider: "
                           "supported values are SINGLE"),
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
    with pytest.raises(exceptions.UnsupportedOptionError) as error:
        driver.validate_availability_zone({"compute_zone": "nova"})
    assert error.value.user_fault_string == (
        "Availability zone metadata key compute_zone is not supported by the LoxiLB "
        "provider: supported keys are loxilb_group")
    with pytest.raises(exceptions.UnsupportedOptionError, match="loxilb_group -x"):
        driver.validate_availability_zone({"loxilb_group": "-x"})
