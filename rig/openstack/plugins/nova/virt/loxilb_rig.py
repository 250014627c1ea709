"""Where Nova finds the rig's virt driver: ``compute_driver = loxilb_rig.LoxiLBApplianceDriver``.

Nova imports virt drivers only as ``nova.virt.<compute_driver>``, so this one-line module is
installed into Nova's package by the rig's plugin distribution; the driver itself lives in
``rig/openstack/fake_virt.py`` (on PYTHONPATH for nova-compute).
"""

from rig.openstack.fake_virt import LoxiLBApplianceDriver

__all__ = ["LoxiLBApplianceDriver"]
