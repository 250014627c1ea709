"""A real OpenStack (Keystone, Placement, Glance, Neutron, Nova) on loopback for appliance tests.

``OpenStackRig`` (``rig.openstack.cloud``) runs the services from their own virtualenv
(``scripts/openstack-venv.sh``); servers booted with appliance user data
(``doc/appliance-user-data.md``) get a LoxiLB emulator. See ``doc/openstack-rig.md``.
"""
