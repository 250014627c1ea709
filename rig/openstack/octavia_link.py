"""Configuration that puts the local stack (Octavia + our workers) on an ``OpenStackRig``.

Octavia's API gets the ``allowed_address_pairs_driver`` with the rig's service user, so VIP
ports are real Neutron ports that Octavia allocates on create and deallocates when the driver
reports the load balancer DELETED. The API itself stays ``noauth`` (tests send
``X-Project-Id``); ``allow_invisible_resource_usage`` lets it check networks and subnets
with its own service credentials, since a noauth request carries no user token to check
them with. The workers' ``[loxilb_appliance]`` section points at the same cloud, image,
flavor and management network, so flavors asking for ``deployment: appliance`` boot real
Nova servers whose emulated LoxiLB the rig's virt driver starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rig.openstack import config as cfg
from rig.openstack.cloud import OpenStackRig

APPLIANCE_DEFAULTS: dict[str, Any] = {
    "ca_key_passphrase": "rig-ca-passphrase",
    "boot_timeout": 120.0,
    "ping_timeout": 30.0,
    "api_timeout": 60.0,
    "poll_interval": 0.3,
}
"""Timeouts sized for a busy two-core machine; the rig's servers boot in seconds."""


def sections(rig: OpenStackRig,
             appliance: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """``octavia.conf`` sections for Octavia's network driver and the workers' appliances.

    ``appliance`` adds or overrides ``[loxilb_appliance]`` options (sharing, timeouts).
    """
    service = rig.auth("service")
    appliance_section: dict[str, Any] = {
        **service,
        "region_name": cfg.REGION,
        "image_id": rig.image_id,
        "compute_flavor_id": rig.flavor_id,
        "management_network_id": rig.network("mgmt").network_id,
        **APPLIANCE_DEFAULTS,
    }
    appliance_section.update(appliance or {})
    return {
        "controller_worker": {"network_driver": "allowed_address_pairs_driver"},
        "service_auth": {"auth_type": "password", **service},
        "neutron": {"region_name": cfg.REGION, "valid_interfaces": "public"},
        "networking": {"allow_invisible_resource_usage": True},
        "loxilb_appliance": appliance_section,
    }
