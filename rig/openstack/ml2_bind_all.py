"""An ML2 mechanism driver that binds every normal port to its first segment.

The rig runs Neutron with no L2 agent, and no stock mechanism driver binds a port without one;
Nova fails a boot whose port is unbound (``binding_failed``). Nothing carries packets in the
rig (the emulated appliances answer on loopback addresses), so binding is pure bookkeeping:
vif type ``ovs`` (which Nova's fake virt driver accepts) and status ACTIVE.

Loaded by Neutron through the ``neutron.ml2.mechanism_drivers`` entry point
``loxilb_rig_bind_all`` that ``rig/openstack/plugins`` registers; runs inside the OpenStack
virtualenv only.
"""

from __future__ import annotations

from typing import Any

from neutron_lib import constants
from neutron_lib.plugins.ml2 import api

VIF_TYPE = "ovs"
VIF_DETAILS = {"port_filter": False, "ovs_hybrid_plug": False}
BINDABLE_VNIC_TYPES = ("normal",)


class BindAllMechanismDriver(api.MechanismDriver):
    """Bind each normal vNIC port to the first segment offered, no agent needed."""

    def initialize(self) -> None:
        """Nothing to set up: the driver keeps no state."""

    @property
    def connectivity(self) -> str:
        return str(constants.CONNECTIVITY_L2)

    def bind_port(self, context: Any) -> None:
        """Bind to the first segment; other vNIC types stay for other drivers (none here)."""
        vnic_type = context.current.get("binding:vnic_type", "normal")
        if vnic_type not in BINDABLE_VNIC_TYPES:
            return
        for segment in context.segments_to_bind:
            context.set_binding(segment[api.ID], VIF_TYPE, dict(VIF_DETAILS),
                                status=constants.PORT_STATUS_ACTIVE)
            return
